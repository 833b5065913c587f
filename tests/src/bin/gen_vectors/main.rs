//! Regenerates `tests/vectors/{keys,account,backup}/*.json`.
//!
//! Inputs come from [`det_bytes`] (SHA-256 of a tag) or a seeded RNG, so
//! every vector can be rebuilt from this code alone; outputs come from
//! running the implementation once through the evaluators in
//! [`keylink_tests::keys_eval`] and [`keylink_tests::account_eval`], and each
//! scenario states the outcome it is meant to have, so a generator run that
//! would commit a surprising result stops instead. Run it only when a format
//! deliberately changes: `cargo run -p keylink-tests --bin gen-vectors`. The
//! `kat` test then holds the implementation to the committed files.

// A developer tool over our own inputs: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;

use keylink_keys::wrap::WRAP_LEN;
use keylink_keys::{
    AccountId, DeviceIdentity, Epoch, KdfParams, KeyWrap, Password, RecoveryKey, RootKey,
    SealPurpose, SealedBox, SignatureContext,
};
use keylink_tests::keys_eval::Outcome;
use keylink_tests::{VectorError, account_eval, backup_eval, keys_eval, link_eval, realm_eval};

mod account;
mod backup;
mod link;
mod realm;
use keylink_tests::{Vector, det_array, det_bytes, vectors_dir};
use serde_json::{Value, json};

/// The outcome a scenario is meant to have.
pub(crate) enum Want {
    Ok,
    Err(&'static str),
}

pub(crate) struct Gen {
    vectors: Vec<Vector>,
    evaluate: fn(&Vector) -> Result<Outcome, VectorError>,
}

impl Gen {
    pub(crate) fn add(&mut self, name: &str, kind: &str, inputs: Value, want: Want, comment: &str) {
        let inputs: BTreeMap<String, Value> = serde_json::from_value(inputs).unwrap();
        let mut v = Vector {
            name: name.to_string(),
            kind: kind.to_string(),
            inputs,
            expected: None,
            expected_error: None,
            comment: comment.to_string(),
        };
        match ((self.evaluate)(&v).expect("usable vector"), want) {
            (Ok(outputs), Want::Ok) => v.expected = Some(outputs),
            (Err(class), Want::Err(w)) if class == w => v.expected_error = Some(class),
            (got, Want::Ok) => panic!("{name}: wanted success, got {got:?}"),
            (got, Want::Err(w)) => panic!("{name}: wanted {w}, got {got:?}"),
        }
        self.vectors.push(v);
    }
}

pub(crate) fn h(b: &[u8]) -> String {
    hex::encode(b)
}

fn main() {
    let mut g = Gen {
        vectors: Vec::new(),
        evaluate: keys_eval::evaluate,
    };
    let account: [u8; 16] = det_array("account");
    let root: [u8; 32] = det_array("root-key");
    let salt: [u8; 16] = det_array("salt");
    let nonce: [u8; 24] = det_array("nonce");

    wraps(&mut g, &account, &root, &salt, &nonce);
    recovery(&mut g, &account, &root, &salt, &nonce);
    derivations(&mut g, &account, &root);
    identities(&mut g);
    sealed(&mut g, &account, &root);
    signatures(&mut g);
    normalisation(&mut g);
    write("keys", &g.vectors);

    let mut g = Gen {
        vectors: Vec::new(),
        evaluate: account_eval::evaluate,
    };
    account::generate(&mut g);
    write("account", &g.vectors);

    let mut g = Gen {
        vectors: Vec::new(),
        evaluate: backup_eval::evaluate,
    };
    backup::generate(&mut g);
    write("backup", &g.vectors);

    let mut g = Gen {
        vectors: Vec::new(),
        evaluate: link_eval::evaluate,
    };
    link::generate(&mut g);
    write("link", &g.vectors);

    let mut g = Gen {
        vectors: Vec::new(),
        evaluate: realm_eval::evaluate,
    };
    realm::generate(&mut g);
    write("realm", &g.vectors);
}

fn write(area: &str, vectors: &[Vector]) {
    let dir = vectors_dir(area);
    std::fs::create_dir_all(&dir).unwrap();
    for old in std::fs::read_dir(&dir).unwrap() {
        let p = old.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            std::fs::remove_file(p).unwrap();
        }
    }
    for v in vectors {
        let text = serde_json::to_string_pretty(v).unwrap() + "\n";
        std::fs::write(dir.join(format!("{}.json", v.name)), text).unwrap();
    }
    let invalid = vectors
        .iter()
        .filter(|v| v.expected_error.is_some())
        .count();
    println!(
        "wrote {} vectors ({invalid} invalid) to {}",
        vectors.len(),
        dir.display()
    );
}

