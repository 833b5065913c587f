//! Realm vectors (docs/protocol.md §19): the threshold OPRF against the
//! whole key, registration descriptors valid and refused, the realm key
//! schedule with the version-2 wrap, and registration requests a realm
//! accepts or refuses.

use keylink_keys::{AccountId, Epoch, RootKey, StretchedPassword};
use keylink_realm::shamir::split;
use keylink_realm::{Descriptor, GuessPolicy, OprfKey, RealmSet, Slot, register};
use keylink_tests::{FixedRng, det_array, det_bytes};
use rand::SeedableRng;
use serde_json::{Value, json};

use crate::{Gen, Want, h};

/// A canonical scalar from a tag: 32 deterministic bytes below 2²⁵².
fn scalar(tag: &str) -> [u8; 32] {
    let mut b: [u8; 32] = det_array(tag);
    b[31] &= 0x0f;
    b
}

pub(crate) fn generate(g: &mut Gen) {
    oprf(g);
    descriptors(g);
    key_schedule(g);
    requests(g);
}

fn oprf(g: &mut Gen) {
    let input = h(&det_bytes("realm-oprf-input", 59));
    let blind = h(&det_bytes("realm-blind", 64));
    let key = OprfKey::from_bytes(&scalar("realm-oprf-key")).unwrap();
    g.add(
        "oprf_single_key",
        "realm_oprf",
        json!({"input": input, "blind": blind, "key": h(&key.to_bytes()[..])}),
        Want::Ok,
        "RFC 9497 Evaluate with the whole key: what every threshold case below must equal.",
    );
    let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(9497);
    for (k, n, pick) in [
        (2u8, 3u8, "1,2"),
        (2, 3, "3,1"),
        (3, 5, "2,4,5"),
        (1, 1, "1"),
    ] {
        let shares = split(&key, k, n, &mut rng).unwrap();
        let mut inputs = json!({"input": input, "blind": blind, "indices": pick});
        for s in &shares {
            inputs[format!("share_{}", s.index)] = json!(h(&s.key.to_bytes()[..]));
        }
        g.add(
            &format!("oprf_{k}_of_{n}_shares_{}", pick.replace(',', "_")),
            "realm_oprf",
            inputs,
            Want::Ok,
            "Shares of oprf_single_key's key; realms `indices` evaluate, the client combines with Lagrange coefficients at zero, unblinds and hashes: the output equals oprf_single_key's.",
        );
    }
    let shares = split(&key, 2, 3, &mut rng).unwrap();
    let share = |i: usize| h(&shares[i].key.to_bytes()[..]);
    let cases: [(&str, Value, &str, &str); 4] = [
        (
            "oprf_repeated_index",
            json!({"input": input, "blind": blind, "indices": "1,1", "share_1": share(0)}),
            "bad_index",
            "The same realm's answer counted twice.",
        ),
        (
            "oprf_share_not_canonical",
            json!({"input": input, "blind": blind, "indices": "1", "share_1": "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"}),
            "bad_key",
            "A share equal to the group order ℓ: not a canonical scalar.",
        ),
        (
            "oprf_share_zero",
            json!({"input": input, "blind": blind, "indices": "2", "share_2": h(&[0; 32])}),
            "bad_key",
            "A zero share.",
        ),
        (
            "oprf_blind_zero",
            json!({"input": input, "blind": h(&[0; 64]), "indices": "1", "share_1": share(0)}),
            "oprf",
            "A blind that reduces to zero.",
        ),
    ];
    for (name, inputs, want, comment) in cases {
        g.add(name, "realm_oprf", inputs, Want::Err(want), comment);
    }
}

fn descriptor() -> Descriptor {
    let slots = (1..=3u8)
        .map(|i| Slot {
            realm: det_array(&format!("realm-id-{i}")),
            public_share: OprfKey::from_bytes(&scalar(&format!("realm-share-{i}")))
                .unwrap()
                .public_key(),
        })
        .collect();
    Descriptor::new(
        AccountId::from_bytes(det_array("account")),
        det_array("registration"),
        Epoch(3),
        2,
        GuessPolicy::new(10, 2, 3).unwrap(),
        slots,
    )
    .unwrap()
}

fn descriptors(g: &mut Gen) {
    let good = descriptor().to_bytes();
    g.add(
        "descriptor_2_of_3",
        "realm_descriptor",
        json!({"descriptor": h(&good)}),
        Want::Ok,
        "A 2-of-3 registration at epoch 3 allowing 10 attempts (7 per realm); commitment = SHA-256(label ‖ bytes).",
    );
    let edit = |at: usize, byte: u8| {
        let mut b = good.clone();
        b[at] = byte;
        h(&b)
    };
    let mut dup = good.clone();
    let second = 52 + 64;
    let first_id = good[52..84].to_vec();
    dup[second..second + 32].copy_from_slice(&first_id);
    let mut identity = good.clone();
    identity[84..116].copy_from_slice(&[0; 32]);
    let cases: [(&str, String, &str, &str); 10] = [
        (
            "descriptor_bad_magic",
            edit(0, b'X'),
            "bad_magic",
            "Magic KLRD changed.",
        ),
        (
            "descriptor_version_2",
            edit(4, 2),
            "unsupported_version",
            "Version byte 2.",
        ),
        (
            "descriptor_suite_2",
            edit(5, 2),
            "unsupported_suite",
            "Suite byte 2 (only ristretto255-SHA512 exists).",
        ),
        (
            "descriptor_k_above_n",
            edit(46, 4),
            "bad_threshold",
            "k = 4 of n = 3.",
        ),
        ("descriptor_k_zero", edit(46, 0), "bad_threshold", "k = 0."),
        (
            "descriptor_wrong_per_realm",
            edit(51, 8),
            "bad_policy",
            "g = 8 where 10 attempts over 2-of-3 give 7: the bound would be 12.",
        ),
        (
            "descriptor_identity_share",
            h(&identity),
            "bad_element",
            "Realm 1's public share is the identity.",
        ),
        (
            "descriptor_same_realm_twice",
            h(&dup),
            "malformed",
            "Slot 2 names slot 1's realm.",
        ),
        (
            "descriptor_truncated",
            h(&good[..good.len() - 1]),
            "truncated",
            "One byte short.",
        ),
        (
            "descriptor_trailing",
            h(&[good.as_slice(), &[0]].concat()),
            "trailing_bytes",
            "One byte too many.",
        ),
    ];
    for (name, d, want, comment) in cases {
        g.add(
            name,
            "realm_descriptor",
            json!({"descriptor": d}),
            Want::Err(want),
            comment,
        );
    }
}

