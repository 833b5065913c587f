//! A server on loopback, devices with their own endpoints, an account with
//! a backup, and tree comparison.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use keylink_account::{LogState, create_account};
use keylink_backup::{KeyRing, SnapshotWriter, backup_paths};
use keylink_client::RemoteStore;
use keylink_client::link::{Existing, LinkOptions, Linked, ServerInfo};
use keylink_keys::{AccountId, DeviceIdentity, KdfParams, Password, RootKey};
use keylink_link::{NewDevice, Timeouts};
use keylink_net::{AnyEndpoint as Endpoint, ServerIdentity, ServerTrust, client_endpoint};
use keylink_server::{Server, ServerClient, ServerConfig};
use keylink_store::LocalDirStore;
use keylink_wire::Wire;
use keylink_wire::account::{DeviceName, SignedEntry};
use keylink_wire::server::Request;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

pub struct World {
    /// Kept so the server runs as long as the test.
    pub _server: Server,
    pub info: ServerInfo,
    pub _dir: tempfile::TempDir,
}

pub async fn world() -> World {
    world_with(ServerConfig::default()).await
}

pub async fn world_with(config: ServerConfig) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalDirStore::open(dir.path().join("store")).unwrap();
    world_on(config, Arc::new(store), dir).await
}

/// A server on `store` (`dir` is kept for as long as the world).
pub async fn world_on(
    config: ServerConfig,
    store: Arc<dyn keylink_store::Store>,
    dir: tempfile::TempDir,
) -> World {
    let identity = ServerIdentity::generate().unwrap();
    let server = Server::start(
        &identity,
        store,
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        },
    )
    .unwrap();
    let info = ServerInfo::new(server.local_addr().unwrap(), server.fingerprint());
    World {
        _server: server,
        info,
        _dir: dir,
    }
}

pub fn endpoint() -> Endpoint {
    client_endpoint("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .into()
}

pub async fn client(info: &ServerInfo) -> ServerClient {
    ServerClient::connect_any(
        &endpoint(),
        info.addr,
        &ServerTrust::Pinned(info.fingerprint),
    )
    .await
    .unwrap()
}

pub fn options() -> LinkOptions {
    LinkOptions {
        timeouts: Timeouts {
            step: Duration::from_secs(10),
            approval: Duration::from_secs(10),
        },
        ..LinkOptions::default()
    }
}

/// A device in the account.
pub struct Member {
    pub identity: DeviceIdentity,
    pub root: RootKey,
    pub log: LogState,
    pub client: ServerClient,
    pub endpoint: Endpoint,
}

impl Member {
    pub fn existing(&mut self) -> Existing<'_> {
        Existing {
            server: &self.client,
            identity: &self.identity,
            root: &self.root,
            log: &mut self.log,
        }
    }

    pub fn account(&self) -> AccountId {
        *self.log.account()
    }

    /// Another handle on the same device (a second app window), for racing.
    pub async fn twin(&self, info: &ServerInfo) -> Member {
        let (s, a) = self.identity.expose_secret_bytes();
        let identity = DeviceIdentity::from_secret_bytes(&s, &a);
        let client = client(info).await;
        client
            .authenticate(&self.account(), &identity)
            .await
            .unwrap();
        Member {
            identity,
            root: self.root.duplicate(),
            log: self.log.clone(),
            client,
            endpoint: endpoint(),
        }
    }
}

pub async fn create(info: &ServerInfo, seed: u64) -> Member {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let identity = DeviceIdentity::generate(&mut rng);
    let a = create_account(
        &identity,
        DeviceName::new("phone").unwrap(),
        &Password::new("correct horse battery").unwrap(),
        KdfParams::insecure_for_tests(8, 1, 1),
        None,
        1,
        &mut rng,
    )
    .unwrap();
    let client = client(info).await;
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
        endpoint: endpoint(),
    }
}

