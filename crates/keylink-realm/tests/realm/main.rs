//! Tests of the realm protocol through its public API.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod flows;
mod policy;
mod rfc9497;
mod threshold;

use keylink_keys::{AccountId, Epoch, KdfParams, KdfPolicy, Password, RootKey, StretchedPassword};
use keylink_realm::{NewRegistration, RealmRecord, RealmSet, register};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

/// A seeded RNG, so every failure reproduces.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Argon2id with tiny parameters over `password`.
pub fn stretch(password: &str) -> StretchedPassword {
    StretchedPassword::derive(
        &Password::new(password).unwrap(),
        &[9; 16],
        KdfParams::insecure_for_tests(64, 1, 1),
        KdfPolicy::insecure_accept_weak(),
    )
    .unwrap()
}

/// Realm ids 1, 2, …, n.
pub fn realm_ids(n: u8) -> Vec<[u8; 32]> {
    (1..=n).map(|i| [i; 32]).collect()
}

/// An account registered `k`-of-`n` at epoch 0 with `attempts`, and the
/// realms' records.
pub struct Registered {
    /// The account.
    pub account: AccountId,
    /// Its epoch-0 root key (whose realm-admin key registered).
    pub root: RootKey,
    /// The realm ids, in share order.
    pub realms: Vec<[u8; 32]>,
    /// What registration produced.
    pub reg: NewRegistration,
    /// Each realm's record.
    pub records: Vec<RealmRecord>,
}

/// Register a fresh account `k`-of-`n` under `password`.
pub fn registered(k: u8, n: u8, attempts: u16, password: &str, seed: u64) -> Registered {
    let mut rng = rng(seed);
    let account = AccountId::generate(&mut rng);
    let root = RootKey::generate(Epoch::GENESIS, &mut rng);
    let realms = realm_ids(n);
    let set = RealmSet::new(realms.clone(), k)
        .unwrap()
        .with_attempts(attempts)
        .unwrap();
    let admin = root.realm_admin_key(&account);
    let reg = register(
        account,
        Epoch::GENESIS,
        &stretch(password),
        &set,
        &admin,
        |_| None,
        &mut rng,
    )
    .unwrap();
    let records = reg
        .requests
        .iter()
        .zip(&realms)
        .map(|(req, realm)| RealmRecord::register(realm, None, req).unwrap())
        .collect();
    Registered {
        account,
        root,
        realms,
        reg,
        records,
    }
}
