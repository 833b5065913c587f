//! A realm whose folder is restored from an old copy is noticed by a
//! current device (docs/protocol.md §19.7): its lifetime guess count went
//! backwards.

use std::sync::Arc;

use keylink_client::{Device, FileKeyStore, NewAccount, Realms, Unlock};
use keylink_keys::{KdfParams, Password};
use keylink_server::{RealmConfig, ServerConfig};
use keylink_store::{LocalDirStore, MemoryStore, Store};
use keylink_wire::account::DeviceName;

use crate::support::world_on;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_realm_is_reported_by_a_current_device() {
    let dir = tempfile::tempdir().unwrap();
    let realm_store = Arc::new(MemoryStore::new());
    let config = ServerConfig {
        realm: Some(RealmConfig {
            store: realm_store.clone(),
            throttle: keylink_realm::Throttle::NONE,
        }),
        wraps_per_account: (100, 10.0),
        ..ServerConfig::default()
    };
    let store = Arc::new(LocalDirStore::open(dir.path().join("objects")).unwrap());
    let w = world_on(config, store, dir).await;
    let t = tempfile::tempdir().unwrap();
    let pw = Password::new("rolled back realm password").unwrap();
    let (mut a, _) = Device::create_account(
        Arc::new(FileKeyStore::open(t.path().join("a")).unwrap()),
        w.info.clone(),
        NewAccount {
            account_name: "rollback-target",
            device_name: &DeviceName::new("phone").unwrap(),
            password: &pw,
            params: KdfParams::DEFAULT,
            recovery_key: false,
            realms: Some(Realms::the_server(&w.info)),
        },
    )
    .await
    .unwrap();
    // Two wrong guesses, counted.
    for i in 0..2 {
        let wrong = Password::new("not the password, really").unwrap();
        let e = Device::recover(
            Arc::new(FileKeyStore::open(t.path().join(format!("x{i}"))).unwrap()),
            w.info.clone(),
            "rollback-target",
            &DeviceName::new("guesser").unwrap(),
            Unlock::Password(&wrong),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, keylink_client::Error::WrongPassword), "{e}");
    }
    let checks = a.check_realms().await.unwrap();
    assert_eq!(
        (checks[0].guesses, checks[0].total, checks[0].rolled_back),
        (2, 2, false)
    );
    // The operator restores yesterday's copy: the newest record is gone.
    let mut keys = realm_store.list("r/").unwrap();
    let newest = keys.pop().unwrap();
    realm_store.delete(&newest).unwrap();
    let checks = a.check_realms().await.unwrap();
    assert!(checks[0].rolled_back, "{:?}", checks[0]);
    assert!(
        checks[0].state.contains("went back from 2 to 1"),
        "{}",
        checks[0].state
    );
}