fn small_wrap(account: &[u8; 16], root: &[u8; 32], salt: &[u8; 16], nonce: &[u8; 24]) -> Vec<u8> {
    let rk = RootKey::from_secret_bytes(*root, Epoch(0));
    let pw = Password::new("correct horse battery staple").unwrap();
    KeyWrap::insecure_seal_password_with(
        &rk,
        &AccountId::from_bytes(*account),
        &pw,
        KdfParams::insecure_for_tests(64, 1, 1),
        *salt,
        *nonce,
    )
    .unwrap()
    .to_bytes()
}

fn wraps(g: &mut Gen, account: &[u8; 16], root: &[u8; 32], salt: &[u8; 16], nonce: &[u8; 24]) {
    let base =
        json!({"account_id": h(account), "root_key": h(root), "salt": h(salt), "nonce": h(nonce)});
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    g.add("password_wrap_small_ascii", "password_wrap",
        with(json!({"password": "correct horse battery staple", "epoch": 0, "m_kib": 64, "t": 1, "p": 1})),
        Want::Ok, "Password wrap with tiny Argon2id parameters (insecure constructor): the whole 162-byte layout.");
    g.add("password_wrap_small_unicode", "password_wrap",
        with(json!({"password": "Cafe\u{301}\u{a0}Gr\u{fc}\u{df}e \u{1f511}", "epoch": 7, "m_kib": 64, "t": 1, "p": 1})),
        Want::Ok, "A decomposed accent and a no-break space: the password is NFC-normalised and the space mapped before Argon2id; epoch 7 in the header.");
    g.add(
        "password_wrap_small_lanes",
        "password_wrap",
        with(json!({"password": "four lanes of memory", "epoch": 1, "m_kib": 256, "t": 2, "p": 4})),
        Want::Ok,
        "Argon2id with p = 4 lanes.",
    );
    g.add("password_wrap_production_default", "password_wrap",
        with(json!({"password": "correct horse battery staple", "epoch": 0, "m_kib": 65536, "t": 3, "p": 1})),
        Want::Ok, "The production default, m = 64 MiB, t = 3, p = 1.");

    let w = small_wrap(account, root, salt, nonce);
    let pw = "correct horse battery staple";
    let unwrap = |g: &mut Gen,
                  name: &str,
                  wrap: &[u8],
                  password: &str,
                  policy: &str,
                  want: Want,
                  comment: &str| {
        g.add(
            name,
            "password_unwrap",
            json!({"wrap": h(wrap), "password": password, "policy": policy}),
            want,
            comment,
        );
    };
    unwrap(
        g,
        "password_unwrap_ok",
        &w,
        pw,
        "insecure_accept_weak",
        Want::Ok,
        "The small wrap opens with its password when the reader accepts weak parameters.",
    );
    unwrap(
        g,
        "password_unwrap_wrong_password",
        &w,
        "correct horse battery stapler",
        "insecure_accept_weak",
        Want::Err("wrong_secret_or_tampered"),
        "Wrong password: the commitment does not match.",
    );
    unwrap(
        g,
        "password_unwrap_below_floor",
        &w,
        pw,
        "default",
        Want::Err("params_below_floor"),
        "m = 64 KiB is below the 19 MiB floor: refused before Argon2id runs.",
    );

    let flips: [(&str, usize, u8, &str, &str); 14] = [
        ("magic", 0, 0x01, "bad_magic", "first magic byte"),
        (
            "version",
            4,
            0x06,
            "unsupported_version",
            "version byte 1 -> 7",
        ),
        (
            "kdf_id_unknown",
            5,
            0x02,
            "unsupported_kdf",
            "kdf id 1 -> 3",
        ),
        (
            "kdf_id_recovery",
            5,
            0x03,
            "malformed",
            "kdf id 1 -> 2: a recovery wrap may not carry Argon2id parameters",
        ),
        (
            "account_id",
            6,
            0x80,
            "wrong_secret_or_tampered",
            "account id",
        ),
        (
            "epoch",
            29,
            0x01,
            "wrong_secret_or_tampered",
            "epoch low byte",
        ),
        (
            "m_kib",
            33,
            0x01,
            "wrong_secret_or_tampered",
            "memory cost 64 -> 65 KiB",
        ),
        (
            "t",
            37,
            0x02,
            "wrong_secret_or_tampered",
            "time cost 1 -> 3",
        ),
        ("p", 41, 0x03, "wrong_secret_or_tampered", "lanes 1 -> 2"),
        ("salt", 42, 0x01, "wrong_secret_or_tampered", "salt"),
        ("nonce", 58, 0x01, "wrong_secret_or_tampered", "nonce"),
        (
            "commitment",
            82,
            0x01,
            "wrong_secret_or_tampered",
            "commitment tag",
        ),
        (
            "ciphertext",
            114,
            0x01,
            "wrong_secret_or_tampered",
            "ciphertext",
        ),
        (
            "poly1305_tag",
            WRAP_LEN - 1,
            0x01,
            "wrong_secret_or_tampered",
            "last byte of the Poly1305 tag",
        ),
    ];
    for (field, at, mask, want, what) in flips {
        let mut t = w.clone();
        t[at] ^= mask;
        unwrap(
            g,
            &format!("password_unwrap_flip_{field}"),
            &t,
            pw,
            "insecure_accept_weak",
            Want::Err(want),
            &format!("One byte changed at offset {at} ({what}); the right password is given."),
        );
    }

    let set_u32 = |at: usize, value: u32| {
        let mut t = w.clone();
        t[at..at + 4].copy_from_slice(&value.to_be_bytes());
        t
    };
    unwrap(
        g,
        "password_unwrap_ceiling_m_4gib",
        &set_u32(30, 4 * 1024 * 1024),
        pw,
        "insecure_accept_weak",
        Want::Err("params_above_ceiling"),
        "m = 4 GiB: refused while parsing, before anything is allocated, even by a reader that accepts weak parameters.",
    );
    unwrap(
        g,
        "password_unwrap_ceiling_t",
        &set_u32(34, 11),
        pw,
        "insecure_accept_weak",
        Want::Err("params_above_ceiling"),
        "t = 11 passes, above the ceiling of 10.",
    );
    unwrap(
        g,
        "password_unwrap_ceiling_p",
        &set_u32(38, 9),
        pw,
        "insecure_accept_weak",
        Want::Err("params_above_ceiling"),
        "p = 9 lanes, above the ceiling of 8.",
    );
    let mut t_low = set_u32(30, 19 * 1024);
    t_low[34..38].copy_from_slice(&1u32.to_be_bytes());
    unwrap(
        g,
        "password_unwrap_floor_t",
        &t_low,
        pw,
        "default",
        Want::Err("params_below_floor"),
        "m = 19 MiB but t = 1: below the time floor of 2, refused before Argon2id runs.",
    );
    unwrap(
        g,
        "password_unwrap_truncated",
        &w[..WRAP_LEN - 1],
        pw,
        "insecure_accept_weak",
        Want::Err("truncated"),
        "One byte short.",
    );
    unwrap(
        g,
        "password_unwrap_truncated_header",
        &w[..3],
        pw,
        "insecure_accept_weak",
        Want::Err("truncated"),
        "Three bytes: not even the magic.",
    );
    let mut long = w.clone();
    long.push(0);
    unwrap(
        g,
        "password_unwrap_trailing_bytes",
        &long,
        pw,
        "insecure_accept_weak",
        Want::Err("trailing_bytes"),
        "One extra byte after the wrap.",
    );
    unwrap(
        g,
        "password_unwrap_empty",
        &[],
        pw,
        "insecure_accept_weak",
        Want::Err("truncated"),
        "No bytes at all.",
    );
}

