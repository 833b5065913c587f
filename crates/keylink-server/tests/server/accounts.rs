//! Accounts, appends (compare-and-swap), revocation, objects, wraps.

use keylink_account::LogState;
use keylink_keys::KeyWrap;
use keylink_wire::Wire;
use keylink_wire::account::SignedEntry;
use keylink_wire::server::{FailureCode, Request, Response};

use crate::support::{Account, config, start, start_with_store};

#[tokio::test]
async fn an_account_is_created_and_its_log_and_wraps_are_served() {
    let h = start(config()).await;
    let acct = Account::create(&h, 1).await;
    let c = h.client().await;
    let raw = c.fetch_log(&acct.id, 0).await.unwrap();
    let entries: Vec<SignedEntry> = raw
        .iter()
        .map(|b| SignedEntry::decode(b).unwrap())
        .collect();
    let state = LogState::verify(&entries).unwrap();
    assert_eq!(state.head(), acct.log.head());
    let Response::Wraps {
        password_wrap,
        recovery_wrap,
    } = c
        .request(&Request::GetWraps { account: acct.id })
        .await
        .unwrap()
    else {
        panic!("wraps expected")
    };
    assert!(recovery_wrap.is_none());
    let wrap = KeyWrap::from_bytes(&password_wrap).unwrap();
    state.check_wrap(&wrap).unwrap();
    // Creating it again is a conflict, and nothing changes.
    let g = entries[0].encode();
    let err = c
        .request(&Request::CreateAccount {
            genesis: g,
            password_wrap,
            recovery_wrap: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(FailureCode::Conflict));
}

#[tokio::test]
async fn concurrent_appends_exactly_one_wins_and_the_other_can_retry() {
    let h = start(config()).await;
    let mut acct = Account::create(&h, 2).await;
    let (ca, cb) = (
        acct.device_client(&h, 0).await,
        acct.device_client(&h, 1).await,
    );
    for round in 0..10u64 {
        let next = acct.log.next_sequence();
        let ea = acct
            .log
            .snapshot_head(&acct.devices[0], &acct.root, [1; 32], round + 1, [2; 32], 0)
            .unwrap();
        let eb = acct
            .log
            .snapshot_head(&acct.devices[1], &acct.root, [3; 32], round + 1, [4; 32], 0)
            .unwrap();
        let (ra, rb) = tokio::join!(
            ca.append(&acct.id, next, vec![ea.encode()]),
            cb.append(&acct.id, next, vec![eb.encode()])
        );
        let outcomes = [ra.is_ok(), rb.is_ok()];
        assert_eq!(
            outcomes.iter().filter(|ok| **ok).count(),
            1,
            "round {round}: exactly one wins"
        );
        let loser = if ra.is_ok() { &rb } else { &ra };
        assert_eq!(
            loser.as_ref().unwrap_err().code(),
            Some(FailureCode::Conflict)
        );
        // The loser fetches, verifies and retries on top of the winner.
        let (winner_entry, loser_device) = if ra.is_ok() { (ea, 1) } else { (eb, 0) };
        acct.log.apply(&winner_entry).unwrap();
        let retry = acct
            .log
            .snapshot_head(
                &acct.devices[loser_device],
                &acct.root,
                [5; 32],
                round + 1,
                [6; 32],
                0,
            )
            .unwrap();
        let c = if loser_device == 0 { &ca } else { &cb };
        acct.append(c, vec![retry]).await.unwrap();
    }
    let served = h.client().await.fetch_log(&acct.id, 0).await.unwrap();
    assert_eq!(served.len() as u64, acct.log.next_sequence());
}

#[tokio::test]
async fn a_revoked_device_is_refused_everything() {
    let h = start(config()).await;
    let mut acct = Account::create(&h, 3).await;
    let (ca, cb) = (
        acct.device_client(&h, 0).await,
        acct.device_client(&h, 1).await,
    );
    let key = acct.object_key("before");
    assert!(cb.put_object(&key, b"sealed".to_vec()).await.unwrap());
    let entries = acct.revoke(0, 1);
    acct.append(&ca, entries).await.unwrap();
    // Already-authenticated connection: refused from the moment of removal.
    for result in [
        cb.put_object(&acct.object_key("after"), b"x".to_vec())
            .await
            .map(|_| ()),
        cb.get_object(&key, 100).await.map(|_| ()),
    ] {
        assert_eq!(result.unwrap_err().code(), Some(FailureCode::Forbidden));
    }
    // And it cannot authenticate again.
    let fresh = h.client().await;
    let err = fresh
        .authenticate(&acct.id, &acct.devices[1])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(FailureCode::Forbidden));
    // The remaining device still works.
    assert_eq!(ca.get_object(&key, 100).await.unwrap(), b"sealed");
}

#[tokio::test]
async fn objects_round_trip_within_their_account_only() {
    let h = start(config()).await;
    let acct = Account::create(&h, 4).await;
    let other = Account::create(&h, 5).await;
    let c = acct.device_client(&h, 0).await;
    let key = acct.object_key("abc");
    let value: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    assert!(c.put_object(&key, value.clone()).await.unwrap());
    assert!(
        !c.put_object(&key, b"other".to_vec()).await.unwrap(),
        "create-if-absent"
    );
    assert_eq!(c.get_object(&key, 2 << 20).await.unwrap(), value);
    assert_eq!(
        c.get_object(&key, 100).await.unwrap_err().code(),
        Some(FailureCode::TooLarge)
    );
    // Another account's data, and the server's own folders, are off limits.
    for bad in [
        other.object_key("abc"),
        key.replace("/chunks/", "/log/"),
        "a/../x".to_string(),
    ] {
        let err = c.put_object(&bad, b"x".to_vec()).await.unwrap_err();
        assert_eq!(err.code(), Some(FailureCode::Forbidden), "{bad}");
    }
    // Without authentication, nothing.
    let anon = h.client().await;
    assert_eq!(
        anon.get_object(&key, 100).await.unwrap_err().code(),
        Some(FailureCode::Unauthenticated)
    );
    // A device of another account cannot authenticate for this one.
    let err = anon
        .authenticate(&acct.id, &other.devices[0])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(FailureCode::Forbidden));
}

