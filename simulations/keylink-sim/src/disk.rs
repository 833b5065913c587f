//! The server's disk filling up: a store whose room runs out, after which
//! it refuses every write that does not fit, as a real disk refuses them
//! with `ENOSPC`.

use std::io;
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use keylink_store::{MemoryStore, ObjectKey, Put, Store, StoreError};
use rand::{RngExt, SeedableRng};

use crate::world::Ctx;

/// An in-memory store whose room can run out: a write larger than the
/// room left fails and stores nothing; a smaller one takes its bytes from
/// the room. Reads, listings and deletes go on working, as on a full disk
/// (a delete gives no room back: the model is a disk filled by something
/// else).
#[derive(Debug, Default)]
pub struct FillingStore {
    inner: MemoryStore,
    /// Bytes left, or `None` for as much as is wanted.
    room: Mutex<Option<u64>>,
    /// Bytes held, as counted in [`crate::STORED_BYTES`].
    held: std::sync::atomic::AtomicU64,
}

impl Drop for FillingStore {
    fn drop(&mut self) {
        let held = self.held.load(std::sync::atomic::Ordering::Relaxed);
        crate::STORED_BYTES.fetch_sub(held, std::sync::atomic::Ordering::Relaxed);
    }
}

impl FillingStore {
    /// An empty store with unlimited room.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leave `bytes` of room from now on (`Some(0)`: full), or unlimited
    /// room (`None`).
    pub fn set_room(&self, bytes: Option<u64>) {
        *self.room.lock().unwrap_or_else(PoisonError::into_inner) = bytes;
    }

    fn count(&self, created: Put, len: u64) {
        if created == Put::Created {
            self.held
                .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
            let now = crate::STORED_BYTES.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
            crate::PEAK_STORED.fetch_max(now + len, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Store for FillingStore {
    fn put_if_absent(&self, key: &ObjectKey, value: &[u8]) -> Result<Put, StoreError> {
        let mut room = self.room.lock().unwrap_or_else(PoisonError::into_inner);
        let len = value.len() as u64;
        if let Some(left) = room.as_mut() {
            // An object already there costs no room (the lock keeps this
            // check and the write together).
            if len > *left && !self.inner.exists(key)? {
                return Err(StoreError::Io {
                    op: "write",
                    key: key.as_str().to_string(),
                    source: io::Error::new(
                        io::ErrorKind::StorageFull,
                        "no space left on device (simulated)",
                    ),
                });
            }
            let put = self.inner.put_if_absent(key, value)?;
            if put == Put::Created {
                *left -= len;
            }
            self.count(put, len);
            return Ok(put);
        }
        drop(room);
        let put = self.inner.put_if_absent(key, value)?;
        self.count(put, len);
        Ok(put)
    }

    fn get(&self, key: &ObjectKey, max_len: usize) -> Result<Vec<u8>, StoreError> {
        self.inner.get(key, max_len)
    }

    fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        self.inner.exists(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        self.inner.list(prefix)
    }

    fn list_with_sizes(&self, prefix: &str) -> Result<Vec<(ObjectKey, u64)>, StoreError> {
        self.inner.list_with_sizes(prefix)
    }

    fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let len = self
            .inner
            .get(key, usize::MAX)
            .map_or(0, |v| v.len() as u64);
        self.inner.delete(key)?;
        let held = self
            .held
            .fetch_sub(len, std::sync::atomic::Ordering::Relaxed);
        debug_assert!(held >= len);
        crate::STORED_BYTES.fetch_sub(len, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// Fill the server's disk now and then (every 15 to 45 virtual seconds)
/// for 0.5 to 8 seconds: it has up to 4 KiB of room left, so the first
/// small writes land (a log append of several entries can land in part)
/// and then every write fails; uploads and appends that fail must not be
/// acknowledged.
pub async fn fill_now_and_then(store: Arc<FillingStore>, seed: [u8; 32], ctx: Arc<Ctx>) {
    let mut rng = rand::rngs::ChaCha20Rng::from_seed(seed);
    loop {
        tokio::time::sleep(Duration::from_millis(rng.random_range(15_000..45_000))).await;
        store.set_room(Some(rng.random_range(0..4096)));
        ctx.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fault("server disk full", 1, ctx.start);
        tokio::time::sleep(Duration::from_millis(rng.random_range(500..8_000))).await;
        store.set_room(None);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_full_store_refuses_what_does_not_fit_and_serves_reads() {
        let s = FillingStore::new();
        let [a, b, c] = ["a/x", "a/y", "a/z"].map(|k| ObjectKey::new(k).unwrap());
        assert_eq!(s.put_if_absent(&a, b"1").unwrap(), Put::Created);
        s.set_room(Some(3));
        assert_eq!(s.put_if_absent(&b, b"22").unwrap(), Put::Created);
        assert_eq!(
            s.put_if_absent(&b, b"22").unwrap(),
            Put::AlreadyExists,
            "an existing key takes no room"
        );
        let e = s.put_if_absent(&c, b"33").unwrap_err();
        assert!(e.to_string().contains("no space left"), "{e}");
        assert!(!s.exists(&c).unwrap(), "a refused write leaves nothing");
        assert_eq!(
            s.put_if_absent(&c, b"3").unwrap(),
            Put::Created,
            "1 byte left"
        );
        assert!(
            s.put_if_absent(&ObjectKey::new("a/w").unwrap(), b"4")
                .is_err()
        );
        assert_eq!(s.get(&a, 10).unwrap(), b"1");
        assert_eq!(s.list("a/").unwrap(), vec![a.clone(), b.clone(), c.clone()]);
        s.delete(&a).unwrap();
        s.set_room(None);
        assert_eq!(s.put_if_absent(&a, b"11").unwrap(), Put::Created);
    }
}