fn recovery_text(tag: &str) -> String {
    let digits: Vec<u8> = det_bytes(tag, 64).iter().map(|b| b % 10).collect();
    RecoveryKey::from_digits(digits.try_into().unwrap())
        .unwrap()
        .to_display()
        .to_string()
}

fn recovery(g: &mut Gen, account: &[u8; 16], root: &[u8; 32], salt: &[u8; 16], nonce: &[u8; 24]) {
    let key = recovery_text("recovery-key");
    for (name, epoch) in [("recovery_wrap_epoch0", 0u64), ("recovery_wrap_epoch3", 3)] {
        g.add(name, "recovery_wrap",
            json!({"recovery_key": key, "account_id": h(account), "root_key": h(root), "epoch": epoch, "salt": h(salt), "nonce": h(nonce)}),
            Want::Ok, "Recovery-key wrap: HKDF from the 64 ASCII digits, m/t/p all zero.");
    }
    let rk = RootKey::from_secret_bytes(*root, Epoch(0));
    let wrap = KeyWrap::insecure_seal_recovery_with(
        &rk,
        &AccountId::from_bytes(*account),
        &RecoveryKey::parse(&key).unwrap(),
        *salt,
        *nonce,
    )
    .unwrap()
    .to_bytes();
    let other = recovery_text("other-recovery-key");
    g.add(
        "recovery_unwrap_ok",
        "recovery_unwrap",
        json!({"wrap": h(&wrap), "recovery_key": key}),
        Want::Ok,
        "The recovery wrap opens with its key.",
    );
    g.add(
        "recovery_unwrap_wrong_key",
        "recovery_unwrap",
        json!({"wrap": h(&wrap), "recovery_key": other}),
        Want::Err("wrong_secret_or_tampered"),
        "Another well-formed recovery key.",
    );
    let mut t = wrap.clone();
    t[29] ^= 1;
    g.add(
        "recovery_unwrap_flip_epoch",
        "recovery_unwrap",
        json!({"wrap": h(&t), "recovery_key": key}),
        Want::Err("wrong_secret_or_tampered"),
        "Epoch changed in the header.",
    );
    let mut t = wrap.clone();
    t[33] = 1;
    g.add(
        "recovery_unwrap_nonzero_params",
        "recovery_unwrap",
        json!({"wrap": h(&t), "recovery_key": key}),
        Want::Err("malformed"),
        "A recovery wrap whose Argon2id fields are not zero.",
    );
    g.add(
        "recovery_unwrap_password_wrap",
        "recovery_unwrap",
        json!({"wrap": h(&small_wrap(account, root, salt, nonce)), "recovery_key": key}),
        Want::Err("wrong_wrap_kind"),
        "A password wrap offered to the recovery-key path.",
    );

    let encodes = [
        (
            "recovery_encode_zeros",
            "0".repeat(64),
            "All zeros: check group 0000.",
        ),
        ("recovery_encode_nines", "9".repeat(64), "All nines."),
        (
            "recovery_encode_a",
            String::from_utf8(
                det_bytes("enc-a", 64)
                    .iter()
                    .map(|b| b'0' + b % 10)
                    .collect(),
            )
            .unwrap(),
            "Typical key.",
        ),
        (
            "recovery_encode_b",
            String::from_utf8(
                det_bytes("enc-b", 64)
                    .iter()
                    .map(|b| b'0' + b % 10)
                    .collect(),
            )
            .unwrap(),
            "Typical key.",
        ),
    ];
    for (name, digits, comment) in encodes {
        g.add(
            name,
            "recovery_encode",
            json!({"digits": digits}),
            Want::Ok,
            comment,
        );
    }

    let dashed = key.replace(' ', "-");
    let bare = key.replace(' ', "");
    let messy = format!("  {}\n", key.replacen(' ', "\t", 3).replacen(' ', "\n", 2));
    for (name, text, comment) in [
        ("recovery_parse_spaces", key.clone(), "As displayed."),
        (
            "recovery_parse_dashes",
            dashed,
            "Groups separated by dashes.",
        ),
        (
            "recovery_parse_bare",
            bare.clone(),
            "68 digits with no separators.",
        ),
        (
            "recovery_parse_mixed_whitespace",
            messy,
            "Tabs, newlines and outer spaces are separators too.",
        ),
    ] {
        g.add(
            name,
            "recovery_parse",
            json!({"text": text}),
            Want::Ok,
            comment,
        );
    }
    let mut typo: Vec<char> = key.chars().collect();
    let pos = 5 * 5 + 2; // group 6, third digit
    typo[pos] = if typo[pos] == '1' { '2' } else { '1' };
    let typo: String = typo.into_iter().collect();
    let typo_class = match RecoveryKey::parse(&typo) {
        Err(keylink_keys::Error::RecoveryChecksum { group: Some(6) }) => {
            "bad_recovery_checksum:group_6"
        }
        Err(keylink_keys::Error::RecoveryChecksum { group: None }) => {
            "bad_recovery_checksum:unlocated"
        }
        other => panic!("unexpected typo result {other:?}"),
    };
    g.add("recovery_parse_typo", "recovery_parse", json!({"text": typo}), Want::Err(typo_class),
        "One digit changed in group 6: caught by the check group and, when only one group explains it, located.");
    let mut swapped: Vec<char> = key.chars().collect();
    let at = (0..swapped.len() - 1)
        .find(|&i| {
            swapped[i].is_ascii_digit()
                && swapped[i + 1].is_ascii_digit()
                && swapped[i] != swapped[i + 1]
        })
        .unwrap();
    swapped.swap(at, at + 1);
    let swapped: String = swapped.into_iter().collect();
    let swap_class = match RecoveryKey::parse(&swapped) {
        Err(keylink_keys::Error::RecoveryChecksum { group: Some(1) }) => {
            "bad_recovery_checksum:group_1"
        }
        Err(keylink_keys::Error::RecoveryChecksum { group: None }) => {
            "bad_recovery_checksum:unlocated"
        }
        other => panic!("unexpected swap result {other:?}"),
    };
    g.add(
        "recovery_parse_adjacent_swap",
        "recovery_parse",
        json!({"text": swapped}),
        Want::Err(swap_class),
        "Two adjacent different digits swapped in group 1.",
    );
    let mut check_typo: Vec<char> = key.chars().collect();
    let last = check_typo.len() - 1;
    check_typo[last] = if check_typo[last] == '0' { '5' } else { '0' };
    g.add(
        "recovery_parse_check_group_typo",
        "recovery_parse",
        json!({"text": check_typo.into_iter().collect::<String>()}),
        Want::Err("bad_recovery_checksum:group_17"),
        "A typo in the check group itself.",
    );
    let short_group = key
        .replacen(' ', "", 0)
        .chars()
        .enumerate()
        .filter(|&(i, _)| i != 10)
        .map(|(_, c)| c)
        .collect::<String>();
    g.add(
        "recovery_parse_group_length",
        "recovery_parse",
        json!({"text": short_group}),
        Want::Err("recovery_group_length"),
        "A digit dropped from group 3: that group has 3 digits.",
    );
    let sixteen = key.rsplit_once(' ').unwrap().0.to_string();
    g.add(
        "recovery_parse_missing_check_group",
        "recovery_parse",
        json!({"text": sixteen}),
        Want::Err("recovery_length"),
        "Only the 16 data groups: the check group is missing.",
    );
    g.add(
        "recovery_parse_letter",
        "recovery_parse",
        json!({"text": key.replacen('0', "O", 1)}),
        Want::Err("recovery_character"),
        "The letter O typed for a zero.",
    );
    g.add(
        "recovery_parse_too_long_bare",
        "recovery_parse",
        json!({"text": format!("{bare}1")}),
        Want::Err("recovery_length"),
        "69 digits with no separators.",
    );
}

