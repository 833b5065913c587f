//! Deduplication across snapshots and across devices.

use std::fs;

use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};

use crate::support::{Account, assert_same_tree};

/// Must-show 3: a second backup of a 256 MiB tree after changing 1 MiB
/// uploads less than 8 MiB of new chunk data.
#[test]
fn a_one_mib_change_in_256_mib_uploads_little() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("big");
    fs::create_dir(&src).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let mut buf = vec![0u8; 4 << 20];
    for i in 0..64 {
        rng.fill_bytes(&mut buf);
        fs::write(src.join(format!("part-{i:02}")), &buf).unwrap();
    }
    let mut acct = Account::new(20);
    let first = acct.backup(0, &[&src]);
    assert!(first.stats.bytes_read == 256 << 20);

    // Change 1 MiB in the middle of one file.
    let target = src.join("part-31");
    let mut data = fs::read(&target).unwrap();
    rng.fill_bytes(&mut data[(1 << 20) + 12345..(2 << 20) + 12345]);
    fs::write(&target, &data).unwrap();
    let second = acct.backup(0, &[&src]);
    let uploaded = second.stats.chunk_bytes_uploaded;
    println!(
        "256 MiB tree, 1 MiB changed: second backup uploaded {:.2} MiB of chunk data in {} new chunks ({} reused)",
        uploaded as f64 / (1 << 20) as f64,
        second.stats.chunks_uploaded,
        second.stats.chunks_reused
    );
    assert!(uploaded < 8 << 20, "uploaded {uploaded} bytes");
    assert!(
        uploaded >= 1 << 20,
        "the changed MiB itself must be uploaded"
    );
}

/// Two devices share chunks: the second device uploads nothing for content
/// the first already stored, and its snapshot restores from the first's chunks.
#[test]
fn devices_deduplicate_each_others_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("shared");
    fs::create_dir(&src).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let mut data = vec![0u8; 3 << 20];
    rng.fill_bytes(&mut data);
    fs::write(src.join("photo.raw"), &data).unwrap();
    let mut acct = Account::new(21);
    let a = acct.backup(0, &[&src]);
    assert!(a.stats.chunks_uploaded > 1);
    let before = acct.store.total_bytes();
    let b = acct.backup(1, &[&src]);
    assert_eq!(b.stats.chunks_uploaded, 0);
    assert_eq!(b.stats.chunks_reused, a.stats.chunks_uploaded);
    assert_eq!(
        acct.store.total_bytes() - before,
        b.stats.manifest_bytes_uploaded
    );
    let out = tmp.path().join("out");
    acct.restore(1, &out).unwrap();
    assert_same_tree(&src, &out.join("shared"));
}
