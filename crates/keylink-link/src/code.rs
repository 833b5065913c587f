//! The link code: what the showing device displays as a QR code and as
//! text, and what the scanning device parses (docs/protocol.md §16.2).
//!
//! Binary payload, then a 4-byte checksum, then RFC 4648 base32 without
//! padding, after the prefix `keylink-link:`. Parsing bounds the text
//! before decoding, checks the checksum before reading any field, and
//! refuses unknown versions, unknown flag bits, unusable addresses,
//! low-order shares and trailing bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use keylink_keys::labels;
use keylink_keys::primitives::{sha256, x25519_is_canonical, x25519_is_low_order, x25519_public};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::CodeError;

/// Text prefix of every link code.
pub const CODE_PREFIX: &str = "keylink-link:";
/// The link-code format version.
pub const CODE_VERSION: u8 = 1;
/// Longest code text accepted, before anything is decoded.
pub const MAX_CODE_TEXT: usize = 400;
/// Bytes of checksum after the payload.
pub const CHECKSUM_LEN: usize = 4;
/// Bytes of the one-time link secret.
pub const SECRET_LEN: usize = 16;

const FLAG_EXISTING_SHOWS: u8 = 0x01;
const FLAG_DIRECT: u8 = 0x02;

/// Which device shows the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shower {
    /// The new device shows, the existing device scans (the usual way).
    NewDevice,
    /// The existing device shows, the new device scans.
    ExistingDevice,
}

/// Where the scanning device connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendezvous {
    /// Through a server's relay channel.
    Relay {
        /// The server (the relay instance holding the channel).
        server: SocketAddr,
        /// SHA-256 of the server's certificate.
        server_fingerprint: [u8; 32],
        /// The channel id.
        channel: [u8; 16],
    },
    /// Straight to the showing device's QUIC listener.
    Direct {
        /// The listener's address.
        addr: SocketAddr,
        /// SHA-256 of the listener's one-time certificate.
        cert_fingerprint: [u8; 32],
    },
}

/// The one-time link secret. Wiped on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct LinkSecret([u8; SECRET_LEN]);

impl LinkSecret {
    /// The secret's bytes.
    pub fn expose_secret(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkSecret(<redacted>)")
    }
}

/// A parsed link code. Holds the link secret: prints without it.
#[derive(Clone)]
pub struct LinkCode {
    shower: Shower,
    rendezvous: Rendezvous,
    ephemeral: [u8; 32],
    secret: LinkSecret,
    expires_at: u32,
    payload: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for LinkCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkCode")
            .field("shower", &self.shower)
            .field("rendezvous", &self.rendezvous)
            .field("expires_at", &self.expires_at)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

/// What the showing device keeps while its code is out: the ephemeral
/// secret and the code. Consumed by the one link it starts, so one code
/// can serve one handshake only.
pub struct ShowerSecrets {
    pub(crate) ephemeral_secret: Zeroizing<[u8; 32]>,
    pub(crate) code: LinkCode,
}

impl fmt::Debug for ShowerSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShowerSecrets")
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

impl ShowerSecrets {
    /// Make a fresh code: a new ephemeral key pair and link secret.
    ///
    /// # Errors
    /// [`CodeError::BadAddress`] for an unspecified address or port 0.
    pub fn generate(
        shower: Shower,
        rendezvous: Rendezvous,
        expires_at: u32,
        rng: &mut impl CryptoRng,
    ) -> Result<Self, CodeError> {
        let mut ephemeral_secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ephemeral_secret.as_mut());
        let mut secret = LinkSecret([0u8; SECRET_LEN]);
        rng.fill_bytes(&mut secret.0);
        let code = LinkCode::new(
            shower,
            rendezvous,
            x25519_public(&ephemeral_secret),
            secret,
            expires_at,
        )?;
        Ok(Self {
            ephemeral_secret,
            code,
        })
    }

    /// The code to show.
    pub fn code(&self) -> &LinkCode {
        &self.code
    }
}

