//! Sealed boxes: a secret encrypted to one device's X25519 key with HPKE.
//!
//! RFC 9180 in Base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
//! ChaCha20-Poly1305 (suite 0x0020 / 0x0001 / 0x0003), through the `hpke`
//! crate: a standard construction that other implementations can open, and
//! whose KEM can later become a hybrid post-quantum one without changing the
//! rest. The HPKE `info` names the purpose ([`SealPurpose`]); the associated
//! data binds the account, the epoch and the recipient's device id, so a box
//! cannot be replayed to another account, epoch or device.
//!
//! Bytes: `version (0x01) ‖ enc (32) ‖ ciphertext ‖ tag (16)`.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, HpkeError, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, TryCryptoRng, TryRng};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::identity::{DeviceIdentity, DevicePublicKeys};
use crate::ids::{ACCOUNT_ID_LEN, AccountId, DEVICE_ID_LEN, Epoch};
use crate::labels;
use crate::primitives::TAG_LEN;
use crate::root::{KEY_LEN, RootKey};

type Kem = X25519HkdfSha256;

/// The sealed-box format version.
pub const SEALED_VERSION: u8 = 1;
/// Length of the HPKE encapsulated key.
pub const SEALED_ENC_LEN: usize = 32;
/// Largest plaintext a sealed box may carry (1 MiB), checked before any
/// allocation on open.
pub const SEALED_MAX_PLAINTEXT: usize = 1 << 20;
/// Length of the associated data: account id ‖ epoch ‖ recipient device id.
pub const SEALED_AAD_LEN: usize = ACCOUNT_ID_LEN + 8 + DEVICE_ID_LEN;

/// What a sealed box carries; each purpose is its own HPKE `info` string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SealPurpose {
    /// One epoch's root key (32 bytes).
    RootKey,
    /// The root keys of older epochs.
    EpochHistory,
}

impl SealPurpose {
    /// The HPKE `info` string.
    pub const fn info(self) -> &'static [u8] {
        match self {
            SealPurpose::RootKey => labels::SEAL_ROOT_KEY,
            SealPurpose::EpochHistory => labels::SEAL_EPOCH_HISTORY,
        }
    }
}

/// A secret sealed to one device. Holds only ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBox {
    enc: [u8; SEALED_ENC_LEN],
    ciphertext: Vec<u8>,
}

