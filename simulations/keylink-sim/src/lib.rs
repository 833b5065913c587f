//! keylink's simulator: many virtual devices running the real client code
//! against a real server, under a seeded network with faults, with named
//! invariants checked after every step.
//!
//! One `u64` seed drives every choice the simulator makes: which operation
//! each account does next, file contents, latencies, losses, crashes. Key
//! material and TLS randomness come from the operating system (the client
//! and rustls draw their own), which changes no size, time or outcome: the
//! same seed gives the same operation trace, packet schedule and figures.

pub mod adversary;
pub mod disk;
pub mod html;
pub mod keystore;
pub mod realms;
pub mod simnet;
pub mod stats;
pub mod world;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keylink_client::link::ServerInfo;
use keylink_client::{Net, Network, Udp};
use keylink_keys::KdfPolicy;
use keylink_net::{AnyEndpoint, MemNet, NetError, ServerIdentity, Socket};
use keylink_server::{Server, ServerConfig};
use keylink_store::Store;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::adversary::{Attack, SimAdversary};
use crate::simnet::{NetCounters, NetFaults, SERVER_ADDR, SimNet};
use crate::stats::{Check, Op, OpCount, Stats, Violation, quantile};
use crate::world::{Account, Ctx};

/// How devices and server exchange datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Real quinn over the simulated network, on a paused (virtual) clock.
    SimQuic,
    /// The real client and server code over plain in-memory streams (no
    /// QUIC, no TLS, no latency), on a paused clock: for the largest runs.
    Memory,
    /// Real quinn over the operating system's UDP sockets on loopback, in
    /// real time.
    Udp,
}

/// A run's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Drives every choice.
    pub seed: u64,
    /// Accounts.
    pub accounts: usize,
    /// Devices each account links up to.
    pub devices_per_account: usize,
    /// Operations each account does after set-up.
    pub ops_per_account: usize,
    /// Accounts acting at once.
    pub concurrency: usize,
    /// The transport.
    pub transport: Transport,
    /// Network faults (loss, duplication, jitter), device crashes and slow
    /// approvers.
    pub faults: bool,
    /// Every `n`th account uses production Argon2 parameters (0: none).
    pub production_every: usize,
    /// A malicious server that attacks accounts now and then.
    pub malicious: bool,
    /// Where device folders go (a temporary folder by default).
    pub dir: Option<PathBuf>,
    /// Put a 32-byte device secret (a root key or identity key) into the
    /// server's storage before the scan:
    /// a test of the simulator's own checks, which must then fail.
    pub plant_secret: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 1,
            accounts: 250,
            devices_per_account: 4,
            ops_per_account: 12,
            concurrency: 250,
            transport: Transport::SimQuic,
            faults: true,
            production_every: 50,
            malicious: true,
            dir: None,
            plant_secret: false,
        }
    }
}

/// Latency quantiles of one operation, milliseconds of virtual time.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Samples.
    pub n: usize,
}

/// What a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The transport.
    pub transport: Transport,
    /// Accounts created.
    pub accounts: usize,
    /// Accounts at production Argon2 parameters; the rest used the
    /// labelled low-cost setting.
    pub production_kdf_accounts: usize,
    /// The low-cost setting, as text.
    pub low_cost_kdf: String,
    /// Devices that existed (created, linked or recovered).
    pub devices: usize,
    /// Operations by kind.
    pub ops: Vec<(String, OpCount)>,
    /// Operations in all.
    pub total_ops: u64,
    /// Faults injected, by kind.
    pub faults: Vec<(String, u64)>,
    /// The malicious server's attacks by kind.
    pub attacks: Vec<(String, stats::AttackCount)>,
    /// Datagrams by fate (simulated network only).
    pub network: Option<NetCounters>,
    /// Checks run, by name.
    pub checks: Vec<(String, u64)>,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Latency of link, backup and restore.
    pub latency: Vec<(String, Latency)>,
    /// Operations completed per virtual second (for charts).
    pub timeline: Vec<(u64, Vec<(String, u64)>)>,
    /// Faults injected per virtual second (for charts).
    pub fault_timeline: Vec<(u64, Vec<(String, u64)>)>,
    /// Latency samples, milliseconds (for histograms).
    pub latency_samples_ms: Vec<(String, Vec<f64>)>,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Virtual seconds simulated.
    pub virtual_s: f64,
    /// Operations per wall-clock second.
    pub ops_per_s: f64,
    /// Peak resident memory, MiB.
    pub peak_rss_mib: f64,
    /// SHA-256 of the operation trace, (simulated network) the packet
    /// schedule, and every object the server stored, hex.
    pub trace_hash: String,
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The runtime, a folder or the server could not be set up.
    #[error("could not set up the simulation: {0}")]
    Setup(String),
}

