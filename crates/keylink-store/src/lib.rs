//! keylink's object storage.
//!
//! What it does: one [`Store`] trait that the client, the backup engine and
//! the server share — create-if-absent, get (bounded), exists, list by
//! prefix, delete — with typed errors; an in-memory [`MemoryStore`] for tests
//! and the simulator, and a [`RefusingStore`] that fails chosen writes as a
//! full disk does; and a [`LocalDirStore`], the embedded default, that
//! never shows a partially written object and never loses an acknowledged
//! one (temp file, fsync, atomic no-clobber link, directory fsync).
//!
//! What it does not do: it knows nothing about what it stores (every object
//! keylink writes is already encrypted and authenticated), and it does not
//! trust its own contents — callers verify everything they read.
//!
//! ```
//! use keylink_store::{MemoryStore, ObjectKey, Put, Store};
//! # fn main() -> Result<(), keylink_store::StoreError> {
//! let store = MemoryStore::new();
//! let key = ObjectKey::new("accounts/0a1b/chunks/ff00")?;
//! assert_eq!(store.put_if_absent(&key, b"sealed bytes")?, Put::Created);
//! assert_eq!(store.put_if_absent(&key, b"other bytes")?, Put::AlreadyExists);
//! assert_eq!(store.get(&key, 1024)?, b"sealed bytes");
//! # Ok(()) }
//! ```

pub mod conformance;
mod error;
mod key;
mod local;
mod memory;
pub mod refusing;
#[cfg(feature = "s3")]
mod s3;

pub use error::StoreError;
pub use key::ObjectKey;
pub use local::LocalDirStore;
pub use memory::MemoryStore;
pub use refusing::RefusingStore;
#[cfg(feature = "s3")]
pub use s3::{S3Config, S3Store};

/// What a create-if-absent write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Put {
    /// The object did not exist and now does, durably.
    Created,
    /// An object with that key already existed; it was left untouched.
    AlreadyExists,
}

/// An object store. Objects are immutable once created: there is no
/// overwrite, only create-if-absent and delete.
pub trait Store: Send + Sync {
    /// Create `key` with `value` unless it exists. When this returns
    /// `Created`, the object is durable.
    ///
    /// # Errors
    /// [`StoreError::Io`] (nothing partial is ever visible under `key`).
    fn put_if_absent(&self, key: &ObjectKey, value: &[u8]) -> Result<Put, StoreError>;

    /// Read `key`, refusing objects longer than `max_len` before reading them.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::TooLarge`], [`StoreError::Io`].
    fn get(&self, key: &ObjectKey, max_len: usize) -> Result<Vec<u8>, StoreError>;

    /// Whether `key` exists.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError>;

    /// Every key that starts with `prefix`, sorted.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError>;

    /// Every key that starts with `prefix`, sorted, with its size in bytes.
    ///
    /// # Errors
    /// [`StoreError::Io`].
    fn list_with_sizes(&self, prefix: &str) -> Result<Vec<(ObjectKey, u64)>, StoreError>;

    /// Remove `key` (no error if it is absent).
    ///
    /// # Errors
    /// [`StoreError::Io`].
    fn delete(&self, key: &ObjectKey) -> Result<(), StoreError>;
}
