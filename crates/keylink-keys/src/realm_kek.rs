//! The key schedule of realm-guarded password wraps (`docs/protocol.md` §19).
//!
//! ```text
//! password ──Argon2id(salt, m, t, p)──► StretchedPassword ──► OPRF input
//!                                              │                  │ k-of-n realms
//!                                              ▼                  ▼
//!                   RealmKek = HKDF(stretched ‖ OPRF output, salt = registration commitment)
//!                              │                         │
//!                     wraps the root key       UnlockTag(i, realm) — what realm i checks
//!                                              before it resets its guess counter
//! ```
//!
//! Everything a realm stores or checks derives from [`RealmKek`], which needs
//! both Argon2id's output and the OPRF's, so even k colluding realms pay one
//! Argon2id per password they test, and fewer than k learn nothing they
//! could test a password against.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::Result;
use crate::ids::AccountId;
use crate::labels;
use crate::password::Password;
use crate::primitives::{ct_eq, hkdf32};
use crate::wrap::{KdfParams, KdfPolicy, WRAP_SALT_LEN, argon2id_checked};

/// Length of the threshold OPRF's output (SHA-512).
pub const OPRF_OUTPUT_LEN: usize = 64;
/// Length of a registration commitment (SHA-256).
pub const COMMITMENT_LEN: usize = 32;
/// Length of a realm id: SHA-256 of the realm's certificate.
pub const REALM_ID_LEN: usize = 32;
/// Length of an unlock tag.
pub const UNLOCK_TAG_LEN: usize = 32;

/// Argon2id's output for one password, salt and cost: the OPRF's input and
/// half of a [`RealmKek`]'s input. On its own it opens nothing.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct StretchedPassword([u8; 32]);

impl StretchedPassword {
    /// Run Argon2id over `password`. The parameters are checked as when a
    /// wrap is opened: above the ceiling is refused, and below the floor
    /// unless `policy` accepts it.
    ///
    /// # Errors
    /// [`crate::Error::ParamsAboveCeiling`] or [`crate::Error::ParamsBelowFloor`].
    pub fn derive(
        password: &Password,
        salt: &[u8; WRAP_SALT_LEN],
        params: KdfParams,
        policy: KdfPolicy,
    ) -> Result<Self> {
        let out = argon2id_checked(password, salt, params, policy)?;
        Ok(Self(*out))
    }

    /// Run Argon2id to seal a new wrap with `params`: checked as
    /// [`KeyWrap::seal_password`](crate::KeyWrap::seal_password) checks
    /// them (the ceiling; the floor unless the parameters were made with
    /// [`KdfParams::insecure_for_tests`]).
    ///
    /// # Errors
    /// [`crate::Error::ParamsAboveCeiling`] or [`crate::Error::ParamsBelowFloor`].
    pub fn derive_for_sealing(
        password: &Password,
        salt: &[u8; WRAP_SALT_LEN],
        params: KdfParams,
    ) -> Result<Self> {
        let policy = if params.is_insecure() {
            KdfPolicy::insecure_accept_weak()
        } else {
            KdfPolicy::default()
        };
        Self::derive(password, salt, params, policy)
    }

    /// The OPRF input: `label ‖ account id ‖ Argon2id output`. The password
    /// itself never reaches the OPRF.
    pub fn oprf_input(&self, account: &AccountId) -> Zeroizing<Vec<u8>> {
        let mut input =
            Zeroizing::new(Vec::with_capacity(labels::REALM_OPRF_INPUT.len() + 16 + 32));
        input.extend_from_slice(labels::REALM_OPRF_INPUT);
        input.extend_from_slice(account.as_bytes());
        input.extend_from_slice(&self.0);
        input
    }

    /// Rebuild from bytes that are known to be Argon2id's output (test
    /// vectors, and the offline-attacker test that must show what a thief
    /// with enough realms could do). Never from anything else.
    pub fn insecure_from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for StretchedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StretchedPassword([redacted])")
    }
}

/// The key-encryption key of a realm-guarded password wrap:
/// `HKDF-SHA256(ikm = stretched ‖ OPRF output, salt = commitment,
/// info = "keylink/v1/realm-kek")`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RealmKek([u8; 32]);

impl RealmKek {
    /// Mix Argon2id's output with the threshold OPRF's output, bound to the
    /// registration the OPRF key belongs to.
    pub fn derive(
        stretched: &StretchedPassword,
        oprf_output: &[u8; OPRF_OUTPUT_LEN],
        commitment: &[u8; COMMITMENT_LEN],
    ) -> Self {
        let mut ikm = Zeroizing::new([0u8; 32 + OPRF_OUTPUT_LEN]);
        ikm[..32].copy_from_slice(&stretched.0);
        ikm[32..].copy_from_slice(oprf_output);
        Self(*hkdf32(ikm.as_slice(), commitment, &[labels::REALM_KEK]))
    }

    /// The tag realm `index` (1-based share index) with id `realm` checks
    /// before it resets its counter:
    /// `HKDF-SHA256(ikm = KEK, salt = commitment, info = label ‖ index ‖ realm id)`.
    pub fn unlock_tag(
        &self,
        commitment: &[u8; COMMITMENT_LEN],
        index: u8,
        realm: &[u8; REALM_ID_LEN],
    ) -> UnlockTag {
        UnlockTag(*hkdf32(
            &self.0,
            commitment,
            &[labels::REALM_UNLOCK_TAG, &[index], realm],
        ))
    }

    /// The raw key, for the wrap code of this crate.
    pub(crate) fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RealmKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RealmKek([redacted])")
    }
}

/// What one realm keeps to recognise the password holder: knowing it proves
/// the person opened the wrap. Compared only in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct UnlockTag([u8; UNLOCK_TAG_LEN]);

impl UnlockTag {
    /// Rebuild from stored or received bytes.
    pub fn from_bytes(bytes: [u8; UNLOCK_TAG_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, to send to or store at the realm. Never log them.
    pub fn expose_secret(&self) -> &[u8; UNLOCK_TAG_LEN] {
        &self.0
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &UnlockTag) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for UnlockTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockTag([redacted])")
    }
}
