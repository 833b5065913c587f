//! Two server processes sharing one SeaweedFS bucket: clients of both append
//! to one account log at once; every append is accepted exactly once or
//! refused with a conflict, and both servers then serve the identical log.
//! Runs when `.ci/run` has started SeaweedFS (`KEYLINK_TEST_S3_URL`); outside
//! CI it is skipped with a note.

use keylink_net::ServerTrust;
use keylink_wire::Wire;
use keylink_wire::server::FailureCode;

use crate::support::{Account, Harness, spawn_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_seaweedfs_bucket_accept_each_append_exactly_once() {
    let Ok(url) = std::env::var("KEYLINK_TEST_S3_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "in CI, .ci/run must start SeaweedFS and set KEYLINK_TEST_S3_URL"
        );
        println!("skipped: SeaweedFS is not running (set KEYLINK_TEST_S3_URL, as .ci/run does)");
        return;
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut s1, a1, f1) = spawn_server(d1.path(), &["--s3-url", &url]);
    let (mut s2, a2, f2) = spawn_server(d2.path(), &["--s3-url", &url]);
    let (h1, h2) = (
        Harness::remote(a1, ServerTrust::Pinned(f1)),
        Harness::remote(a2, ServerTrust::Pinned(f2)),
    );
    let mut acct = Account::create(&h1, 50 + u64::from(std::process::id())).await;
    let c1 = acct.device_client(&h1, 0).await; // device 0 talks to server 1
    let c2 = acct.device_client(&h2, 1).await; // device 1 talks to server 2
    let (mut wins, mut conflicts) = (0, 0);
    for round in 1..=25u64 {
        let next = acct.log.next_sequence();
        let e1 = acct
            .log
            .snapshot_head(&acct.devices[0], &acct.root, [1; 32], round, [2; 32], 0)
            .unwrap();
        let e2 = acct
            .log
            .snapshot_head(&acct.devices[1], &acct.root, [3; 32], round, [4; 32], 0)
            .unwrap();
        let (r1, r2) = tokio::join!(
            c1.append(&acct.id, next, vec![e1.encode()]),
            c2.append(&acct.id, next, vec![e2.encode()])
        );
        assert_eq!(
            [r1.is_ok(), r2.is_ok()].iter().filter(|x| **x).count(),
            1,
            "round {round}: exactly one of the two servers accepts"
        );
        let first_won = r1.is_ok();
        let loser = if first_won { r2 } else { r1 };
        assert_eq!(loser.unwrap_err().code(), Some(FailureCode::Conflict));
        wins += 1;
        conflicts += 1;
        let (winner, other) = if first_won {
            (e1, 1usize)
        } else {
            (e2, 0usize)
        };
        acct.log.apply(&winner).unwrap();
        // The loser retries through its own server, on top of the winner.
        let retry = acct
            .log
            .snapshot_head(&acct.devices[other], &acct.root, [5; 32], round, [6; 32], 0)
            .unwrap();
        let c = if other == 0 { &c1 } else { &c2 };
        acct.append(c, vec![retry]).await.unwrap();
    }
    let (l1, l2) = (
        c1.fetch_log(&acct.id, 0).await.unwrap(),
        c2.fetch_log(&acct.id, 0).await.unwrap(),
    );
    assert_eq!(l1, l2, "both servers serve the identical log");
    assert_eq!(l1.len() as u64, acct.log.next_sequence());
    println!(
        "two servers, one SeaweedFS bucket: {wins} appends won, {conflicts} refused with a conflict, logs identical ({} entries)",
        l1.len()
    );
    let _ = (s1.kill(), s2.kill(), s1.wait(), s2.wait());
}
