//! A server on loopback with an in-memory store, and an account with two
//! devices driven through the real client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keylink_account::{LogState, RotationWraps, genesis};
use keylink_keys::{AccountId, DeviceIdentity, Epoch, KdfParams, KeyWrap, Password, RootKey};
use keylink_net::{ServerIdentity, ServerTrust, client_endpoint};
pub use keylink_server::ServerConfig;
use keylink_server::{Server, ServerClient};
use keylink_store::{MemoryStore, Store};
use keylink_wire::Wire;
use keylink_wire::account::{DeviceName, DeviceRecord, SignedEntry};
use keylink_wire::server::Request;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

pub const TINY: KdfParams = KdfParams::insecure_for_tests(8, 1, 1);

pub struct Harness {
    /// The in-process server (None for a server in another process).
    pub server: Option<Server>,
    pub addr: SocketAddr,
    pub trust: ServerTrust,
}

pub fn config() -> ServerConfig {
    ServerConfig {
        relay_ttl: Duration::from_millis(800),
        request_timeout: Duration::from_millis(800),
        ..ServerConfig::default()
    }
}

pub async fn start(config: ServerConfig) -> Harness {
    start_with_store(config, Arc::new(MemoryStore::new())).await
}

/// A server on `store`.
pub async fn start_with_store(config: ServerConfig, store: Arc<dyn Store>) -> Harness {
    let identity = ServerIdentity::generate().unwrap();
    let server = Server::start(&identity, store, config).unwrap();
    let addr = server.local_addr().unwrap();
    Harness {
        trust: ServerTrust::Pinned(server.fingerprint()),
        server: Some(server),
        addr,
    }
}

impl Harness {
    /// A server running elsewhere (another process).
    pub fn remote(addr: SocketAddr, trust: ServerTrust) -> Self {
        Self {
            server: None,
            addr,
            trust,
        }
    }

    pub async fn client(&self) -> ServerClient {
        let ep = client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
        ServerClient::connect(&ep, self.addr, &self.trust)
            .await
            .unwrap()
    }
}

/// An account with devices 0 and 1, created on the server through the client.
pub struct Account {
    pub rng: ChaCha20Rng,
    pub id: AccountId,
    pub root: RootKey,
    pub devices: Vec<DeviceIdentity>,
    pub log: LogState,
    pub password: Password,
}

impl Account {
    pub async fn create(h: &Harness, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let id = AccountId::generate(&mut rng);
        let root = RootKey::generate(Epoch(0), &mut rng);
        let a = DeviceIdentity::generate(&mut rng);
        let password = Password::new("server test password").unwrap();
        let wrap = KeyWrap::seal_password(&root, &id, &password, TINY, &mut rng).unwrap();
        let g = genesis(
            id,
            &a,
            DeviceName::new("phone").unwrap(),
            &root,
            &wrap,
            None,
            0,
        );
        let c = h.client().await;
        c.request(&Request::CreateAccount {
            genesis: g.encode(),
            password_wrap: wrap.to_bytes(),
            recovery_wrap: None,
        })
        .await
        .unwrap();
        let log = LogState::verify(std::slice::from_ref(&g)).unwrap();
        let mut acct = Self {
            rng,
            id,
            root,
            devices: vec![a],
            log,
            password,
        };
        let b = DeviceIdentity::generate(&mut acct.rng);
        let add = acct
            .log
            .add_device(
                &acct.devices[0],
                &acct.root,
                DeviceRecord {
                    keys: b.public_keys(),
                    name: DeviceName::new("laptop").unwrap(),
                },
                0,
            )
            .unwrap();
        acct.devices.push(b);
        acct.append(&c, vec![add]).await.unwrap();
        acct
    }

    pub async fn append(
        &mut self,
        c: &ServerClient,
        entries: Vec<SignedEntry>,
    ) -> Result<(), keylink_server::ClientError> {
        let next = self.log.next_sequence();
        c.append(&self.id, next, entries.iter().map(Wire::encode).collect())
            .await?;
        for e in &entries {
            self.log.apply(e).unwrap();
        }
        Ok(())
    }

    pub async fn device_client(&self, h: &Harness, d: usize) -> ServerClient {
        let c = h.client().await;
        c.authenticate(&self.id, &self.devices[d]).await.unwrap();
        c
    }

    pub fn revoke(&mut self, by: usize, target: usize) -> Vec<SignedEntry> {
        let wraps = RotationWraps {
            password: Some((&self.password, TINY)),
            recovery: None,
        };
        let r = self
            .log
            .revoke(
                &self.devices[by],
                &self.root,
                &[],
                self.devices[target].device_id(),
                wraps,
                0,
                &mut self.rng,
            )
            .unwrap();
        self.root = r.root;
        r.entries
    }

    pub fn object_key(&self, name: &str) -> String {
        let hex: String = self
            .id
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("a/{hex}/chunks/{name}")
    }
}

/// Start the real `keylink-server` binary on `data` with `extra` flags;
/// returns the process with its address and certificate fingerprint.
pub fn spawn_server(
    data: &std::path::Path,
    extra: &[&str],
) -> (std::process::Child, SocketAddr, keylink_net::Fingerprint) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_keylink-server"))
        .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .next()
        .unwrap()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let fp =
        keylink_net::Fingerprint::parse(lines.next().unwrap().unwrap().rsplit(' ').next().unwrap())
            .unwrap();
    (child, addr, fp)
}
