//! Linking on loopback, measured against a bare QUIC handshake in the same
//! run (`cargo bench -p keylink-client --bench link`). Prints; asserts
//! nothing.
//!
//! - baseline: a fresh QUIC connection (TLS 1.3, Ed25519 certificate) to a
//!   keylink-net listener, plus one request/response round trip;
//! - full link: the new device connects and opens a relay channel, the
//!   existing device (already connected, as a running app is) joins,
//!   handshake, approval auto-accepted, AddDevice appended by
//!   compare-and-swap, the root key sent, the new device authenticates,
//!   fetches and verifies the log, and acknowledges. No Argon2 runs.
//! - throughput: how many links one server completes per second with many
//!   in flight at once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use keylink_account::{LogState, create_account};
use keylink_client::link::{
    Existing, LinkOptions, ServerInfo, ShowVia, finish_as_new, scan_as_existing, show_as_new,
};
use keylink_keys::{DeviceIdentity, KdfParams, Password, RootKey};
use keylink_link::NewDevice;
use keylink_net::{
    EndpointLimits, ServerIdentity, ServerTrust, client_endpoint, connect, read_frame,
    server_endpoint, write_frame,
};
use keylink_server::{Server, ServerClient, ServerConfig};
use keylink_store::{LocalDirStore, MemoryStore, Store};
use keylink_wire::Wire;
use keylink_wire::account::DeviceName;
use keylink_wire::server::Request;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

struct Member {
    identity: DeviceIdentity,
    root: RootKey,
    log: LogState,
    client: ServerClient,
    endpoint: keylink_net::AnyEndpoint,
}

async fn member(info: &ServerInfo, seed: u64) -> Member {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let identity = DeviceIdentity::generate(&mut rng);
    let a = create_account(
        &identity,
        DeviceName::new("phone").unwrap(),
        &Password::new("benchmark password").unwrap(),
        KdfParams::insecure_for_tests(8, 1, 1),
        None,
        1,
        &mut rng,
    )
    .unwrap();
    let endpoint =
        keylink_net::AnyEndpoint::from(client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap());
    let client =
        ServerClient::connect_any(&endpoint, info.addr, &ServerTrust::Pinned(info.fingerprint))
            .await
            .unwrap();
    client
        .request(&Request::CreateAccount {
            genesis: a.genesis.encode(),
            password_wrap: a.password_wrap.to_bytes(),
            recovery_wrap: None,
        })
        .await
        .unwrap();
    client.authenticate(&a.account, &identity).await.unwrap();
    Member {
        identity,
        root: a.root,
        log: a.log,
        client,
        endpoint,
    }
}

async fn one_link(info: ServerInfo, m: &mut Member, seed: u64) {
    one_link_traced(info, m, seed, false).await;
}

async fn one_link_traced(info: ServerInfo, m: &mut Member, seed: u64, trace: bool) {
    let t0 = Instant::now();
    let mark = move |what: &str| {
        if trace {
            println!("    {:>8.3} ms  {what}", t0.elapsed().as_secs_f64() * 1e3);
        }
    };
    let opts = LinkOptions {
        on_sas: Some(Arc::new(move |_| mark("keys confirmed"))),
        ..LinkOptions::default()
    };
    let ep_b =
        keylink_net::AnyEndpoint::from(client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap());
    let identity = Arc::new(DeviceIdentity::generate(&mut ChaCha20Rng::seed_from_u64(
        seed,
    )));
    let device = NewDevice {
        identity,
        name: DeviceName::new("laptop").unwrap(),
        known_head: None,
    };
    let shown = show_as_new(&ep_b, ShowVia::Relay(info.clone()), &opts)
        .await
        .unwrap();
    mark("code shown (connected, channel open)");
    let code = shown.code_text().to_string();
    let me = Existing {
        server: &m.client,
        identity: &m.identity,
        root: &m.root,
        log: &mut m.log,
    };
    let ep_a = m.endpoint.clone();
    let (a, b) = tokio::join!(
        async {
            let r = scan_as_existing(&ep_a, &code, me, &opts, |_| async move {
                mark("approval asked");
                true
            })
            .await;
            mark("existing device done");
            r
        },
        async {
            let r = finish_as_new(&ep_b, shown, info, device, &opts, |_| {
                mark("new device verified the log, stores");
                Ok(())
            })
            .await;
            mark("new device done");
            r
        },
    );
    a.unwrap();
    b.unwrap();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn baseline(rounds: usize) -> Duration {
    let identity = ServerIdentity::generate().unwrap();
    let listener = server_endpoint(
        &identity,
        "127.0.0.1:0".parse().unwrap(),
        EndpointLimits::default(),
    )
    .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    if let Ok(Some(f)) = read_frame(&mut recv, 1024).await {
                        let _ = write_frame(&mut send, &f).await;
                        let _ = send.finish();
                    }
                }
            });
        }
    });
    let trust = ServerTrust::Pinned(identity.fingerprint());
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let ep = client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
        let t = Instant::now();
        let conn = connect(&ep, addr, &trust).await.unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        write_frame(&mut send, &[7u8; 64]).await.unwrap();
        let back = read_frame(&mut recv, 1024).await.unwrap().unwrap();
        times.push(t.elapsed());
        assert_eq!(back.len(), 64);
        conn.close(0u32.into(), b"");
    }
    median(times)
}