/// Devices on UDP sockets that accept the simulator's low-cost wraps.
struct LoopbackUdp;

impl Network for LoopbackUdp {
    fn client_endpoint(&self, server: std::net::SocketAddr) -> Result<AnyEndpoint, NetError> {
        Udp.client_endpoint(server)
    }

    fn listener(
        &self,
        identity: &ServerIdentity,
        bind: std::net::SocketAddr,
    ) -> Result<AnyEndpoint, NetError> {
        Udp.listener(identity, bind)
    }

    fn in_task_transfers(&self) -> bool {
        true
    }

    fn kdf_policy(&self) -> KdfPolicy {
        KdfPolicy::insecure_accept_weak()
    }
}

/// Devices on the in-memory transport: the real client code, no QUIC or
/// TLS, seeded randomness, the simulator's low-cost wraps accepted.
struct MemoryNetwork {
    net: MemNet,
    keys: Mutex<rand::rngs::ChaCha20Rng>,
    start: tokio::time::Instant,
}

/// The wall-clock time devices see at a run's start on a paused clock
/// (2026-01-01 00:00:00 UTC): the times written into log entries and
/// manifests, and link codes' expiry, then follow virtual time, so a run
/// repeats byte for byte.
pub const VIRTUAL_EPOCH_MS: u64 = 1_767_225_600_000;

/// Virtual wall-clock milliseconds: [`VIRTUAL_EPOCH_MS`] plus the virtual
/// time since `start`.
pub fn virtual_now_ms(start: tokio::time::Instant) -> u64 {
    let since = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    VIRTUAL_EPOCH_MS.saturating_add(since)
}

impl Network for MemoryNetwork {
    fn client_endpoint(&self, _server: std::net::SocketAddr) -> Result<AnyEndpoint, NetError> {
        Ok(self.net.client())
    }

    fn listener(
        &self,
        identity: &ServerIdentity,
        _bind: std::net::SocketAddr,
    ) -> Result<AnyEndpoint, NetError> {
        Ok(self.net.listen_anywhere(identity.fingerprint()))
    }

    fn in_task_transfers(&self) -> bool {
        true
    }

    fn kdf_policy(&self) -> KdfPolicy {
        KdfPolicy::insecure_accept_weak()
    }

    fn fill_random(&self, out: &mut [u8]) {
        use rand::Rng;
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fill_bytes(out);
    }

    fn now_ms(&self) -> u64 {
        virtual_now_ms(self.start)
    }
}

/// Devices planned by the runs going on in this process (tests run several
/// at once, and resident memory is the process's).
static PLANNED_DEVICES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The most devices planned at once so far: the allocator keeps what a run
/// that ended used, so resident memory does not fall back when it ends.
static PEAK_PLANNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Planned(u64);

impl Planned {
    fn new(devices: u64) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let now = PLANNED_DEVICES.fetch_add(devices, Relaxed) + devices;
        PEAK_PLANNED.fetch_max(now, Relaxed);
        Self(devices)
    }
}