fn derivations(g: &mut Gen, account: &[u8; 16], root: &[u8; 32]) {
    let base = |purpose: &str, device: Option<[u8; 16]>, acct: &[u8; 16]| {
        let mut v =
            json!({"root_key": h(root), "account_id": h(acct), "epoch": 0, "purpose": purpose});
        if let Some(d) = device {
            v["device_id"] = json!(h(&d));
        }
        v
    };
    let d1: [u8; 16] = det_array("device-1");
    let d2: [u8; 16] = det_array("device-2");
    let other_account: [u8; 16] = det_array("other-account");
    g.add(
        "derive_device_subkey_1",
        "derive",
        base("device_subkey", Some(d1), account),
        Want::Ok,
        "HKDF(root key, salt = account id, info = \"keylink/v1/device-subkey\" ‖ device id).",
    );
    g.add(
        "derive_device_subkey_2",
        "derive",
        base("device_subkey", Some(d2), account),
        Want::Ok,
        "Same root key, another device: another subkey.",
    );
    g.add(
        "derive_device_subkey_other_account",
        "derive",
        base("device_subkey", Some(d1), &other_account),
        Want::Ok,
        "Same root key and device under another account id (the salt): another subkey.",
    );
    g.add(
        "derive_chunk_id_key",
        "derive",
        base("chunk_id_key", None, account),
        Want::Ok,
        "info = \"keylink/v1/chunk-id-key\".",
    );
    g.add("derive_account_signing_key", "derive", base("account_signing_key", None, account), Want::Ok,
        "Ed25519 seed = HKDF(…, info = \"keylink/v1/account-signing-seed\"); the public key follows from it.");
    g.add(
        "derive_epoch_history_key",
        "derive",
        base("epoch_history_key", None, account),
        Want::Ok,
        "info = \"keylink/v1/epoch-history-key\".",
    );
}