fn key_schedule(g: &mut Gen) {
    let base = json!({
        "stretched": h(&det_bytes("realm-stretched", 32)),
        "oprf_output": h(&det_bytes("realm-oprf-output", 64)),
        "commitment": h(&descriptor().commitment()),
        "index": 2,
        "realm": h(&det_bytes("realm-id-2", 32)),
        "root_key": h(&det_bytes("root-key", 32)),
        "account": h(&det_bytes("account", 16)),
        "epoch": 3,
        "m_kib": 64, "t": 1, "p": 1,
        "salt": h(&det_bytes("salt", 16)),
        "nonce": h(&det_bytes("nonce", 24)),
    });
    g.add(
        "key_schedule_and_wrap_v2",
        "realm_key_schedule",
        base.clone(),
        Want::Ok,
        "Realm KEK from Argon2id output ‖ OPRF output salted by the commitment; realm 2's unlock tag; the 194-byte version-2 wrap of the root key under it, opened back.",
    );
    let mut above = base;
    above["m_kib"] = json!(2 * 1024 * 1024);
    g.add(
        "key_schedule_wrap_above_ceiling",
        "realm_key_schedule",
        above,
        Want::Err("params_above_ceiling"),
        "A version-2 wrap asking for 2 GiB of Argon2id memory is refused like a version-1 one.",
    );
}

fn requests(g: &mut Gen) {
    let account = AccountId::from_bytes(det_array("account"));
    let realms: Vec<[u8; 32]> = (1..=3u8)
        .map(|i| det_array(&format!("realm-id-{i}")))
        .collect();
    let set = RealmSet::new(realms.clone(), 2).unwrap();
    let root = RootKey::from_secret_bytes(det_array("root-key"), Epoch(3));
    let admin = root.realm_admin_key(&account);
    let stretched = StretchedPassword::insecure_from_bytes(det_array("realm-stretched"));
    let mut rng = FixedRng::new(det_bytes("realm-register-rng", 4096));
    let reg = register(
        account,
        Epoch(3),
        &stretched,
        &set,
        &admin,
        |_| None,
        &mut rng,
    )
    .unwrap();
    let req = &reg.requests[1];
    let bytes = req.to_bytes();
    g.add(
        "register_request_realm_2",
        "realm_register_check",
        json!({"request": h(&bytes), "realm": h(&realms[1])}),
        Want::Ok,
        "Realm 2's registration request: its slot, a share matching the slot's public share, signed by the new realm-admin key.",
    );
    let share_at = 7 + usize::from(u16::from_be_bytes([bytes[5], bytes[6]])) + 1;
    let mut other_share = bytes.clone();
    other_share[share_at..share_at + 32]
        .copy_from_slice(&reg.requests[0].to_bytes()[share_at..share_at + 32]);
    let mut bad_sig = bytes.clone();
    let sig_at = share_at + 32 + 32 + 32;
    bad_sig[sig_at] ^= 1;
    let mut big_share = bytes.clone();
    big_share[share_at..share_at + 32].copy_from_slice(&[0xff; 32]);
    let mut flag = bytes.clone();
    let last = flag.len() - 1;
    flag[last] = 2;
    // (name, request bytes, realm it is sent to, expected error, comment)
    type Case<'a> = (&'a str, Vec<u8>, [u8; 32], &'a str, &'a str);
    let cases: [Case; 6] = [
        (
            "register_request_other_realm",
            bytes.clone(),
            realms[0],
            "wrong_realm",
            "Realm 2's request sent to realm 1.",
        ),
        (
            "register_request_share_mismatch",
            other_share,
            realms[1],
            "share_mismatch",
            "Realm 1's share in realm 2's request.",
        ),
        (
            "register_request_bad_admin_signature",
            bad_sig,
            realms[1],
            "not_authorized",
            "One bit of the admin signature flipped.",
        ),
        (
            "register_request_share_not_canonical",
            big_share,
            realms[1],
            "bad_key",
            "A share of all 0xff bytes: not a canonical scalar.",
        ),
        (
            "register_request_bad_flag",
            flag,
            realms[1],
            "malformed",
            "The previous-signature flag is 2.",
        ),
        (
            "register_request_truncated",
            bytes[..bytes.len() - 10].to_vec(),
            realms[1],
            "truncated",
            "Ten bytes short.",
        ),
    ];
    for (name, b, realm, want, comment) in cases {
        g.add(
            name,
            "realm_register_check",
            json!({"request": h(&b), "realm": h(&realm)}),
            Want::Err(want),
            comment,
        );
    }
}
