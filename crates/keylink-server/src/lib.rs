//! The keylink server: the untrusted cloud.
//!
//! What it does: keeps each account's signed log (verifying every append
//! with the same rules devices use, and accepting it only on top of the
//! current head), the account's key wraps, and its encrypted objects; relays
//! linking sessions between two devices; authenticates devices by a
//! challenge signed with their identity key and bound to the QUIC
//! connection; and refuses a revoked device everything from the moment its
//! removal is in the log. Everything it keeps lives in one
//! [`keylink_store::Store`], so several processes can share a store.
//!
//! What it does not do: it never holds a key that opens anything, and
//! clients never trust its checks — they verify the log and every object
//! themselves. It never logs object contents or wraps.
//!
//! Trust assumptions: none toward clients; every input is bounded and
//! checked. The operator's storage is where availability comes from, not
//! confidentiality.

mod accounts;
pub mod adversary;
pub mod client;
pub mod cmd;
mod conn;
mod error;
mod limits;
mod realm;
mod relay;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use keylink_keys::AccountId;
use keylink_net::{
    AnyEndpoint, EndpointLimits, Fingerprint, MemNet, ServerIdentity, Socket, server_endpoint,
    server_endpoint_on,
};
use keylink_store::Store;

pub use accounts::{account_prefix, client_key_allowed};
pub use client::ServerClient;
pub use conn::auth_message;
pub use error::{ClientError, ServerError};
pub use limits::RateLimiter;
pub use realm::RealmConfig;

/// What a server allows.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Per-connection QUIC limits.
    pub endpoint: EndpointLimits,
    /// Most connections at once; more are refused.
    pub max_connections: usize,
    /// Largest object a client may store.
    pub max_object_len: usize,
    /// Bytes an account may store (objects and wraps; its log is not
    /// counted). Enforced by each server on what it sees: with several
    /// servers sharing a store, a server learns of the others' writes when
    /// it next loads the account's usage (at first use after a start).
    pub quota_bytes: u64,
    /// Wrap requests per account: burst, then per second.
    pub wraps_per_account: (u32, f64),
    /// Unauthenticated requests per source address: burst, then per second.
    pub per_address: (u32, f64),
    /// Relay channels waiting at once.
    pub max_relay_channels: usize,
    /// How long a relay channel waits for its second side.
    pub relay_ttl: Duration,
    /// How long a new stream may take to deliver its request.
    pub request_timeout: Duration,
    /// Call the store on the request's own task instead of a blocking
    /// thread. Only for a store that never blocks (in memory), as in a
    /// simulation on a paused clock, where a blocking thread would make
    /// the order of events depend on the operating system's scheduler.
    pub inline_store: bool,
    /// The realm this server hosts (§19), with its own store; `None`: no
    /// realm, and realm requests are refused.
    pub realm: Option<RealmConfig>,
    /// A scripted dishonest operator (the simulator's); `None` for an
    /// honest server. Exists only with the `simulation` feature.
    #[cfg(feature = "simulation")]
    pub adversary: Option<std::sync::Arc<dyn adversary::Adversary>>,
}

impl ServerConfig {
    /// The installed adversary: never one without the `simulation` feature.
    pub(crate) fn adversary(&self) -> Option<&std::sync::Arc<dyn adversary::Adversary>> {
        #[cfg(feature = "simulation")]
        return self.adversary.as_ref();
        #[cfg(not(feature = "simulation"))]
        None
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            endpoint: EndpointLimits::default(),
            max_connections: 10_000,
            max_object_len: 10 << 20,
            quota_bytes: 100 << 30,
            wraps_per_account: (5, 1.0 / 12.0),
            per_address: (200, 50.0),
            max_relay_channels: 20_000,
            relay_ttl: relay::CHANNEL_TTL,
            request_timeout: Duration::from_secs(20),
            inline_store: false,
            realm: None,
            #[cfg(feature = "simulation")]
            adversary: None,
        }
    }
}

/// State shared by every connection.
pub(crate) struct Shared {
    accounts: accounts::Accounts,
    relay: relay::Relay,
    realm: Option<realm::Realm>,
    wraps_by_account: RateLimiter<AccountId>,
    by_addr: RateLimiter<IpAddr>,
    config: ServerConfig,
    stopping: AtomicBool,
    /// Bytes stored per account, as this server knows them.
    usage: tokio::sync::Mutex<std::collections::HashMap<AccountId, u64>>,
    /// One clone per request in flight; shutdown waits for them.
    in_flight: Arc<()>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// How long a stopping server waits for peers to acknowledge its close.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// A running server.
pub struct Server {
    endpoint: AnyEndpoint,
    shared: Arc<Shared>,
    fingerprint: Fingerprint,
    accept: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Bind and start serving. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`ServerError::Net`] if the address cannot be bound.
    pub fn start(
        identity: &ServerIdentity,
        store: Arc<dyn Store>,
        config: ServerConfig,
    ) -> Result<Self, ServerError> {
        let endpoint = server_endpoint(identity, config.listen, config.endpoint)?;
        Ok(Self::serve(endpoint.into(), identity, store, config))
    }