fn identity_inputs(tag: &str) -> Value {
    json!({"signing_seed": h(&det_bytes(&format!("{tag}-sign"), 32)), "agreement_secret": h(&det_bytes(&format!("{tag}-agree"), 32))})
}

fn identities(g: &mut Gen) {
    g.add("device_id_a", "device_id", identity_inputs("device-a"), Want::Ok,
        "Device id = first 16 bytes of SHA-256(\"keylink/v1/device-id\" ‖ Ed25519 public ‖ X25519 public); wire = DevicePublicKeys protobuf.");
    g.add(
        "device_id_b",
        "device_id",
        identity_inputs("device-b"),
        Want::Ok,
        "A second device.",
    );
    let good = DeviceIdentity::from_secret_bytes(
        &det_array("device-a-sign"),
        &det_array("device-a-agree"),
    )
    .public_keys();
    let order8 = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800";
    for (name, agreement, comment) in [
        (
            "device_keys_x25519_zero",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "X25519 key u = 0, a low-order point.",
        ),
        (
            "device_keys_x25519_order8",
            order8,
            "X25519 key of order 8.",
        ),
    ] {
        g.add(
            name,
            "device_public_keys",
            json!({"signing_key": h(good.signing_key()), "agreement_key": agreement}),
            Want::Err("non_contributory"),
            comment,
        );
    }
    let mut top_bit = *good.agreement_key();
    top_bit[31] |= 0x80;
    for (name, agreement, comment) in [
        (
            "device_keys_x25519_noncanonical_one",
            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f".to_string(),
            "u = p + 1: a non-canonical encoding (of a low-order point), refused for its encoding.",
        ),
        (
            "device_keys_x25519_top_bit",
            h(&top_bit),
            "Device A's X25519 key with the unused top bit set: the same key for X25519, so refused, or one device would have two ids.",
        ),
    ] {
        g.add(
            name,
            "device_public_keys",
            json!({"signing_key": h(good.signing_key()), "agreement_key": agreement}),
            Want::Err("invalid_public_key"),
            comment,
        );
    }
    // y = p + k for the smallest k that is a large-order point: the same key as y = k.
    let noncanonical_ed = (2u8..19)
        .find_map(|k| {
            let mut canonical = [0u8; 32];
            canonical[0] = k;
            let mut non = [0xffu8; 32];
            non[0] = 0xed + k;
            non[31] = 0x7f;
            keylink_keys::DevicePublicKeys::from_bytes(canonical, *good.agreement_key())
                .ok()
                .map(|_| non)
        })
        .unwrap();
    g.add(
        "device_keys_ed25519_noncanonical",
        "device_public_keys",
        json!({"signing_key": h(&noncanonical_ed), "agreement_key": h(good.agreement_key())}),
        Want::Err("invalid_public_key"),
        "Ed25519 key with y ≥ p: a second encoding of a valid key, refused.",
    );
    g.add("device_keys_ed25519_identity", "device_public_keys",
        json!({"signing_key": "0100000000000000000000000000000000000000000000000000000000000000", "agreement_key": h(good.agreement_key())}),
        Want::Err("invalid_public_key"), "Ed25519 key is the identity point (small order).");
    g.add("device_keys_ed25519_not_on_curve", "device_public_keys",
        json!({"signing_key": "0200000000000000000000000000000000000000000000000000000000000000", "agreement_key": h(good.agreement_key())}),
        Want::Err("invalid_public_key"), "Ed25519 key that does not decode to a point.");
    let wire = {
        let mut w = vec![0x08, 0x01, 0x12, 0x20];
        w.extend_from_slice(good.signing_key());
        w.extend_from_slice(&[0x1a, 0x20]);
        w.extend_from_slice(good.agreement_key());
        w
    };
    g.add(
        "wire_device_keys_ok",
        "device_public_keys_wire",
        json!({"bytes": h(&wire)}),
        Want::Ok,
        "DevicePublicKeys protobuf: version 1, two 32-byte keys.",
    );
    let mut v2 = wire.clone();
    v2[1] = 2;
    g.add(
        "wire_device_keys_version_2",
        "device_public_keys_wire",
        json!({"bytes": h(&v2)}),
        Want::Err("unsupported_version"),
        "A message from format version 2.",
    );
    let mut short = wire.clone();
    short[3] = 0x1f;
    short.remove(4);
    g.add(
        "wire_device_keys_short_key",
        "device_public_keys_wire",
        json!({"bytes": h(&short)}),
        Want::Err("field_length"),
        "Signing key of 31 bytes.",
    );
    let mut garbage = wire.clone();
    garbage.extend_from_slice(&[0xff, 0xff]);
    g.add(
        "wire_device_keys_trailing_garbage",
        "device_public_keys_wire",
        json!({"bytes": h(&garbage)}),
        Want::Err("decode"),
        "Two bytes that are not a protobuf field after the message.",
    );
    g.add(
        "wire_device_keys_too_large",
        "device_public_keys_wire",
        json!({"bytes": h(&[0u8; 129])}),
        Want::Err("too_large"),
        "More bytes than a DevicePublicKeys message can have: refused before decoding.",
    );
}