async fn start(store: Arc<dyn Store>) -> (Server, ServerInfo) {
    let identity = ServerIdentity::generate().unwrap();
    let server = Server::start(
        &identity,
        store,
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            per_address: (1_000_000, 1_000_000.0),
            ..ServerConfig::default()
        },
    )
    .unwrap();
    let info = ServerInfo::new(server.local_addr().unwrap(), server.fingerprint());
    (server, info)
}

async fn full_links(store: Arc<dyn Store>, rounds: usize) -> Duration {
    let (_server, info) = start(store).await;
    // A fresh account per link, made beforehand: every link starts from a
    // one-device account, as a person's second device does.
    let mut members = Vec::with_capacity(rounds);
    for i in 0..rounds {
        members.push(member(&info, 1 + i as u64).await);
    }
    let mut times = Vec::with_capacity(rounds);
    for (i, m) in members.iter_mut().enumerate() {
        let t = Instant::now();
        one_link(info.clone(), m, 1000 + i as u64).await;
        times.push(t.elapsed());
    }
    median(times)
}

async fn throughput(concurrent: usize, accounts: usize) -> (usize, Duration) {
    let (_server, info) = start(Arc::new(MemoryStore::new())).await;
    let mut members = Vec::new();
    for i in 0..accounts {
        members.push(member(&info, 10 + i as u64).await);
    }
    let per = concurrent / accounts;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (k, mut m) in members.into_iter().enumerate() {
        let info = info.clone();
        tasks.push(tokio::spawn(async move {
            let mut set = Vec::new();
            // Each account links `per` devices one after another; the
            // accounts run at once.
            for j in 0..per {
                one_link(info.clone(), &mut m, (k * 1000 + j) as u64).await;
                set.push(j);
            }
            set.len()
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.unwrap();
    }
    (done, t.elapsed())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let rounds = 60;
        // Warm up both paths once.
        let _ = baseline(5).await;
        let _ = full_links(Arc::new(MemoryStore::new()), 3).await;
        let base = baseline(rounds).await;
        let full_mem = full_links(Arc::new(MemoryStore::new()), rounds).await;
        let dir = tempfile::tempdir().unwrap();
        let full_disk = full_links(
            Arc::new(LocalDirStore::open(dir.path().join("store")).unwrap()),
            rounds,
        )
        .await;
        println!("link benchmark on loopback, medians of {rounds}:");
        println!("  bare QUIC handshake + 1 round trip (baseline): {base:?}");
        println!(
            "  full link, in-memory server store:              {full_mem:?}  ratio {:.2} (goal <= 2.0)",
            full_mem.as_secs_f64() / base.as_secs_f64()
        );
        println!(
            "  full link, local-folder store (fsync):           {full_disk:?}  ratio {:.2}",
            full_disk.as_secs_f64() / base.as_secs_f64()
        );
        println!("  one link, step by step (in-memory store):");
        let (_server, info) = start(Arc::new(MemoryStore::new())).await;
        let mut m = member(&info, 99).await;
        one_link(info.clone(), &mut m, 5000).await;
        one_link_traced(info.clone(), &mut m, 5001, true).await;
        let (n, took) = throughput(400, 200).await;
        println!(
            "  throughput: {n} links ({} accounts in parallel) in {took:?} = {:.0} links/s",
            200,
            n as f64 / took.as_secs_f64()
        );
    });
}
