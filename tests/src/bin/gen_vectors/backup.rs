//! Backup-format vectors: Padmé sizes, chunk objects (sealed with a stated
//! nonce, and hostile variants), a signed manifest, and manifest contents
//! that must be refused.

use keylink_backup::format::{self, ChunkContext, ManifestHeader};
use keylink_keys::{AccountId, DeviceId, DeviceIdentity, Epoch, RootKey};
use keylink_tests::{FixedRng, det_array, det_bytes};
use keylink_wire::Wire;
use keylink_wire::backup::{ManifestRoot, PageRef};
use serde_json::{Value, json};

use crate::{Gen, Want, h};

fn with(base: &Value, extra: Value) -> Value {
    let mut b = base.clone();
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    b
}

/// A DirEntry-only page whose single entry has `path` (raw bytes).
fn page_with_path(path: &[u8]) -> Vec<u8> {
    let mut entry = vec![0x0a, path.len() as u8];
    entry.extend_from_slice(path);
    entry.extend_from_slice(&[0x10, 0x02]); // kind = directory
    let mut page = vec![0x08, 0x01, 0x12, entry.len() as u8];
    page.extend_from_slice(&entry);
    page
}

pub(crate) fn generate(g: &mut Gen) {
    for len in [0u64, 1, 9, 100, 1000, 65_536 + 4, 262_148, 1_048_580] {
        g.add(&format!("padme_{len}"), "padme", json!({"length": len}), Want::Ok,
            "Padmé: the padded size of a plaintext of this length (4-byte length prefix included by the caller).");
    }

    let root: [u8; 32] = det_array("backup-root");
    let account: [u8; 16] = det_array("backup-account");
    let writer: [u8; 16] = det_array("backup-writer");
    let base =
        json!({"root_key": h(&root), "account_id": h(&account), "epoch": 2, "writer": h(&writer)});
    for (name, len) in [
        ("chunk_seal_1_byte", 1usize),
        ("chunk_seal_100_bytes", 100),
        ("chunk_seal_70000_bytes", 70_000),
    ] {
        g.add(name, "chunk_seal",
            with(&base, json!({"plaintext": h(&det_bytes(name, len)), "nonce": h(&det_bytes("nonce", 24))})),
            Want::Ok, "Chunk id = BLAKE3 keyed by the chunk-id key; object = 0x01 ‖ nonce ‖ XChaCha20-Poly1305(padded) with aad binding account, epoch, writer, id.");
    }

    // One honest chunk, then hostile variants of it.
    let rk = RootKey::from_secret_bytes(root, Epoch(2));
    let acct = AccountId::from_bytes(account);
    let ctx = ChunkContext {
        account: acct,
        epoch: Epoch(2),
        writer: DeviceId::from_bytes(writer),
    };
    let plain = det_bytes("chunk-plain", 300);
    let id = format::chunk_id(&rk.chunk_id_key(&acct), &plain);
    let subkey = rk.device_subkey(&acct, &ctx.writer);
    let object = format::seal_chunk(
        &subkey,
        &ctx,
        &id,
        &plain,
        &mut FixedRng::new(det_bytes("n2", 24)),
    )
    .unwrap();
    let open = |g: &mut Gen,
                name: &str,
                obj: &[u8],
                id: &[u8; 32],
                len: u64,
                over: Value,
                want: Want,
                comment: &str| {
        let inputs = with(
            &with(
                &base,
                json!({"chunk_id": h(id), "length": len, "object": h(obj)}),
            ),
            over,
        );
        g.add(name, "chunk_open", inputs, want, comment);
    };
    open(
        g,
        "chunk_open_ok",
        &object,
        &id,
        300,
        json!({}),
        Want::Ok,
        "The honest chunk opens and hashes to its id.",
    );
    let mut t = object.clone();
    let last = t.len() - 1;
    t[last] ^= 1;
    open(
        g,
        "chunk_open_flipped_tag",
        &t,
        &id,
        300,
        json!({}),
        Want::Err("tampered"),
        "Last tag byte changed.",
    );
    open(
        g,
        "chunk_open_other_writer",
        &object,
        &id,
        300,
        json!({"writer": h(&det_bytes("other-writer", 16))}),
        Want::Err("tampered"),
        "Read as another device's chunk: another subkey and aad.",
    );
    open(
        g,
        "chunk_open_other_epoch",
        &object,
        &id,
        300,
        json!({"epoch": 3}),
        Want::Err("tampered"),
        "Read under epoch 3.",
    );
    open(
        g,
        "chunk_open_other_account",
        &object,
        &id,
        300,
        json!({"account_id": h(&det_bytes("other-account", 16))}),
        Want::Err("tampered"),
        "Read under another account id.",
    );
    let other_id = format::chunk_id(&rk.chunk_id_key(&acct), b"something else");
    open(
        g,
        "chunk_open_other_id",
        &object,
        &other_id,
        300,
        json!({}),
        Want::Err("tampered"),
        "Served under another chunk's id.",
    );
    open(
        g,
        "chunk_open_wrong_length",
        &object,
        &id,
        299,
        json!({}),
        Want::Err("chunk_mismatch"),
        "The reference says 299 bytes.",
    );
    let lying = format::seal_chunk(
        &subkey,
        &ctx,
        &other_id,
        &plain,
        &mut FixedRng::new(det_bytes("n3", 24)),
    )
    .unwrap();
    open(
        g,
        "chunk_open_content_not_matching_id",
        &lying,
        &other_id,
        300,
        json!({}),
        Want::Err("chunk_mismatch"),
        "A writer sealed content under an id it does not hash to.",
    );
    open(
        g,
        "chunk_open_shorter_than_tag",
        &object[..1 + 24 + 10],
        &id,
        300,
        json!({}),
        Want::Err("malformed"),
        "Cut to 10 bytes of ciphertext.",
    );
    let mut v2 = object.clone();
    v2[0] = 2;
    open(
        g,
        "chunk_open_version_2",
        &v2,
        &id,
        300,
        json!({}),
        Want::Err("unsupported_version"),
        "Version byte 2.",
    );
    let mut long = object.clone();
    long.extend_from_slice(b"xx");
    open(
        g,
        "chunk_open_trailing_garbage",
        &long,
        &id,
        300,
        json!({}),
        Want::Err("tampered"),
        "Two bytes appended.",
    );

    // A signed manifest.
    let seed: [u8; 32] = det_array("manifest-device-sign");
    let agree: [u8; 32] = det_array("manifest-device-agree");
    let dev = DeviceIdentity::from_secret_bytes(&seed, &agree);
    let header = ManifestHeader {
        account: acct,
        epoch: Epoch(2),
        device: dev.device_id(),
        sequence: 7,
    };
    let mroot = ManifestRoot {
        parent: Some(det_array("parent")),
        created_ms: 1_700_000_000_000,
        pages: vec![PageRef {
            hash: det_array("page"),
            entries: 3,
        }],
        entry_count: 3,
        total_bytes: 12345,
    };
    let msub = rk.device_subkey(&acct, &header.device);
    let manifest = format::seal_manifest(
        &msub,
        &dev,
        &header,
        &mroot.encode(),
        &mut FixedRng::new(det_bytes("mn", 24)),
    )
    .unwrap();
    let mbase = json!({"root_key": h(&root), "epoch": 2, "signing_seed": h(&seed), "agreement_secret": h(&agree)});
    let mopen = |g: &mut Gen, name: &str, obj: &[u8], over: Value, want: Want, comment: &str| {
        g.add(
            name,
            "manifest_open",
            with(&with(&mbase, json!({"object": h(obj)})), over),
            want,
            comment,
        );
    };
    mopen(
        g,
        "manifest_open_ok",
        &manifest,
        json!({}),
        Want::Ok,
        "header ‖ nonce ‖ ct ‖ Ed25519 signature (context manifest); the hash is what the log's snapshot head records.",
    );
    let other = DeviceIdentity::from_secret_bytes(&det_array("x-sign"), &det_array("x-agree"))
        .expose_secret_bytes();
    mopen(
        g,
        "manifest_open_other_signer",
        &manifest,
        json!({"signing_seed": h(&other.0), "agreement_secret": h(&other.1)}),
        Want::Err("bad_signature"),
        "Checked against another device's key.",
    );
    let mut t = manifest.clone();
    t[60] ^= 1;
    mopen(
        g,
        "manifest_open_flipped_nonce",
        &t,
        json!({}),
        Want::Err("bad_signature"),
        "A nonce byte changed: the signature covers it.",
    );
    let mut t = manifest.clone();
    t[30] ^= 1;
    mopen(
        g,
        "manifest_open_flipped_device_id",
        &t,
        json!({}),
        Want::Err("bad_signature"),
        "The header's device id changed.",
    );
    let mut t = manifest.clone();
    t[0] = 2;
    mopen(
        g,
        "manifest_open_version_2",
        &t,
        json!({}),
        Want::Err("unsupported_version"),
        "Version byte 2.",
    );
    mopen(
        g,
        "manifest_open_truncated",
        &manifest[..100],
        json!({}),
        Want::Err("malformed"),
        "Shorter than header, nonce, tag and signature.",
    );

    // Manifest contents that decode must refuse.
    let huge = ManifestRoot {
        parent: None,
        created_ms: 0,
        pages: vec![],
        entry_count: 1 << 40,
        total_bytes: 0,
    };
    g.add(
        "root_claims_2_40_entries",
        "root_decode",
        json!({"bytes": h(&huge.encode())}),
        Want::Err("inconsistent"),
        "entry_count 2^40 with no pages: refused without allocating anything for it.",
    );
    let many = ManifestRoot {
        parent: None,
        created_ms: 0,
        pages: vec![PageRef {
            hash: [0; 32],
            entries: 5000,
        }],
        entry_count: 5000,
        total_bytes: 0,
    };
    g.add(
        "root_page_over_4096_entries",
        "root_decode",
        json!({"bytes": h(&many.encode())}),
        Want::Err("too_many"),
        "A page claiming 5,000 entries.",
    );
    g.add(
        "page_length_beyond_input",
        "page_decode",
        json!({"bytes": "080112ffff030a00"}),
        Want::Err("decode"),
        "The entries field claims 65,535 bytes; 2 remain.",
    );
    g.add(
        "page_ok",
        "page_decode",
        json!({"bytes": h(&page_with_path(b"photos/2024"))}),
        Want::Ok,
        "One directory entry.",
    );
    for (name, path, comment) in [
        (
            "page_path_parent",
            &b"../etc"[..],
            "A .. component would leave the restore folder.",
        ),
        ("page_path_absolute", b"/etc/passwd", "An absolute path."),
        ("page_path_empty_component", b"a//b", "An empty component."),
        ("page_path_dot", b"a/./b", "A . component."),
        ("page_path_nul", b"a\0b", "A NUL byte."),
    ] {
        g.add(
            name,
            "page_decode",
            json!({"bytes": h(&page_with_path(path))}),
            Want::Err("bad_path"),
            comment,
        );
    }
}
