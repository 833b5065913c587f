//! Runs every committed vector in `tests/vectors/keys/` against the
//! implementation: outputs must match byte for byte, and every invalid case
//! must fail with exactly its expected error class.

use keylink_tests::keys_eval::evaluate;
use keylink_tests::{assert_vectors, load_dir, vectors_dir};

#[test]
fn key_vectors() {
    assert_vectors("keys", evaluate, 40, 15);
}

/// Every kind the evaluator knows has at least one vector.
#[test]
fn key_vectors_cover_every_kind() {
    let vectors = load_dir(&vectors_dir("keys")).expect("vectors load");
    for kind in [
        "password_wrap",
        "password_unwrap",
        "recovery_wrap",
        "recovery_unwrap",
        "recovery_encode",
        "recovery_parse",
        "password_normalize",
        "derive",
        "device_id",
        "device_public_keys",
        "device_public_keys_wire",
        "sealed_box",
        "sealed_open",
        "signature",
        "signature_verify",
    ] {
        assert!(
            vectors.iter().any(|(_, v)| v.kind == kind),
            "no vector of kind {kind}"
        );
    }
}
