//! Key-hierarchy benchmarks: `cargo bench -p keylink-keys`.
//!
//! Reports Argon2id at the production default (the raw `argon2` crate, the
//! baseline) next to a full password unwrap through keylink (parse, floor
//! and ceiling checks, Argon2id, commitment, AEAD), so the overhead of the
//! wrap over the KDF is visible in one run; then recovery unwraps, HKDF
//! derivations and HPKE seals/opens per second.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, Version};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keylink_keys::{
    AccountId, DeviceIdentity, Epoch, KdfParams, KdfPolicy, KeyWrap, Password, RecoveryKey,
    RootKey, SealedBox,
};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

fn unwrap_benches(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let account = AccountId::generate(&mut rng);
    let root = RootKey::generate(Epoch(0), &mut rng);
    let password = Password::new("correct horse battery staple").unwrap();
    let wrap = KeyWrap::seal_password(&root, &account, &password, KdfParams::DEFAULT, &mut rng)
        .unwrap()
        .to_bytes();
    let recovery = RecoveryKey::generate(&mut rng);
    let rwrap = KeyWrap::seal_recovery(&root, &account, &recovery, &mut rng)
        .unwrap()
        .to_bytes();

    let mut g = c.benchmark_group("password");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(1));
    g.bench_function("argon2id_raw_m64MiB_t3_p1 (baseline)", |b| {
        let params = Params::new(65536, 3, 1, Some(32)).unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = [0u8; 32];
        b.iter(|| {
            argon
                .hash_password_into(password.expose_secret(), b"sixteen byte slt", &mut out)
                .unwrap();
            black_box(out)
        });
    });
    g.bench_function("keylink_password_unwrap_default", |b| {
        b.iter(|| {
            let w = KeyWrap::from_bytes(black_box(&wrap)).unwrap();
            black_box(w.open_password(&password, KdfPolicy::default()).unwrap())
        });
    });
    g.finish();

    let mut g = c.benchmark_group("recovery");
    g.throughput(Throughput::Elements(1));
    g.bench_function("keylink_recovery_unwrap", |b| {
        b.iter(|| {
            let w = KeyWrap::from_bytes(black_box(&rwrap)).unwrap();
            black_box(w.open_recovery(&recovery).unwrap())
        });
    });
    g.bench_function("recovery_key_parse", |b| {
        let shown = recovery.to_display();
        b.iter(|| black_box(RecoveryKey::parse(black_box(&shown)).unwrap()));
    });
    g.finish();
}

fn derive_benches(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let account = AccountId::generate(&mut rng);
    let root = RootKey::generate(Epoch(0), &mut rng);
    let device = DeviceIdentity::generate(&mut rng).device_id();
    let mut g = c.benchmark_group("derive");
    g.throughput(Throughput::Elements(1));
    g.bench_function("device_subkey", |b| {
        b.iter(|| black_box(root.device_subkey(&account, black_box(&device))));
    });
    g.bench_function("chunk_id_key", |b| {
        b.iter(|| black_box(root.chunk_id_key(black_box(&account))));
    });
    g.bench_function("account_signing_key", |b| {
        b.iter(|| black_box(root.account_signing_key(black_box(&account)).public_key()));
    });
    g.finish();
}

fn sealed_benches(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let account = AccountId::generate(&mut rng);
    let root = RootKey::generate(Epoch(1), &mut rng);
    let device = DeviceIdentity::generate(&mut rng);
    let public = device.public_keys();
    let sealed = SealedBox::seal_root_key(&root, &public, &account, &mut rng).unwrap();
    let mut g = c.benchmark_group("sealed_box");
    g.throughput(Throughput::Elements(1));
    g.bench_function("seal_root_key", |b| {
        b.iter(|| black_box(SealedBox::seal_root_key(&root, &public, &account, &mut rng).unwrap()));
    });
    g.bench_function("open_root_key", |b| {
        b.iter(|| black_box(sealed.open_root_key(&device, &account, Epoch(1)).unwrap()));
    });
    g.finish();
}

criterion_group!(benches, unwrap_benches, derive_benches, sealed_benches);
criterion_main!(benches);
