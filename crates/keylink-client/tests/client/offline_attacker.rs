//! The offline attacker (issue 14, must-show 4), on a 2-of-3 account: with
//! every object the storage server keeps, one realm's whole folder and the
//! right password, a program using only public functions of the library
//! can neither open the password wrap nor tell the right password from a
//! wrong one; with two realms' folders it opens the wrap — which shows the
//! test would notice if the realm layer were bypassed.

use std::path::Path;
use std::sync::Arc;

use keylink_client::{Device, FileKeyStore, NewAccount, RealmInfo, Realms};
use keylink_keys::{
    KdfParams, KdfPolicy, KeyWrap, Password, RealmKek, RootKey, StretchedPassword, UnlockTag,
};
use keylink_realm::shamir::combine;
use keylink_realm::{Blind, RealmRecord, Ristretto255Sha512, Voprf};
use keylink_server::{RealmConfig, ServerConfig};
use keylink_store::{LocalDirStore, Store};
use keylink_wire::account::DeviceName;

use crate::support::{World, world_on};

const PASSWORD: &str = "a short one!";
const WRONG: &str = "a short two!";

/// Every object under `dir` (a store's folder), as a thief copies it.
fn objects(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let store = LocalDirStore::open(dir).unwrap();
    store
        .list("")
        .unwrap()
        .into_iter()
        .map(|k| {
            let bytes = store.get(&k, 1 << 24).unwrap();
            (k.as_str().to_string(), bytes)
        })
        .collect()
}

/// The newest realm record for each account in a realm folder.
fn realm_records(dir: &Path) -> Vec<RealmRecord> {
    let mut newest = std::collections::BTreeMap::new();
    for (key, bytes) in objects(dir) {
        let account = key.split('/').nth(1).unwrap().to_string();
        newest.insert(account, bytes);
    }
    newest
        .values()
        .map(|b| RealmRecord::from_bytes(b).unwrap())
        .collect()
}

/// What the attacker gets out of `records` for `password`: the OPRF output
/// its shares give (combined when there are several), the KEK, and
/// whether each realm's stored unlock tag matches the one that KEK gives.
fn attempt(wrap: &KeyWrap, records: &[&RealmRecord], password: &str) -> (RealmKek, Vec<bool>) {
    let stretched = StretchedPassword::derive(
        &Password::new(password).unwrap(),
        wrap.salt(),
        wrap.params(),
        KdfPolicy::insecure_accept_weak(),
    )
    .unwrap();
    let account = *wrap.account();
    let input = stretched.oprf_input(&account);
    let blind = Blind::insecure_from_bytes([7; 64]);
    let blinded = Ristretto255Sha512::blind(&input, &blind).unwrap();
    let mut rng = rand::rng();
    let evaluations: Vec<(u8, [u8; 32])> = records
        .iter()
        .map(|r| {
            let e = Ristretto255Sha512::blind_evaluate(r.share(), &blinded, &mut rng).unwrap();
            (r.index(), e.element)
        })
        .collect();
    let combined = combine(&evaluations).unwrap();
    let output = Ristretto255Sha512::unblind_finalize(&input, &blind, &combined).unwrap();
    let commitment = *wrap.realm_registration().unwrap();
    let kek = RealmKek::derive(&stretched, &output, &commitment);
    let tags = records
        .iter()
        .map(|r| {
            let stored = r.to_bytes();
            // The tag sits after the descriptor, the index and the share.
            let at = 7 + usize::from(u16::from_be_bytes([stored[5], stored[6]])) + 1 + 32;
            let tag = UnlockTag::from_bytes(stored[at..at + 32].try_into().unwrap());
            kek.unlock_tag(&commitment, r.index(), &realm_id_of(r))
                .matches(&tag)
        })
        .collect();
    (kek, tags)
}

