//! Runs every committed vector in `tests/vectors/realm/` (docs/protocol.md
//! §19): the threshold OPRF, descriptors, the realm key schedule with the
//! version-2 wrap, and registration requests.

use keylink_tests::realm_eval::evaluate;
use keylink_tests::{assert_vectors, load_dir, vectors_dir};

#[test]
fn realm_vectors() {
    assert_vectors("realm", evaluate, 20, 10);
}

/// Every threshold case's committed output is the whole key's output, so
/// the files themselves show k-of-n = single key.
#[test]
fn realm_threshold_vectors_agree_with_the_single_key_vector() {
    let vectors = load_dir(&vectors_dir("realm")).expect("vectors load");
    let output = |name: &str| {
        vectors
            .iter()
            .find(|(_, v)| v.name == name)
            .and_then(|(_, v)| v.expected.as_ref()?.get("output").cloned())
            .expect("vector with an output")
    };
    let single = output("oprf_single_key");
    let mut shares = 0;
    for (_, v) in vectors.iter().filter(|(_, v)| v.name.contains("_shares_")) {
        assert_eq!(output(&v.name), single, "{}", v.name);
        shares += 1;
    }
    assert!(shares >= 4);
}
