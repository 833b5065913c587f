//! Measures restore memory on a large backup (issue must-show 6):
//!
//! ```text
//! cargo build --release -p keylink-backup --example restore_rss
//! target/release/examples/restore_rss prepare /tmp/rss 1024     # 1 GiB file, backed up to a local store
//! /usr/bin/time -v target/release/examples/restore_rss restore /tmp/rss   # "Maximum resident set size"
//! ```
//!
//! Both phases rebuild the same account, keys and device from a fixed seed
//! (this is a measurement tool, not a key store); `prepare` leaves the
//! snapshot head in `<dir>/head`, and `restore` verifies the restored file
//! against the source before it reports.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use keylink_account::{LogState, create_account};
use keylink_backup::{KeyRing, SnapshotWriter, backup_paths, restore};
use keylink_keys::{AccountId, DeviceIdentity, KdfParams, Password, RootKey};
use keylink_store::LocalDirStore;
use keylink_wire::account::DeviceName;
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};

struct World {
    rng: ChaCha20Rng,
    account: AccountId,
    root: RootKey,
    device: DeviceIdentity,
    log: LogState,
}

fn world() -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let device = DeviceIdentity::generate(&mut rng);
    let pw = Password::new("rss measurement").unwrap();
    let new = create_account(
        &device,
        DeviceName::new("rss").unwrap(),
        &pw,
        KdfParams::insecure_for_tests(8, 1, 1),
        None,
        0,
        &mut rng,
    )
    .unwrap();
    let (account, root, log) = (new.account, new.root, new.log);
    World {
        rng,
        account,
        root,
        device,
        log,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(
        args.get(2)
            .map(String::as_str)
            .unwrap_or("/tmp/keylink-rss"),
    );
    match args.get(1).map(String::as_str) {
        Some("prepare") => {
            let mib: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1024);
            prepare(dir, mib);
        }
        Some("restore") => run_restore(dir),
        _ => eprintln!("usage: restore_rss prepare DIR [MiB] | restore DIR"),
    }
}

fn prepare(dir: &Path, mib: usize) {
    let _ = fs::remove_dir_all(dir);
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    let mut w = world();
    let mut data = vec![0u8; 1 << 20];
    let mut f = fs::File::create(src.join("big.bin")).unwrap();
    for _ in 0..mib {
        w.rng.fill_bytes(&mut data);
        f.write_all(&data).unwrap();
    }
    f.sync_all().unwrap();
    let store = LocalDirStore::open(dir.join("store")).unwrap();
    let t = Instant::now();
    let mut snap = SnapshotWriter::new(&store, w.account, &w.root, &w.device, 1, None);
    backup_paths(&mut snap, &[&src], &mut w.rng).unwrap();
    let out = snap.finish(0, &mut w.rng).unwrap();
    let mut head = out.snapshot_id.to_vec();
    head.extend_from_slice(&out.manifest_hash);
    fs::write(dir.join("head"), head).unwrap();
    println!(
        "backed up {mib} MiB in {:.1} s ({} chunks)",
        t.elapsed().as_secs_f64(),
        out.stats.chunks_uploaded
    );
}

fn run_restore(dir: &Path) {
    let mut w = world();
    let head = fs::read(dir.join("head")).unwrap();
    let (id, hash) = head.split_at(32);
    let e = w
        .log
        .snapshot_head(
            &w.device,
            &w.root,
            id.try_into().unwrap(),
            1,
            hash.try_into().unwrap(),
            0,
        )
        .unwrap();
    w.log.apply(&e).unwrap();
    let mut keys = KeyRing::new();
    keys.insert(w.root.duplicate());
    let store = LocalDirStore::open(dir.join("store")).unwrap();
    let out = dir.join("out");
    let _ = fs::remove_dir_all(&out);
    let t = Instant::now();
    let stats = restore(&store, &w.log, &keys, w.device.device_id(), &out).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let same = files_equal(&dir.join("src/big.bin"), &out.join("src/big.bin"));
    println!(
        "restored {} MiB in {secs:.1} s ({:.0} MiB/s), identical to the source: {same}",
        stats.bytes_written >> 20,
        (stats.bytes_written >> 20) as f64 / secs
    );
    assert!(same);
}

fn files_equal(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (fs::File::open(a).unwrap(), fs::File::open(b).unwrap());
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = fa.read(&mut ba).unwrap();
        let mut nb = 0;
        while nb < na {
            let n = fb.read(&mut bb[nb..na]).unwrap();
            if n == 0 {
                return false;
            }
            nb += n;
        }
        if ba[..na] != bb[..na] {
            return false;
        }
        if na == 0 {
            return fb.read(&mut bb).unwrap() == 0;
        }
    }
}
