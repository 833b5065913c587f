//! The malicious relay: every attack on every frame of a link, in both
//! directions. Frames are numbered as the relay sees them:
//! 0 hello, 1 shower's confirmation, 2 join request, 3 welcome (root key;
//! sent only after AddDevice is appended), 4 acknowledgement.

use keylink_link::{LinkError, Shower};

use crate::harness::{ATTACKS, Attack, Run, run};

const WELCOME: usize = 3;
const ACK: usize = 4;

#[test]
fn an_untouched_relay_links_both_ways() {
    for shower in [Shower::NewDevice, Shower::ExistingDevice] {
        let o = run(&Run::new(shower));
        assert_eq!(o.existing, Some(Ok(())), "{shower:?}");
        assert_eq!(o.new, Some(Ok(())), "{shower:?}");
        assert!(o.appended && o.welcomed);
        assert_eq!(o.seen.len(), 5);
        assert_eq!(o.sas.len(), 2);
        assert_eq!(o.sas[0], o.sas[1], "both devices show the same SAS");
    }
}

#[test]
fn every_attack_on_every_frame_aborts_both_sides() {
    let mut runs = 0;
    let mut harmless = 0;
    for shower in [Shower::NewDevice, Shower::ExistingDevice] {
        let clean = run(&Run::new(shower));
        for k in 0..clean.seen.len() {
            for attack in ATTACKS {
                let o = run(&Run {
                    attack: Some((k, attack)),
                    ..Run::new(shower)
                });
                runs += 1;
                let what = format!("{shower:?} frame {k} {attack:?}");
                // The root key never crosses the relay in the clear.
                let root = crate::harness::existing(&mut rand::SeedableRng::seed_from_u64(7))
                    .root
                    .expose_secret()
                    .to_vec();
                for f in &o.seen {
                    assert!(
                        !f.windows(root.len()).any(|w| w == root.as_slice()),
                        "{what}: root key visible to the relay"
                    );
                }
                let e = o
                    .existing
                    .clone()
                    .unwrap_or_else(|| panic!("{what}: existing device never finished"));
                let n = o
                    .new
                    .clone()
                    .unwrap_or_else(|| panic!("{what}: new device never finished"));
                if k == ACK && attack == Attack::Replay {
                    // The one harmless case: a copy of the last frame
                    // arrives after both finished, and is ignored.
                    assert_eq!((e, n), (Ok(()), Ok(())), "{what}");
                    harmless += 1;
                    continue;
                }
                assert!(e.is_err(), "{what}: existing device completed");
                if k < WELCOME {
                    // Before approval: nothing happened anywhere.
                    assert!(n.is_err(), "{what}: new device completed");
                    assert!(!o.appended, "{what}: AddDevice appended");
                    assert!(!o.welcomed, "{what}: root key sent");
                } else if k == WELCOME {
                    // The entry is in the log (the retry path of a crash),
                    // but the root key did not arrive.
                    assert!(o.appended);
                    assert!(!o.welcomed, "{what}: a tampered welcome was accepted");
                    assert!(n.is_err(), "{what}: new device completed");
                    assert!(
                        matches!(e, Err(LinkError::NotAcknowledged)),
                        "{what}: {e:?}"
                    );
                } else {
                    assert_eq!(k, ACK);
                    // The new device holds the key and is in the log; only
                    // the existing device's confirmation was attacked, and
                    // it reports that it was not acknowledged.
                    assert!(o.welcomed && o.appended);
                    assert_eq!(e, Err(LinkError::NotAcknowledged), "{what}");
                }
            }
        }
    }
    assert_eq!(runs, 2 * 5 * ATTACKS.len());
    assert_eq!(harmless, 2);
    println!(
        "{runs} attacked links: {} aborted on both sides, {harmless} harmless",
        runs - harmless
    );
}

#[test]
fn a_wrong_secret_gets_one_attempt_and_tells_both() {
    for shower in [Shower::NewDevice, Shower::ExistingDevice] {
        let o = run(&Run {
            wrong_secret: true,
            ..Run::new(shower)
        });
        let (shower_result, scanner_result) = match shower {
            Shower::NewDevice => (o.new.clone(), o.existing.clone()),
            Shower::ExistingDevice => (o.existing.clone(), o.new.clone()),
        };
        assert_eq!(shower_result, Some(Err(LinkError::ConfirmationFailed)));
        assert_eq!(
            scanner_result,
            Some(Err(LinkError::PeerAborted(
                keylink_wire::link::AbortReason::ConfirmationFailed
            )))
        );
        assert!(!o.appended && !o.welcomed);
        // Only the hello and the abort crossed.
        assert_eq!(o.seen.len(), 2);
    }
}

#[test]
fn reflection_and_injection_fail_with_the_errors_that_name_them() {
    let o = run(&Run {
        attack: Some((2, Attack::Inject)),
        ..Run::new(Shower::NewDevice)
    });
    assert_eq!(o.existing, Some(Err(LinkError::Tampered)));
    let o = run(&Run {
        attack: Some((0, Attack::Inject)),
        ..Run::new(Shower::NewDevice)
    });
    assert_eq!(o.new, Some(Err(LinkError::ConfirmationFailed)));
    let o = run(&Run {
        attack: Some((1, Attack::Reflect)),
        ..Run::new(Shower::NewDevice)
    });
    assert!(matches!(o.new, Some(Err(LinkError::Unexpected { .. }))));
}