fn sealed(g: &mut Gen, account: &[u8; 16], root: &[u8; 32]) {
    let mut inputs = identity_inputs("device-a");
    let extra = json!({"account_id": h(account), "epoch": 4, "purpose": "root_key", "plaintext": h(root), "ikm_e": h(&det_bytes("ikm-e", 32))});
    inputs
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    g.add(
        "sealed_box_root_key",
        "sealed_box",
        inputs.clone(),
        Want::Ok,
        "HPKE base mode to device A, ephemeral key derived from ikm_e (RFC 9180 DeriveKeyPair).",
    );
    let mut hist = inputs.clone();
    hist["purpose"] = json!("epoch_history");
    hist["plaintext"] = json!(h(&det_bytes("history", 80)));
    g.add(
        "sealed_box_epoch_history",
        "sealed_box",
        hist,
        Want::Ok,
        "Epoch-history purpose: another HPKE info string.",
    );

    let id = DeviceIdentity::from_secret_bytes(
        &det_array("device-a-sign"),
        &det_array("device-a-agree"),
    );
    let rk = RootKey::from_secret_bytes(*root, Epoch(4));
    let acct = AccountId::from_bytes(*account);
    let sealed = SealedBox::insecure_seal_with_ephemeral_ikm(
        SealPurpose::RootKey,
        &id.public_keys(),
        &acct,
        Epoch(4),
        rk.expose_secret(),
        det_array("ikm-e"),
    )
    .unwrap()
    .to_bytes();
    let open = |g: &mut Gen,
                name: &str,
                bytes: &[u8],
                who: &str,
                epoch: u64,
                acct: &[u8; 16],
                purpose: &str,
                want: Want,
                comment: &str| {
        let mut inputs = identity_inputs(who);
        let extra =
            json!({"account_id": h(acct), "epoch": epoch, "purpose": purpose, "sealed": h(bytes)});
        inputs
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        g.add(name, "sealed_open", inputs, want, comment);
    };
    open(
        g,
        "sealed_open_ok",
        &sealed,
        "device-a",
        4,
        account,
        "root_key",
        Want::Ok,
        "Device A opens its box.",
    );
    open(
        g,
        "sealed_open_other_device",
        &sealed,
        "device-b",
        4,
        account,
        "root_key",
        Want::Err("sealed_box_open"),
        "Device B cannot open a box sealed to A.",
    );
    open(
        g,
        "sealed_open_wrong_epoch",
        &sealed,
        "device-a",
        5,
        account,
        "root_key",
        Want::Err("sealed_box_open"),
        "The epoch is in the associated data.",
    );
    open(
        g,
        "sealed_open_wrong_account",
        &sealed,
        "device-a",
        4,
        &det_array("other-account"),
        "root_key",
        Want::Err("sealed_box_open"),
        "The account id is in the associated data.",
    );
    open(
        g,
        "sealed_open_wrong_purpose",
        &sealed,
        "device-a",
        4,
        account,
        "epoch_history",
        Want::Err("sealed_box_open"),
        "The purpose is the HPKE info string.",
    );
    let mut t = sealed.clone();
    t[40] ^= 1;
    open(
        g,
        "sealed_open_flip_ciphertext",
        &t,
        "device-a",
        4,
        account,
        "root_key",
        Want::Err("sealed_box_open"),
        "One ciphertext byte changed.",
    );
    let mut z = sealed.clone();
    z[1..33].copy_from_slice(&[0u8; 32]);
    open(
        g,
        "sealed_open_low_order_enc",
        &z,
        "device-a",
        4,
        account,
        "root_key",
        Want::Err("non_contributory"),
        "enc replaced by u = 0: the exchange would be all zeros.",
    );
    let mut v2 = sealed.clone();
    v2[0] = 2;
    open(
        g,
        "sealed_open_version_2",
        &v2,
        "device-a",
        4,
        account,
        "root_key",
        Want::Err("unsupported_version"),
        "Version byte 2.",
    );
    open(
        g,
        "sealed_open_truncated",
        &sealed[..40],
        "device-a",
        4,
        account,
        "root_key",
        Want::Err("truncated"),
        "Shorter than version ‖ enc ‖ tag.",
    );
}

