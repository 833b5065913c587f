//! Device identities and context-separated signatures.
//!
//! A device has two long-term key pairs, generated on the device and never
//! sent anywhere: an Ed25519 key that signs (account-log entries, manifests,
//! link messages, server challenges) and a separate X25519 key that others
//! seal keys to. Its [`DeviceId`] is a hash of both public keys.
//!
//! Every signature is over `context label ‖ 0x00 ‖ message`, with one label
//! per kind of signed message ([`SignatureContext`]), so a signature made for
//! one purpose never verifies for another. Verification is strict: see
//! [`crate::primitives::ed25519_verify_strict`].

use core::fmt;

use ed25519_dalek::{Signer, SigningKey};
use rand_core::CryptoRng;
use x25519_dalek::{PublicKey as XPublic, StaticSecret};
use zeroize::ZeroizeOnDrop;

use crate::error::{Error, Result};
use crate::ids::{DEVICE_ID_LEN, DeviceId, write_hex};
use crate::labels;
use crate::primitives::{
    ed25519_public, ed25519_verify_strict, sha256, x25519_is_canonical, x25519_is_low_order,
};

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// What a signature is for. Each maps to its own label in [`crate::labels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureContext {
    /// An account-log entry, signed by the acting device.
    AccountLogDevice,
    /// An account-log entry, signed by the epoch's account signing key.
    AccountLogAccount,
    /// A backup snapshot manifest.
    Manifest,
    /// A message of the device-linking handshake.
    Link,
    /// A device's answer to a server's authentication challenge.
    ServerAuth,
    /// A registration or hand-over sent to a realm, signed by the account's
    /// realm-admin key.
    RealmAdmin,
}

impl SignatureContext {
    /// Every context, for tests and documentation.
    pub const ALL: [SignatureContext; 6] = [
        SignatureContext::AccountLogDevice,
        SignatureContext::AccountLogAccount,
        SignatureContext::Manifest,
        SignatureContext::Link,
        SignatureContext::ServerAuth,
        SignatureContext::RealmAdmin,
    ];

    /// The label prefixed to every message signed in this context.
    pub const fn label(self) -> &'static [u8] {
        match self {
            SignatureContext::AccountLogDevice => labels::SIG_LOG_DEVICE,
            SignatureContext::AccountLogAccount => labels::SIG_LOG_ACCOUNT,
            SignatureContext::Manifest => labels::SIG_MANIFEST,
            SignatureContext::Link => labels::SIG_LINK,
            SignatureContext::ServerAuth => labels::SIG_SERVER_AUTH,
            SignatureContext::RealmAdmin => labels::SIG_REALM_ADMIN,
        }
    }

    /// Look a context up by its label (for test vectors).
    pub fn from_label(label: &[u8]) -> Option<SignatureContext> {
        Self::ALL.into_iter().find(|c| c.label() == label)
    }
}

/// A device's secret keys. Zeroizes on drop; prints only its device id.
#[derive(ZeroizeOnDrop)]
pub struct DeviceIdentity {
    signing: SigningKey,
    agreement: StaticSecret,
    /// Computed once: deriving public keys costs two scalar multiplications.
    #[zeroize(skip)]
    public: DevicePublicKeys,
}

impl DeviceIdentity {
    /// A fresh identity.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        Self::from_keys(
            SigningKey::generate(rng),
            StaticSecret::random_from_rng(rng),
        )
    }

    /// Rebuild an identity from its secret bytes (as a key store holds them).
    pub fn from_secret_bytes(signing_seed: &[u8; 32], agreement_secret: &[u8; 32]) -> Self {
        Self::from_keys(
            SigningKey::from_bytes(signing_seed),
            StaticSecret::from(*agreement_secret),
        )
    }

    fn from_keys(signing: SigningKey, agreement: StaticSecret) -> Self {
        let public = DevicePublicKeys {
            signing: signing.verifying_key().to_bytes(),
            agreement: XPublic::from(&agreement).to_bytes(),
        };
        Self {
            signing,
            agreement,
            public,
        }
    }

    /// The secret bytes, for a key store: `(Ed25519 seed, X25519 secret)`.
    /// Never log or send what this returns.
    pub fn expose_secret_bytes(&self) -> ([u8; 32], [u8; 32]) {
        (self.signing.to_bytes(), self.agreement.to_bytes())
    }

    /// The public keys others use to verify and to seal to this device.
    pub fn public_keys(&self) -> DevicePublicKeys {
        self.public
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.public_keys().device_id()
    }

    /// Sign `message` under `context`.
    pub fn sign(&self, context: SignatureContext, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        sign_with(&self.signing, context, message)
    }

    pub(crate) fn agreement_secret(&self) -> &StaticSecret {
        &self.agreement
    }
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeviceIdentity({}, secret: [redacted])",
            self.device_id()
        )
    }
}

