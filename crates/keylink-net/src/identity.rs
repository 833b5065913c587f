//! The server's TLS identity and the fingerprint clients pin.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::NetError;

/// SHA-256 of a certificate's DER encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate.
    pub fn of(cert_der: &[u8]) -> Self {
        Self(Sha256::digest(cert_der).into())
    }

    /// Parse `sha256:` + 64 hex digits (colons and case ignored).
    ///
    /// # Errors
    /// [`NetError::BadFingerprint`].
    pub fn parse(text: &str) -> Result<Self, NetError> {
        let t = text.trim();
        let t = t.strip_prefix("sha256:").unwrap_or(t);
        let hex: Vec<u8> = t.bytes().filter(|&b| b != b':').collect();
        if hex.len() != 64 {
            return Err(NetError::BadFingerprint);
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
            let s = std::str::from_utf8(pair).map_err(|_| NetError::BadFingerprint)?;
            *o = u8::from_str_radix(s, 16).map_err(|_| NetError::BadFingerprint)?;
        }
        Ok(Self(out))
    }

    /// A fingerprint from its 32 bytes (as a link code carries it).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time comparison with a certificate.
    pub fn matches(&self, cert_der: &[u8]) -> bool {
        bool::from(Fingerprint::of(cert_der).0.ct_eq(&self.0))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// The server's certificate and private key.
pub struct ServerIdentity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerIdentity({}, key: [redacted])", self.fingerprint())
    }
}

const CERT_FILE: &str = "server-cert.der";
const KEY_FILE: &str = "server-key.der";

impl ServerIdentity {
    /// A fresh self-signed Ed25519 certificate for `keylink-server`.
    ///
    /// # Errors
    /// [`NetError::Certificate`].
    pub fn generate() -> Result<Self, NetError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .map_err(|e| NetError::Certificate(e.to_string()))?;
        let params = rcgen::CertificateParams::new(vec!["keylink-server".to_string()])
            .map_err(|e| NetError::Certificate(e.to_string()))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| NetError::Certificate(e.to_string()))?;
        Ok(Self {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// Load `server-cert.der` and `server-key.der` (PKCS#8) from `dir`, or
    /// generate them on first start and write them atomically (the key
    /// readable by the owner only).
    ///
    /// # Errors
    /// [`NetError::Io`] or [`NetError::Certificate`].
    pub fn load_or_generate(dir: &Path) -> Result<Self, NetError> {
        let io = |op| move |source| NetError::Io { op, source };
        let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if cert_path.exists() != key_path.exists() {
            return Err(NetError::Certificate(format!(
                "{} holds only one of {CERT_FILE} and {KEY_FILE}; restore the other (a new identity would change the fingerprint every client pinned)",
                dir.display()
            )));
        }
        if cert_path.exists() {
            return Self::from_der(
                fs::read(&cert_path).map_err(io("read the server certificate"))?,
                fs::read(&key_path).map_err(io("read the server key"))?,
            );
        }
        fs::create_dir_all(dir).map_err(io("create the data folder"))?;
        let id = Self::generate()?;
        write_private(dir, KEY_FILE, id.key.secret_pkcs8_der())
            .map_err(io("write the server key"))?;
        write_private(dir, CERT_FILE, &id.cert).map_err(io("write the server certificate"))?;
        Ok(id)
    }

    /// Build from DER bytes (a certificate from files, e.g. issued by a CA).
    ///
    /// # Errors
    /// [`NetError::Certificate`] if the key is empty.
    pub fn from_der(cert: Vec<u8>, key_pkcs8: Vec<u8>) -> Result<Self, NetError> {
        if cert.is_empty() || key_pkcs8.is_empty() {
            return Err(NetError::Certificate(
                "empty certificate or key file".into(),
            ));
        }
        Ok(Self {
            cert: CertificateDer::from(cert),
            key: PrivatePkcs8KeyDer::from(key_pkcs8),
        })
    }

    /// The certificate's fingerprint, which clients pin.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.cert)
    }

    /// The certificate.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    pub(crate) fn chain_and_key(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![self.cert.clone()],
            PrivateKeyDer::Pkcs8(self.key.clone_key()),
        )
    }
}

fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    fs::File::open(dir)?.sync_all()
}
