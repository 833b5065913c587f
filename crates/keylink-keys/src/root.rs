//! The root backup key and the keys derived from it.
//!
//! Every derivation is `HKDF-SHA256(ikm = root key, salt = account id,
//! info = label [‖ device id])` with one label per purpose (see
//! [`crate::labels`]). Each result has its own type, so a chunk-id key cannot
//! be passed where a device subkey is expected.

use core::fmt;

use ed25519_dalek::SigningKey;
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::identity::{SignatureContext, sign_with};
use crate::ids::{AccountId, DeviceId, Epoch};
use crate::labels;
use crate::primitives::{ct_eq, hkdf32};

/// Length of a root key and of every derived symmetric key.
pub const KEY_LEN: usize = 32;

/// An account's root backup key for one epoch: 32 bytes from a CSPRNG.
///
/// Holding it means being able to read every backup of that epoch and to act
/// for the account. It zeroizes on drop, prints as `[redacted]`, and has no
/// `Clone` or `PartialEq`: copies are explicit ([`RootKey::duplicate`]) and
/// comparisons go through derived public values.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RootKey {
    bytes: [u8; KEY_LEN],
    #[zeroize(skip)]
    epoch: Epoch,
}

impl RootKey {
    /// A fresh root key for `epoch`.
    pub fn generate(epoch: Epoch, rng: &mut impl CryptoRng) -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rng.fill_bytes(&mut bytes);
        Self { bytes, epoch }
    }

    /// Rebuild a root key from bytes that came out of an authenticated
    /// container (a wrap, a sealed box, an epoch-history record). Never use
    /// it to make a key from anything else.
    pub fn from_secret_bytes(bytes: [u8; KEY_LEN], epoch: Epoch) -> Self {
        Self { bytes, epoch }
    }

    /// The epoch this key belongs to.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// An explicit copy (for example, to hand one to a key store while
    /// keeping one in memory). Both copies zeroize on drop.
    pub fn duplicate(&self) -> Self {
        Self {
            bytes: self.bytes,
            epoch: self.epoch,
        }
    }

    /// The raw key bytes, for the wrap and seal code of this crate and for
    /// authenticated encryption of the key by its callers. Keep the borrow
    /// short; never log or store what it returns.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The subkey with which `device` encrypts its own backups in this epoch.
    pub fn device_subkey(&self, account: &AccountId, device: &DeviceId) -> DeviceSubkey {
        DeviceSubkey(self.derive(account, &[labels::DEVICE_SUBKEY, device.as_bytes()]))
    }

    /// The key of the keyed hash that names plaintext chunks in this epoch.
    pub fn chunk_id_key(&self, account: &AccountId) -> ChunkIdKey {
        ChunkIdKey(self.derive(account, &[labels::CHUNK_ID_KEY]))
    }

    /// The epoch's account signing key (an Ed25519 key whose seed is derived
    /// from the root key, so a valid signature proves possession of it).
    pub fn account_signing_key(&self, account: &AccountId) -> AccountSigningKey {
        let mut seed = self.derive(account, &[labels::ACCOUNT_SIGNING_SEED]);
        let key = SigningKey::from_bytes(&seed);
        seed.zeroize();
        AccountSigningKey(key)
    }

    /// Whether this is the root key whose account signing key has the public
    /// half `expected` (as the account log records it for each epoch),
    /// compared in constant time. A root key that arrives in a sealed box
    /// (HPKE base mode authenticates no sender) or out of a wrap (a server
    /// may serve an outdated one) must pass this check against the log
    /// before it is used.
    pub fn matches_account_key(&self, account: &AccountId, expected: &[u8; 32]) -> bool {
        ct_eq(&self.account_signing_key(account).public_key(), expected)
    }

    /// The epoch's realm-admin key: an Ed25519 key whose seed is derived from
    /// the root key. Realms record its public half at registration and
    /// accept a re-registration or a hand-over only under its signature, so
    /// only a holder of this epoch's root key (a current device) can replace
    /// what a realm holds for the account.
    pub fn realm_admin_key(&self, account: &AccountId) -> RealmAdminKey {
        let mut seed = self.derive(account, &[labels::REALM_ADMIN_SEED]);
        let key = SigningKey::from_bytes(&seed);
        seed.zeroize();
        RealmAdminKey(key)
    }

    /// The key under which this epoch stores the root keys of older epochs.
    pub fn epoch_history_key(&self, account: &AccountId) -> EpochHistoryKey {
        EpochHistoryKey(self.derive(account, &[labels::EPOCH_HISTORY_KEY]))
    }

    fn derive(&self, account: &AccountId, info: &[&[u8]]) -> [u8; KEY_LEN] {
        *hkdf32(&self.bytes, account.as_bytes(), info)
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootKey")
            .field("epoch", &self.epoch.0)
            .field("bytes", &"[redacted]")
            .finish()
    }
}

macro_rules! derived_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            /// The raw key bytes, for the cipher or hash that uses them.
            /// Never log or store what this returns.
            pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

derived_key!(
    /// A device's backup encryption key for one epoch. Every holder of the
    /// root key can derive every device's subkey, so any linked device can
    /// restore any other's backups, while two devices never share a nonce
    /// space.
    DeviceSubkey
);
derived_key!(
    /// The key of the keyed hash that turns a plaintext chunk into its id,
    /// so the server cannot confirm a guess about a file's contents.
    ChunkIdKey
);
derived_key!(
    /// Encrypts the root keys of older epochs, so devices that join after a
    /// rotation can still read old backups.
    EpochHistoryKey
);

/// The epoch's account signing key. Its public half is recorded in the
/// account log at genesis and at every rotation.
#[derive(ZeroizeOnDrop)]
pub struct AccountSigningKey(SigningKey);

impl AccountSigningKey {
    /// The public half (32 bytes, Ed25519).
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// Sign `message` under `context` (see [`SignatureContext`]).
    pub fn sign(&self, context: SignatureContext, message: &[u8]) -> [u8; 64] {
        sign_with(&self.0, context, message)
    }
}

impl fmt::Debug for AccountSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountSigningKey(public: ")?;
        crate::ids::write_hex(f, &self.public_key())?;
        f.write_str(", secret: [redacted])")
    }
}

/// The epoch's realm-admin key (see [`RootKey::realm_admin_key`]). It signs
/// only under [`SignatureContext::RealmAdmin`].
#[derive(ZeroizeOnDrop)]
pub struct RealmAdminKey(SigningKey);

impl RealmAdminKey {
    /// The public half (32 bytes, Ed25519).
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// Sign a realm request.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        sign_with(&self.0, SignatureContext::RealmAdmin, message)
    }
}

impl fmt::Debug for RealmAdminKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RealmAdminKey(public: ")?;
        crate::ids::write_hex(f, &self.public_key())?;
        f.write_str(", secret: [redacted])")
    }
}
