//! A malicious relay over real QUIC: a QUIC server that speaks the relay
//! protocol (§15.10) but tampers with the frames it forwards. The devices
//! run the real client; the account lives on a real keylink server. Each
//! attack must end the link on both sides with a typed error, and nothing
//! may be appended before approval's welcome.

use std::sync::Arc;
use std::time::Duration;

use keylink_client::link::{
    LinkOptions, ServerInfo, ShowVia, finish_as_new, scan_as_existing, show_as_new,
};
use keylink_link::{LinkError, Timeouts};
use keylink_net::{EndpointLimits, ServerIdentity, read_frame, server_endpoint, write_frame};
use keylink_wire::Wire;
use keylink_wire::server::{Request, Response};
use tokio::sync::Mutex;

use crate::support::*;

/// What the relay does to the frame with this index (counted over both
/// directions, as the frames arrive).
#[derive(Clone, Copy, Debug)]
enum Tamper {
    /// Flip one bit in the middle.
    Flip(usize),
    /// Never forward it.
    Drop(usize),
    /// Send it back to where it came from instead.
    Reflect(usize),
    /// Forward it twice.
    Replay(usize),
}

type Half = (keylink_net::SendStream, keylink_net::RecvStream);

/// Start the evil relay; it serves one channel.
async fn evil_relay(tamper: Tamper) -> (ServerInfo, keylink_net::Endpoint) {
    let identity = ServerIdentity::generate().unwrap();
    let ep = server_endpoint(
        &identity,
        "127.0.0.1:0".parse().unwrap(),
        EndpointLimits::default(),
    )
    .unwrap();
    let info = ServerInfo::new(ep.local_addr().unwrap(), identity.fingerprint());
    let waiting: Arc<Mutex<Option<Half>>> = Arc::new(Mutex::new(None));
    let accept = ep.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            let waiting = waiting.clone();
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    let Ok(Some(frame)) = read_frame(&mut recv, 4096).await else {
                        continue;
                    };
                    match Request::decode(&frame) {
                        Ok(Request::RelayOpen) => {
                            let answer = Response::Channel {
                                channel: [7; 16],
                                expires_in_ms: 60_000,
                            };
                            let _ = write_frame(&mut send, &answer.encode()).await;
                            *waiting.lock().await = Some((send, recv));
                        }
                        Ok(Request::RelayJoin { .. }) => {
                            let _ =
                                write_frame(&mut send, &Response::Done { created: false }.encode())
                                    .await;
                            if let Some(opener) = waiting.lock().await.take() {
                                tokio::spawn(pump(opener, (send, recv), tamper));
                            }
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (info, ep)
}

/// Forward both ways, one frame at a time, tampering as told.
async fn pump(a: Half, b: Half, tamper: Tamper) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, Vec<u8>)>(16);
    let ((mut a_send, a_recv), (mut b_send, b_recv)) = (a, b);
    for (side, mut recv) in [(0usize, a_recv), (1, b_recv)] {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(f)) = read_frame(&mut recv, 65_536).await {
                if tx.send((side, f)).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut index = 0;
    while let Some((from, frame)) = rx.recv().await {
        let this = index;
        index += 1;
        let mut out: Vec<(usize, Vec<u8>)> = vec![(1 - from, frame.clone())];
        match tamper {
            Tamper::Flip(k) if k == this => {
                let mut f = frame;
                let mid = f.len() / 2;
                f[mid] ^= 0x08;
                out = vec![(1 - from, f)];
            }
            Tamper::Drop(k) if k == this => out.clear(),
            Tamper::Reflect(k) if k == this => out = vec![(from, frame)],
            Tamper::Replay(k) if k == this => out.push((1 - from, frame)),
            _ => {}
        }
        for (to, f) in out {
            let send = if to == 0 { &mut a_send } else { &mut b_send };
            let _ = write_frame(send, &f).await;
        }
    }
    let _ = a_send.finish();
    let _ = b_send.finish();
}

fn quick() -> LinkOptions {
    LinkOptions {
        timeouts: Timeouts {
            step: Duration::from_secs(1),
            approval: Duration::from_secs(1),
        },
        ..LinkOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampering_relay_over_quic_ends_the_link_on_both_sides() {
    // Frames: 0 hello (A→B), 1 confirmation (B→A), 2 join (B→A),
    // 3 welcome (A→B), 4 acknowledgement (B→A).
    for tamper in [
        Tamper::Flip(0),
        Tamper::Flip(2),
        Tamper::Reflect(1),
        Tamper::Replay(2),
        Tamper::Drop(1),
        Tamper::Flip(3),
    ] {
        let w = world().await;
        let mut a = create(&w.info, 90).await;
        let before = server_log(&w.info, &a).await.next_sequence();
        let (relay, _relay_ep) = evil_relay(tamper).await;
        let ep_b = endpoint();
        let opts = quick();
        let shown = show_as_new(&ep_b, ShowVia::Relay(relay), &opts)
            .await
            .unwrap();
        let code = shown.code_text().to_string();
        let (identity, device) = new_device(91, "laptop");
        let stored = std::sync::atomic::AtomicBool::new(false);
        let a_ep = a.endpoint.clone();
        let (ra, rb) = tokio::join!(
            scan_as_existing(&a_ep, &code, a.existing(), &opts, |_| async { true }),
            finish_as_new(&ep_b, shown, w.info.clone(), device, &opts, |_| {
                stored.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }),
        );
        let what = format!("{tamper:?}");
        let after = server_log(&w.info, &a).await.next_sequence();
        if let Tamper::Replay(_) = tamper {
            // A verbatim copy of the join can arrive after the person has
            // already approved: then the genuine device links (the log and
            // the key went to it), and the copy, which does not open as the
            // next frame, ends the existing device's side. Nothing reached
            // anyone else.
            match (&ra, &rb) {
                (_, Ok(linked)) => {
                    assert!(linked.log.is_current(&identity.device_id()), "{what}");
                    assert!(stored.load(std::sync::atomic::Ordering::SeqCst));
                    assert!(
                        matches!(ra, Ok(_) | Err(LinkError::NotAcknowledged)),
                        "{what}: {ra:?}"
                    );
                }
                (Err(_), Err(_)) => assert!(after == before || after == before + 1, "{what}"),
                (Ok(_), Err(e)) => panic!("{what}: existing linked, new failed: {e}"),
            }
            continue;
        }
        let ea = ra
            .err()
            .unwrap_or_else(|| panic!("{what}: the existing device linked"));
        let eb = rb
            .err()
            .unwrap_or_else(|| panic!("{what}: the new device linked"));
        assert!(
            !stored.load(std::sync::atomic::Ordering::SeqCst),
            "{what}: key stored"
        );
        if let Tamper::Flip(3) = tamper {
            // The welcome follows the append (it must): the entry is in
            // the log, the key never arrived, and A says so.
            assert_eq!(ea, LinkError::NotAcknowledged, "{what}");
            assert_eq!(after, before + 1, "{what}");
        } else {
            assert_eq!(after, before, "{what}: appended");
            assert!(!matches!(ea, LinkError::NotAcknowledged), "{what}: {ea:?}");
        }
        // Both sides end with a typed error, not a hang.
        assert!(!ea.to_string().is_empty() && !eb.to_string().is_empty());
    }
}