/// A device's public keys, validated: the Ed25519 key is canonically encoded
/// and not of small order; the X25519 key is canonically encoded and not a
/// low-order point. So one device has exactly one pair of byte strings, and
/// exactly one [`DeviceId`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DevicePublicKeys {
    signing: [u8; 32],
    agreement: [u8; 32],
}

impl DevicePublicKeys {
    /// Validate two public keys received from outside.
    ///
    /// # Errors
    /// [`Error::InvalidPublicKey`] if either key is not canonically encoded
    /// or the Ed25519 key does not decode or is weak;
    /// [`Error::NonContributory`] if the X25519 key is a low-order point.
    pub fn from_bytes(signing: [u8; 32], agreement: [u8; 32]) -> Result<Self> {
        ed25519_public(&signing)?;
        if !x25519_is_canonical(&agreement) {
            return Err(Error::InvalidPublicKey {
                what: "X25519 key is not canonically encoded",
            });
        }
        if x25519_is_low_order(&agreement) {
            return Err(Error::NonContributory);
        }
        Ok(Self { signing, agreement })
    }

    /// The Ed25519 public key.
    pub fn signing_key(&self) -> &[u8; 32] {
        &self.signing
    }

    /// The X25519 public key.
    pub fn agreement_key(&self) -> &[u8; 32] {
        &self.agreement
    }

    /// The device id these keys name.
    pub fn device_id(&self) -> DeviceId {
        let digest = sha256(&[labels::DEVICE_ID, &self.signing, &self.agreement]);
        let mut id = [0u8; DEVICE_ID_LEN];
        id.copy_from_slice(&digest[..DEVICE_ID_LEN]);
        DeviceId::from_bytes(id)
    }

    /// Verify a signature this device made under `context`.
    ///
    /// # Errors
    /// [`Error::BadSignature`] if it does not verify.
    pub fn verify(
        &self,
        context: SignatureContext,
        message: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        verify_with(&self.signing, context, message, signature)
    }
}

impl fmt::Debug for DevicePublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DevicePublicKeys { signing: ")?;
        write_hex(f, &self.signing)?;
        f.write_str(", agreement: ")?;
        write_hex(f, &self.agreement)?;
        f.write_str(" }")
    }
}

/// Check that 32 bytes are an acceptable Ed25519 public key: canonically
/// encoded and not of small order (the same rule device keys follow).
///
/// # Errors
/// [`Error::InvalidPublicKey`].
pub fn check_signing_key(public: &[u8; 32]) -> Result<()> {
    ed25519_public(public).map(|_| ())
}

/// Verify a signature by any Ed25519 public key (a device's or an epoch's
/// account key) under `context`.
///
/// # Errors
/// [`Error::InvalidPublicKey`] or [`Error::BadSignature`].
pub fn verify_with(
    public: &[u8; 32],
    context: SignatureContext,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    ed25519_verify_strict(public, &signed_bytes(context, message), signature)
}

pub(crate) fn sign_with(
    key: &SigningKey,
    context: SignatureContext,
    message: &[u8],
) -> [u8; SIGNATURE_LEN] {
    key.sign(&signed_bytes(context, message)).to_bytes()
}

/// `label ‖ 0x00 ‖ message`: labels hold no zero byte and none prefixes
/// another, so the split is unambiguous.
fn signed_bytes(context: SignatureContext, message: &[u8]) -> Vec<u8> {
    let label = context.label();
    let mut m = Vec::with_capacity(label.len() + 1 + message.len());
    m.extend_from_slice(label);
    m.push(0);
    m.extend_from_slice(message);
    m
}
