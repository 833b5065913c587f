//! Runs every committed vector in `tests/vectors/keys/` against the
//! implementation: outputs must match byte for byte, and every invalid case
//! must fail with exactly its expected error class.

use keylink_tests::keys_eval::evaluate;
use keylink_tests::{load_dir, vectors_dir};
use serde_json::Value;

#[test]
fn key_vectors() {
    let vectors = load_dir(&vectors_dir("keys")).expect("vectors load");
    let mut failures = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (path, v) in &vectors {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != v.name {
            failures.push(format!(
                "{}: file name and vector name differ",
                path.display()
            ));
        }
        let outcome = match evaluate(v) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{}: unusable vector: {e}", v.name));
                continue;
            }
        };
        match (&v.expected, &v.expected_error, outcome) {
            (Some(expected), None, Ok(got)) => {
                valid += 1;
                if *expected != got {
                    failures.push(format!("{}: expected {expected:?}, got {got:?}", v.name));
                }
            }
            (None, Some(class), Err(got)) => {
                invalid += 1;
                if *class != got {
                    failures.push(format!("{}: expected error {class}, got {got}", v.name));
                }
            }
            (Some(_), Some(_), _) | (None, None, _) => {
                failures.push(format!(
                    "{}: needs exactly one of expected / expected_error",
                    v.name
                ));
            }
            (_, _, got) => failures.push(format!("{}: wrong outcome {got:?}", v.name)),
        }
    }
    println!(
        "key vectors: {} files, {valid} valid and {invalid} invalid cases checked",
        vectors.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(vectors.len() >= 40, "at least 40 key vectors are required");
    assert!(
        invalid >= 15,
        "at least 15 invalid key vectors are required"
    );
}

/// The vectors are the specification's examples: every kind the generator
/// knows appears, and none is a stub without outputs.
#[test]
fn key_vectors_cover_every_kind_and_carry_outputs() {
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
    for (_, v) in &vectors {
        if let Some(e) = &v.expected {
            assert!(!e.is_empty(), "{}: empty expected", v.name);
            assert!(
                e.values()
                    .all(|x| matches!(x, Value::String(s) if !s.is_empty()))
            );
        }
        assert!(!v.comment.is_empty(), "{}: no comment", v.name);
    }
}
