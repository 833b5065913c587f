//! An in-memory store for tests and the simulator.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::{ObjectKey, Put, Store, StoreError};

/// A store in memory. Cloning it shares the same objects.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    objects: Arc<Mutex<BTreeMap<ObjectKey, Arc<Vec<u8>>>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes stored (for tests that count uploads).
    pub fn total_bytes(&self) -> u64 {
        self.lock().values().map(|v| v.len() as u64).sum()
    }

    /// Replace an object's bytes, bypassing create-if-absent: for tests and
    /// the simulator's malicious server only.
    pub fn insecure_overwrite(&self, key: &ObjectKey, value: Vec<u8>) {
        self.lock().insert(key.clone(), Arc::new(value));
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<ObjectKey, Arc<Vec<u8>>>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every update is a single insert or remove), so a poisoned lock's
        // data is still consistent.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    fn put_if_absent(&self, key: &ObjectKey, value: &[u8]) -> Result<Put, StoreError> {
        let mut map = self.lock();
        if map.contains_key(key) {
            return Ok(Put::AlreadyExists);
        }
        map.insert(key.clone(), Arc::new(value.to_vec()));
        Ok(Put::Created)
    }

    fn get(&self, key: &ObjectKey, max_len: usize) -> Result<Vec<u8>, StoreError> {
        let value = self
            .lock()
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                key: key.to_string(),
            })?;
        if value.len() > max_len {
            return Err(StoreError::TooLarge {
                key: key.to_string(),
                len: value.len() as u64,
                max: max_len,
            });
        }
        Ok(value.as_ref().clone())
    }

    fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        Ok(self.lock().contains_key(key))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        use std::ops::Bound;
        // Keys sort as strings, so every key with this prefix follows it.
        Ok(self
            .lock()
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.as_str().starts_with(prefix))
            .cloned()
            .collect())
    }

    fn list_with_sizes(&self, prefix: &str) -> Result<Vec<(ObjectKey, u64)>, StoreError> {
        use std::ops::Bound;
        Ok(self
            .lock()
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.as_str().starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect())
    }

    fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }
}
