//! Account-log vectors: valid logs and logs that break one rule each.
//!
//! Logs are built with the real builders from a seeded RNG; invalid ones
//! are made by re-signing a modified body (so only the intended rule is
//! broken) or by reordering, dropping or splicing whole entries.

use keylink_account::{Head, LogState, RotationWraps, genesis, sign_entry};
use keylink_keys::{
    AccountId, DeviceIdentity, Epoch, KdfParams, KeyWrap, Password, RecoveryKey, RootKey, SealedBox,
};
use keylink_wire::Wire;
use keylink_wire::account::{Action, DeviceName, DeviceRecord, EntryBody, SealedKey, SignedEntry};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use serde_json::{Value, json};

use crate::{Gen, Want, h};

const TINY: KdfParams = KdfParams::insecure_for_tests(8, 1, 1);

/// One account, built entry by entry through the real builders.
struct Acc {
    rng: ChaCha20Rng,
    account: AccountId,
    devices: Vec<DeviceIdentity>,
    roots: Vec<RootKey>,
    log: Vec<SignedEntry>,
    state: LogState,
    password: Password,
    wraps: Vec<KeyWrap>,
    t: u64,
}

impl Acc {
    fn new(seed: u64, with_recovery: bool) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let account = AccountId::generate(&mut rng);
        let d0 = DeviceIdentity::generate(&mut rng);
        let root = RootKey::generate(Epoch(0), &mut rng);
        let password = Password::new("vector password").unwrap();
        let wrap = KeyWrap::seal_password(&root, &account, &password, TINY, &mut rng).unwrap();
        let rwrap = with_recovery.then(|| {
            let key = RecoveryKey::generate(&mut rng);
            KeyWrap::seal_recovery(&root, &account, &key, &mut rng).unwrap()
        });
        let g = genesis(
            account,
            &d0,
            DeviceName::new("phone").unwrap(),
            &root,
            &wrap,
            rwrap.as_ref(),
            1_700_000_000_000,
        );
        let state = LogState::verify(std::slice::from_ref(&g)).unwrap();
        Self {
            rng,
            account,
            devices: vec![d0],
            roots: vec![root],
            log: vec![g],
            state,
            password,
            wraps: vec![wrap],
            t: 1_700_000_000_000,
        }
    }

    fn root(&self) -> &RootKey {
        self.roots.last().unwrap()
    }

    fn push(&mut self, e: SignedEntry) {
        self.state.apply(&e).unwrap();
        self.log.push(e);
        self.t += 60_000;
    }

    fn add(&mut self, by: usize, name: &str) -> usize {
        let d = DeviceIdentity::generate(&mut self.rng);
        let rec = DeviceRecord {
            keys: d.public_keys(),
            name: DeviceName::new(name).unwrap(),
        };
        let e = self
            .state
            .add_device(&self.devices[by], self.root(), rec, self.t)
            .unwrap();
        self.devices.push(d);
        self.push(e);
        self.devices.len() - 1
    }

    fn snapshot(&mut self, by: usize, seq: u64) {
        let e = self
            .state
            .snapshot_head(
                &self.devices[by],
                self.root(),
                [seq as u8; 32],
                seq,
                [0xaa; 32],
                self.t,
            )
            .unwrap();
        self.push(e);
    }

    fn rotate(&mut self, by: usize, target: Option<usize>) {
        let older: Vec<RootKey> = self.roots[..self.roots.len() - 1]
            .iter()
            .map(RootKey::duplicate)
            .collect();
        let wraps = RotationWraps {
            password: Some((&self.password, TINY)),
            recovery: None,
        };
        let root = self.roots.last().unwrap();
        let r = match target {
            Some(t) => self.state.revoke(
                &self.devices[by],
                root,
                &older,
                self.devices[t].device_id(),
                wraps,
                self.t,
                &mut self.rng,
            ),
            None => self.state.rotate(
                &self.devices[by],
                root,
                &older,
                wraps,
                self.t,
                &mut self.rng,
            ),
        }
        .unwrap();
        for e in r.entries {
            self.push(e);
        }
        self.roots.push(r.root);
        self.wraps.push(r.password_wrap.unwrap());
    }

    /// The next body in the current state, by device `by`.
    fn body(&self, by: &DeviceIdentity, action: Action) -> EntryBody {
        EntryBody {
            account: self.account,
            sequence: self.state.next_sequence(),
            prev_hash: self.state.head().hash,
            epoch: self.state.epoch(),
            timestamp_ms: self.t,
            actor: by.device_id(),
            action,
        }
    }

    fn signed(&self, body: EntryBody, by: &DeviceIdentity) -> SignedEntry {
        sign_entry(body, by, self.root())
    }
}

