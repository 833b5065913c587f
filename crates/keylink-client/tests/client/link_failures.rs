//! Must-show 3 over real QUIC: a wrong secret (one attempt, then the
//! channel is gone), expired and reused codes, a decline, the existing
//! device going offline mid-handshake, the new device failing after
//! AddDevice and retrying, and two new devices racing.

use std::sync::Arc;
use std::time::Duration;

use keylink_client::link::{ShowVia, finish_as_new, scan_as_existing, show_as_new};
use keylink_link::{CodeError, LinkCode, LinkError, NewDevice};
use keylink_server::ServerConfig;
use keylink_wire::account::DeviceName;
use keylink_wire::link::AbortReason;

use crate::link_e2e::{Mode, link, link_device};
use crate::support::*;

fn approve_all(_: keylink_link::JoinInfo) -> std::future::Ready<bool> {
    std::future::ready(true)
}

async fn log_len(w: &World, a: &Member) -> u64 {
    server_log(&w.info, a).await.next_sequence()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_gets_one_attempt_then_the_channel_is_gone() {
    let w = world().await;
    let mut a = create(&w.info, 10).await;
    let before = log_len(&w, &a).await;
    let ep_b = endpoint();
    let opts = options();
    let shown = show_as_new(&ep_b, ShowVia::Relay(w.info.clone()), &opts)
        .await
        .unwrap();
    let right = shown.code_text().to_string();
    let c = LinkCode::parse(&right).unwrap();
    let mut s = *c.secret().expose_secret();
    s[5] ^= 0x40;
    let wrong = LinkCode::new(
        c.shower(),
        *c.rendezvous(),
        *c.ephemeral(),
        LinkCode::secret_from_bytes(s),
        c.expires_at(),
    )
    .unwrap()
    .to_text()
    .to_string();
    let (_, device) = new_device(11, "laptop");
    let a_ep = a.endpoint.clone();
    let (ra, rb) = tokio::join!(
        scan_as_existing(&a_ep, &wrong, a.existing(), &opts, approve_all),
        finish_as_new(&ep_b, shown, w.info.clone(), device, &opts, |_| Ok(())),
    );
    assert_eq!(
        ra.unwrap_err(),
        LinkError::PeerAborted(AbortReason::ConfirmationFailed)
    );
    assert_eq!(rb.unwrap_err(), LinkError::ConfirmationFailed);
    // The right code no longer works: the channel was used.
    let again = scan_as_existing(&a_ep, &right, a.existing(), &opts, approve_all).await;
    assert_eq!(again.unwrap_err(), LinkError::CodeSpent);
    assert_eq!(log_len(&w, &a).await, before, "nothing appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_codes_are_refused_by_the_scanner_and_by_the_relay() {
    let w = world_with(ServerConfig {
        relay_ttl: Duration::from_millis(400),
        ..ServerConfig::default()
    })
    .await;
    let mut a = create(&w.info, 20).await;
    let before = log_len(&w, &a).await;
    let ep_b = endpoint();
    let opts = options();
    // The code's own expiry, checked before connecting.
    let shown = show_as_new(&ep_b, ShowVia::Relay(w.info.clone()), &opts)
        .await
        .unwrap();
    let c = LinkCode::parse(shown.code_text()).unwrap();
    let old = LinkCode::new(
        c.shower(),
        *c.rendezvous(),
        *c.ephemeral(),
        c.secret().clone(),
        1_000_000_000,
    )
    .unwrap()
    .to_text()
    .to_string();
    let a_ep = a.endpoint.clone();
    let r = scan_as_existing(&a_ep, &old, a.existing(), &opts, approve_all).await;
    assert_eq!(r.unwrap_err(), LinkError::Code(CodeError::Expired));
    // The relay's expiry: the channel is gone after its lifetime, even for
    // a code that claims a later expiry (a device with a wrong clock), and
    // the showing device gives up at the same time.
    let code = LinkCode::new(
        c.shower(),
        *c.rendezvous(),
        *c.ephemeral(),
        c.secret().clone(),
        u32::MAX,
    )
    .unwrap()
    .to_text()
    .to_string();
    let (_, device) = new_device(21, "laptop");
    let info = w.info.clone();
    let b = tokio::spawn(async move {
        finish_as_new(&ep_b, shown, info, device, &options(), |_| Ok(())).await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = scan_as_existing(&a_ep, &code, a.existing(), &opts, approve_all).await;
    assert_eq!(r.unwrap_err(), LinkError::CodeSpent);
    assert_eq!(b.await.unwrap().unwrap_err(), LinkError::CodeSpent);
    assert_eq!(log_len(&w, &a).await, before, "nothing appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_code_cannot_link_again() {
    let w = world().await;
    let mut a = create(&w.info, 30).await;
    let opts = options();
    for direct in [false, true] {
        let ep_b = endpoint();
        let lo = "127.0.0.1:0".parse().unwrap();
        let via = if direct {
            ShowVia::Direct {
                bind: lo,
                advertise: lo,
            }
        } else {
            ShowVia::Relay(w.info.clone())
        };
        let shown = show_as_new(&ep_b, via, &opts).await.unwrap();
        let code = shown.code_text().to_string();
        let (_, device) = new_device(31 + u64::from(direct), "laptop");
        let a_ep = a.endpoint.clone();
        let (ra, rb) = tokio::join!(
            scan_as_existing(&a_ep, &code, a.existing(), &opts, approve_all),
            finish_as_new(&ep_b, shown, w.info.clone(), device, &opts, |_| Ok(())),
        );
        ra.unwrap();
        rb.unwrap();
        let before = log_len(&w, &a).await;
        // Short steps: a direct listener that is gone does not answer, and
        // the scanner gives up after one step.
        let quick = keylink_client::LinkOptions {
            timeouts: keylink_link::Timeouts {
                step: Duration::from_secs(1),
                approval: Duration::from_secs(1),
            },
            ..options()
        };
        let again = scan_as_existing(&a_ep, &code, a.existing(), &quick, approve_all).await;
        let expected = if direct {
            // The one-time listener is gone: nothing answers, and the
            // scanner gives up after one step.
            LinkError::Timeout
        } else {
            LinkError::CodeSpent
        };
        assert_eq!(again.unwrap_err(), expected, "direct={direct}");
        assert_eq!(log_len(&w, &a).await, before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_link_changes_nothing() {
    let w = world().await;
    let mut a = create(&w.info, 40).await;
    let before = log_len(&w, &a).await;
    for reverse in [false, true] {
        let p = link(&w, &mut a, Mode::Relay, reverse, 41, false, |_| Ok(())).await;
        assert_eq!(p.existing.unwrap_err(), LinkError::Declined);
        assert_eq!(p.new.unwrap_err(), LinkError::Declined);
    }
    assert_eq!(log_len(&w, &a).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_existing_device_going_offline_mid_handshake_changes_nothing() {
    let w = world().await;
    let mut a = create(&w.info, 50).await;
    let before = log_len(&w, &a).await;
    let ep_b = endpoint();
    let opts = options();
    let shown = show_as_new(&ep_b, ShowVia::Relay(w.info.clone()), &opts)
        .await
        .unwrap();
    let code = shown.code_text().to_string();
    let (_, device) = new_device(51, "laptop");
    let (asked, asked_rx) = tokio::sync::oneshot::channel();
    let a_ep = a.endpoint.clone();
    // The person is being asked when the phone dies.
    let a_side = async {
        let approve = move |_| async move {
            let _ = asked.send(());
            std::future::pending::<bool>().await
        };
        tokio::select! {
            r = scan_as_existing(&a_ep, &code, a.existing(), &opts, approve) => Some(r),
            _ = asked_rx => None,
        }
    };
    let started = std::time::Instant::now();
    let (ra, rb) = tokio::join!(a_side, async {
        finish_as_new(&ep_b, shown, w.info.clone(), device, &opts, |_| Ok(())).await
    });
    assert!(ra.is_none(), "the existing device was cut off while asking");
    assert_eq!(rb.unwrap_err(), LinkError::Closed);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(log_len(&w, &a).await, before, "nothing appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_that_fails_after_add_device_retries_without_a_second_entry() {
    let w = world().await;
    let mut a = create(&w.info, 60).await;
    let (identity, device) = new_device(61, "laptop");
    // The key store fails (the app died, the disk is full) after the
    // AddDevice entry is in the log, before the key is kept.
    let p = link_device(
        &w,
        &mut a,
        Mode::Relay,
        false,
        identity.clone(),
        device,
        true,
        |_| Err("simulated crash before the key was written".into()),
    )
    .await;
    assert!(matches!(p.new.unwrap_err(), LinkError::StoreFailed(_)));
    assert_eq!(p.existing.unwrap_err(), LinkError::NotAcknowledged);
    let after_first = log_len(&w, &a).await;
    assert!(
        server_log(&w.info, &a)
            .await
            .is_current(&identity.device_id())
    );
    // The retry: same identity (the client keeps it before linking), a
    // new code. The existing device finds the entry and appends nothing.
    let device = NewDevice {
        identity: identity.clone(),
        name: DeviceName::new("laptop").unwrap(),
        known_head: None,
    };
    let p = link_device(
        &w,
        &mut a,
        Mode::Relay,
        false,
        identity.clone(),
        device,
        true,
        |_| Ok(()),
    )
    .await;
    assert_eq!(p.existing.unwrap(), identity.device_id());
    let linked = p.new.unwrap();
    assert_eq!(log_len(&w, &a).await, after_first, "no second AddDevice");
    assert_eq!(linked.log.devices().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_new_devices_racing_both_link() {
    let w = world().await;
    let mut a = create(&w.info, 70).await;
    let mut a2 = a.twin(&w.info).await;
    let (w1, w2) = (&w, &w);
    let (p, q) = tokio::join!(
        link(w1, &mut a, Mode::Relay, false, 71, true, |_| Ok(())),
        link(w2, &mut a2, Mode::Relay, false, 72, true, |_| Ok(())),
    );
    p.existing.unwrap();
    q.existing.unwrap();
    let (lp, lq) = (p.new.unwrap(), q.new.unwrap());
    let log = server_log(&w.info, &a).await;
    assert_eq!(log.devices().len(), 3);
    assert!(log.is_current(&p.identity.device_id()) && log.is_current(&q.identity.device_id()));
    // One of them was appended on top of the other (compare-and-swap).
    assert_eq!(log.next_sequence(), 3);
    assert!(lp.log.devices().len() >= 2 && lq.log.devices().len() >= 2);
    let _ = Arc::clone(&p.identity);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_that_saw_another_history_is_refused_before_any_append() {
    let w = world().await;
    let mut a = create(&w.info, 80).await;
    let before = log_len(&w, &a).await;
    let (identity, _) = new_device(81, "laptop");
    // The new device trusts a head at sequence 0 that is not this log's:
    // someone showed it a different history.
    let device = NewDevice {
        identity: identity.clone(),
        name: DeviceName::new("laptop").unwrap(),
        known_head: Some(keylink_account::Head {
            sequence: 0,
            hash: [0x5a; 32],
        }),
    };
    let stored = std::sync::atomic::AtomicBool::new(false);
    let p = link_device(
        &w,
        &mut a,
        Mode::Relay,
        false,
        identity,
        device,
        true,
        |_| {
            stored.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        },
    )
    .await;
    assert_eq!(p.existing.unwrap_err(), LinkError::Fork);
    assert_eq!(
        p.new.unwrap_err(),
        LinkError::PeerAborted(AbortReason::Fork)
    );
    assert!(
        !stored.load(std::sync::atomic::Ordering::SeqCst),
        "nothing stored"
    );
    assert_eq!(log_len(&w, &a).await, before, "nothing appended");
}