impl Drop for Planned {
    fn drop(&mut self) {
        PLANNED_DEVICES.fetch_sub(self.0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Bytes the simulated servers of this process's runs hold in memory (their
/// disks): the memory bound allows for them.
pub(crate) static STORED_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The most bytes stored at once so far (see [`PEAK_PLANNED`]).
pub(crate) static PEAK_STORED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The resident-memory bound `memory_bounded` checks: 256 MiB, plus 256 KiB
/// per device, plus twice the bytes the servers store (a simulated disk
/// lives in memory), each at the most this process's runs have had at once.
/// Measured: about 150 KiB per live device over QUIC (1.9 GB for 12,700
/// devices at once).
pub fn memory_bound() -> u64 {
    use std::sync::atomic::Ordering::Relaxed;
    (256 << 20)
        + PEAK_PLANNED.load(Relaxed) * (256 << 10)
        + PEAK_STORED.load(Relaxed).saturating_mul(2)
}

pub(crate) fn seed32(seed: u64, what: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"keylink-sim/");
    h.update(what.as_bytes());
    h.update(seed.to_be_bytes());
    h.finalize().into()
}

fn server_config(devices: usize) -> ServerConfig {
    ServerConfig {
        max_connections: 1_000_000,
        // Recoveries and password checks of thousands of accounts from few
        // addresses: the limits protect a real server, not this one.
        wraps_per_account: (10_000, 10_000.0),
        per_address: (1_000_000, 1_000_000.0),
        max_relay_channels: devices * 2 + 1024,
        // The store is in memory: calling it inline keeps the order of
        // events independent of the operating system's thread scheduler.
        inline_store: true,
        ..ServerConfig::default()
    }
}

/// Run a simulation; `progress` sees (accounts finished, accounts).
///
/// # Errors
/// [`SimError::Setup`] if the runtime, folders or server cannot start.
/// Violations are in the report, not errors.
pub fn run(
    config: &Config,
    progress: impl Fn(usize, usize) + Send + Sync + 'static,
) -> Result<Report, SimError> {
    let setup = |e: &dyn std::fmt::Display| SimError::Setup(e.to_string());
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    if config.transport != Transport::Udp {
        builder.start_paused(true);
    }
    let runtime = builder.build().map_err(|e| setup(&e))?;
    let tmp = match &config.dir {
        Some(d) => tempfile::Builder::new()
            .prefix("keylink-sim-")
            .tempdir_in(d),
        None if std::path::Path::new("/dev/shm").is_dir() => tempfile::Builder::new()
            .prefix("keylink-sim-")
            .tempdir_in("/dev/shm"),
        None => tempfile::Builder::new().prefix("keylink-sim-").tempdir(),
    }
    .map_err(|e| setup(&e))?;
    let _planned = Planned::new((config.accounts * (config.devices_per_account + 2)) as u64);
    let wall = std::time::Instant::now();
    let report = runtime.block_on(simulate(config, tmp.path().to_path_buf(), progress))?;
    Ok(Report {
        wall_s: wall.elapsed().as_secs_f64(),
        ops_per_s: report.total_ops as f64 / wall.elapsed().as_secs_f64().max(1e-9),
        ..report
    })
}

async fn simulate(
    config: &Config,
    dir: PathBuf,
    progress: impl Fn(usize, usize) + Send + Sync + 'static,
) -> Result<Report, SimError> {
    let setup = |e: &dyn std::fmt::Display| SimError::Setup(e.to_string());
    let start = Instant::now();
    let devices = config.accounts * (config.devices_per_account + 2);
    let (store, disk) = disk::Disk::new_store();
    let identity = server_identity().map_err(|e| setup(&e))?;
    let faults = if config.faults {
        NetFaults {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(10),
            loss: 0.01,
            duplicate: 0.005,
        }
    } else {
        NetFaults::clean(Duration::from_millis(20))
    };
    let adversary = config.malicious.then(|| Arc::new(SimAdversary::default()));
    let mut server_config = server_config(devices);
    server_config.adversary = adversary
        .clone()
        .map(|a| a as Arc<dyn keylink_server::adversary::Adversary>);
    let (server, info, simnet, memnet) = match config.transport {
        Transport::SimQuic => {
            let net = SimNet::new(seed32(config.seed, "network"), faults, true);
            let socket = net.socket(Some(SERVER_ADDR));
            let server = Server::start_on(
                &identity,
                store.clone(),
                server_config.clone(),
                Socket::Abstract(socket),
                Some(seed32(config.seed, "server")),
            )
            .map_err(|e| setup(&e))?;
            let info = ServerInfo {
                addr: SERVER_ADDR,
                fingerprint: server.fingerprint(),
                net: Net::new(Arc::new(net.clone())),
            };
            (server, info, Some(net), None)
        }
        Transport::Memory => {
            use rand::SeedableRng;
            let net = MemNet::new(seed32(config.seed, "memory bindings"));
            let server = Server::start_memory(
                &identity,
                store.clone(),
                server_config.clone(),
                &net,
                SERVER_ADDR,
            );
            let info = ServerInfo {
                addr: SERVER_ADDR,
                fingerprint: server.fingerprint(),
                net: Net::new(Arc::new(MemoryNetwork {
                    net: net.clone(),
                    keys: Mutex::new(rand::rngs::ChaCha20Rng::from_seed(seed32(
                        config.seed,
                        "device randomness",
                    ))),
                    start: tokio::time::Instant::now(),
                })),
            };
            (server, info, None, Some(net))
        }
        Transport::Udp => {
            let server = Server::start(&identity, store.clone(), server_config.clone())
                .map_err(|e| setup(&e))?;
            let addr = server.local_addr().map_err(|e| setup(&e))?;
            let info = ServerInfo {
                addr,
                fingerprint: server.fingerprint(),
                net: Net::new(Arc::new(LoopbackUdp)),
            };
            (server, info, None, None)
        }
    };
    // The realms: three servers hosting only a realm, the third malicious
    // when attacks are on (not over real UDP, where the run does not repeat).
    let realm_adversary = config.malicious.then(|| {
        Arc::new(realms::RealmAdversary::new(seed32(
            config.seed,
            "realm adversary",
        )))
    });
    let mut realm_servers = Vec::new();
    let mut sim_realms = Vec::new();
    let mut realm_starts: Vec<Box<dyn Fn() -> Result<Server, String> + Send>> = Vec::new();
    if config.transport != Transport::Udp {
        for i in 0..realms::REALMS {
            let identity = realms::realm_identity(config.seed, i).map_err(|e| setup(&e))?;
            let realm_store = Arc::new(keylink_store::MemoryStore::new());
            let malicious = i == realms::REALMS - 1 && realm_adversary.is_some();
            let mut cfg = server_config.clone();
            cfg.adversary = None;
            cfg.realm = Some(keylink_server::RealmConfig {
                store: realm_store.clone(),
                throttle: keylink_realm::Throttle::NONE,
            });
            if malicious {
                cfg.adversary = realm_adversary
                    .clone()
                    .map(|a| a as Arc<dyn keylink_server::adversary::Adversary>);
            }
            let addr = realms::realm_addr(i);
            // A realm-only server keeps no accounts: an empty store of its own.
            let accounts: Arc<dyn Store> = Arc::new(keylink_store::MemoryStore::new());
            let start: Box<dyn Fn() -> Result<Server, String> + Send> = match (&simnet, &memnet) {
                (Some(net), _) => {
                    let net = net.clone();
                    let seed = seed32(config.seed, &format!("realm {i} endpoint"));
                    Box::new(move || {
                        Server::start_on(
                            &identity,
                            accounts.clone(),
                            cfg.clone(),
                            Socket::Abstract(net.socket(Some(addr))),
                            Some(seed),
                        )
                        .map_err(|e| e.to_string())
                    })
                }
                (None, Some(net)) => {
                    let net = net.clone();
                    Box::new(move || {
                        Ok(Server::start_memory(
                            &identity,
                            accounts.clone(),
                            cfg.clone(),
                            &net,
                            addr,
                        ))
                    })
                }
                (None, None) => continue,
            };
            let server = start().map_err(|e| setup(&e))?;
            sim_realms.push(realms::SimRealm {
                info: ServerInfo {
                    addr,
                    fingerprint: server.fingerprint(),
                    net: info.net.clone(),
                },
                store: realm_store,
                malicious,
            });
            realm_servers.push(Arc::new(tokio::sync::Mutex::new(Some(server))));
            realm_starts.push(start);
        }
    }
    let ctx = Arc::new(Ctx {
        realms: sim_realms,
        realm_adversary: realm_adversary.clone(),
        net: info.net.clone(),
        server: info,
        dir,
        stats: Mutex::new(Stats { ..Stats::default() }),
        production_every: config.production_every,
        devices_per_account: config.devices_per_account,
        ops_per_account: config.ops_per_account,
        faults: config.faults,
        start,
        adversary,
        simnet: simnet.clone(),
        store: store.clone(),
    });
    let server = Arc::new(tokio::sync::Mutex::new(Some(server)));
    let mut background = Vec::new();
    if let Some(net) = &simnet {
        background.push(tokio::spawn(sample_network(net.clone(), ctx.clone())));
    }
    // The server crashes and comes back on the same store, address and
    // certificate (not over real UDP, where its port could be taken).
    let restart: Option<Box<dyn Fn() -> Result<Server, String> + Send>> = match (&simnet, &memnet) {
        (Some(net), _) => {
            let (net, identity, store, cfg) =
                (net.clone(), identity, store.clone(), server_config.clone());
            Some(Box::new(move || {
                Server::start_on(
                    &identity,
                    store.clone(),
                    cfg.clone(),
                    Socket::Abstract(net.socket(Some(SERVER_ADDR))),
                    Some(net.endpoint_seed()),
                )
                .map_err(|e| e.to_string())
            }))
        }
        (None, Some(net)) => {
            let (net, identity, store, cfg) =
                (net.clone(), identity, store.clone(), server_config.clone());
            Some(Box::new(move || {
                Ok(Server::start_memory(
                    &identity,
                    store.clone(),
                    cfg.clone(),
                    &net,
                    SERVER_ADDR,
                ))
            }))
        }
        (None, None) => None,
    };
    if let (Some(start), true) = (restart, config.faults) {
        background.push(tokio::spawn(restart_server(
            server.clone(),
            start,
            seed32(config.seed, "server restarts"),
            ctx.clone(),
            "server restarts",
        )));
    }
    if config.faults {
        // Realms go down and come back too (on the same store and identity).
        for (i, (slot, start)) in realm_servers.iter().zip(realm_starts).enumerate() {
            background.push(tokio::spawn(restart_server(
                slot.clone(),
                start,
                seed32(config.seed, &format!("realm {i} restarts")),
                ctx.clone(),
                "realm restarts",
            )));
        }
    }
    if config.faults {
        background.push(tokio::spawn(disk::fill_now_and_then(
            disk.clone(),
            seed32(config.seed, "server disk"),
            ctx.clone(),
        )));
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = Arc::new(progress);
    let mut tasks = Vec::with_capacity(config.accounts);
    for index in 0..config.accounts {
        let production = config.production_every > 0 && index % config.production_every == 0;
        let ctx = ctx.clone();
        let permits = permits.clone();
        let done = done.clone();
        let progress = progress.clone();
        let total = config.accounts;
        let seed = config.seed;
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let mut account = Account::new(seed, index, production);
            account.run(&ctx).await;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, total);
            let made = account.devices_made();
            (account.trace_hash(), account.secrets, made, production)
        }));
    }
    let mut trace = Sha256::new();
    trace.update(config.seed.to_be_bytes());
    let mut secrets = Vec::new();
    let mut devices_made = 0;
    let mut production = 0;
    for t in tasks {
        let (hash, s, n, p) = t.await.map_err(|e| setup(&e))?;
        trace.update(hash);
        secrets.extend(s);
        devices_made += n;
        production += usize::from(p);
    }
    let virtual_s = start.elapsed().as_secs_f64();
    for b in background {
        b.abort();
    }
    disk.set_room(None);
    if let Some(server) = server.lock().await.take() {
        server.shutdown(Duration::from_millis(100)).await;
    }
    for slot in &realm_servers {
        if let Some(server) = slot.lock().await.take() {
            server.shutdown(Duration::from_millis(100)).await;
        }
    }
    if let Some(adv) = &realm_adversary {
        use std::sync::atomic::Ordering::Relaxed;
        let mut st = ctx
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.fault(
            "bad realm evaluations",
            adv.bad_evaluations.load(Relaxed),
            ctx.start,
        );
        st.fault(
            "realm counters lied about",
            adv.counter_lies.load(Relaxed),
            ctx.start,
        );
    }
    if config.plant_secret
        && let (Some(secret), Ok(key)) = (
            secrets.iter().find(|s| s.len() == 32),
            keylink_store::ObjectKey::new("planted"),
        )
    {
        let mut object = b"some stored bytes, then: ".to_vec();
        object.extend_from_slice(secret);
        let _ = store.put_if_absent(&key, &object);
    }
    // No secret in the server's storage.
    let accounts: std::collections::HashMap<String, usize> = (0..config.accounts)
        .map(|i| {
            let id = keylink_client::account_id_for(&world::account_name(config.seed, i));
            (hex::encode(id.as_bytes()), i)
        })
        .collect();
    scan_storage(store.as_ref(), &secrets, &accounts, &ctx, &mut trace);
    if let Some(net) = &simnet {
        trace.update(net.trace_hash());
    }
    let mut st = std::mem::take(
        &mut *ctx
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    st.peak_rss = st.peak_rss.max(stats::rss_bytes().unwrap_or(0));
    Ok(build_report(
        config,
        st,
        simnet.map(|n| n.counters()),
        devices_made,
        production,
        virtual_s,
        hex::encode(trace.finalize()),
    ))
}