fn entries(log: &[SignedEntry]) -> Value {
    json!(log.iter().map(|e| h(&e.encode())).collect::<Vec<_>>())
}

fn record(d: &DeviceIdentity, name: &str) -> DeviceRecord {
    DeviceRecord {
        keys: d.public_keys(),
        name: DeviceName::new(name).unwrap(),
    }
}

pub(crate) fn generate(g: &mut Gen) {
    let verify = |g: &mut Gen, name: &str, log: &[SignedEntry], want: Want, comment: &str| {
        g.add(
            name,
            "log_verify",
            json!({"entries": entries(log)}),
            want,
            comment,
        );
    };

    // Valid logs.
    let a = Acc::new(1, false);
    verify(
        g,
        "log_genesis_only",
        &a.log,
        Want::Ok,
        "A new account: genesis by its first device, epoch 0.",
    );
    let a = Acc::new(2, true);
    verify(
        g,
        "log_genesis_with_recovery_wrap",
        &a.log,
        Want::Ok,
        "Genesis recording both wrap hashes.",
    );
    let mut a = Acc::new(3, false);
    a.add(0, "laptop");
    a.add(1, "tablet");
    verify(
        g,
        "log_two_devices_linked",
        &a.log,
        Want::Ok,
        "The phone links a laptop, the laptop links a tablet.",
    );
    a.snapshot(0, 1);
    a.snapshot(1, 1);
    a.snapshot(0, 2);
    verify(
        g,
        "log_snapshot_heads",
        &a.log,
        Want::Ok,
        "Snapshot heads from two devices, each strictly increasing.",
    );
    let mut b = Acc::new(4, false);
    b.add(0, "laptop");
    let wrap = KeyWrap::seal_password(
        b.roots.last().unwrap(),
        &b.account,
        &b.password,
        TINY,
        &mut b.rng,
    )
    .unwrap();
    let e = b
        .state
        .password_changed(&b.devices[1], b.root(), &wrap, b.t)
        .unwrap();
    b.push(e);
    b.wraps.push(wrap);
    verify(
        g,
        "log_password_changed",
        &b.log,
        Want::Ok,
        "The laptop records a new password wrap.",
    );
    let key = RecoveryKey::generate(&mut b.rng);
    let rwrap =
        KeyWrap::seal_recovery(b.roots.last().unwrap(), &b.account, &key, &mut b.rng).unwrap();
    let e = b
        .state
        .recovery_key_changed(&b.devices[0], b.root(), &rwrap, b.t)
        .unwrap();
    b.push(e);
    verify(
        g,
        "log_recovery_key_changed",
        &b.log,
        Want::Ok,
        "A new recovery wrap is recorded.",
    );
    let mut c = Acc::new(5, false);
    c.add(0, "laptop");
    c.add(0, "old phone");
    c.rotate(0, Some(2));
    verify(
        g,
        "log_revoke_and_rotate",
        &c.log,
        Want::Ok,
        "RemoveDevice then Rotate: epoch 1 sealed to the two remaining devices.",
    );
    c.rotate(1, None);
    verify(
        g,
        "log_two_rotations",
        &c.log,
        Want::Ok,
        "A second, voluntary rotation: epoch 2 carries epochs 0 and 1 in its history.",
    );
    let mut d = Acc::new(6, false);
    let newcomer = DeviceIdentity::generate(&mut d.rng);
    let e = d
        .state
        .recover(
            &newcomer,
            DeviceName::new("new phone").unwrap(),
            d.root(),
            d.t,
        )
        .unwrap();
    d.push(e);
    d.devices.push(newcomer);
    verify(
        g,
        "log_recover",
        &d.log,
        Want::Ok,
        "A device that opened the root key with the password adds itself.",
    );

    // Heads and comparisons.
    let trusted = Head {
        sequence: 2,
        hash: a.log[2].hash(),
    };
    g.add(
        "log_trusted_head_contained",
        "log_verify",
        json!({"entries": entries(&a.log), "trusted_head": h(&trusted.to_bytes())}),
        Want::Ok,
        "The log contains the head this device remembered (entry 2).",
    );
    let newest = a.state.head();
    g.add(
        "log_rollback_against_trusted_head",
        "log_verify",
        json!({"entries": entries(&a.log[..3]), "trusted_head": h(&newest.to_bytes())}),
        Want::Err("rollback"),
        "The server serves an older, shorter log than the device already verified.",
    );
    let mut fork = Acc::new(3, false);
    fork.add(0, "laptop");
    fork.add(1, "tablet");
    fork.snapshot(1, 1);
    let head3 = Head {
        sequence: 3,
        hash: a.log[3].hash(),
    };
    g.add(
        "log_fork_against_trusted_head",
        "log_verify",
        json!({"entries": entries(&fork.log), "trusted_head": h(&head3.to_bytes())}),
        Want::Err("fork"),
        "Same account and prefix, but entry 3 differs from the one the device remembered.",
    );
    g.add(
        "compare_logs_same",
        "compare_logs",
        json!({"a": entries(&a.log), "b": entries(&a.log)}),
        Want::Ok,
        "Identical logs.",
    );
    g.add(
        "compare_logs_ahead",
        "compare_logs",
        json!({"a": entries(&a.log), "b": entries(&a.log[..2])}),
        Want::Ok,
        "The second is a prefix of the first.",
    );
    g.add(
        "compare_logs_fork",
        "compare_logs",
        json!({"a": entries(&a.log), "b": entries(&fork.log)}),
        Want::Err("fork"),
        "Two devices were shown different continuations of one log.",
    );

    // Wraps.
    let entries_b = entries(&b.log);
    g.add(
        "wrap_check_current",
        "wrap_check",
        json!({"entries": entries_b, "wrap": h(&b.wraps[1].to_bytes())}),
        Want::Ok,
        "The password wrap the server serves is the one the log records.",
    );
    g.add(
        "wrap_check_stale_after_password_changed",
        "wrap_check",
        json!({"entries": entries(&b.log), "wrap": h(&b.wraps[0].to_bytes())}),
        Want::Err("stale_wrap"),
        "The server serves the password wrap from before PasswordChanged.",
    );
    g.add(
        "wrap_check_stale_after_rotation",
        "wrap_check",
        json!({"entries": entries(&c.log), "wrap": h(&c.wraps[1].to_bytes())}),
        Want::Err("stale_wrap"),
        "Epoch 1's wrap after the rotation to epoch 2.",
    );

    invalid(g, &a, &c);
}