impl LinkCode {
    /// Assemble a code from its parts (tests and tools; devices use
    /// [`ShowerSecrets::generate`]).
    ///
    /// # Errors
    /// [`CodeError::BadAddress`], [`CodeError::LowOrderShare`].
    pub fn new(
        shower: Shower,
        rendezvous: Rendezvous,
        ephemeral: [u8; 32],
        secret: LinkSecret,
        expires_at: u32,
    ) -> Result<Self, CodeError> {
        let addr = match rendezvous {
            Rendezvous::Relay { server, .. } => server,
            Rendezvous::Direct { addr, .. } => addr,
        };
        check_addr(&addr)?;
        check_share(&ephemeral)?;
        let mut code = Self {
            shower,
            rendezvous,
            ephemeral,
            secret,
            expires_at,
            payload: Zeroizing::new(Vec::new()),
        };
        code.payload = code.encode_payload();
        Ok(code)
    }

    /// Build a link secret from bytes (tests and tools).
    pub fn secret_from_bytes(bytes: [u8; SECRET_LEN]) -> LinkSecret {
        LinkSecret(bytes)
    }

    /// Which device shows this code.
    pub fn shower(&self) -> Shower {
        self.shower
    }

    /// Where to connect.
    pub fn rendezvous(&self) -> &Rendezvous {
        &self.rendezvous
    }

    /// The showing device's ephemeral X25519 public key.
    pub fn ephemeral(&self) -> &[u8; 32] {
        &self.ephemeral
    }

    /// The one-time link secret.
    pub fn secret(&self) -> &LinkSecret {
        &self.secret
    }

