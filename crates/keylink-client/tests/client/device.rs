//! `Device` through the library, against a real server: the paths the
//! command line does not take.

use std::sync::Arc;

use keylink_client::{Device, Error, FileKeyStore, Unlock};
use keylink_keys::{KdfParams, Password};
use keylink_wire::account::DeviceName;

use crate::support::*;

fn store(dir: &std::path::Path, name: &str) -> Arc<FileKeyStore> {
    Arc::new(FileKeyStore::open(dir.join(name)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_without_the_password_keeps_the_recovery_key_working() {
    let w = world().await;
    let t = tempfile::tempdir().unwrap();
    let pw = Password::new("correct horse battery staple").unwrap();
    let (mut a, rk) = Device::create(
        store(t.path(), "a"),
        w.info.clone(),
        "revoke-no-password",
        &DeviceName::new("phone").unwrap(),
        &pw,
        KdfParams::DEFAULT,
        true,
    )
    .await
    .unwrap();
    let rk = rk.unwrap();
    let b = Device::recover(
        store(t.path(), "b"),
        w.info.clone(),
        "revoke-no-password",
        &DeviceName::new("laptop").unwrap(),
        Unlock::Password(&pw),
    )
    .await
    .unwrap();
    // A wrong password is refused before anything changes.
    let wrong = Password::new("not the password at all").unwrap();
    assert!(matches!(
        a.check_password(&wrong).await,
        Err(Error::WrongPassword)
    ));
    // Revoke B, re-wrapping under the recovery key only: the password wrap
    // is pending, the recovery wrap is current.
    a.revoke(b.device_id(), None, Some(&rk)).await.unwrap();
    let by_password = Device::recover(
        store(t.path(), "c"),
        w.info.clone(),
        "revoke-no-password",
        &DeviceName::new("desktop").unwrap(),
        Unlock::Password(&pw),
    )
    .await;
    assert!(
        matches!(by_password, Err(Error::NoWrap(_))),
        "{by_password:?}"
    );
    let mut d = Device::recover(
        store(t.path(), "d"),
        w.info.clone(),
        "revoke-no-password",
        &DeviceName::new("tablet").unwrap(),
        Unlock::RecoveryKey(&rk),
    )
    .await
    .unwrap();
    let (devices, _) = d.devices().await.unwrap();
    assert!(!devices.iter().any(|v| v.id == b.device_id()));
    assert_eq!(devices.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_command_on_one_home_is_told_it_is_busy() {
    let t = tempfile::tempdir().unwrap();
    let _first = store(t.path(), "home");
    assert!(matches!(
        FileKeyStore::open(t.path().join("home")),
        Err(keylink_client::KeyStoreError::Busy { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_shown_by_one_device_cannot_be_finished_by_another() {
    let w = world().await;
    let t = tempfile::tempdir().unwrap();
    let pw = Password::new("correct horse battery staple").unwrap();
    let create = |dir: &str, account: &'static str| {
        let (keys, info) = (store(t.path(), dir), w.info.clone());
        let pw = &pw;
        async move {
            Device::create(
                keys,
                info,
                account,
                &DeviceName::new("phone").unwrap(),
                pw,
                KdfParams::DEFAULT,
                false,
            )
            .await
            .unwrap()
            .0
        }
    };
    let mut a = create("a", "shown-by-a").await;
    let mut other = create("o", "another-account").await;
    let options = keylink_client::link::LinkOptions::default();
    let shown = a
        .show_link_for_new(
            keylink_client::link::ShowVia::Relay(w.info.clone()),
            &options,
        )
        .await
        .unwrap();
    let r = other
        .finish_shown_link(shown, &options, |_| async { true })
        .await;
    assert!(
        matches!(&r, Err(Error::Device(m)) if m.contains("another device")),
        "{r:?}"
    );
    let (list, _) = other.devices().await.unwrap();
    assert_eq!(list.len(), 1, "nothing joined the other account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_the_server_stored_in_part_is_finished_by_revoking_again() {
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
    // Log entries the disk has room for (negative: no limit); the rest of
    // the account's objects always fit.
    let log_writes = Arc::new(AtomicI64::new(-1));
    let left = log_writes.clone();
    let disk =
        keylink_store::RefusingStore::new(keylink_store::MemoryStore::new(), move |key, _| {
            key.as_str().contains("/log/")
                && left
                    .fetch_update(SeqCst, SeqCst, |n| {
                        (n > 0).then(|| n - 1).or((n < 0).then_some(n))
                    })
                    .is_err()
        });
    let w = world_on(
        keylink_server::ServerConfig::default(),
        Arc::new(disk),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let t = tempfile::tempdir().unwrap();
    let pw = Password::new("correct horse battery staple").unwrap();
    let params = KdfParams::DEFAULT;
    let (mut a, _) = Device::create(
        store(t.path(), "a"),
        w.info.clone(),
        "revoke-in-part",
        &DeviceName::new("phone").unwrap(),
        &pw,
        params,
        false,
    )
    .await
    .unwrap();
    let b = Device::recover(
        store(t.path(), "b"),
        w.info.clone(),
        "revoke-in-part",
        &DeviceName::new("laptop").unwrap(),
        Unlock::Password(&pw),
    )
    .await
    .unwrap();
    let epoch = a.sync().await.unwrap().epoch();

    // Room for one log entry: the removal lands, its rotation does not.
    log_writes.store(1, SeqCst);
    let err = a.revoke(b.device_id(), Some((&pw, params)), None).await;
    assert!(err.is_err(), "{err:?}");
    log_writes.store(-1, SeqCst);
    let (devices, _) = a.devices().await.unwrap();
    assert!(!devices.iter().any(|v| v.id == b.device_id()), "removed");

    // Nothing else changes until it is finished, and the error says how.
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"data").unwrap();
    let err = a
        .backup(std::slice::from_ref(&src), |_| {})
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("\"laptop\"") && msg.contains("revoke") && msg.contains("again"),
        "{msg}"
    );

    // The removed device can still be named, and revoking it again
    // finishes the rotation; a third time is a no-op.
    let target = a.resolve_device("laptop").unwrap();
    assert_eq!(target, b.device_id());
    a.revoke(target, Some((&pw, params)), None).await.unwrap();
    let (devices, _) = a.devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    let now = a.sync().await.unwrap().epoch();
    assert!(now > epoch, "a new epoch: {now:?} after {epoch:?}");
    assert!(!a.sync().await.unwrap().rotation_pending());
    a.revoke(target, Some((&pw, params)), None).await.unwrap();
    assert_eq!(a.sync().await.unwrap().epoch(), now, "no second rotation");
    a.backup(&[src], |_| {}).await.unwrap();
}
