//! Public identifiers: accounts, devices and epochs.
//!
//! These are not secrets and not keys. Device ids are 16 bytes, so a device
//! id can never be read where a 32-byte key is expected, and the types keep
//! them apart in code.

use core::fmt;

use rand_core::CryptoRng;

use crate::error::{Error, Result};

/// Length of an [`AccountId`] in bytes.
pub const ACCOUNT_ID_LEN: usize = 16;
/// Length of a [`DeviceId`] in bytes.
pub const DEVICE_ID_LEN: usize = 16;

/// An account's identifier: 16 random bytes chosen when the account is
/// created. It is the HKDF salt of every key derived from the account's
/// root keys, so two accounts never share a derived key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId([u8; ACCOUNT_ID_LEN]);

impl AccountId {
    /// A fresh random account id.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut b = [0u8; ACCOUNT_ID_LEN];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// Wrap known bytes (from storage or the wire).
    pub const fn from_bytes(bytes: [u8; ACCOUNT_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// Parse from a slice that must be exactly 16 bytes.
    ///
    /// # Errors
    /// [`Error::Malformed`] on any other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| Error::Malformed { what: "account id" })
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; ACCOUNT_ID_LEN] {
        &self.0
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({self})")
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// A device's identifier: the first 16 bytes of
/// `SHA-256("keylink/v1/device-id" ‖ Ed25519 public key ‖ X25519 public key)`.
///
/// Derived from both public keys, so a device id names exactly one pair of
/// keys; see [`crate::DevicePublicKeys::device_id`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId([u8; DEVICE_ID_LEN]);

impl DeviceId {
    /// Wrap known bytes (from storage or the wire). A device id read from
    /// outside must still be checked against the keys it claims to name.
    pub const fn from_bytes(bytes: [u8; DEVICE_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// Parse from a slice that must be exactly 16 bytes.
    ///
    /// # Errors
    /// [`Error::Malformed`] on any other length (a 32-byte key is refused).
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        bytes
            .try_into()
            .map(Self)
            .map_err(|_| Error::Malformed { what: "device id" })
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; DEVICE_ID_LEN] {
        &self.0
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({self})")
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// A root-key epoch: 0 at account creation, +1 at every rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The first epoch of every account.
    pub const GENESIS: Epoch = Epoch(0);

    /// The epoch after this one, or `None` at `u64::MAX`.
    pub fn next(self) -> Option<Epoch> {
        self.0.checked_add(1).map(Epoch)
    }

    /// Big-endian bytes, as every format encodes it.
    pub const fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}
