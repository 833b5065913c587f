//! A password change starts a new epoch (issue 14, must-show 6): an old
//! password wrap with the old password opens only what came before, while
//! the new password and the kept recovery key open everything.

use std::sync::Arc;

use keylink_backup::KeyRing;
use keylink_client::{Device, FileKeyStore, RecoveryUpdate, Unlock};
use keylink_keys::{KdfParams, KdfPolicy, KeyWrap, Password, RecoveryKey};
use keylink_store::LocalDirStore;
use keylink_wire::account::DeviceName;
use keylink_wire::server::{Request, Response};

use crate::support::*;

fn home(dir: &std::path::Path, name: &str) -> Arc<FileKeyStore> {
    Arc::new(FileKeyStore::open(dir.join(name)).unwrap())
}

/// A server that allows several recoveries a second (more wrap fetches
/// than the default), and an account `name` on it under `password`, with
/// its recovery key.
async fn account(
    name: &str,
    password: &Password,
    dir: &std::path::Path,
) -> (World, Device, RecoveryKey) {
    let w = world_with(keylink_server::ServerConfig {
        wraps_per_account: (100, 10.0),
        ..Default::default()
    })
    .await;
    let (a, rk) = Device::create(
        home(dir, "a"),
        w.info.clone(),
        name,
        &DeviceName::new("phone").unwrap(),
        password,
        KdfParams::DEFAULT,
        true,
    )
    .await
    .unwrap();
    (w, a, rk.unwrap())
}