#[tokio::test]
async fn wrap_requests_are_rate_limited_per_account() {
    let h = start(config()).await;
    let acct = Account::create(&h, 6).await;
    let c = h.client().await;
    let mut refused = 0;
    for _ in 0..10 {
        if let Err(e) = c.request(&Request::GetWraps { account: acct.id }).await {
            assert_eq!(e.code(), Some(FailureCode::RateLimited));
            refused += 1;
        }
    }
    assert_eq!(refused, 5, "a burst of 5, then about one every 12 s");
}

#[tokio::test]
async fn graceful_shutdown_finishes_and_stops_serving() {
    let h = start(config()).await;
    let acct = Account::create(&h, 7).await;
    let c = acct.device_client(&h, 0).await;
    assert!(
        c.put_object(&acct.object_key("x"), vec![1; 1000])
            .await
            .unwrap()
    );
    let addr = h.addr;
    let trust = h.trust.clone();
    h.server
        .unwrap()
        .shutdown(std::time::Duration::from_secs(2))
        .await;
    assert!(
        c.get_object(&acct.object_key("x"), 2000).await.is_err(),
        "connections are closed"
    );
    let ep = keylink_net::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let again = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        keylink_server::ServerClient::connect(&ep, addr, &trust),
    )
    .await;
    assert!(
        !matches!(again, Ok(Ok(_))),
        "no new connections after shutdown"
    );
}

#[tokio::test]
async fn the_storage_quota_is_enforced_per_account() {
    let h = start(crate::support::ServerConfig {
        quota_bytes: 10_000,
        ..config()
    })
    .await;
    let acct = Account::create(&h, 8).await;
    let c = acct.device_client(&h, 0).await;
    assert!(
        c.put_object(&acct.object_key("a"), vec![0; 6000])
            .await
            .unwrap()
    );
    // Storing the same key again costs nothing.
    assert!(
        !c.put_object(&acct.object_key("a"), vec![0; 6000])
            .await
            .unwrap()
    );
    let err = c
        .put_object(&acct.object_key("b"), vec![0; 6000])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(FailureCode::QuotaExceeded));
    assert!(
        c.put_object(&acct.object_key("c"), vec![0; 3000])
            .await
            .unwrap()
    );
}

/// The account's log as the server serves it.
async fn served_log(c: &keylink_server::ServerClient, acct: &Account) -> Vec<SignedEntry> {
    c.fetch_log(&acct.id, 0)
        .await
        .unwrap()
        .iter()
        .map(|b| SignedEntry::decode(b).unwrap())
        .collect()
}

#[tokio::test]
async fn a_disk_that_fills_mid_append_is_reported_and_the_log_stays_whole() {
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
    // Writes left before the disk is full (negative: no limit).
    let allowed = std::sync::Arc::new(AtomicI64::new(-1));
    let left = allowed.clone();
    let store =
        keylink_store::RefusingStore::new(keylink_store::MemoryStore::new(), move |_, _| {
            left.fetch_update(SeqCst, SeqCst, |n| {
                (n > 0).then(|| n - 1).or((n < 0).then_some(n))
            })
            .is_err()
        });
    let h = start_with_store(config(), std::sync::Arc::new(store)).await;
    let mut acct = Account::create(&h, 21).await;
    let c = acct.device_client(&h, 0).await;
    let entries = acct.revoke(0, 1);
    assert!(entries.len() >= 2, "a removal and its rotation");
    let before = acct.log.next_sequence();

    // Full from the start: nothing lands, and the answer says so.
    allowed.store(0, SeqCst);
    let raw: Vec<Vec<u8>> = entries.iter().map(Wire::encode).collect();
    let err = c.append(&acct.id, before, raw.clone()).await.unwrap_err();
    assert_eq!(err.code(), Some(FailureCode::Internal), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(c.fetch_log(&acct.id, 0).await.unwrap().len() as u64, before);

    // Room for one entry: the removal lands, the rotation does not, and the
    // answer says the log moved rather than "nothing was changed".
    allowed.store(1, SeqCst);
    let err = c.append(&acct.id, before, raw.clone()).await.unwrap_err();
    assert_eq!(err.code(), Some(FailureCode::Conflict), "{err}");
    assert!(err.to_string().contains("after 1 of the entries"), "{err}");
    let served = served_log(&c, &acct).await;
    assert_eq!(served.len() as u64, before + 1);
    let state = LogState::verify(&served).unwrap();
    assert!(
        state.rotation_pending(),
        "the removal waits for its rotation"
    );

    // Room again: the rest is appended where the log now ends.
    allowed.store(-1, SeqCst);
    c.append(&acct.id, before + 1, raw[1..].to_vec())
        .await
        .unwrap();
    let served = served_log(&c, &acct).await;
    let state = LogState::verify(&served).unwrap();
    assert!(!state.rotation_pending());
    assert_eq!(state.next_sequence(), before + entries.len() as u64);
}
