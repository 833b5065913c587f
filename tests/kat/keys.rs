//! Runs every committed vector in `tests/vectors/keys/` against the
//! implementation: outputs must match byte for byte, and every invalid case
//! must fail with exactly its expected error class.

use keylink_tests::keys_eval::evaluate;
use keylink_tests::{check_dir, load_dir, vectors_dir};

#[test]
fn key_vectors() {
    let c = check_dir("keys", evaluate).expect("vectors load");
    println!(
        "key vectors: {} files, {} valid and {} invalid cases checked",
        c.files, c.valid, c.invalid
    );
    assert!(
        c.failures.is_empty(),
        "{} failures:\n{}",
        c.failures.len(),
        c.failures.join("\n")
    );
    assert!(c.files >= 40, "at least 40 key vectors are required");
    assert!(
        c.invalid >= 15,
        "at least 15 invalid key vectors are required"
    );
    assert_eq!(c.valid + c.invalid, c.files);
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