    /// When the code stops working, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> u32 {
        self.expires_at
    }

    /// The binary payload (without checksum): what the transcript hashes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Refuse the code if it has expired at `now_unix` (seconds).
    ///
    /// # Errors
    /// [`CodeError::Expired`].
    pub fn check_fresh(&self, now_unix: u64) -> Result<(), CodeError> {
        if now_unix >= u64::from(self.expires_at) {
            return Err(CodeError::Expired);
        }
        Ok(())
    }

    fn encode_payload(&self) -> Zeroizing<Vec<u8>> {
        let mut p = Zeroizing::new(Vec::with_capacity(128));
        p.push(CODE_VERSION);
        let mut flags = 0u8;
        if self.shower == Shower::ExistingDevice {
            flags |= FLAG_EXISTING_SHOWS;
        }
        let (addr, fingerprint, channel) = match &self.rendezvous {
            Rendezvous::Relay {
                server,
                server_fingerprint,
                channel,
            } => (server, server_fingerprint, Some(channel)),
            Rendezvous::Direct {
                addr,
                cert_fingerprint,
            } => {
                flags |= FLAG_DIRECT;
                (addr, cert_fingerprint, None)
            }
        };
        p.push(flags);
        match addr.ip() {
            IpAddr::V4(ip) => {
                p.push(4);
                p.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                p.push(6);
                p.extend_from_slice(&ip.octets());
            }
        }
        p.extend_from_slice(&addr.port().to_be_bytes());
        p.extend_from_slice(fingerprint);
        if let Some(c) = channel {
            p.extend_from_slice(c);
        }
        p.extend_from_slice(&self.ephemeral);
        p.extend_from_slice(&self.secret.0);
        p.extend_from_slice(&self.expires_at.to_be_bytes());
        p
    }

    /// The code as text: `keylink-link:` and base32 of payload ‖ checksum.
    /// The text holds the link secret: show it only to the person linking.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut bytes = Zeroizing::new(self.payload.clone());
        bytes.extend_from_slice(&checksum(&self.payload));
        let mut text = Zeroizing::new(String::with_capacity(CODE_PREFIX.len() + 200));
        text.push_str(CODE_PREFIX);
        data_encoding::BASE32_NOPAD.encode_append(&bytes, &mut text);
        text
    }

    /// Parse code text, as typed, pasted or scanned. Case, spaces and
    /// hyphens in the base32 part are ignored.
    ///
    /// # Errors
    /// [`CodeError`] naming the first thing wrong; nothing is allocated
    /// beyond [`MAX_CODE_TEXT`].
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let text = text.trim();
        if text.len() > MAX_CODE_TEXT {
            return Err(CodeError::TooLong { max: MAX_CODE_TEXT });
        }
        let body = match text.get(..CODE_PREFIX.len()) {
            Some(p) if p.eq_ignore_ascii_case(CODE_PREFIX) => &text[CODE_PREFIX.len()..],
            _ => return Err(CodeError::NotALinkCode),
        };
        let mut clean = Zeroizing::new(String::with_capacity(body.len()));
        for c in body.chars() {
            match c {
                ' ' | '-' | '\n' | '\r' | '\t' => {}
                c if c.is_ascii_alphanumeric() => clean.push(c.to_ascii_uppercase()),
                _ => return Err(CodeError::BadCharacter),
            }
        }
        let bytes = Zeroizing::new(
            data_encoding::BASE32_NOPAD
                .decode(clean.as_bytes())
                .map_err(|_| CodeError::BadCharacter)?,
        );
        Self::from_bytes(&bytes)
    }

    /// Parse payload ‖ checksum.
    ///
    /// # Errors
    /// [`CodeError`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodeError> {
        let Some(split) = bytes.len().checked_sub(CHECKSUM_LEN) else {
            return Err(CodeError::Truncated);
        };
        let (payload, sum) = bytes.split_at(split);
        if payload.is_empty() {
            return Err(CodeError::Truncated);
        }
        if checksum(payload) != sum {
            return Err(CodeError::Checksum);
        }
        let mut r = Reader(payload);
        let version = r.byte()?;
        if version != CODE_VERSION {
            return Err(CodeError::UnsupportedVersion { got: version });
        }
        let flags = r.byte()?;
        if flags & !(FLAG_EXISTING_SHOWS | FLAG_DIRECT) != 0 {
            return Err(CodeError::Malformed {
                what: "unknown flags",
            });
        }
        let ip = match r.byte()? {
            4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>()?)),
            6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>()?)),
            _ => {
                return Err(CodeError::Malformed {
                    what: "address family",
                });
            }
        };
        let port = u16::from_be_bytes(r.array()?);
        let addr = SocketAddr::new(ip, port);
        let fingerprint = r.array::<32>()?;
        let rendezvous = if flags & FLAG_DIRECT != 0 {
            Rendezvous::Direct {
                addr,
                cert_fingerprint: fingerprint,
            }
        } else {
            Rendezvous::Relay {
                server: addr,
                server_fingerprint: fingerprint,
                channel: r.array()?,
            }
        };
        let ephemeral = r.array::<32>()?;
        let secret = LinkSecret(r.array()?);
        let expires_at = u32::from_be_bytes(r.array()?);
        if !r.0.is_empty() {
            return Err(CodeError::TrailingData);
        }
        let shower = if flags & FLAG_EXISTING_SHOWS != 0 {
            Shower::ExistingDevice
        } else {
            Shower::NewDevice
        };
        let code = Self::new(shower, rendezvous, ephemeral, secret, expires_at)?;
        if code.payload.as_slice() != payload {
            return Err(CodeError::Malformed {
                what: "non-canonical encoding",
            });
        }
        Ok(code)
    }
}

fn checksum(payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    let d = sha256(&[labels::LINK_CODE_CHECKSUM, payload]);
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&d[..CHECKSUM_LEN]);
    out
}

fn check_addr(addr: &SocketAddr) -> Result<(), CodeError> {
    if addr.ip().is_unspecified() || addr.ip().is_multicast() || addr.port() == 0 {
        return Err(CodeError::BadAddress);
    }
    Ok(())
}

/// Refuse a share that is non-canonical or of low order.
pub(crate) fn check_share(share: &[u8; 32]) -> Result<(), CodeError> {
    if !x25519_is_canonical(share) || x25519_is_low_order(share) {
        return Err(CodeError::LowOrderShare);
    }
    Ok(())
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, CodeError> {
        let (b, rest) = self.0.split_first().ok_or(CodeError::Truncated)?;
        self.0 = rest;
        Ok(*b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodeError> {
        let (a, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(CodeError::Truncated)?;
        self.0 = rest;
        Ok(*a)
    }
}