fn signatures(g: &mut Gen) {
    for ctx in SignatureContext::ALL {
        let label = String::from_utf8(ctx.label().to_vec()).unwrap();
        let short = label.rsplit('/').next().unwrap().to_string();
        let mut inputs = identity_inputs("device-a");
        inputs["context"] = json!(label);
        inputs["message"] = json!(h(b"keylink test message"));
        g.add(
            &format!("signature_{}", short.replace('-', "_")),
            "signature",
            inputs,
            Want::Ok,
            "Ed25519 over label ‖ 0x00 ‖ message.",
        );
    }
    let id = DeviceIdentity::from_secret_bytes(
        &det_array("device-a-sign"),
        &det_array("device-a-agree"),
    );
    let msg = b"keylink test message";
    let sig = id.sign(SignatureContext::Manifest, msg);
    let pk = *id.public_keys().signing_key();
    let verify = |g: &mut Gen,
                  name: &str,
                  pk: &[u8],
                  ctx: SignatureContext,
                  m: &[u8],
                  s: &[u8],
                  want: Want,
                  comment: &str| {
        let label = String::from_utf8(ctx.label().to_vec()).unwrap();
        g.add(
            name,
            "signature_verify",
            json!({"public_key": h(pk), "context": label, "message": h(m), "signature": h(s)}),
            want,
            comment,
        );
    };
    verify(
        g,
        "signature_verify_ok",
        &pk,
        SignatureContext::Manifest,
        msg,
        &sig,
        Want::Ok,
        "The manifest signature verifies.",
    );
    verify(
        g,
        "signature_verify_wrong_context",
        &pk,
        SignatureContext::Link,
        msg,
        &sig,
        Want::Err("bad_signature"),
        "A manifest signature presented as a link message.",
    );
    let mut m2 = msg.to_vec();
    m2[0] ^= 1;
    verify(
        g,
        "signature_verify_changed_message",
        &pk,
        SignatureContext::Manifest,
        &m2,
        &sig,
        Want::Err("bad_signature"),
        "One message bit changed.",
    );
    // S + L: the same signature with a non-canonical scalar (malleability).
    let l: [u8; 32] =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .unwrap()
            .try_into()
            .unwrap();
    let mut s2 = sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s2[32 + i]) + u16::from(l[i]) + carry;
        s2[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    verify(
        g,
        "signature_verify_non_canonical_s",
        &pk,
        SignatureContext::Manifest,
        msg,
        &s2,
        Want::Err("bad_signature"),
        "S replaced by S + L: strict verification refuses the malleated signature.",
    );
    verify(
        g,
        "signature_verify_small_order_key",
        &hex::decode("0100000000000000000000000000000000000000000000000000000000000000").unwrap(),
        SignatureContext::Manifest,
        msg,
        &sig,
        Want::Err("invalid_public_key"),
        "Identity point as public key.",
    );
    verify(
        g,
        "signature_verify_truncated",
        &pk,
        SignatureContext::Manifest,
        msg,
        &sig[..63],
        Want::Err("bad_signature"),
        "63-byte signature.",
    );
}

