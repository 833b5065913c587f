//! One named test per attack on the account log (issue must-show 1), each
//! asserting the exact error class.

use keylink_account::{
    Error, HeadRelation, LogState, RotationWraps, compare_heads, compare_logs, sign_entry,
};
use keylink_keys::{DeviceIdentity, RootKey, SealedBox};
use keylink_wire::account::{Action, EntryBody, SealedKey, SignedEntry};

use crate::support::{World, record};

/// A world with devices 0, 1, 2 and device 1 revoked (by 0).
fn with_revoked() -> World {
    let mut w = World::new(11);
    w.add(0);
    w.add(0);
    w.snapshot(2);
    w.revoke(0, 1);
    w
}

/// Re-sign a modified body as `actor` with the current root key.
fn forge(w: &World, body: EntryBody, actor: &DeviceIdentity) -> SignedEntry {
    sign_entry(body, actor, w.root())
}

#[test]
fn entry_signed_by_a_device_not_in_the_list() {
    let mut w = World::new(1);
    let stranger = DeviceIdentity::generate(&mut w.rng);
    let newcomer = DeviceIdentity::generate(&mut w.rng);
    // The stranger even holds the root key (so the account signature is
    // valid): it is still not a device of the account.
    let body = w.next_body(
        &stranger,
        Action::AddDevice {
            device: record(&newcomer, "ghost"),
        },
    );
    let e = forge(&w, body, &stranger);
    let err = w.state.clone().apply(&e).unwrap_err();
    assert_eq!(err.class(), "unknown_device");
}

#[test]
fn entry_signed_by_a_revoked_device() {
    let w = with_revoked();
    let revoked = &w.devices[1];
    let body = w.next_body(
        revoked,
        Action::PasswordChanged {
            password_wrap_hash: [7; 32],
        },
    );
    // Signed with the root key it knew (its old epoch's) and, to be sure, the
    // current one: neither helps, the signer is revoked.
    let e = sign_entry(body.clone(), revoked, &w.roots[0]);
    assert_eq!(
        w.state.clone().apply(&e).unwrap_err().class(),
        "revoked_device"
    );
    let e = forge(&w, body, revoked);
    assert_eq!(
        w.state.clone().apply(&e).unwrap_err().class(),
        "revoked_device"
    );
    // And the builder refuses to produce one.
    assert_eq!(
        w.state
            .snapshot_head(revoked, w.root(), [1; 32], 99, [2; 32], 0)
            .unwrap_err()
            .class(),
        "not_current"
    );
}

#[test]
fn replay_of_an_older_log_is_a_rollback() {
    let mut w = World::new(2);
    w.add(0);
    let old_log = w.log.clone();
    w.snapshot(1);
    w.change_password(0);
    let trusted = w.state.head();
    // The server serves the log as it was before the last two entries.
    let err = LogState::verify_from_trusted(&old_log, Some(&trusted)).unwrap_err();
    assert_eq!(err.class(), "rollback");
    // The current log is accepted.
    LogState::verify_from_trusted(&w.log, Some(&trusted)).unwrap();
    // A remembered head survives its byte encoding.
    let stored = trusted.to_bytes();
    assert_eq!(keylink_account::Head::from_bytes(&stored).unwrap(), trusted);
}

#[test]
fn a_fork_is_detected_by_compare_heads_and_by_the_remembered_head() {
    let mut a = World::new(3);
    a.add(0);
    let mut b = World {
        rng: rand::SeedableRng::seed_from_u64(99),
        account: a.account,
        devices: a
            .devices
            .iter()
            .map(|d| {
                let (s, x) = d.expose_secret_bytes();
                DeviceIdentity::from_secret_bytes(&s, &x)
            })
            .collect(),
        roots: a.roots.iter().map(RootKey::duplicate).collect(),
        log: a.log.clone(),
        state: a.state.clone(),
        password: keylink_keys::Password::new("account log password").unwrap(),
        password_wraps: a.password_wraps.clone(),
        now_ms: a.now_ms,
        snapshot_seq: a.snapshot_seq,
    };
    // A server shows device 0 one continuation and device 1 another.
    a.snapshot(0);
    b.snapshot(1);
    b.snapshot(1);
    assert_eq!(
        compare_heads(&a.state, &b.state.head()).unwrap(),
        HeadRelation::Behind
    );
    assert_eq!(
        compare_heads(&b.state, &a.state.head())
            .unwrap_err()
            .class(),
        "fork"
    );
    assert_eq!(
        compare_logs(&a.state, &b.state).unwrap_err(),
        Error::Fork { sequence: 2 }
    );
    // Device 0 remembers its head; the other branch is refused.
    let err = LogState::verify_from_trusted(&b.log, Some(&a.state.head())).unwrap_err();
    assert_eq!(err.class(), "fork");
    // Same log: same head.
    assert_eq!(
        compare_heads(&a.state, &a.state.head()).unwrap(),
        HeadRelation::Same
    );
}