/// Record the network's faults once a virtual second, for the charts.
async fn sample_network(net: SimNet, ctx: Arc<Ctx>) {
    let mut last = net.counters();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = net.counters();
        let mut st = ctx
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.fault("packets lost", now.lost - last.lost, ctx.start);
        st.fault(
            "packets duplicated",
            now.duplicated - last.duplicated,
            ctx.start,
        );
        st.fault(
            "packets partitioned",
            now.partitioned - last.partitioned,
            ctx.start,
        );
        last = now;
    }
}

/// Crash the server now and then (every 20 to 60 virtual seconds), keep it
/// down for up to 5 seconds, and start it again on the same store, address
/// and certificate.
async fn restart_server(
    slot: Arc<tokio::sync::Mutex<Option<Server>>>,
    start: impl Fn() -> Result<Server, String> + Send + 'static,
    seed: [u8; 32],
    ctx: Arc<Ctx>,
    label: &'static str,
) {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand::rngs::ChaCha20Rng::from_seed(seed);
    let debug = std::env::var_os("KEYLINK_SIM_DEBUG").is_some();
    loop {
        tokio::time::sleep(Duration::from_millis(rng.random_range(20_000..60_000))).await;
        let Some(server) = slot.lock().await.take() else {
            return;
        };
        // A crash: no grace for requests in flight.
        if debug {
            eprintln!("{:?} server going down", ctx.start.elapsed());
        }
        server.shutdown(Duration::ZERO).await;
        ctx.stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .fault(label, 1, ctx.start);
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..5_000))).await;
        match start() {
            Ok(s) => {
                if debug {
                    eprintln!("{:?} server up", ctx.start.elapsed());
                }
                *slot.lock().await = Some(s);
            }
            Err(why) => {
                let mut st = ctx
                    .stats
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                st.check(Check::DevicesRecover);
                st.violations.push(Violation {
                    check: Check::DevicesRecover,
                    account: None,
                    step: 0,
                    detail: format!("the server could not start again after a crash: {why}"),
                    trace: Vec::new(),
                });
                return;
            }
        }
    }
}