impl SealedBox {
    /// Seal `plaintext` to `recipient` for `purpose`, bound to `account` and `epoch`.
    ///
    /// # Errors
    /// [`Error::Malformed`] if the plaintext exceeds [`SEALED_MAX_PLAINTEXT`];
    /// [`Error::NonContributory`] if the recipient key is a low-order point.
    pub fn seal(
        purpose: SealPurpose,
        recipient: &DevicePublicKeys,
        account: &AccountId,
        epoch: Epoch,
        plaintext: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<Self> {
        if plaintext.len() > SEALED_MAX_PLAINTEXT {
            return Err(Error::Malformed {
                what: "sealed plaintext too long",
            });
        }
        let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient.agreement_key())
            .map_err(|_| Error::NonContributory)?;
        let aad = aad(account, epoch, recipient);
        let (enc, ciphertext) =
            hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, Kem>(
                &OpModeS::Base,
                &pk,
                purpose.info(),
                plaintext,
                &aad,
                rng,
            )
            .map_err(map_hpke)?;
        let enc = enc
            .to_bytes()
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed { what: "HPKE enc" })?;
        Ok(Self { enc, ciphertext })
    }

    /// [`SealedBox::seal`] with the ephemeral key derived from `ikm_e` (as
    /// RFC 9180's DeriveKeyPair does), so the test vectors are reproducible.
    /// Insecure if `ikm_e` is ever reused.
    ///
    /// # Errors
    /// As [`SealedBox::seal`].
    pub fn insecure_seal_with_ephemeral_ikm(
        purpose: SealPurpose,
        recipient: &DevicePublicKeys,
        account: &AccountId,
        epoch: Epoch,
        plaintext: &[u8],
        ikm_e: [u8; 32],
    ) -> Result<Self> {
        Self::seal(
            purpose,
            recipient,
            account,
            epoch,
            plaintext,
            &mut ReplayRng {
                bytes: ikm_e,
                at: 0,
            },
        )
    }

    /// Open a box sealed to `identity` for `purpose`, `account` and `epoch`.
    ///
    /// # Errors
    /// [`Error::NonContributory`] if `enc` is a low-order point;
    /// [`Error::SealedBoxOpen`] if it was sealed to another device, account,
    /// epoch or purpose, or altered.
    pub fn open(
        &self,
        purpose: SealPurpose,
        identity: &DeviceIdentity,
        account: &AccountId,
        epoch: Epoch,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let sk =
            <Kem as hpke::Kem>::PrivateKey::from_bytes(&identity.agreement_secret().to_bytes())
                .map_err(|_| Error::SealedBoxOpen)?;
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&self.enc)
            .map_err(|_| Error::SealedBoxOpen)?;
        let aad = aad(account, epoch, &identity.public_keys());
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &sk,
            &enc,
            purpose.info(),
            &self.ciphertext,
            &aad,
        )
        .map(Zeroizing::new)
        .map_err(map_hpke)
    }

    /// Seal a root key to a device (purpose [`SealPurpose::RootKey`], bound
    /// to the key's own epoch).
    ///
    /// # Errors
    /// As [`SealedBox::seal`].
    pub fn seal_root_key(
        root: &RootKey,
        recipient: &DevicePublicKeys,
        account: &AccountId,
        rng: &mut impl CryptoRng,
    ) -> Result<Self> {
        Self::seal(
            SealPurpose::RootKey,
            recipient,
            account,
            root.epoch(),
            root.expose_secret(),
            rng,
        )
    }

    /// Open a root key sealed to this device for `epoch`.
    ///
    /// # Errors
    /// As [`SealedBox::open`], and [`Error::SealedBoxOpen`] if the plaintext
    /// is not 32 bytes.
    pub fn open_root_key(
        &self,
        identity: &DeviceIdentity,
        account: &AccountId,
        epoch: Epoch,
    ) -> Result<RootKey> {
        let plain = self.open(SealPurpose::RootKey, identity, account, epoch)?;
        let bytes: [u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| Error::SealedBoxOpen)?;
        Ok(RootKey::from_secret_bytes(bytes, epoch))
    }

    /// The encapsulated key.
    pub fn enc(&self) -> &[u8; SEALED_ENC_LEN] {
        &self.enc
    }

    /// Bytes: `0x01 ‖ enc ‖ ciphertext`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + SEALED_ENC_LEN + self.ciphertext.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&self.enc);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Parse `0x01 ‖ enc ‖ ciphertext`, bounding the length first.
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::UnsupportedVersion`] or
    /// [`Error::Malformed`] (longer than the largest box).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let min = 1 + SEALED_ENC_LEN + TAG_LEN;
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(Error::Truncated {
                needed: min,
                got: 0,
            });
        };
        if version != SEALED_VERSION {
            return Err(Error::UnsupportedVersion { got: version });
        }
        if bytes.len() < min {
            return Err(Error::Truncated {
                needed: min,
                got: bytes.len(),
            });
        }
        if bytes.len() > min + SEALED_MAX_PLAINTEXT {
            return Err(Error::Malformed {
                what: "sealed box too long",
            });
        }
        let (enc, ciphertext) =
            rest.split_first_chunk::<SEALED_ENC_LEN>()
                .ok_or(Error::Truncated {
                    needed: min,
                    got: bytes.len(),
                })?;
        Ok(Self {
            enc: *enc,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

fn aad(account: &AccountId, epoch: Epoch, recipient: &DevicePublicKeys) -> [u8; SEALED_AAD_LEN] {
    let mut a = [0u8; SEALED_AAD_LEN];
    a[..ACCOUNT_ID_LEN].copy_from_slice(account.as_bytes());
    a[ACCOUNT_ID_LEN..ACCOUNT_ID_LEN + 8].copy_from_slice(&epoch.to_be_bytes());
    a[ACCOUNT_ID_LEN + 8..].copy_from_slice(recipient.device_id().as_bytes());
    a
}

fn map_hpke(e: HpkeError) -> Error {
    match e {
        // With X25519, encapsulation and decapsulation fail only on an
        // all-zero shared secret: a low-order point.
        HpkeError::EncapError | HpkeError::DecapError => Error::NonContributory,
        _ => Error::SealedBoxOpen,
    }
}

/// An "RNG" that hands out fixed bytes, then zeros: only for
/// [`SealedBox::insecure_seal_with_ephemeral_ikm`], whose HPKE setup draws
/// exactly 32 bytes.
struct ReplayRng {
    bytes: [u8; 32],
    at: usize,
}

impl TryRng for ReplayRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> core::result::Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> core::result::Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Self::Error> {
        for d in dst {
            *d = self.bytes.get(self.at).copied().unwrap_or(0);
            self.at = self.at.saturating_add(1);
        }
        Ok(())
    }
}

impl TryCryptoRng for ReplayRng {}
