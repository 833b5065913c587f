//! Store tests: the conformance suite against each backend, key validation,
//! and the local store's crash-safety properties.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keylink_store::{LocalDirStore, MemoryStore, ObjectKey, Put, Store, conformance};

#[test]
fn memory_store_conforms() {
    conformance::run(&MemoryStore::new());
}

#[test]
fn local_dir_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run(&LocalDirStore::open(dir.path()).unwrap());
}

#[test]
fn keys_cannot_escape_or_collide_with_internal_files() {
    for bad in [
        "",
        "/a",
        "a/",
        "a//b",
        "../a",
        "a/../b",
        "./a",
        ".tmp/x",
        "a/.hidden",
        "a b",
        "a\\b",
        "ä",
    ] {
        assert!(ObjectKey::new(bad).is_err(), "{bad:?} must be refused");
    }
    assert!(ObjectKey::new(&"a".repeat(1025)).is_err());
    for good in ["a", "accounts/0a1b/chunks/ff00", "a.b-c_d/e"] {
        ObjectKey::new(good).unwrap();
    }
}

#[test]
fn leftover_temp_files_are_invisible_and_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDirStore::open(dir.path()).unwrap();
    let k = ObjectKey::new("x/y").unwrap();
    assert_eq!(store.put_if_absent(&k, b"whole").unwrap(), Put::Created);
    // A crash mid-write leaves only a temp file.
    std::fs::write(dir.path().join(".tmp/partial-write"), b"half").unwrap();
    assert_eq!(store.list("").unwrap(), vec![k.clone()]);
    let reopened = LocalDirStore::open(dir.path()).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join(".tmp")).unwrap().count(),
        0
    );
    assert_eq!(reopened.get(&k, 10).unwrap(), b"whole");
}