/// Secrets to look for in stored bytes, indexed by their first 8 bytes.
pub struct SecretIndex<'a> {
    by_prefix: std::collections::HashMap<[u8; 8], Vec<&'a [u8]>>,
}

impl<'a> SecretIndex<'a> {
    /// Index `secrets` (those shorter than 8 bytes are not looked for).
    pub fn new(secrets: &'a [Vec<u8>]) -> Self {
        let mut by_prefix: std::collections::HashMap<[u8; 8], Vec<&[u8]>> =
            std::collections::HashMap::new();
        for s in secrets.iter().filter(|s| s.len() >= 8) {
            let mut p = [0u8; 8];
            p.copy_from_slice(&s[..8]);
            by_prefix.entry(p).or_default().push(s);
        }
        Self { by_prefix }
    }

    /// Where the first secret starts in `bytes`, if one is there.
    pub fn find(&self, bytes: &[u8]) -> Option<usize> {
        bytes.windows(8).enumerate().find_map(|(i, w)| {
            let mut p = [0u8; 8];
            p.copy_from_slice(w);
            self.by_prefix
                .get(&p)
                .and_then(|c| c.iter().find(|s| bytes[i..].starts_with(s)))
                .map(|_| i)
        })
    }
}

/// An Ed25519 certificate with a fixed serial number, so its size (and so
/// every handshake's packet sizes) is the same in every run.
fn server_identity() -> Result<ServerIdentity, String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::new(vec!["keylink-server".to_string()])
        .map_err(|e| e.to_string())?;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x4b; 16]));
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    ServerIdentity::from_der(cert.der().to_vec(), key.serialize_der()).map_err(|e| e.to_string())
}

