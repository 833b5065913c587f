//! Random valid histories all verify, and every mutation of one is refused
//! with the right error (must-show 3: 1,000 histories per run).

use keylink_account::{LogState, sign_entry};
use keylink_keys::DeviceIdentity;
use keylink_wire::account::{Action, EntryBody};
use proptest::prelude::*;
use rand::RngExt;

use crate::support::{World, record};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_histories_verify_and_every_mutation_is_refused(seed in any::<u64>(), ops in 3usize..14) {
        let mut w = World::new(seed);
        w.random_history(ops);
        // The whole log verifies from genesis to the same head.
        let state = LogState::verify(&w.log).unwrap();
        prop_assert_eq!(state.head(), w.state.head());
        prop_assert_eq!(state.devices().len(), w.current().len());
        mutations(&mut w)?;
    }
}

fn mutations(w: &mut World) -> Result<(), TestCaseError> {
    let n = w.log.len();
    let head = w.state.head();
    let class = |log: &[keylink_wire::account::SignedEntry]| {
        LogState::verify_from_trusted(log, Some(&head))
            .err()
            .map(|e| e.class())
    };
    // Drop an interior entry: the sequence breaks. Drop the last: rollback.
    let i = w.rng.random_range(1..n);
    let mut dropped = w.log.clone();
    dropped.remove(i);
    let want = if i == n - 1 { "rollback" } else { "sequence" };
    prop_assert_eq!(class(&dropped), Some(want));
    // Reorder two neighbours.
    if n >= 3 {
        let i = w.rng.random_range(1..n - 1);
        let mut swapped = w.log.clone();
        swapped.swap(i, i + 1);
        prop_assert_eq!(class(&swapped), Some("sequence"));
    }
    // Replace a signature with another entry's.
    let i = w.rng.random_range(0..n);
    let j = (i + 1) % n;
    let mut forged = w.log.clone();
    forged[i] = forged[i]
        .clone()
        .with_signatures(*w.log[j].device_signature(), *w.log[i].account_signature());
    prop_assert_eq!(class(&forged), Some("device_signature"));
    let mut forged = w.log.clone();
    forged[i] = forged[i]
        .clone()
        .with_signatures(*w.log[i].device_signature(), *w.log[j].account_signature());
    prop_assert_eq!(class(&forged), Some("account_signature"));
    // Replay an older entry at the end.
    let mut replayed = w.log.clone();
    let old = w.rng.random_range(0..n);
    replayed.push(w.log[old].clone());
    let want = if old == 0 { "genesis" } else { "sequence" };
    prop_assert_eq!(class(&replayed), Some(want));
    // Splice an entry of another account in at the right position.
    let mut other = World::new(w.rng.random());
    other.random_history(n);
    if other.log.len() > n - 1 {
        let mut spliced = w.log.clone();
        spliced[n - 1] = other.log[n - 1].clone();
        prop_assert_eq!(class(&spliced), Some("wrong_account"));
    }
    // Revoked devices: cannot sign, cannot come back.
    let revoked: Vec<usize> = (0..w.devices.len())
        .filter(|&i| w.state.revoked_at(&w.id(i)).is_some())
        .collect();
    if let Some(&r) = revoked.first() {
        let by = w.current()[0];
        let body = w.next_body(
            &w.devices[r],
            Action::PasswordChanged {
                password_wrap_hash: [1; 32],
            },
        );
        let e = sign_entry(body, &w.devices[r], w.root());
        prop_assert_eq!(
            w.state.clone().apply(&e).unwrap_err().class(),
            "revoked_device"
        );
        let again = w
            .state
            .add_device(&w.devices[by], w.root(), record(&w.devices[r], "again"), 0)
            .unwrap();
        prop_assert_eq!(
            w.state.clone().apply(&again).unwrap_err().class(),
            "re_add_revoked"
        );
    }
    // Skip the rotation after a removal.
    if w.current().len() >= 2 {
        let c = w.current();
        let (by, target) = (c[0], c[1]);
        let remove = sign_entry(
            w.next_body(
                &w.devices[by],
                Action::RemoveDevice {
                    device: w.id(target),
                },
            ),
            &w.devices[by],
            w.root(),
        );
        let mut after = w.state.clone();
        after.apply(&remove).unwrap();
        let newcomer = DeviceIdentity::generate(&mut w.rng);
        let body = EntryBody {
            sequence: after.next_sequence(),
            prev_hash: after.head().hash,
            ..w.next_body(
                &w.devices[by],
                Action::AddDevice {
                    device: record(&newcomer, "early"),
                },
            )
        };
        let add = sign_entry(body, &w.devices[by], w.root());
        prop_assert_eq!(after.apply(&add).unwrap_err().class(), "rotation_required");
    }
    // Serve an old password wrap after it changed.
    if w.password_wraps.len() > 1 {
        let old = w.password_wraps[w.rng.random_range(0..w.password_wraps.len() - 1)].clone();
        prop_assert_eq!(w.state.check_wrap(&old).unwrap_err().class(), "stale_wrap");
    }
    w.state
        .check_wrap(w.password_wraps.last().unwrap())
        .unwrap();
    Ok(())
}