    /// Start serving on `socket` instead of binding `config.listen`: a
    /// simulator's network, with `rng_seed` fixing the endpoint's own random
    /// choices. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`ServerError::Net`] if the endpoint cannot start.
    pub fn start_on(
        identity: &ServerIdentity,
        store: Arc<dyn Store>,
        config: ServerConfig,
        socket: Socket,
        rng_seed: Option<[u8; 32]>,
    ) -> Result<Self, ServerError> {
        let endpoint = server_endpoint_on(identity, socket, config.endpoint, rng_seed)?;
        Ok(Self::serve(endpoint.into(), identity, store, config))
    }

    /// Serve at `addr` on an in-memory network (a simulation's, for runs
    /// where QUIC handshakes would cost more than what is under test).
    /// Must run inside a tokio runtime.
    pub fn start_memory(
        identity: &ServerIdentity,
        store: Arc<dyn Store>,
        config: ServerConfig,
        net: &MemNet,
        addr: SocketAddr,
    ) -> Self {
        let endpoint = net.listen(addr, identity.fingerprint());
        Self::serve(endpoint, identity, store, config)
    }

    fn serve(
        endpoint: AnyEndpoint,
        identity: &ServerIdentity,
        store: Arc<dyn Store>,
        config: ServerConfig,
    ) -> Self {
        let shared = Arc::new(Shared {
            accounts: accounts::Accounts::new(store, config.inline_store),
            relay: relay::Relay::new(config.max_relay_channels, config.relay_ttl),
            realm: config.realm.clone().map(|r| {
                realm::Realm::new(r, *identity.fingerprint().as_bytes(), config.inline_store)
            }),
            wraps_by_account: RateLimiter::new(
                config.wraps_per_account.0,
                config.wraps_per_account.1,
                1_000_000,
            ),
            by_addr: RateLimiter::new(config.per_address.0, config.per_address.1, 1_000_000),
            config,
            stopping: AtomicBool::new(false),
            usage: tokio::sync::Mutex::new(std::collections::HashMap::new()),
            in_flight: Arc::new(()),
        });
        let accept = tokio::spawn(accept_loop(endpoint.clone(), shared.clone()));
        Self {
            endpoint,
            shared,
            fingerprint: identity.fingerprint(),
            accept,
        }
    }

    /// The address it listens on.
    ///
    /// # Errors
    /// If the socket has no address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Relay channels waiting for their second side.
    pub fn relay_waiting(&self) -> usize {
        self.shared.relay.waiting()
    }

    /// The certificate fingerprint clients pin.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Stop accepting, let requests in flight finish (up to `grace`), then
    /// close every connection (waiting at most 2 s for peers to
    /// acknowledge).
    pub async fn shutdown(self, grace: Duration) {
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.accept.abort();
        let deadline = tokio::time::Instant::now() + grace;
        while Arc::strong_count(&self.shared.in_flight) > 1
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.endpoint.close(0, b"server shutting down");
        // Every peer has been told; waiting for all to acknowledge can take
        // up to the idle timeout when some are unreachable, and a closing
        // endpoint refuses new connections meanwhile (a restart would stay
        // down that long). Give the close frames a moment, no more.
        let _ = tokio::time::timeout(CLOSE_LINGER, self.endpoint.wait_idle()).await;
    }
}

/// A store call failed to finish (its blocking task panicked).
#[derive(Debug)]
pub(crate) struct StoreTaskFailed;

/// Run a store call: on a blocking thread, or inline when `inline` (a
/// store that never blocks).
pub(crate) async fn store_call<T, F>(inline: bool, call: F) -> Result<T, StoreTaskFailed>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if inline {
        Ok(call())
    } else {
        tokio::task::spawn_blocking(call)
            .await
            .map_err(|_| StoreTaskFailed)
    }
}

async fn accept_loop(endpoint: AnyEndpoint, shared: Arc<Shared>) {
    let connections = Arc::new(tokio::sync::Semaphore::new(shared.config.max_connections));
    while let Some(incoming) = endpoint.accept().await {
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            incoming.refuse();
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Ok(conn) = incoming.accept().await {
                conn::serve(shared, conn).await;
            }
            drop(permit);
        });
    }
}