/// Look for every secret in every stored object.
fn scan_storage(
    store: &dyn Store,
    secrets: &[Vec<u8>],
    accounts: &std::collections::HashMap<String, usize>,
    ctx: &Ctx,
    trace: &mut Sha256,
) {
    let index = SecretIndex::new(secrets);
    let mut keys = match store.list("") {
        Ok(k) => k,
        Err(e) => {
            record(
                ctx,
                Check::NoSecretInStorage,
                false,
                None,
                format!("cannot list storage: {e}"),
            );
            return;
        }
    };
    // Every stored byte goes into the trace too: a run that repeats leaves
    // the same storage behind.
    keys.sort();
    for key in keys {
        let Ok(bytes) = store.get(&key, usize::MAX) else {
            trace.update(b"unreadable");
            continue;
        };
        for part in [key.as_str().as_bytes(), bytes.as_slice()] {
            trace.update((part.len() as u64).to_be_bytes());
            trace.update(part);
        }
        let hit = index.find(&bytes);
        let already = ctx
            .stats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .flagged_objects
            .contains(key.as_str());
        if already {
            // Reported by the account's own scan after the step that stored it.
            continue;
        }
        record(
            ctx,
            Check::NoSecretInStorage,
            hit.is_none(),
            key.as_str()
                .strip_prefix("a/")
                .and_then(|k| k.get(..32))
                .and_then(|hex| accounts.get(hex).copied()),
            format!(
                "a secret appears in stored object {} at byte {}",
                key.as_str(),
                hit.unwrap_or(0)
            ),
        );
    }
}

