//! A device's key store in memory: the simulator reads it back to know
//! which secrets each device holds (to scan the server's storage for them,
//! and to check that a revoked or declined device holds no new key).

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use keylink_client::{KeyStore, KeyStoreError};
use zeroize::Zeroizing;

/// Secrets by name, in memory.
#[derive(Default)]
pub struct MemKeyStore {
    items: Mutex<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl std::fmt::Debug for MemKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemKeyStore(..)")
    }
}

impl KeyStore for MemKeyStore {
    fn load(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyStoreError> {
        let items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(items.get(name).cloned())
    }

    fn save(&self, name: &str, value: &[u8]) -> Result<(), KeyStoreError> {
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        items.insert(name.to_string(), Zeroizing::new(value.to_vec()));
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<(), KeyStoreError> {
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        items.remove(name);
        Ok(())
    }
}

impl MemKeyStore {
    /// The root keys held, by epoch (the `roots` record: 8-byte epoch and
    /// 32-byte key, repeated).
    pub fn root_keys(&self) -> BTreeMap<u64, Zeroizing<[u8; 32]>> {
        let mut out = BTreeMap::new();
        if let Ok(Some(bytes)) = self.load("roots") {
            for rec in bytes.chunks_exact(40) {
                let (e, k) = rec.split_at(8);
                let mut epoch = [0u8; 8];
                epoch.copy_from_slice(e);
                let mut key = Zeroizing::new([0u8; 32]);
                key.copy_from_slice(k);
                out.insert(u64::from_be_bytes(epoch), key);
            }
        }
        out
    }

    /// The device's identity secrets (signing and agreement keys).
    pub fn identity_secrets(&self) -> Vec<Zeroizing<[u8; 32]>> {
        let mut out = Vec::new();
        if let Ok(Some(bytes)) = self.load("identity") {
            for half in bytes.chunks_exact(32) {
                let mut k = Zeroizing::new([0u8; 32]);
                k.copy_from_slice(half);
                out.push(k);
            }
        }
        out
    }

    /// The device's id, once it has an identity.
    pub fn device_id(&self) -> Option<keylink_keys::DeviceId> {
        let s = self.identity_secrets();
        match s.as_slice() {
            [sign, agree] => {
                Some(keylink_keys::DeviceIdentity::from_secret_bytes(sign, agree).device_id())
            }
            _ => None,
        }
    }

    /// The newest log position the device verified.
    pub fn head_sequence(&self) -> Option<u64> {
        let bytes = self.load("head").ok()??;
        keylink_account::Head::from_bytes(&bytes)
            .ok()
            .map(|h| h.sequence)
    }

    /// Whether the device was set up (holds settings).
    pub fn is_set_up(&self) -> bool {
        matches!(self.load("device"), Ok(Some(_)))
    }
}