fn realm_id_of(r: &RealmRecord) -> [u8; 32] {
    r.descriptor().slot(r.index()).unwrap().realm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_realm_folder_and_the_storage_open_nothing_and_two_open_the_wrap() {
    // Three servers, each with its realm in its own folder; the first also stores the account.
    let mut worlds: Vec<World> = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let realm_store: Arc<dyn Store> =
            Arc::new(LocalDirStore::open(dir.path().join("realm")).unwrap());
        let store = Arc::new(LocalDirStore::open(dir.path().join("objects")).unwrap());
        let config = ServerConfig {
            realm: Some(RealmConfig {
                store: realm_store,
                throttle: keylink_realm::Throttle::NONE,
            }),
            ..ServerConfig::default()
        };
        worlds.push(world_on(config, store, dir).await);
    }
    let realms = Realms {
        realms: worlds
            .iter()
            .map(|w| RealmInfo {
                addr: w.info.addr,
                fingerprint: w.info.fingerprint,
            })
            .collect(),
        needed: 2,
        attempts: 10,
    };
    let home = tempfile::tempdir().unwrap();
    let (device, _) = Device::create_account(
        Arc::new(FileKeyStore::open(home.path().join("a")).unwrap()),
        worlds[0].info.clone(),
        NewAccount {
            account_name: "offline-attacker-target",
            device_name: &DeviceName::new("phone").unwrap(),
            password: &Password::new(PASSWORD).unwrap(),
            params: KdfParams::insecure_for_tests(64, 1, 1),
            recovery_key: false,
            realms: Some(realms),
        },
    )
    .await
    .unwrap();
    let account = device.account();

    // Everything the storage server keeps: the password wrap is among it.
    let stored = objects(&worlds[0]._dir.path().join("objects"));
    let wrap = stored
        .iter()
        .filter(|(k, _)| k.contains("/wraps/"))
        .find_map(|(_, b)| {
            KeyWrap::from_bytes(b)
                .ok()
                .filter(|w| w.realm_registration().is_some())
        })
        .expect("the version-2 password wrap is in the storage");
    assert_eq!(wrap.account(), &account);
    // Without the realms, the password alone is refused outright.
    assert_eq!(
        wrap.open_password(
            &Password::new(PASSWORD).unwrap(),
            KdfPolicy::insecure_accept_weak()
        )
        .unwrap_err()
        .class(),
        "realm_mismatch"
    );
    let folders: Vec<Vec<RealmRecord>> = worlds
        .iter()
        .map(|w| realm_records(&w._dir.path().join("realm")))
        .collect();
    assert!(folders.iter().all(|f| f.len() == 1));

    // One realm's folder, the storage and the right password: no key, and
    // nothing in the folder (its unlock tag included) treats the right
    // password differently from a wrong one.
    for folder in &folders {
        let one = [&folder[0]];
        let (right_kek, right_tags) = attempt(&wrap, &one, PASSWORD);
        let (wrong_kek, wrong_tags) = attempt(&wrap, &one, WRONG);
        assert_eq!(
            wrap.open_realm(&right_kek).unwrap_err().class(),
            "wrong_secret_or_tampered"
        );
        assert_eq!(
            wrap.open_realm(&wrong_kek).unwrap_err().class(),
            "wrong_secret_or_tampered"
        );
        assert_eq!(right_tags, vec![false]);
        assert_eq!(wrong_tags, vec![false]);
    }

    // Two realms' folders: the wrap opens with the right password (and only
    // with it), and the realms' stored tags recognise it.
    let two = [&folders[0][0], &folders[2][0]];
    let (kek, tags) = attempt(&wrap, &two, PASSWORD);
    let root: RootKey = wrap.open_realm(&kek).unwrap();
    assert_eq!(root.epoch(), wrap.epoch());
    assert_eq!(tags, vec![true, true]);
    let (wrong_kek, _) = attempt(&wrap, &two, WRONG);
    assert!(wrap.open_realm(&wrong_kek).is_err());
}
