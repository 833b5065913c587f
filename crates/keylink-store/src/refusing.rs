//! A store that refuses the writes a rule picks, as a full disk refuses
//! them: for tests and simulations of a server whose storage fails.

use std::fmt;

use crate::{ObjectKey, Put, Store, StoreError};

/// The rule: given a write that would create `key` with `len` bytes,
/// whether to refuse it.
pub type Rule = dyn Fn(&ObjectKey, usize) -> bool + Send + Sync;

/// Wraps a store; a write that would create an object is first put to the
/// rule, and refused with `StoreError::Io` (`StorageFull`, "no space left
/// on device") when the rule says so, storing nothing. A write to a key
/// that exists, and every read, listing and delete, goes straight to the
/// inner store.
pub struct RefusingStore<S> {
    inner: S,
    refuse: Box<Rule>,
}

impl<S> RefusingStore<S> {
    /// `inner`, with writes refused when `refuse` says so.
    pub fn new(
        inner: S,
        refuse: impl Fn(&ObjectKey, usize) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            refuse: Box::new(refuse),
        }
    }

    /// The store underneath.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S> fmt::Debug for RefusingStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefusingStore").finish_non_exhaustive()
    }
}

impl<S: Store> Store for RefusingStore<S> {
    fn put_if_absent(&self, key: &ObjectKey, value: &[u8]) -> Result<Put, StoreError> {
        if !self.inner.exists(key)? && (self.refuse)(key, value.len()) {
            return Err(StoreError::Io {
                op: "write",
                key: key.as_str().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device",
                ),
            });
        }
        self.inner.put_if_absent(key, value)
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
        self.inner.delete(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::MemoryStore;

    #[test]
    fn refused_writes_store_nothing_and_the_rest_goes_through() {
        let full = Arc::new(AtomicBool::new(false));
        let rule = full.clone();
        let s = RefusingStore::new(MemoryStore::new(), move |_, _| rule.load(Ordering::SeqCst));
        let [a, b] = ["a/x", "a/y"].map(|k| ObjectKey::new(k).unwrap());
        assert_eq!(s.put_if_absent(&a, b"1").unwrap(), Put::Created);
        full.store(true, Ordering::SeqCst);
        let e = s.put_if_absent(&b, b"2").unwrap_err();
        assert_eq!(e.class(), "io");
        assert!(e.to_string().contains("no space left"), "{e}");
        assert!(!s.exists(&b).unwrap(), "nothing stored");
        assert_eq!(
            s.put_if_absent(&a, b"1").unwrap(),
            Put::AlreadyExists,
            "an existing key is not a new write"
        );
        assert_eq!(s.get(&a, 10).unwrap(), b"1");
        assert_eq!(s.list("a/").unwrap(), vec![a.clone()]);
        s.delete(&a).unwrap();
        assert!(!s.inner().exists(&a).unwrap());
        full.store(false, Ordering::SeqCst);
        assert_eq!(s.put_if_absent(&b, b"2").unwrap(), Put::Created);
    }
}