#[test]
fn a_device_id_that_parses_as_a_key_or_collides_is_refused() {
    let mut w = World::new(4);
    // A 32-byte public key where a 16-byte device id belongs: refused at decode.
    let e = w
        .state
        .snapshot_head(&w.devices[0], w.root(), [1; 32], 1, [2; 32], 0)
        .unwrap();
    let key = *w.devices[0].public_keys().signing_key();
    let id = w.id(0);
    let mut body = e.body_bytes().to_vec();
    let at = body
        .windows(16)
        .position(|win| win == id.as_bytes())
        .unwrap();
    // The actor field is tag 0x3a, length 0x10, then the id.
    assert_eq!(&body[at - 2..at], &[0x3a, 0x10]);
    body.splice(at - 1..at + 16, [32u8].into_iter().chain(key));
    let err = e.clone().with_body_bytes(body).unwrap_err();
    assert_eq!(err.class(), "field_length");
    // A new device whose keys (and so id) are an existing device's is refused,
    // whatever name it claims.
    let twin = {
        let (s, x) = w.devices[0].expose_secret_bytes();
        DeviceIdentity::from_secret_bytes(&s, &x)
    };
    let e = w
        .state
        .add_device(&w.devices[0], w.root(), record(&twin, "twin"), 0)
        .unwrap();
    assert_eq!(
        w.state.clone().apply(&e).unwrap_err().class(),
        "duplicate_device"
    );
    w.add(0);
}

#[test]
fn an_entry_of_one_action_presented_as_another() {
    let mut w = World::new(5);
    w.add(0);
    let wrap_hash = [9u8; 32];
    let body = w.next_body(
        &w.devices[1],
        Action::PasswordChanged {
            password_wrap_hash: wrap_hash,
        },
    );
    let real = forge(&w, body.clone(), &w.devices[1]);
    // Same fields, other action: the signatures were over the other bytes.
    let relabelled = EntryBody {
        action: Action::RecoveryKeyChanged {
            recovery_wrap_hash: wrap_hash,
        },
        ..body
    };
    let fake = SignedEntry::new(
        relabelled,
        *real.device_signature(),
        *real.account_signature(),
    );
    assert_eq!(
        w.state.clone().apply(&fake).unwrap_err().class(),
        "device_signature"
    );
    // The device signature and the account signature are not interchangeable.
    let swapped = real
        .clone()
        .with_signatures(*real.account_signature(), *real.device_signature());
    assert_eq!(
        w.state.clone().apply(&swapped).unwrap_err().class(),
        "device_signature"
    );
    w.state.apply(&real).unwrap();
}

#[test]
fn a_removal_not_followed_by_a_rotation() {
    let mut w = World::new(6);
    w.add(0);
    w.add(0);
    let remove = forge(
        &w,
        w.next_body(&w.devices[0], Action::RemoveDevice { device: w.id(2) }),
        &w.devices[0],
    );
    w.push(remove);
    assert!(w.state.rotation_pending());
    let newcomer = DeviceIdentity::generate(&mut w.rng);
    let add = w
        .state
        .add_device(&w.devices[0], w.root(), record(&newcomer, "too soon"), 0)
        .unwrap();
    assert_eq!(
        w.state.clone().apply(&add).unwrap_err(),
        Error::RotationRequired {
            sequence: 4,
            action: "add_device"
        }
    );
    let snap = w
        .state
        .snapshot_head(&w.devices[1], w.root(), [1; 32], 1, [1; 32], 0)
        .unwrap();
    assert_eq!(
        w.state.clone().apply(&snap).unwrap_err().class(),
        "rotation_required"
    );
}

