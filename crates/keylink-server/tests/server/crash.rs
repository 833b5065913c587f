//! Crash safety: kill -9 the server process while 1,000 objects are being
//! uploaded; after a restart every acknowledged object is present and
//! intact, and no partially written object is visible.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keylink_keys::primitives::sha256;
use keylink_net::ServerTrust;
use keylink_wire::server::{Request, Response};
use tokio::sync::Mutex;

use crate::support::{Account, spawn_server};

/// The content every object must have: derived from its key, so any object
/// found after the crash can be checked, acknowledged or not.
fn content(key: &str) -> Vec<u8> {
    let h = sha256(&[key.as_bytes()]);
    let len = 1000 + (usize::from(h[0]) << 8 | usize::from(h[1])) % 60_000;
    h.iter().copied().cycle().take(len).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_1000_uploads_loses_nothing_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, addr, fp) = spawn_server(data.path(), &[]);
    let harness = crate::support::Harness::remote(addr, ServerTrust::Pinned(fp));
    let acct = Account::create(&harness, 40).await;
    let client = acct.device_client(&harness, 0).await;

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let (client, acked, started) = (client.clone(), acked.clone(), started.clone());
        let prefix = acct.object_key("");
        tasks.push(tokio::spawn(async move {
            for i in (worker..1000).step_by(16) {
                let key = format!("{prefix}obj-{i:04}");
                started.fetch_add(1, Ordering::Relaxed);
                match client.put_object(&key, content(&key)).await {
                    Ok(_) => acked.lock().await.push(key),
                    Err(_) => return, // the server died under us
                }
            }
        }));
    }
    // Kill it mid-flight.
    while acked.lock().await.len() < 300 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Uploads still in flight can no longer be acknowledged.
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().await.clone();
    println!(
        "kill -9 after {} acknowledged of {} started uploads",
        acked.len(),
        started.load(Ordering::Relaxed)
    );
    assert!(
        acked.len() >= 300 && acked.len() < 1000,
        "the crash must land mid-upload"
    );

    // Restart on the same data and check.
    let (mut child, addr, fp2) = spawn_server(data.path(), &[]);
    assert_eq!(fp, fp2, "the server keeps its identity");
    let harness = crate::support::Harness::remote(addr, ServerTrust::Pinned(fp2));
    let client = acct.device_client(&harness, 0).await;
    for key in &acked {
        assert_eq!(
            client.get_object(key, 1 << 20).await.unwrap(),
            content(key),
            "{key} lost or damaged"
        );
    }
    let Response::Keys { keys } = client
        .request(&Request::ListObjects {
            prefix: acct.object_key(""),
        })
        .await
        .unwrap()
    else {
        panic!("keys expected")
    };
    for key in &keys {
        assert_eq!(
            client.get_object(key, 1 << 20).await.unwrap(),
            content(key),
            "{key} is partial"
        );
    }
    println!(
        "after restart: {} objects visible, all whole; {} acknowledged, all present",
        keys.len(),
        acked.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
