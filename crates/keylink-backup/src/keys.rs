//! Object keys in the store, and the root keys of every epoch a device holds.

use std::collections::BTreeMap;

use keylink_keys::{AccountId, DeviceId, Epoch, RootKey};
use keylink_store::ObjectKey;
use keylink_wire::account::Hash;

use crate::error::{Error, Result};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything of one account lives under `a/<account id hex>/`.
pub fn account_prefix(account: &AccountId) -> String {
    format!("a/{}/", hex(account.as_bytes()))
}

/// `a/<account>/chunks/<chunk id>/`: every sealed copy of one chunk, one
/// per writer.
pub fn chunk_prefix(account: &AccountId, id: &Hash) -> String {
    format!("{}chunks/{}/", account_prefix(account), hex(id))
}

/// `a/<account>/chunks/<chunk id>/<writer device id>`.
///
/// # Errors
/// Never in practice (the alphabet is hex).
pub fn chunk_key(account: &AccountId, id: &Hash, writer: &DeviceId) -> Result<ObjectKey> {
    Ok(ObjectKey::new(&format!(
        "{}{}",
        chunk_prefix(account, id),
        hex(writer.as_bytes())
    ))?)
}

/// `a/<account>/manifests/<device>/<sequence, 20 digits>-<manifest hash>`.
///
/// # Errors
/// Never in practice.
pub fn manifest_key(
    account: &AccountId,
    device: &DeviceId,
    sequence: u64,
    hash: &Hash,
) -> Result<ObjectKey> {
    Ok(ObjectKey::new(&format!(
        "{}manifests/{}/{sequence:020}-{}",
        account_prefix(account),
        hex(device.as_bytes()),
        hex(hash)
    ))?)
}

/// `a/<account>/pages/<page hash>`: pages are content-addressed.
///
/// # Errors
/// Never in practice.
pub fn page_key(account: &AccountId, hash: &Hash) -> Result<ObjectKey> {
    Ok(ObjectKey::new(&format!(
        "{}pages/{}",
        account_prefix(account),
        hex(hash)
    ))?)
}

/// The root keys of the epochs a device holds (the current one, and the
/// older ones from the epoch history).
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: BTreeMap<Epoch, RootKey>,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a key (replacing one of the same epoch).
    pub fn insert(&mut self, key: RootKey) {
        self.keys.insert(key.epoch(), key);
    }

    /// The key of `epoch`.
    ///
    /// # Errors
    /// [`Error::NoKeyForEpoch`].
    pub fn get(&self, epoch: Epoch) -> Result<&RootKey> {
        self.keys.get(&epoch).ok_or(Error::NoKeyForEpoch { epoch })
    }
}