/// A folder tree with nested folders, an empty file, a 700 KB file of
/// seeded bytes (several chunks) and small files.
pub fn tree(root: &Path, seed: u64) {
    use rand::{Rng, RngExt};
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    std::fs::create_dir_all(root.join("docs/deep/er")).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    let mut big = vec![0u8; 700_000];
    rng.fill_bytes(&mut big);
    std::fs::write(root.join("docs/big.bin"), &big).unwrap();
    for i in 0..5 {
        std::fs::write(
            root.join(format!("docs/deep/er/note-{i}.txt")),
            format!("note {i} {}", rng.random::<u64>()),
        )
        .unwrap();
    }
}

/// Back up `src` as `m` through the server, and publish the head.
pub async fn backup(m: &mut Member, src: &Path) {
    let store = RemoteStore::new(m.client.clone(), tokio::runtime::Handle::current());
    let account = m.account();
    let (s, a) = m.identity.expose_secret_bytes();
    let root = m.root.duplicate();
    let seq = m
        .log
        .snapshot_heads()
        .get(&m.identity.device_id())
        .map_or(1, |h| h.snapshot_sequence + 1);
    let src = src.to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let identity = DeviceIdentity::from_secret_bytes(&s, &a);
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut w = SnapshotWriter::new(&store, account, &root, &identity, seq, None);
        backup_paths(&mut w, &[&src], &mut rng).unwrap();
        w.finish(5, &mut rng).unwrap()
    })
    .await
    .unwrap();
    refresh(m).await;
    let e = m
        .log
        .snapshot_head(
            &m.identity,
            &m.root,
            out.snapshot_id,
            out.sequence,
            out.manifest_hash,
            6,
        )
        .unwrap();
    m.client
        .append(&account, m.log.next_sequence(), vec![e.encode()])
        .await
        .unwrap();
    m.log.apply(&e).unwrap();
}

/// Fetch and apply what the server has beyond `m.log`.
pub async fn refresh(m: &mut Member) {
    let account = m.account();
    for b in m
        .client
        .fetch_log(&account, m.log.next_sequence())
        .await
        .unwrap()
    {
        m.log.apply(&SignedEntry::decode(&b).unwrap()).unwrap();
    }
}

/// The whole log from the server, verified.
pub async fn server_log(info: &ServerInfo, m: &Member) -> LogState {
    let raw = m.client.fetch_log(&m.account(), 0).await.unwrap();
    let _ = info;
    let entries: Vec<SignedEntry> = raw
        .iter()
        .map(|b| SignedEntry::decode(b).unwrap())
        .collect();
    LogState::verify(&entries).unwrap()
}

/// A new device's identity and request.
pub fn new_device(seed: u64, name: &str) -> (Arc<DeviceIdentity>, NewDevice) {
    let identity = Arc::new(DeviceIdentity::generate(&mut ChaCha20Rng::seed_from_u64(
        seed,
    )));
    let d = NewDevice {
        identity: identity.clone(),
        name: DeviceName::new(name).unwrap(),
        known_head: None,
    };
    (identity, d)
}

/// Restore `from`'s latest snapshot as the linked device.
pub async fn restore(
    info: &ServerInfo,
    linked: &Linked,
    identity: &DeviceIdentity,
    from: keylink_keys::DeviceId,
    target: &Path,
) {
    let c = client(info).await;
    c.authenticate(&linked.account, identity).await.unwrap();
    let store = RemoteStore::new(c, tokio::runtime::Handle::current());
    let mut keys = KeyRing::new();
    keys.insert(linked.root.duplicate());
    for k in &linked.older_roots {
        keys.insert(k.duplicate());
    }
    let log = linked.log.clone();
    let target = target.to_path_buf();
    tokio::task::spawn_blocking(move || {
        keylink_backup::restore(&store, &log, &keys, from, &target).unwrap()
    })
    .await
    .unwrap();
}

pub use keylink_tests::same_tree;
