//! The behaviour every [`Store`] must have, as one function each backend's
//! tests call (the in-memory and local-directory stores here; the S3 backend
//! with the server). It panics with a message naming the broken rule.

#![allow(clippy::panic)]

use crate::{ObjectKey, Put, Store, StoreError};

fn key(s: &str) -> ObjectKey {
    match ObjectKey::new(s) {
        Ok(k) => k,
        Err(e) => panic!("conformance key {s}: {e}"),
    }
}

fn check<T>(what: &str, r: Result<T, StoreError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Run the whole suite against `store`, which must start empty.
pub fn run(store: &dyn Store) {
    run_with(store, true);
}

/// Run the suite; `concurrent_create` includes the check that exactly one of
/// eight racing creators of one key wins (a backend without atomic
/// conditional writes fails it, and must not back a shared log).
pub fn run_with(store: &dyn Store, concurrent_create: bool) {
    let a = key("conformance/objects/a");
    let b = key("conformance/objects/b");
    let c = key("conformance/other/c");

    assert!(
        !check("exists on empty", store.exists(&a)),
        "exists: empty store has a"
    );
    match store.get(&a, 1024) {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("get of a missing object must be NotFound, got {other:?}"),
    }

    assert_eq!(
        check("put a", store.put_if_absent(&a, b"alpha")),
        Put::Created
    );
    assert_eq!(
        check("put a again", store.put_if_absent(&a, b"changed")),
        Put::AlreadyExists,
        "put_if_absent must not overwrite"
    );
    assert_eq!(
        check("get a", store.get(&a, 1024)),
        b"alpha",
        "an object must not change"
    );
    assert!(check("exists a", store.exists(&a)));

    // Size bound: refused before reading.
    match store.get(&a, 4) {
        Err(StoreError::TooLarge { len: 5, max: 4, .. }) => {}
        other => panic!("get over max_len must be TooLarge, got {other:?}"),
    }
    assert_eq!(check("get exact", store.get(&a, 5)), b"alpha");

    // Empty and binary objects round-trip.
    assert_eq!(check("put b", store.put_if_absent(&b, &[])), Put::Created);
    assert_eq!(check("get b", store.get(&b, 0)), Vec::<u8>::new());
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    assert_eq!(
        check("put c", store.put_if_absent(&c, &binary)),
        Put::Created
    );
    assert_eq!(check("get c", store.get(&c, binary.len())), binary);

    // Listing by prefix, sorted.
    assert_eq!(
        check("list objects", store.list("conformance/objects/")),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        check("list all", store.list("conformance/")),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(
        check("list partial segment", store.list("conformance/obj")),
        vec![a.clone(), b.clone()]
    );
    assert!(check("list nothing", store.list("nothing/")).is_empty());
    assert_eq!(
        check("list with sizes", store.list_with_sizes("conformance/")),
        vec![
            (a.clone(), 5),
            (b.clone(), 0),
            (c.clone(), binary.len() as u64)
        ]
    );

    // Delete, idempotently; then the key can be created again.
    check("delete a", store.delete(&a));
    check("delete a again", store.delete(&a));
    assert!(!check("exists after delete", store.exists(&a)));
    assert_eq!(
        check("list after delete", store.list("conformance/objects/")),
        vec![b.clone()]
    );
    assert_eq!(
        check("put a anew", store.put_if_absent(&a, b"again")),
        Put::Created
    );
    assert_eq!(check("get a anew", store.get(&a, 1024)), b"again");

    if concurrent_create {
        race(store);
    }

    for k in check("list for cleanup", store.list("conformance/")) {
        check("cleanup", store.delete(&k));
    }
}

/// Concurrent creators of one key: exactly one wins, and its object is whole.
fn race(store: &dyn Store) {
    let race = key("conformance/race/x");
    let created = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let race = &race;
                s.spawn(move || store.put_if_absent(race, &[i; 64]))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => check("racing put", r),
                Err(_) => panic!("a racing put panicked"),
            })
            .filter(|p| *p == Put::Created)
            .count()
    });
    assert_eq!(
        created, 1,
        "exactly one of eight concurrent creators must win"
    );
    let won = check("get race", store.get(&key("conformance/race/x"), 64));
    assert!(
        won.iter().all(|&b| b == won[0]),
        "the winner's object must be whole"
    );

    for k in check("list for cleanup", store.list("conformance/")) {
        check("cleanup", store.delete(&k));
    }
}