fn invalid(g: &mut Gen, a: &Acc, c: &Acc) {
    let bad =
        |g: &mut Gen, name: &str, log: Vec<SignedEntry>, want: &'static str, comment: &str| {
            g.add(
                name,
                "log_verify",
                json!({"entries": entries(&log)}),
                Want::Err(want),
                comment,
            );
        };
    bad(g, "log_empty", vec![], "empty", "No entries at all.");
    bad(
        g,
        "log_first_entry_not_genesis",
        a.log[1..].to_vec(),
        "genesis",
        "The log starts at an AddDevice.",
    );
    let mut twice = a.log.clone();
    twice.push(a.log[0].clone());
    bad(
        g,
        "log_genesis_replayed",
        twice,
        "genesis",
        "Genesis appended again at the end.",
    );
    let mut dropped = a.log.clone();
    dropped.remove(2);
    bad(
        g,
        "log_dropped_entry",
        dropped,
        "sequence",
        "Entry 2 removed from the middle.",
    );
    let mut swapped = a.log.clone();
    swapped.swap(2, 3);
    bad(
        g,
        "log_reordered",
        swapped,
        "sequence",
        "Entries 2 and 3 swapped.",
    );
    let mut replayed = a.log.clone();
    replayed.push(a.log[3].clone());
    bad(
        g,
        "log_replayed_entry",
        replayed,
        "sequence",
        "Entry 3 appended again.",
    );

    // Re-signed bodies: each breaks one rule with valid signatures.
    let mut x = Acc::new(3, false);
    x.add(0, "laptop");
    let resign = |x: &Acc, f: &dyn Fn(&mut EntryBody), by: usize| {
        let mut body = x.body(
            &x.devices[by],
            Action::PasswordChanged {
                password_wrap_hash: [3; 32],
            },
        );
        f(&mut body);
        let mut log = x.log.clone();
        log.push(x.signed(body, &x.devices[by]));
        log
    };
    bad(
        g,
        "log_broken_chain",
        resign(&x, &|b| b.prev_hash = [0x11; 32], 0),
        "broken_chain",
        "prev_hash does not name the entry before (re-signed, so only the chain is wrong).",
    );
    bad(
        g,
        "log_wrong_epoch",
        resign(&x, &|b| b.epoch = Epoch(1), 0),
        "epoch",
        "An entry that claims epoch 1 without a rotation.",
    );
    bad(
        g,
        "log_wrong_account",
        resign(&x, &|b| b.account = AccountId::from_bytes([7; 16]), 0),
        "wrong_account",
        "An entry naming another account id.",
    );
    let mut tampered = x.log.clone();
    let last = tampered.pop().unwrap();
    let mut body = last.body_bytes().to_vec();
    let n = body.len();
    body[n - 2] ^= 1;
    tampered.push(last.clone().with_body_bytes(body).unwrap());
    bad(
        g,
        "log_body_changed_after_signing",
        tampered,
        "device_signature",
        "One byte of the last body changed; the signatures no longer cover it.",
    );
    let mut forged = x.log.clone();
    let last = forged.pop().unwrap();
    forged.push(
        last.clone()
            .with_signatures(*last.device_signature(), *x.log[0].account_signature()),
    );
    bad(
        g,
        "log_bad_account_signature",
        forged,
        "account_signature",
        "The account signature of another entry.",
    );
    let mut swapped_sigs = x.log.clone();
    let last = swapped_sigs.pop().unwrap();
    swapped_sigs.push(
        last.clone()
            .with_signatures(*last.account_signature(), *last.device_signature()),
    );
    bad(
        g,
        "log_signatures_swapped",
        swapped_sigs,
        "device_signature",
        "Device and account signatures swapped: their contexts differ.",
    );

    let stranger = DeviceIdentity::generate(&mut ChaCha20Rng::seed_from_u64(77));
    let mut log = x.log.clone();
    log.push(sign_entry(
        x.body(
            &stranger,
            Action::PasswordChanged {
                password_wrap_hash: [1; 32],
            },
        ),
        &stranger,
        x.root(),
    ));
    bad(
        g,
        "log_signed_by_unknown_device",
        log,
        "unknown_device",
        "Signed by a device that was never added, even with the root key.",
    );
    let mut log = x.log.clone();
    log.push(x.signed(
        x.body(
            &x.devices[0],
            Action::AddDevice {
                device: record(&x.devices[1], "twin"),
            },
        ),
        &x.devices[0],
    ));
    bad(
        g,
        "log_duplicate_device",
        log,
        "duplicate_device",
        "The laptop added a second time.",
    );
    let mut log = x.log.clone();
    log.push(x.signed(
        x.body(
            &x.devices[0],
            Action::RemoveDevice {
                device: stranger.device_id(),
            },
        ),
        &x.devices[0],
    ));
    bad(
        g,
        "log_remove_not_current",
        log,
        "remove_not_current",
        "Removing a device that was never added.",
    );
    let solo = Acc::new(8, false);
    let mut log = solo.log.clone();
    log.push(solo.signed(
        solo.body(
            &solo.devices[0],
            Action::RemoveDevice {
                device: solo.devices[0].device_id(),
            },
        ),
        &solo.devices[0],
    ));
    bad(
        g,
        "log_remove_last_device",
        log,
        "remove_last",
        "The only device removes itself.",
    );
    let newcomer = DeviceIdentity::generate(&mut ChaCha20Rng::seed_from_u64(78));
    let mut log = x.log.clone();
    let mut body = x.body(
        &x.devices[0],
        Action::Recover {
            device: record(&newcomer, "new"),
        },
    );
    body.actor = x.devices[0].device_id();
    log.push(x.signed(body, &x.devices[0]));
    bad(
        g,
        "log_recover_actor_mismatch",
        log,
        "actor_mismatch",
        "A Recover whose actor is not the recovering device.",
    );
    let mut s = Acc::new(9, false);
    s.snapshot(0, 5);
    let mut log = s.log.clone();
    log.push(
        s.state
            .snapshot_head(&s.devices[0], s.root(), [1; 32], 5, [2; 32], s.t)
            .unwrap(),
    );
    bad(
        g,
        "log_snapshot_regression",
        log,
        "snapshot_regression",
        "A snapshot head with the same sequence as the last one.",
    );

    // Revocation rules.
    let revoked = &c.devices[2];
    let mut log = c.log.clone();
    log.push(sign_entry(
        c.body(
            revoked,
            Action::PasswordChanged {
                password_wrap_hash: [1; 32],
            },
        ),
        revoked,
        c.root(),
    ));
    bad(
        g,
        "log_signed_by_revoked_device",
        log,
        "revoked_device",
        "The revoked device signs, even with the new root key.",
    );
    let mut log = c.log.clone();
    log.push(c.signed(
        c.body(
            &c.devices[0],
            Action::AddDevice {
                device: record(revoked, "back again"),
            },
        ),
        &c.devices[0],
    ));
    bad(
        g,
        "log_revoked_device_added_again",
        log,
        "re_add_revoked",
        "The revoked device is added back.",
    );
    let mut r = Acc::new(10, false);
    r.add(0, "laptop");
    r.add(0, "old phone");
    let remove = r.signed(
        r.body(
            &r.devices[0],
            Action::RemoveDevice {
                device: r.devices[2].device_id(),
            },
        ),
        &r.devices[0],
    );
    r.push(remove);
    let mut log = r.log.clone();
    log.push(
        r.state
            .snapshot_head(&r.devices[1], r.root(), [1; 32], 1, [1; 32], r.t)
            .unwrap(),
    );
    bad(
        g,
        "log_removal_without_rotation",
        log,
        "rotation_required",
        "A snapshot head after a removal, before the rotation.",
    );
    let rotation = r
        .state
        .rotate(
            &r.devices[0],
            r.roots.last().unwrap(),
            &[],
            RotationWraps {
                password: None,
                recovery: None,
            },
            r.t,
            &mut r.rng,
        )
        .unwrap();
    let mut body = rotation.entries[0].body().clone();
    let Action::Rotate { sealed, .. } = &mut body.action else {
        unreachable!()
    };
    let leak = SealedBox::seal_root_key(
        &rotation.root,
        &r.devices[2].public_keys(),
        &r.account,
        &mut r.rng,
    )
    .unwrap();
    sealed.push(SealedKey {
        recipient: r.devices[2].device_id(),
        sealed: leak,
    });
    let mut log = r.log.clone();
    log.push(sign_entry(body.clone(), &r.devices[0], &rotation.root));
    bad(
        g,
        "log_root_key_sealed_to_removed_device",
        log,
        "sealed_to_non_current",
        "The rotation also seals the new key to the removed device.",
    );
    let Action::Rotate { sealed, .. } = &mut body.action else {
        unreachable!()
    };
    sealed.retain(|k| k.recipient == r.devices[0].device_id());
    let mut log = r.log.clone();
    log.push(sign_entry(body, &r.devices[0], &rotation.root));
    bad(
        g,
        "log_rotation_missing_a_device",
        log,
        "sealed_key_count",
        "The rotation leaves the laptop without the new key.",
    );
    let mut log = r.log.clone();
    log.push(sign_entry(
        rotation.entries[0].body().clone(),
        &r.devices[0],
        r.root(),
    ));
    bad(
        g,
        "log_rotation_signed_with_old_key",
        log,
        "account_signature",
        "The rotation is signed with the old epoch's account key, not the new one.",
    );

    let mut body = rotation.entries[0].body().clone();
    let Action::Rotate {
        account_public_key, ..
    } = &mut body.action
    else {
        unreachable!()
    };
    *account_public_key = r.root().account_signing_key(&r.account).public_key();
    let mut log = r.log.clone();
    log.push(sign_entry(body, &r.devices[0], r.root()));
    bad(
        g,
        "log_rotation_reuses_old_key",
        log,
        "reused_account_key",
        "The rotation names epoch 0's account key again: the revoked device would still hold the key.",
    );

    // Wire.
    let mut raw = entries(&a.log);
    let first = raw[0].as_str().unwrap().to_string();
    raw[0] = json!(first[..first.len() - 2].to_string());
    g.add(
        "log_entry_truncated",
        "log_verify",
        json!({"entries": raw}),
        Want::Err("wire"),
        "The genesis entry's bytes cut short by one byte.",
    );
}
