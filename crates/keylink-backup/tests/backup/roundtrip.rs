//! Round trips: random trees and boundary sizes restore byte for byte with
//! their metadata; a second run resumes; nonces never repeat.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use keylink_backup::chunker::{CHUNK_MAX, CHUNK_MIN};
use keylink_backup::format::{ChunkContext, chunk_id, seal_chunk};
use keylink_keys::{DeviceIdentity, Epoch, RootKey};
use proptest::prelude::*;
use rand::rngs::ChaCha20Rng;
use rand::{Rng, RngExt, SeedableRng};

use crate::support::{Account, assert_same_tree};

fn set_mtime(path: &Path, secs: u64, nanos: u32) {
    let t = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
    fs::File::open(path).unwrap().set_modified(t).unwrap();
}

/// A random tree under `dir`: nested folders, empty, small and multi-chunk
/// files, names that are not UTF-8, symlinks pointing inside and outside.
fn random_tree(rng: &mut ChaCha20Rng, dir: &Path, depth: u32) {
    let n = rng.random_range(0..6);
    for i in 0..n {
        let mut name = format!("n{i}-").into_bytes();
        if rng.random_bool(0.2) {
            name.extend_from_slice(&[0xff, 0xfe, b'x']); // not UTF-8
        }
        if rng.random_bool(0.1) {
            name.extend_from_slice("ünï".as_bytes());
        }
        let path = dir.join(OsStr::from_bytes(&name));
        match rng.random_range(0..10) {
            0..=1 if depth < 6 => {
                fs::create_dir(&path).unwrap();
                random_tree(rng, &path, depth + 1);
                fs::set_permissions(
                    &path,
                    fs::Permissions::from_mode([0o755, 0o700, 0o750][rng.random_range(0..3)]),
                )
                .unwrap();
                set_mtime(
                    &path,
                    rng.random_range(0..2_000_000_000),
                    rng.random_range(0..1_000_000_000),
                );
            }
            2 => {
                let target: &[u8] = [&b"../elsewhere"[..], b"/etc/passwd", b"n0-", b"a/b/c"]
                    [rng.random_range(0..4)];
                std::os::unix::fs::symlink(OsStr::from_bytes(target), &path).unwrap();
            }
            k => {
                let len = match k {
                    3 => 0,
                    4 | 5 => rng.random_range(1..200),
                    6 | 7 => rng.random_range(200..200_000),
                    _ => rng.random_range(1_000_000..2_600_000),
                };
                let mut data = vec![0u8; len];
                rng.fill_bytes(&mut data);
                fs::write(&path, &data).unwrap();
                fs::set_permissions(
                    &path,
                    fs::Permissions::from_mode(
                        [0o644, 0o600, 0o755, 0o400][rng.random_range(0..4)],
                    ),
                )
                .unwrap();
                set_mtime(
                    &path,
                    rng.random_range(0..2_000_000_000),
                    rng.random_range(0..1_000_000_000),
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn random_trees_restore_byte_identical(seed in any::<u64>()) {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        let tree = src.join("tree");
        fs::create_dir_all(&tree).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        random_tree(&mut rng, &tree, 0);
        // A deep path too.
        let deep: PathBuf = (0..40).fold(tree.clone(), |p, i| p.join(format!("d{i}")));
        fs::create_dir_all(&deep).unwrap();
        fs::write(deep.join("leaf"), b"deep").unwrap();
        let mut acct = Account::new(seed);
        acct.backup(0, &[&tree]);
        let out = tmp.path().join("out");
        let outside = tmp.path().join("elsewhere");
        let stats = acct.restore(0, &out).unwrap();
        let compared = assert_same_tree(&tree, &out.join("tree"));
        prop_assert!(compared as u64 >= stats.files + stats.dirs);
        // Symlinks were recorded, never followed: nothing appeared outside.
        prop_assert!(!outside.exists());
        // A second run resumes: every file is already there.
        let again = acct.restore(0, &out).unwrap();
        prop_assert_eq!(again.files, 0);
        prop_assert_eq!(again.files_skipped, stats.files);
        assert_same_tree(&tree, &out.join("tree"));
    }
}

#[test]
fn boundary_sizes_round_trip_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("sizes");
    fs::create_dir(&src).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let sizes = [
        0,
        1,
        CHUNK_MIN - 1,
        CHUNK_MIN,
        CHUNK_MIN + 1,
        CHUNK_MAX - 1,
        CHUNK_MAX,
        CHUNK_MAX + 1,
        3 * CHUNK_MAX + 17,
    ];
    for len in sizes {
        let mut data = vec![0u8; len];
        rng.fill_bytes(&mut data);
        fs::write(src.join(format!("f{len}")), data).unwrap();
    }
    // A file of zeros: every chunk is the maximum size.
    fs::write(src.join("zeros"), vec![0u8; 2 * CHUNK_MAX + 5]).unwrap();
    let mut acct = Account::new(7);
    acct.backup(0, &[&src]);
    let out = tmp.path().join("out");
    let stats = acct.restore(0, &out).unwrap();
    assert_eq!(stats.files, sizes.len() as u64 + 1);
    assert_same_tree(&src, &out.join("sizes"));
}

/// Interrupting a restore leaves no file under its real name half-written;
/// running again completes it.
#[test]
fn an_interrupted_restore_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("docs");
    fs::create_dir(&src).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    for i in 0..5 {
        let mut data = vec![0u8; 300_000];
        rng.fill_bytes(&mut data);
        fs::write(src.join(format!("f{i}")), data).unwrap();
    }
    let mut acct = Account::new(8);
    acct.backup(0, &[&src]);
    let out = tmp.path().join("out");
    fs::create_dir_all(out.join("docs")).unwrap();
    // What a crash mid-write leaves: a temp file, and an older, shorter copy.
    fs::write(
        out.join("docs").join(".keylink-restore-crashed"),
        b"partial",
    )
    .unwrap();
    fs::write(out.join("docs/f3"), b"stale").unwrap();
    let stats = acct.restore(0, &out).unwrap();
    assert_eq!(stats.files, 5);
    assert_same_tree(&src, &out.join("docs"));
    assert!(!out.join("docs/.keylink-restore-crashed").exists());
}

/// Must-show 2: two devices sealing concurrently into one account never
/// reuse a (key, nonce) pair — 10^6 seals.
#[test]
fn a_million_seals_by_two_devices_never_reuse_a_key_nonce_pair() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let account = keylink_keys::AccountId::generate(&mut rng);
    let root = RootKey::generate(Epoch(0), &mut rng);
    let devices = [
        DeviceIdentity::generate(&mut rng),
        DeviceIdentity::generate(&mut rng),
    ];
    let id_key = root.chunk_id_key(&account);
    let mut seen: HashSet<(usize, [u8; 24])> = HashSet::with_capacity(1_000_000);
    // Each device has its own generator, as two phones would.
    let mut rngs = [
        ChaCha20Rng::seed_from_u64(10),
        ChaCha20Rng::seed_from_u64(11),
    ];
    let writers = devices.each_ref().map(DeviceIdentity::device_id);
    let subkeys = writers.map(|w| root.device_subkey(&account, &w));
    for i in 0..1_000_000u32 {
        let d = (i % 2) as usize;
        let writer = writers[d];
        let subkey = &subkeys[d];
        let data = i.to_be_bytes();
        let id = chunk_id(&id_key, &data);
        let ctx = ChunkContext {
            account,
            epoch: Epoch(0),
            writer,
        };
        let object = seal_chunk(subkey, &ctx, &id, &data, &mut rngs[d]).unwrap();
        let nonce: [u8; 24] = object[1..25].try_into().unwrap();
        // Device d's key is subkeys[d] (distinct keys are asserted below).
        assert!(seen.insert((d, nonce)), "(key, nonce) reused at seal {i}");
    }
    assert_eq!(seen.len(), 1_000_000);
    // Even with identically seeded generators, the devices' keys differ.
    assert_ne!(
        root.device_subkey(&account, &devices[0].device_id())
            .expose_secret(),
        root.device_subkey(&account, &devices[1].device_id())
            .expose_secret()
    );
    let _ = rng.next_u32();
}
