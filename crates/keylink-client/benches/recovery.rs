//! Password recovery through 3 realms on loopback, measured against plain
//! Argon2id recovery in the same run (`cargo bench -p keylink-client
//! --bench recovery`). Prints; asserts nothing.
//!
//! - plain: `Device::recover` of an account whose password wrap has no
//!   realm — fetch and verify the log, fetch the wrap, Argon2id (production
//!   parameters: 64 MiB, t = 3), open, append `Recover`, save the device.
//! - realms: the same for an account guarded 2-of-3 by three servers' realms
//!   on loopback: Argon2id, then status from all three, a counted guess at
//!   two, the combination, and the unlock of all three.
//! - the split: Argon2id alone, and the realm round trips alone (status ×3,
//!   guess ×2, unlock ×3 over connections made for the purpose, as a
//!   recovering device makes them); the rest is the difference.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use keylink_client::link::ServerInfo;
use keylink_client::{Device, FileKeyStore, NewAccount, RealmInfo, Realms, Unlock};
use keylink_keys::{KdfParams, KdfPolicy, KeyWrap, Password, StretchedPassword};
use keylink_net::{ServerIdentity, ServerTrust, client_endpoint};
use keylink_realm::{GuessAnswer, RealmStatus, Recovery, Throttle};
use keylink_server::{RealmConfig, Server, ServerClient, ServerConfig};
use keylink_store::MemoryStore;
use keylink_wire::account::DeviceName;
use keylink_wire::server::{Request, Response};

const ROUNDS: usize = 10;
const PASSWORD: &str = "benchmark password, long enough";

fn config() -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        wraps_per_account: (1000, 1000.0),
        per_address: (10_000, 10_000.0),
        realm: Some(RealmConfig {
            store: Arc::new(MemoryStore::new()),
            throttle: Throttle::NONE,
        }),
        ..ServerConfig::default()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn recover(info: &ServerInfo, dir: &std::path::Path, account: &str, unlock: Unlock<'_>) {
    let store = Arc::new(FileKeyStore::open(dir).unwrap());
    Device::recover(
        store,
        info.clone(),
        account,
        &DeviceName::new("bench").unwrap(),
        unlock,
    )
    .await
    .unwrap();
}

async fn run() {
    let servers: Vec<Server> = (0..3)
        .map(|_| {
            Server::start(
                &ServerIdentity::generate().unwrap(),
                Arc::new(MemoryStore::new()),
                config(),
            )
            .unwrap()
        })
        .collect();
    let infos: Vec<ServerInfo> = servers
        .iter()
        .map(|s| ServerInfo::new(s.local_addr().unwrap(), s.fingerprint()))
        .collect();
    let realms = Realms {
        realms: infos
            .iter()
            .map(|i| RealmInfo {
                addr: i.addr,
                fingerprint: i.fingerprint,
            })
            .collect(),
        needed: 2,
        attempts: 10,
    };
    let t = tempfile::tempdir().unwrap();
    let pw = Password::new(PASSWORD).unwrap();
    let name = DeviceName::new("phone").unwrap();
    for (account, guard) in [("plain", None), ("realms", Some(realms.clone()))] {
        Device::create_account(
            Arc::new(FileKeyStore::open(t.path().join(format!("creator-{account}"))).unwrap()),
            infos[0].clone(),
            NewAccount {
                account_name: account,
                device_name: &name,
                password: &pw,
                params: KdfParams::DEFAULT,
                recovery_key: false,
                realms: guard,
            },
        )
        .await
        .unwrap();
    }

    // The realm account's wrap, for the split.
    let endpoint =
        keylink_net::AnyEndpoint::from(client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap());
    let c0 = ServerClient::connect_any(
        &endpoint,
        infos[0].addr,
        &ServerTrust::Pinned(infos[0].fingerprint),
    )
    .await
    .unwrap();
    let account = keylink_client::account_id_for("realms");
    let wrap = match c0.request(&Request::GetWraps { account }).await.unwrap() {
        Response::Wraps { password_wrap, .. } => KeyWrap::from_bytes(&password_wrap).unwrap(),
        _ => panic!("no wrap"),
    };
    let commitment = *wrap.realm_registration().unwrap();

    let (mut plain, mut guarded, mut argon, mut trips) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let start = Instant::now();
        recover(
            &infos[0],
            &t.path().join(format!("p{round}")),
            "plain",
            Unlock::Password(&pw),
        )
        .await;
        plain.push(start.elapsed());

        let start = Instant::now();
        recover(
            &infos[0],
            &t.path().join(format!("r{round}")),
            "realms",
            Unlock::PasswordThrough(&pw, &realms),
        )
        .await;
        guarded.push(start.elapsed());

        let start = Instant::now();
        let stretched =
            StretchedPassword::derive(&pw, wrap.salt(), wrap.params(), KdfPolicy::default())
                .unwrap();
        argon.push(start.elapsed());

        // The realm round trips alone, as a recovering device makes them.
        let start = Instant::now();
        let mut clients = Vec::new();
        let mut statuses = Vec::new();
        for info in &infos {
            let c = ServerClient::connect_any(
                &endpoint,
                info.addr,
                &ServerTrust::Pinned(info.fingerprint),
            )
            .await
            .unwrap();
            statuses
                .push(RealmStatus::from_bytes(&c.realm_status(&account).await.unwrap()).unwrap());
            clients.push(c);
        }
        let mut recovery =
            Recovery::start(account, commitment, &stretched, &mut rand::rng()).unwrap();
        for i in 0..2 {
            let answer = clients[i]
                .realm_guess(&account, &commitment, recovery.blinded())
                .await
                .unwrap();
            recovery
                .accept(
                    infos[i].fingerprint.as_bytes(),
                    &statuses[i].descriptor,
                    &GuessAnswer::from_bytes(&answer).unwrap(),
                )
                .unwrap();
        }
        let kek = recovery.finish(&stretched).unwrap();
        for (i, c) in clients.iter().enumerate() {
            let tag = kek.unlock_tag(
                &commitment,
                statuses[i].index,
                infos[i].fingerprint.as_bytes(),
            );
            c.realm_unlock(&account, &commitment, &tag).await.unwrap();
        }
        trips.push(start.elapsed());
    }
    let (plain, guarded, argon, trips) =
        (median(plain), median(guarded), median(argon), median(trips));
    let rest = guarded.saturating_sub(argon).saturating_sub(trips);
    println!("password recovery, median of {ROUNDS} (Argon2id m=64 MiB t=3 p=1)");
    println!("  plain (no realm)         {:8.1} ms", ms(plain));
    println!(
        "  through 3 realms (2-of-3){:8.1} ms   ratio {:.2}x plain",
        ms(guarded),
        guarded.as_secs_f64() / plain.as_secs_f64()
    );
    println!("    Argon2id               {:8.1} ms", ms(argon));
    println!(
        "    realm round trips      {:8.1} ms   (connect + status x3, guess x2, unlock x3)",
        ms(trips)
    );
    println!(
        "    the rest               {:8.1} ms   (log fetch and check, wrap, Recover entry, saving)",
        ms(rest)
    );
    for s in servers {
        s.shutdown(Duration::from_millis(100)).await;
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
