//! The key schedule (docs/protocol.md §16.4): transcript hash, confirmation
//! keys, sealing keys and the short authentication string, and the
//! [`Session`] that only a verified key confirmation produces.

use std::fmt;

use keylink_keys::labels;
use keylink_keys::primitives::{
    NONCE_LEN, chacha_open, chacha_seal, ct_eq, hkdf_sha256, hmac_sha256, sha256, x25519_agree,
};
use keylink_wire::link::LinkPayload;
use zeroize::Zeroizing;

use crate::code::{LinkCode, check_share};
use crate::error::LinkError;

/// Which end of the handshake a device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Showed the code; waits for the scanner.
    Shower,
    /// Scanned the code; connects and speaks first.
    Scanner,
}

impl Role {
    fn other(self) -> Role {
        match self {
            Role::Shower => Role::Scanner,
            Role::Scanner => Role::Shower,
        }
    }
}

/// What the link's transport contributes to the transcript.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Through a relay channel: the two devices hold different QUIC
    /// connections (each to the server), so no common exporter exists; the
    /// relay, channel id and server fingerprint are bound through the code.
    Relay,
    /// A direct QUIC connection: both ends' TLS exporter
    /// (label `keylink/v1/exporter/link`, context the code payload).
    Direct([u8; 32]),
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Binding::Relay => f.write_str("Binding::Relay"),
            Binding::Direct(_) => f.write_str("Binding::Direct(..)"),
        }
    }
}

/// The six-digit short authentication string both devices show.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sas(u32);

impl Sas {
    /// The number, below 1,000,000.
    pub fn value(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Sas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03} {:03}", self.0 / 1000, self.0 % 1000)
    }
}

impl fmt::Debug for Sas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sas({self})")
    }
}

/// SHA-256(label ‖ len(payload) u16 BE ‖ payload ‖ binding ‖ scanner share).
pub fn transcript_hash(code: &LinkCode, binding: &Binding, scanner_share: &[u8; 32]) -> [u8; 32] {
    let payload = code.payload();
    let len = u16::try_from(payload.len())
        .unwrap_or(u16::MAX)
        .to_be_bytes();
    let (tag, exporter): (&[u8], &[u8]) = match binding {
        Binding::Relay => (&[1], &[]),
        Binding::Direct(e) => (&[2], e),
    };
    sha256(&[
        labels::LINK_TRANSCRIPT,
        &len,
        payload,
        tag,
        exporter,
        scanner_share,
    ])
}

/// Keys derived but not yet confirmed by the other side.
pub(crate) struct Unconfirmed {
    role: Role,
    transcript: [u8; 32],
    confirm_scanner: Zeroizing<[u8; 32]>,
    confirm_shower: Zeroizing<[u8; 32]>,
    seal_scanner: Zeroizing<[u8; 32]>,
    seal_shower: Zeroizing<[u8; 32]>,
    sas: u32,
}

impl Unconfirmed {
    /// Derive from our ephemeral secret, their share, the code's secret and
    /// the transcript.
    pub(crate) fn derive(
        role: Role,
        my_secret: &[u8; 32],
        their_share: &[u8; 32],
        code: &LinkCode,
        transcript: [u8; 32],
    ) -> Result<Self, LinkError> {
        check_share(their_share).map_err(|_| LinkError::LowOrderShare)?;
        let shared = x25519_agree(my_secret, their_share).map_err(|_| LinkError::LowOrderShare)?;
        let salt = code.secret().expose_secret();
        let key = |label: &[u8]| -> Result<Zeroizing<[u8; 32]>, LinkError> {
            let mut out = Zeroizing::new([0u8; 32]);
            hkdf_sha256(shared.as_ref(), salt, &[label, &transcript], out.as_mut())
                .map_err(|_| LinkError::Malformed)?;
            Ok(out)
        };
        let sas_bytes = key(labels::LINK_SAS)?;
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&sas_bytes[..8]);
        let sas = u32::try_from(u64::from_be_bytes(eight) % 1_000_000).unwrap_or(0);
        Ok(Self {
            role,
            transcript,
            confirm_scanner: key(labels::LINK_CONFIRM_SCANNER)?,
            confirm_shower: key(labels::LINK_CONFIRM_SHOWER)?,
            seal_scanner: key(labels::LINK_SEAL_SCANNER)?,
            seal_shower: key(labels::LINK_SEAL_SHOWER)?,
            sas,
        })
    }

    fn confirm_key(&self, role: Role) -> &[u8; 32] {
        match role {
            Role::Scanner => &self.confirm_scanner,
            Role::Shower => &self.confirm_shower,
        }
    }

    /// Our key-confirmation MAC: HMAC-SHA256(our confirmation key, transcript).
    pub(crate) fn my_confirmation(&self) -> Result<[u8; 32], LinkError> {
        hmac_sha256(self.confirm_key(self.role), &[&self.transcript])
            .map_err(|_| LinkError::Malformed)
    }

    /// Check the other side's MAC; only a match yields a [`Session`].
    pub(crate) fn confirm(self, theirs: &[u8; 32]) -> Result<Session, LinkError> {
        let expected = hmac_sha256(self.confirm_key(self.role.other()), &[&self.transcript])
            .map_err(|_| LinkError::Malformed)?;
        if !ct_eq(&expected, theirs) {
            return Err(LinkError::ConfirmationFailed);
        }
        let (send, recv) = match self.role {
            Role::Scanner => (self.seal_scanner.clone(), self.seal_shower.clone()),
            Role::Shower => (self.seal_shower.clone(), self.seal_scanner.clone()),
        };
        Ok(Session {
            transcript: self.transcript,
            send_key: send,
            recv_key: recv,
            sent: 0,
            received: 0,
            sas: Sas(self.sas),
        })
    }
}

/// A confirmed session: both sides proved they hold the code's secret and
/// their ephemeral keys. Frames are sealed with ChaCha20-Poly1305 under the
/// sender's key; the nonce is the sender's frame counter, so a dropped,
/// replayed, reordered or reflected frame fails to open.
pub(crate) struct Session {
    transcript: [u8; 32],
    send_key: Zeroizing<[u8; 32]>,
    recv_key: Zeroizing<[u8; 32]>,
    sent: u64,
    received: u64,
    sas: Sas,
}

fn nonce(counter: u64) -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

impl Session {
    pub(crate) fn sas(&self) -> Sas {
        self.sas
    }

    pub(crate) fn transcript(&self) -> &[u8; 32] {
        &self.transcript
    }

    fn aad(&self) -> Vec<u8> {
        [labels::LINK_AAD, &self.transcript[..]].concat()
    }

    /// Seal a payload as the next frame's ciphertext.
    pub(crate) fn seal(&mut self, payload: &LinkPayload) -> Result<Vec<u8>, LinkError> {
        let plain = payload.encode_secret();
        let ct = chacha_seal(&self.send_key, &nonce(self.sent), &self.aad(), &plain)
            .map_err(|_| LinkError::Malformed)?;
        self.sent += 1;
        Ok(ct)
    }

    /// Open the next frame from the other side.
    pub(crate) fn open(&mut self, ciphertext: &[u8]) -> Result<LinkPayload, LinkError> {
        let plain = Zeroizing::new(
            chacha_open(
                &self.recv_key,
                &nonce(self.received),
                &self.aad(),
                ciphertext,
            )
            .map_err(|_| LinkError::Tampered)?,
        );
        self.received += 1;
        LinkPayload::decode(&plain).map_err(|_| LinkError::Malformed)
    }
}
