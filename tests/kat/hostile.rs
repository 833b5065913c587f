//! Every decoder of untrusted bytes, fed arbitrary and mutated input, returns
//! a typed error or a value — it never panics, and never accepts what it
//! should not. (Fuzz targets with saved corpora are still to come; these
//! property tests are the always-on floor.)

use keylink_account::Head;
use keylink_keys::{DevicePublicKeys, KeyWrap, RecoveryKey, SealedBox};
use keylink_tests::{load_dir, vectors_dir};
use keylink_wire::account::SignedEntry;
use keylink_wire::{KeyWraps, SealedRootKey, Wire};
use proptest::prelude::*;

/// Every decoder, applied to the same bytes; none may panic.
fn decode_everything(bytes: &[u8]) {
    let _ = KeyWrap::from_bytes(bytes);
    let _ = SealedBox::from_bytes(bytes);
    let _ = DevicePublicKeys::decode(bytes);
    let _ = KeyWraps::decode(bytes);
    let _ = SealedRootKey::decode(bytes);
    let _ = SignedEntry::decode(bytes);
    let _ = Head::from_bytes(bytes);
    let _ = keylink_wire::backup::ManifestRoot::decode(bytes);
    let _ = keylink_wire::backup::ManifestPage::decode(bytes);
    let _ = keylink_backup::format::ManifestHeader::from_bytes(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = RecoveryKey::parse(text);
        let _ = keylink_keys::Password::new(text);
    }
}

/// Real encodings from the committed vectors, to mutate (read once).
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(load_seeds)
}

fn load_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for area in ["keys", "account", "backup"] {
        for (_, v) in load_dir(&vectors_dir(area)).expect("vectors load") {
            for value in v.inputs.values() {
                let strings: Vec<&str> = match value {
                    serde_json::Value::String(s) => vec![s.as_str()],
                    serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
                    _ => vec![],
                };
                out.extend(strings.into_iter().filter_map(|s| hex::decode(s).ok()));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_real_encodings_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let seeds = seeds();
        let mut bytes = pick.get(seeds).clone();
        for (at, value, op) in edits {
            if bytes.is_empty() {
                bytes.push(value);
                continue;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] ^= value | 1,
                1 => bytes.truncate(i),
                2 => bytes.insert(i, value),
                _ => { bytes.remove(i); }
            }
        }
        decode_everything(&bytes);
    }
}

/// A length prefix larger than the input is refused by the decoder, not
/// allocated; an input over a message's bound is refused before decoding.
#[test]
fn length_prefixes_claiming_gigabytes_are_refused_without_allocating() {
    // A protobuf bytes field (tag 2) claiming 2^32 - 1 bytes, in a tiny input.
    let huge = [0x08, 0x01, 0x12, 0xff, 0xff, 0xff, 0xff, 0x0f];
    assert_eq!(SignedEntry::decode(&huge).unwrap_err().class(), "decode");
    assert_eq!(KeyWraps::decode(&huge).unwrap_err().class(), "decode");
    let big = vec![0u8; (256 << 10) + 1];
    assert_eq!(SignedEntry::decode(&big).unwrap_err().class(), "too_large");
}