fn record(ctx: &Ctx, check: Check, ok: bool, account: Option<usize>, detail: String) {
    let mut st = ctx
        .stats
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    st.check(check);
    if !ok {
        st.violations.push(Violation {
            check,
            account,
            step: 0,
            detail,
            trace: Vec::new(),
        });
    }
}

fn build_report(
    config: &Config,
    mut st: Stats,
    network: Option<NetCounters>,
    devices: usize,
    production: usize,
    virtual_s: f64,
    trace_hash: String,
) -> Report {
    let total_ops = st.ops.values().map(|c| c.ok + c.failed).sum();
    let mut faults = Vec::new();
    if let Some(n) = &network {
        faults.push(("packets lost".to_string(), n.lost));
        faults.push(("packets duplicated".to_string(), n.duplicated));
        faults.push(("packets reordered".to_string(), n.reordered));
        faults.push(("packets dropped by partitions".to_string(), n.partitioned));
    }
    let mut others: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for row in st.fault_timeline.values() {
        for (kind, n) in row {
            if !kind.starts_with("packets") && !Attack::ALL.iter().any(|a| a.name() == kind) {
                *others.entry(kind.as_str()).or_default() += n;
            }
        }
    }
    for (kind, n) in others {
        faults.push((kind.to_string(), n));
    }
    let mut latency = Vec::new();
    let mut samples = Vec::new();
    for op in [Op::Link, Op::Backup, Op::Restore] {
        let v = st.latency_us.entry(op).or_default();
        let ms = |us: u64| us as f64 / 1000.0;
        latency.push((
            op.name().to_string(),
            Latency {
                p50_ms: ms(quantile(v, 0.50)),
                p95_ms: ms(quantile(v, 0.95)),
                p99_ms: ms(quantile(v, 0.99)),
                n: v.len(),
            },
        ));
        samples.push((op.name().to_string(), v.iter().map(|&u| ms(u)).collect()));
    }
    Report {
        seed: config.seed,
        transport: config.transport,
        accounts: config.accounts,
        production_kdf_accounts: production,
        low_cost_kdf: "Argon2id m=64 KiB t=1 p=1 (insecure, simulation only)".into(),
        devices,
        ops: st
            .ops
            .iter()
            .map(|(k, v)| (k.name().to_string(), *v))
            .collect(),
        total_ops,
        faults,
        attacks: st
            .attacks
            .iter()
            .map(|(k, v)| (k.name().to_string(), *v))
            .collect(),
        network,
        checks: st
            .checks
            .iter()
            .map(|(k, v)| (k.name().to_string(), *v))
            .collect(),
        violations: st.violations,
        latency,
        timeline: st
            .timeline
            .iter()
            .map(|(s, m)| {
                (
                    *s,
                    m.iter().map(|(k, v)| (k.name().to_string(), *v)).collect(),
                )
            })
            .collect(),
        latency_samples_ms: samples,
        fault_timeline: st
            .fault_timeline
            .iter()
            .map(|(s, m)| (*s, m.iter().map(|(k, v)| (k.clone(), *v)).collect()))
            .collect(),
        wall_s: 0.0,
        virtual_s,
        ops_per_s: 0.0,
        peak_rss_mib: st.peak_rss as f64 / f64::from(1 << 20),
        trace_hash,
    }
}
