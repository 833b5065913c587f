//! What a revoked device can and cannot do (must-show 2).

use keylink_account::{open_epoch_history, open_rotation, sign_entry};
use keylink_keys::{Epoch, KeyWrap, SealPurpose};
use keylink_wire::account::Action;

use crate::support::World;

/// Device 1 is revoked. It keeps every key it ever held: its identity and
/// epoch 0's root key. Given everything the server stores after the
/// revocation — the log (with the sealed keys and the epoch history) and the
/// new password wrap — it cannot obtain epoch 1's root key.
#[test]
fn a_revoked_device_cannot_derive_the_new_root_key() {
    let mut w = World::new(21);
    w.add(0);
    w.add(0);
    w.revoke(0, 1);
    let revoked = &w.devices[1];
    let old_root = &w.roots[0];
    let new_root = &w.roots[1];
    let Action::Rotate {
        sealed,
        epoch_history,
        account_public_key,
        ..
    } = &w.log.last().unwrap().body().action
    else {
        panic!("last entry is the rotation");
    };
    // 1. No sealed box opens for it, for any epoch it might try.
    assert_eq!(sealed.len(), 2);
    for s in sealed {
        for epoch in [Epoch(0), Epoch(1)] {
            assert!(
                s.sealed
                    .open(SealPurpose::RootKey, revoked, &w.account, epoch)
                    .is_err()
            );
        }
    }
    // 2. The epoch history does not open under anything it holds.
    assert!(open_epoch_history(old_root, &w.account, epoch_history).is_err());
    // 3. What it can derive from the old root key is not the new epoch's key.
    assert!(!old_root.matches_account_key(&w.account, account_public_key));
    assert_ne!(
        old_root.chunk_id_key(&w.account).expose_secret(),
        new_root.chunk_id_key(&w.account).expose_secret()
    );
    // 4. The new password wrap is for epoch 1 and opens only with the
    //    password, which a device does not store.
    let wrap: &KeyWrap = w.password_wraps.last().unwrap();
    assert_eq!(wrap.epoch(), Epoch(1));
    // 5. The remaining devices do get it, and it is the key the log names.
    for i in [0usize, 2] {
        let mine = sealed.iter().find(|s| s.recipient == w.id(i)).unwrap();
        let key = mine
            .sealed
            .open_root_key(&w.devices[i], &w.account, Epoch(1))
            .unwrap();
        assert_eq!(key.expose_secret(), new_root.expose_secret());
        assert!(key.matches_account_key(&w.account, account_public_key));
    }
    // 6. And the new epoch's holders can still read the old epoch.
    let older = open_epoch_history(new_root, &w.account, epoch_history).unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].expose_secret(), old_root.expose_secret());
}

/// It still reads what it could read before: data of epoch 0.
#[test]
fn a_revoked_device_keeps_what_it_could_already_read() {
    let mut w = World::new(22);
    w.add(0);
    let before = w.roots[0].device_subkey(&w.account, &w.id(0));
    w.revoke(0, 1);
    let still = w.roots[0].device_subkey(&w.account, &w.id(0));
    assert_eq!(before.expose_secret(), still.expose_secret());
}

/// A remaining device takes its new key out of the rotation through the
/// checked path; the revoked device cannot; an entry that is not the one
/// the verified log holds is refused; and a rotation whose sealed key is not
/// the key its account key names is caught by the recipient.
#[test]
fn open_rotation_checks_the_key_against_the_log() {
    let mut w = World::new(23);
    w.add(0);
    w.add(0);
    let before = w.state.clone();
    w.revoke(0, 1);
    let rotate = w.log.last().unwrap().clone();
    let key = open_rotation(&w.state, &rotate, &w.devices[2]).unwrap();
    assert_eq!(key.expose_secret(), w.roots[1].expose_secret());
    assert_eq!(
        open_rotation(&w.state, &rotate, &w.devices[1])
            .unwrap_err()
            .class(),
        "not_current"
    );
    assert_eq!(
        open_rotation(&w.state, &w.log[1], &w.devices[2])
            .unwrap_err()
            .class(),
        "not_current"
    );

    // The rotating device seals device 2 a different key than the one it
    // signs with. The log verifies (nobody else can open the box), but the
    // recipient notices.
    let remove = w.log[w.log.len() - 2].clone();
    let mut body = rotate.body().clone();
    let Action::Rotate { sealed, .. } = &mut body.action else {
        panic!("a rotation")
    };
    let other = keylink_keys::RootKey::generate(Epoch(1), &mut w.rng);
    let me = w.devices[2].public_keys();
    for s in sealed.iter_mut().filter(|s| s.recipient == me.device_id()) {
        s.sealed =
            keylink_keys::SealedBox::seal_root_key(&other, &me, &w.account, &mut w.rng).unwrap();
    }
    let forged = sign_entry(body, &w.devices[0], &w.roots[1]);
    // Against the honest log, the forged entry is not the one it holds.
    assert_eq!(
        open_rotation(&w.state, &forged, &w.devices[2])
            .unwrap_err()
            .class(),
        "fork"
    );
    let mut lied_to = before;
    lied_to.apply(&remove).unwrap();
    lied_to.apply(&forged).unwrap();
    assert_eq!(
        open_rotation(&lied_to, &forged, &w.devices[2])
            .unwrap_err()
            .class(),
        "root_key_mismatch"
    );
    assert!(open_rotation(&lied_to, &forged, &w.devices[0]).is_ok());
}

/// A rotation may not bring back an earlier epoch's key.
#[test]
fn a_rotation_cannot_reuse_an_old_epoch_key() {
    let mut w = World::new(24);
    w.add(0);
    let rotation = w
        .state
        .rotate(
            &w.devices[0],
            w.roots.last().unwrap(),
            &[],
            keylink_account::RotationWraps {
                password: None,
                recovery: None,
            },
            0,
            &mut w.rng,
        )
        .unwrap();
    let mut body = rotation.entries[0].body().clone();
    let Action::Rotate {
        account_public_key, ..
    } = &mut body.action
    else {
        panic!("a rotation")
    };
    *account_public_key = w.roots[0].account_signing_key(&w.account).public_key();
    let reused = sign_entry(body, &w.devices[0], &w.roots[0]);
    assert_eq!(
        w.state.clone().apply(&reused).unwrap_err().class(),
        "reused_account_key"
    );
}