#[test]
fn a_root_key_sealed_to_a_device_that_is_not_current() {
    let mut w = World::new(7);
    w.add(0);
    w.add(0);
    let remove = forge(
        &w,
        w.next_body(&w.devices[0], Action::RemoveDevice { device: w.id(2) }),
        &w.devices[0],
    );
    w.push(remove);
    let rotation = w
        .state
        .rotate(
            &w.devices[0],
            w.roots.last().unwrap(),
            &[],
            RotationWraps {
                password: None,
                recovery: None,
            },
            0,
            &mut w.rng,
        )
        .unwrap();
    let honest = rotation.entries[0].clone();
    let mut body = honest.body().clone();
    let Action::Rotate { sealed, .. } = &mut body.action else {
        panic!()
    };
    // The rotating device also hands the new key to the revoked device 2.
    let leak = SealedBox::seal_root_key(
        &rotation.root,
        &w.devices[2].public_keys(),
        &w.account,
        &mut w.rng,
    )
    .unwrap();
    sealed.push(SealedKey {
        recipient: w.id(2),
        sealed: leak,
    });
    let bad = sign_entry(body.clone(), &w.devices[0], &rotation.root);
    assert_eq!(
        w.state.clone().apply(&bad).unwrap_err(),
        Error::SealedToNonCurrent {
            sequence: 4,
            device: w.id(2)
        }
    );
    // Leaving a current device out is refused too.
    let Action::Rotate { sealed, .. } = &mut body.action else {
        panic!()
    };
    sealed.retain(|s| s.recipient == w.devices[0].device_id());
    let bad = sign_entry(body, &w.devices[0], &rotation.root);
    assert_eq!(
        w.state.clone().apply(&bad).unwrap_err().class(),
        "sealed_key_count"
    );
    w.state.apply(&honest).unwrap();
}

#[test]
fn an_old_password_wrap_served_after_password_changed() {
    let mut w = World::new(8);
    w.add(0);
    let old = w.password_wraps[0].clone();
    w.state.check_wrap(&old).unwrap();
    w.change_password(1);
    let new = w.password_wraps.last().unwrap().clone();
    assert_eq!(
        w.state.check_wrap(&old).unwrap_err(),
        Error::StaleWrap { kind: "password" }
    );
    w.state.check_wrap(&new).unwrap();
    // After a rotation, the previous epoch's wrap is stale too.
    w.revoke(0, 1);
    assert_eq!(w.state.check_wrap(&new).unwrap_err().class(), "stale_wrap");
    w.state
        .check_wrap(w.password_wraps.last().unwrap())
        .unwrap();
}

#[test]
fn a_spliced_entry_from_another_account() {
    let mut w = World::new(9);
    let mut other = World::new(10);
    w.add(0);
    other.add(0);
    other.snapshot(0);
    let spliced = other.log[2].clone();
    assert_eq!(
        w.state.clone().apply(&spliced).unwrap_err().class(),
        "wrong_account"
    );
}

#[test]
fn a_revoked_device_cannot_be_added_again() {
    let w = with_revoked();
    let again = w
        .state
        .add_device(&w.devices[0], w.root(), record(&w.devices[1], "back"), 0)
        .unwrap();
    assert_eq!(
        w.state.clone().apply(&again).unwrap_err().class(),
        "re_add_revoked"
    );
}

#[test]
fn the_link_history_records_who_added_and_revoked_whom() {
    let w = with_revoked();
    let lines: Vec<String> = w
        .state
        .history()
        .iter()
        .map(|h| match &h.what {
            keylink_account::HistoryAction::Created(d) => format!("created {}", d.name.as_str()),
            keylink_account::HistoryAction::Linked(d) => {
                format!("{} linked {}", h.actor, d.name.as_str())
            }
            keylink_account::HistoryAction::Revoked(d) => format!("{} revoked {d}", h.actor),
            keylink_account::HistoryAction::Rotated(e) => format!("epoch {e}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            "created device-0".to_string(),
            format!("{} linked device-1", w.id(0)),
            format!("{} linked device-2", w.id(0)),
            format!("{} revoked {}", w.id(0), w.id(1)),
            "epoch 1".to_string(),
        ]
    );
}