fn normalisation(g: &mut Gen) {
    for (name, pw, want, comment) in [
        (
            "password_normalize_ascii",
            "correct horse battery staple",
            Want::Ok,
            "ASCII is unchanged.",
        ),
        (
            "password_normalize_nfd_to_nfc",
            "cafe\u{301} cre\u{300}me",
            Want::Ok,
            "Decomposed accents become composed (NFC).",
        ),
        (
            "password_normalize_spaces",
            "no\u{a0}break\u{3000}ideographic\u{2003}em",
            Want::Ok,
            "Unicode spaces become U+0020.",
        ),
        (
            "password_normalize_keeps_case_and_outer_spaces",
            " MiXeD case ",
            Want::Ok,
            "Case and leading/trailing spaces are part of the password.",
        ),
        (
            "password_normalize_control",
            "newline\nin password",
            Want::Err("password_control_character"),
            "A control character is refused.",
        ),
        (
            "password_normalize_too_short",
            "seven77",
            Want::Err("password_too_short"),
            "Seven characters.",
        ),
        (
            "password_normalize_short_after_nfc",
            "e\u{301}e\u{301}e\u{301}e\u{301}",
            Want::Err("password_too_short"),
            "Eight code points typed, four characters after NFC.",
        ),
    ] {
        g.add(
            name,
            "password_normalize",
            json!({"password": pw}),
            want,
            comment,
        );
    }
}
