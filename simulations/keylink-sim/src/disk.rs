//! The server's disk filling up: an in-memory store whose room can run
//! out, after which it refuses every write that does not fit, as a real
//! disk refuses them with `ENOSPC`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keylink_store::{MemoryStore, RefusingStore};
use rand::{RngExt, SeedableRng};

use crate::world::Ctx;

/// The simulated server's store.
pub type ServerStore = RefusingStore<MemoryStore>;

/// How much room the server's disk has, and how many bytes were written to
/// it (allowed for by [`crate::memory_bound`] until this is dropped).
#[derive(Debug, Default)]
pub struct Disk {
    /// Bytes left, or `None` for as much as is wanted.
    room: Mutex<Option<u64>>,
    written: AtomicU64,
}

impl Disk {
    /// An empty in-memory store with unlimited room, and its disk. A write
    /// larger than the room left fails and stores nothing; a smaller one
    /// takes its bytes from the room. Reads, listings and deletes go on
    /// working, as on a full disk (a delete gives no room back: the model
    /// is a disk filled by something else).
    pub fn new_store() -> (Arc<ServerStore>, Arc<Disk>) {
        let disk = Arc::new(Disk::default());
        let rule = disk.clone();
        let store = RefusingStore::new(MemoryStore::new(), move |_, len| rule.refuse(len as u64));
        (Arc::new(store), disk)
    }

    /// Leave `bytes` of room from now on (`Some(0)`: full), or unlimited
    /// room (`None`).
    pub fn set_room(&self, bytes: Option<u64>) {
        *self.room.lock().unwrap_or_else(PoisonError::into_inner) = bytes;
    }

    fn refuse(&self, len: u64) -> bool {
        let mut room = self.room.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(left) = room.as_mut() {
            if len > *left {
                return true;
            }
            *left -= len;
        }
        self.written.fetch_add(len, Ordering::Relaxed);
        let now = crate::STORED_BYTES.fetch_add(len, Ordering::Relaxed) + len;
        crate::PEAK_STORED.fetch_max(now, Ordering::Relaxed);
        false
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let written = self.written.load(Ordering::Relaxed);
        crate::STORED_BYTES.fetch_sub(written, Ordering::Relaxed);
    }
}

/// Fill the server's disk now and then (every 15 to 45 virtual seconds)
/// for 0.5 to 8 seconds: it has up to 4 KiB of room left, so the first
/// small writes land (a log append of several entries can land in part)
/// and then every write fails; uploads and appends that fail must not be
/// acknowledged.
pub async fn fill_now_and_then(disk: Arc<Disk>, seed: [u8; 32], ctx: Arc<Ctx>) {
    let mut rng = rand::rngs::ChaCha20Rng::from_seed(seed);
    loop {
        tokio::time::sleep(Duration::from_millis(rng.random_range(15_000..45_000))).await;
        disk.set_room(Some(rng.random_range(0..4096)));
        ctx.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fault("server disk full", 1, ctx.start);
        tokio::time::sleep(Duration::from_millis(rng.random_range(500..8_000))).await;
        disk.set_room(None);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use keylink_store::{ObjectKey, Put, Store};

    use super::*;

    #[test]
    fn a_full_disk_refuses_what_does_not_fit_and_serves_reads() {
        let (s, disk) = Disk::new_store();
        let [a, b, c, d] = ["a/w", "a/x", "a/y", "a/z"].map(|k| ObjectKey::new(k).unwrap());
        assert_eq!(s.put_if_absent(&a, b"1").unwrap(), Put::Created);
        disk.set_room(Some(3));
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
        assert!(s.put_if_absent(&d, b"4").is_err());
        assert_eq!(s.get(&a, 10).unwrap(), b"1");
        assert_eq!(s.list("a/").unwrap(), vec![a.clone(), b.clone(), c.clone()]);
        disk.set_room(None);
        assert_eq!(s.put_if_absent(&d, b"44").unwrap(), Put::Created);
        assert_eq!(disk.written.load(Ordering::Relaxed), 1 + 2 + 1 + 2);
    }
}
