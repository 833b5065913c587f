//! keylink's key hierarchy.
//!
//! ```text
//! password ──Argon2id──► KEK ─┐
//! recovery key ──HKDF──► KEK ─┴─► wrap (XChaCha20-Poly1305 + commitment) ─► RootKey[epoch]
//!                                                                            │ HKDF-SHA256
//!              ┌────────────────┬───────────────────────┬────────────────────┤ salt = account id
//!         DeviceSubkey     ChunkIdKey           AccountSigningKey      EpochHistoryKey
//! ```
//!
//! What this crate does: generates root keys, wraps them under a password
//! ([`KeyWrap::seal_password`]) or a [`RecoveryKey`], derives the per-purpose
//! keys from them, generates device identities ([`DeviceIdentity`]), signs
//! with a context per message type ([`SignatureContext`]), and seals secrets
//! to a device with HPKE ([`SealedBox`]). Every byte layout and label is
//! specified in `docs/protocol.md`.
//!
//! What it does not do: no I/O, no clock, no global randomness. Randomness
//! is a [`rand_core::CryptoRng`] the caller passes in (the OS CSPRNG in
//! production, a seeded generator in tests and the simulator). It does not
//! store keys, talk to servers, or decide who may hold a key: the account
//! log and the client do.
//!
//! Trust assumptions: the caller's RNG is a CSPRNG; the device's memory is
//! not readable by an attacker while a key is in use. Secret types zeroize
//! on drop, print as `[redacted]`, have no `Clone` or `PartialEq`, and never
//! appear in an error. Bytes from outside (wraps, sealed boxes, public keys,
//! recovery keys as typed) are parsed with every length checked first, and
//! every failure is a typed [`Error`].
//!
//! ```
//! use keylink_keys::{AccountId, Epoch, KdfParams, KdfPolicy, KeyWrap, Password, RecoveryKey, RootKey};
//! # fn main() -> Result<(), keylink_keys::Error> {
//! let mut rng = rand::rng(); // in production: the OS CSPRNG
//! let account = AccountId::generate(&mut rng);
//! let root = RootKey::generate(Epoch::GENESIS, &mut rng);
//!
//! // Tiny Argon2id parameters keep the example fast; real wraps use KdfParams::DEFAULT.
//! let params = KdfParams::insecure_for_tests(64, 1, 1);
//! let password = Password::new("correct horse battery staple")?;
//! let wrap = KeyWrap::seal_password(&root, &account, &password, params, &mut rng)?;
//! let stored = wrap.to_bytes(); // 162 bytes, safe to give to the server
//!
//! let opened = KeyWrap::from_bytes(&stored)?
//!     .open_password(&password, KdfPolicy::insecure_accept_weak())?;
//! assert_eq!(opened.expose_secret(), root.expose_secret());
//!
//! let recovery = RecoveryKey::generate(&mut rng);
//! let rwrap = KeyWrap::seal_recovery(&root, &account, &recovery, &mut rng)?;
//! let typed = RecoveryKey::parse(&recovery.to_display())?;
//! assert_eq!(rwrap.open_recovery(&typed)?.expose_secret(), root.expose_secret());
//! # Ok(()) }
//! ```

pub mod error;
pub mod identity;
pub mod ids;
pub mod labels;
pub mod password;
pub mod primitives;
pub mod realm_kek;
pub mod recovery;
pub mod root;
pub mod sealed;
pub mod wrap;

pub use error::{Error, Result};
pub use identity::{
    DeviceIdentity, DevicePublicKeys, SIGNATURE_LEN, SignatureContext, check_signing_key,
    verify_with,
};
pub use ids::{AccountId, DeviceId, Epoch};
pub use password::Password;
pub use realm_kek::{RealmKek, StretchedPassword, UnlockTag};
pub use recovery::RecoveryKey;
pub use root::{
    AccountSigningKey, ChunkIdKey, DeviceSubkey, EpochHistoryKey, RealmAdminKey, RootKey,
};
pub use sealed::{SealPurpose, SealedBox};
pub use wrap::{KdfParams, KdfPolicy, KeyWrap, WrapKind};