/// Recover account `name` as a fresh device `device`.
async fn recover(
    w: &World,
    dir: &std::path::Path,
    name: &str,
    device: &str,
    unlock: Unlock<'_>,
) -> Result<Device, keylink_client::Error> {
    Device::recover(
        home(dir, device),
        w.info.clone(),
        name,
        &DeviceName::new(device).unwrap(),
        unlock,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_wrap_with_the_old_password_opens_nothing_written_after_a_change() {
    let t = tempfile::tempdir().unwrap();
    let old = Password::new("the old password, leaked").unwrap();
    let new = Password::new("the new password, private").unwrap();
    let (w, mut a, rk) = account("epoch-on-change", &old, t.path()).await;
    // Someone keeps the password wrap of today (the server keeps them all).
    let c = client(&w.info).await;
    let kept = match c
        .request(&Request::GetWraps {
            account: a.account(),
        })
        .await
        .unwrap()
    {
        Response::Wraps { password_wrap, .. } => KeyWrap::from_bytes(&password_wrap).unwrap(),
        _ => panic!("no wraps"),
    };

    let fresh = a
        .change_password(&old, &new, KdfParams::DEFAULT, RecoveryUpdate::Keep(&rk))
        .await
        .unwrap();
    assert!(fresh.is_none(), "the recovery key was kept, not replaced");
    let src = t.path().join("after");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("secret.txt"), "written after the change").unwrap();
    a.backup(&[src], |_| {}).await.unwrap();

    // The kept wrap opens with the old password — to the old epoch's key.
    let old_root = kept.open_password(&old, KdfPolicy::default()).unwrap();
    let log = a.sync().await.unwrap().clone();
    assert!(
        log.epoch() > old_root.epoch(),
        "the change started a new epoch"
    );
    // With it, the snapshot written after the change does not open.
    let mut keys = KeyRing::new();
    keys.insert(old_root);
    let store = LocalDirStore::open(w._dir.path().join("store")).unwrap();
    let me = a.device_id();
    let target = t.path().join("thief");
    let stolen = tokio::task::spawn_blocking(move || {
        keylink_backup::restore(&store, &log, &keys, me, &target)
    })
    .await
    .unwrap();
    assert!(
        stolen.is_err(),
        "the old epoch's key opened a snapshot written after the change"
    );

    // The old password no longer recovers; the new one and the kept recovery key do.
    let e = recover(
        &w,
        t.path(),
        "epoch-on-change",
        "thief",
        Unlock::Password(&old),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, keylink_client::Error::WrongPassword), "{e}");
    for (name, unlock) in [
        ("b", Unlock::Password(&new)),
        ("c", Unlock::RecoveryKey(&rk)),
    ] {
        let mut d = recover(&w, t.path(), "epoch-on-change", name, unlock)
            .await
            .unwrap();
        let out = t.path().join(format!("restored-{name}"));
        d.restore(None, &out, |_, _| {}).await.unwrap();
        let text = std::fs::read_to_string(out.join("after/secret.txt")).unwrap();
        assert_eq!(text, "written after the change");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_with_a_new_password_leaves_the_revoked_holder_nothing_with_the_old_one() {
    let t = tempfile::tempdir().unwrap();
    let old = Password::new("the password the thief knows").unwrap();
    let new = Password::new("chosen after the theft, unknown").unwrap();
    let (w, mut a, rk) = account("revoke-and-change", &old, t.path()).await;
    let stolen = recover(
        &w,
        t.path(),
        "revoke-and-change",
        "stolen",
        Unlock::Password(&old),
    )
    .await
    .unwrap();
    // One step: remove the laptop and wrap the new epoch under a new password.
    a.check_password(&old).await.unwrap();
    a.revoke(
        stolen.device_id(),
        Some((&new, KdfParams::DEFAULT)),
        Some(&rk),
    )
    .await
    .unwrap();
    // The thief's old password opens nothing from now on…
    let e = recover(
        &w,
        t.path(),
        "revoke-and-change",
        "thief",
        Unlock::Password(&old),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, keylink_client::Error::WrongPassword), "{e}");
    // …while the new password and the kept recovery key recover.
    for (name, unlock) in [
        ("b", Unlock::Password(&new)),
        ("c", Unlock::RecoveryKey(&rk)),
    ] {
        recover(&w, t.path(), "revoke-and-change", name, unlock)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_realms_moves_to_them_on_a_password_change() {
    let w = world_with(keylink_server::ServerConfig {
        wraps_per_account: (100, 10.0),
        realm: Some(keylink_server::RealmConfig {
            store: Arc::new(keylink_store::MemoryStore::new()),
            throttle: keylink_realm::Throttle::NONE,
        }),
        ..Default::default()
    })
    .await;
    let t = tempfile::tempdir().unwrap();
    let old = Password::new("made before there were realms").unwrap();
    let new = Password::new("guarded by the realm from now on").unwrap();
    let (mut a, rk) = Device::create(
        home(t.path(), "a"),
        w.info.clone(),
        "moves-to-realms",
        &DeviceName::new("phone").unwrap(),
        &old,
        KdfParams::DEFAULT,
        true,
    )
    .await
    .unwrap();
    let wrap_kind = |w: &World| {
        let info = w.info.clone();
        async move {
            let c = client(&info).await;
            match c
                .request(&Request::GetWraps {
                    account: keylink_client::account_id_for("moves-to-realms"),
                })
                .await
                .unwrap()
            {
                Response::Wraps { password_wrap, .. } => KeyWrap::from_bytes(&password_wrap)
                    .unwrap()
                    .realm_registration()
                    .is_some(),
                _ => panic!("no wraps"),
            }
        }
    };
    assert!(!wrap_kind(&w).await, "a version-1 wrap to begin with");
    a.set_realms(Some(keylink_client::Realms::the_server(&w.info)))
        .unwrap();
    a.change_password(
        &old,
        &new,
        KdfParams::DEFAULT,
        RecoveryUpdate::Keep(rk.as_ref().unwrap()),
    )
    .await
    .unwrap();
    assert!(wrap_kind(&w).await, "a realm-guarded wrap after the change");
    recover(&w, t.path(), "moves-to-realms", "b", Unlock::Password(&new))
        .await
        .unwrap();
}
