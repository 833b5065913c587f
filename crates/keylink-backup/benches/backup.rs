//! Backup and restore throughput against raw XChaCha20-Poly1305, measured in
//! the same run on incompressible data: `cargo bench -p keylink-backup`.
//!
//! Baseline: sealing 256 KiB buffers (the average chunk) with
//! XChaCha20-Poly1305 on one core. Backup: chunk + keyed hash + seal + store
//! (in memory). Restore: fetch + open + verify id + whole-file hash + write
//! (to a sink). Each figure is the best of several runs over 256 MiB.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use keylink_account::create_account;
use keylink_backup::{KeyRing, Meta, Snapshot, SnapshotWriter};
use keylink_keys::primitives::xchacha_seal;
use keylink_keys::{DeviceIdentity, KdfParams, Password};
use keylink_store::MemoryStore;
use keylink_wire::account::DeviceName;
use keylink_wire::backup::{EntryKind, RelPath};
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};

const DATA: usize = 256 << 20;
const RUNS: usize = 5;

fn best(mut f: impl FnMut()) -> Duration {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn mib_s(d: Duration) -> f64 {
    DATA as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut data = vec![0u8; DATA];
    rng.fill_bytes(&mut data);
    let device = DeviceIdentity::generate(&mut rng);
    let pw = Password::new("benchmark password").unwrap();
    let new = create_account(
        &device,
        DeviceName::new("bench").unwrap(),
        &pw,
        KdfParams::insecure_for_tests(8, 1, 1),
        None,
        0,
        &mut rng,
    )
    .unwrap();
    let (account, root, mut log) = (new.account, new.root, new.log);

    // Baseline: raw XChaCha20-Poly1305 over 256 KiB buffers, one core.
    let key = *root
        .device_subkey(&account, &device.device_id())
        .expose_secret();
    let raw = best(|| {
        for chunk in data.chunks(256 << 10) {
            black_box(xchacha_seal(&key, &[7; 24], b"aad", chunk).unwrap());
        }
    });

    // Backup into a fresh in-memory store each run.
    let mut last = None;
    let backup = best(|| {
        let store = MemoryStore::new();
        let mut w = SnapshotWriter::new(&store, account, &root, &device, 1, None);
        w.add_file(
            RelPath::new(b"big".to_vec()).unwrap(),
            &data[..],
            Meta::default(),
            &mut rng,
        )
        .unwrap();
        let out = w.finish(0, &mut rng).unwrap();
        last = Some((store, out));
    });

    // Restore from the last backup.
    let (store, out) = last.unwrap();
    let head = log
        .snapshot_head(
            &device,
            &root,
            out.snapshot_id,
            out.sequence,
            out.manifest_hash,
            0,
        )
        .unwrap();
    log.apply(&head).unwrap();
    let mut keys = KeyRing::new();
    keys.insert(root.duplicate());
    let snap = Snapshot::open(&store, &log, &keys, device.device_id()).unwrap();
    let mut entry = None;
    snap.for_each_entry(|e| {
        if e.kind == EntryKind::File {
            entry = Some(e.clone());
        }
        Ok(())
    })
    .unwrap();
    let entry = entry.unwrap();
    let restore = best(|| {
        black_box(snap.read_file(&entry, &mut std::io::sink()).unwrap());
    });

    println!(
        "keylink-backup throughput, {} MiB of random data, best of {RUNS}:",
        DATA >> 20
    );
    println!(
        "  raw XChaCha20-Poly1305 (baseline, 1 core): {:8.1} MiB/s",
        mib_s(raw)
    );
    println!(
        "  backup  (chunk + hash + seal + store):     {:8.1} MiB/s   ratio backup/raw  = {:.2}",
        mib_s(backup),
        raw.as_secs_f64() / backup.as_secs_f64()
    );
    println!(
        "  restore (fetch + open + verify + write):   {:8.1} MiB/s   ratio restore/raw = {:.2}",
        mib_s(restore),
        raw.as_secs_f64() / restore.as_secs_f64()
    );
    println!("  goal: both ratios >= 0.80");
}
