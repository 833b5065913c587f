//! Account-log benchmark: `cargo bench -p keylink-account`.
//!
//! Verifies a 10,000-entry log from genesis and reports entries per second.
//! The baseline in the same run is the cost that dominates by construction:
//! two strict Ed25519 verifications per entry, done directly.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keylink_account::{LogState, create_account};
use keylink_keys::{DeviceIdentity, Epoch, KdfParams, Password, SignatureContext, verify_with};
use keylink_wire::account::{DeviceName, DeviceRecord, SignedEntry};
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

const ENTRIES: usize = 10_000;

fn build_log() -> Vec<SignedEntry> {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let first = DeviceIdentity::generate(&mut rng);
    let pw = Password::new("benchmark password").unwrap();
    let new = create_account(
        &first,
        DeviceName::new("d0").unwrap(),
        &pw,
        KdfParams::insecure_for_tests(8, 1, 1),
        None,
        0,
        &mut rng,
    )
    .unwrap();
    let (root, g, mut state) = (new.root, new.genesis, new.log);
    let mut log = vec![g];
    let mut devices = vec![first];
    for i in 0..3 {
        let d = DeviceIdentity::generate(&mut rng);
        let rec = DeviceRecord {
            keys: d.public_keys(),
            name: DeviceName::new(&format!("d{}", i + 1)).unwrap(),
        };
        let e = state.add_device(&devices[0], &root, rec, 0).unwrap();
        state.apply(&e).unwrap();
        log.push(e);
        devices.push(d);
    }
    let mut seq = [0u64; 4];
    while log.len() < ENTRIES {
        let by = rng.random_range(0..devices.len());
        seq[by] += 1;
        let e = state
            .snapshot_head(
                &devices[by],
                &root,
                rng.random(),
                seq[by],
                rng.random(),
                log.len() as u64,
            )
            .unwrap();
        state.apply(&e).unwrap();
        log.push(e);
    }
    log
}

fn verify_log(c: &mut Criterion) {
    let log = build_log();
    let mut g = c.benchmark_group("account_log");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(ENTRIES as u64));
    g.bench_function("verify_10000_entries_from_genesis", |b| {
        b.iter(|| black_box(LogState::verify(black_box(&log)).unwrap().head()));
    });
    // Baseline: only the two signature checks per entry.
    let keys: Vec<[u8; 32]> = {
        let state = LogState::verify(&log).unwrap();
        log.iter()
            .map(|e| *state.devices()[&e.body().actor].record.keys.signing_key())
            .collect()
    };
    let account_key = LogState::verify(&log[..1])
        .unwrap()
        .account_key(Epoch(0))
        .unwrap();
    g.bench_function("baseline_two_ed25519_verifications_per_entry", |b| {
        b.iter(|| {
            for (e, k) in log.iter().zip(&keys) {
                verify_with(
                    k,
                    SignatureContext::AccountLogDevice,
                    e.body_bytes(),
                    e.device_signature(),
                )
                .unwrap();
                verify_with(
                    &account_key,
                    SignatureContext::AccountLogAccount,
                    e.body_bytes(),
                    e.account_signature(),
                )
                .unwrap();
            }
        });
    });
    g.finish();
}

criterion_group!(benches, verify_log);
criterion_main!(benches);
