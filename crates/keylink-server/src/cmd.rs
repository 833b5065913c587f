//! The server command: flags, the optional TOML file, and running until
//! SIGINT or SIGTERM. Shared by the `keylink-server` binary and
//! `keylink server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use keylink_net::ServerIdentity;
use keylink_store::LocalDirStore;

use crate::{Server, ServerConfig};

/// Run a keylink server.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// Data folder: the server's certificate, and every stored object unless
    /// --s3-url is given.
    #[arg(long, env = "KEYLINK_SERVER_DATA")]
    pub data: PathBuf,
    /// A TOML file with any of: listen, s3_url, per_address_burst,
    /// per_address_rate, max_connections, max_object_bytes, quota_bytes,
    /// relay_ttl_secs, wraps_per_account_burst, wraps_per_account_rate,
    /// realm_free_guesses, realm_guess_interval_secs.
    #[arg(long, env = "KEYLINK_SERVER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (UDP) (default 127.0.0.1:4433).
    #[arg(long, env = "KEYLINK_SERVER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Keep objects and logs in an S3-compatible store instead of the data
    /// folder: http(s)://host:port/bucket, with the keys in
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Several servers may share
    /// one bucket.
    #[arg(long, env = "KEYLINK_SERVER_S3_URL")]
    pub s3_url: Option<String>,
    /// Requests without device authentication (account creation, wrap and
    /// log fetches, relay channels) one source address may make at once (default 200).
    #[arg(long)]
    pub per_address_burst: Option<u32>,
    /// ... and per second after the burst (default 50).
    #[arg(long)]
    pub per_address_rate: Option<f64>,
    /// Most connections at once (default 10000).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Host no realm. By default the server hosts one (docs/protocol.md
    /// §19), keeping its guess counters in DATA/realm — never in the S3
    /// bucket. Back that folder up: losing it disables password recovery
    /// through this realm until a current device re-registers, and an old
    /// copy hands back the guesses counted since.
    #[arg(long)]
    pub no_realm: bool,
    /// Password guesses the realm allows at once per account before it
    /// spaces them (default 3).
    #[arg(long)]
    pub realm_free_guesses: Option<u16>,
    /// Seconds between later guesses (default 1200: three an hour).
    #[arg(long)]
    pub realm_guess_interval_secs: Option<u64>,
}

/// The optional TOML file.
#[derive(serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub s3_url: Option<String>,
    pub per_address_burst: Option<u32>,
    pub per_address_rate: Option<f64>,
    pub max_connections: Option<usize>,
    max_object_bytes: Option<usize>,
    quota_bytes: Option<u64>,
    relay_ttl_secs: Option<u64>,
    wraps_per_account_burst: Option<u32>,
    wraps_per_account_rate: Option<f64>,
    realm_free_guesses: Option<u16>,
    realm_guess_interval_secs: Option<u64>,
}

/// Run a server as `args` say, printing its address and fingerprint, until
/// SIGINT or SIGTERM.
///
/// # Errors
/// Bad settings, or the server cannot start.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("{} is not a valid configuration", path.display()))?
        }
        None => FileConfig::default(),
    };
    let d = ServerConfig::default();
    let config = ServerConfig {
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 4433))),
        per_address: (
            args.per_address_burst
                .or(file.per_address_burst)
                .unwrap_or(d.per_address.0),
            args.per_address_rate
                .or(file.per_address_rate)
                .unwrap_or(d.per_address.1),
        ),
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(d.max_connections),
        max_object_len: file.max_object_bytes.unwrap_or(d.max_object_len),
        quota_bytes: file.quota_bytes.unwrap_or(d.quota_bytes),
        wraps_per_account: (
            file.wraps_per_account_burst
                .unwrap_or(d.wraps_per_account.0),
            file.wraps_per_account_rate.unwrap_or(d.wraps_per_account.1),
        ),
        relay_ttl: file
            .relay_ttl_secs
            .map(Duration::from_secs)
            .unwrap_or(d.relay_ttl),
        ..d
    };
    let wrap_rate = config.wraps_per_account.1;
    if !(wrap_rate.is_finite() && wrap_rate > 0.0) || config.wraps_per_account.0 == 0 {
        anyhow::bail!(
            "wraps_per_account_burst must be at least 1 and wraps_per_account_rate a positive number"
        );
    }
    let rate = config.per_address.1;
    if !(rate.is_finite() && rate > 0.0) || config.per_address.0 == 0 {
        anyhow::bail!(
            "per_address_burst must be at least 1 and per_address_rate a positive number"
        );
    }
    if config.max_object_len > keylink_net::MAX_FRAME - 4096 {
        anyhow::bail!(
            "max_object_bytes can be at most {} (the frame limit)",
            keylink_net::MAX_FRAME - 4096
        );
    }
    let identity = ServerIdentity::load_or_generate(&args.data.join("identity"))?;
    let store: Arc<dyn keylink_store::Store> = match args.s3_url.or(file.s3_url) {
        Some(url) => {
            let s3 = keylink_store::S3Config::from_url_and_env(&url)?;
            eprintln!(
                "storage: S3-compatible bucket {} at {}",
                s3.bucket, s3.endpoint
            );
            Arc::new(keylink_store::S3Store::connect(&s3)?)
        }
        None => Arc::new(LocalDirStore::open(args.data.join("objects"))?),
    };
    let realm = if args.no_realm {
        None
    } else {
        let d = keylink_realm::Throttle::DEFAULT;
        let throttle = keylink_realm::Throttle {
            free: args
                .realm_free_guesses
                .or(file.realm_free_guesses)
                .unwrap_or(d.free),
            interval_ms: args
                .realm_guess_interval_secs
                .or(file.realm_guess_interval_secs)
                .map_or(d.interval_ms, |s| s.saturating_mul(1000)),
        };
        Some(crate::RealmConfig {
            store: Arc::new(LocalDirStore::open(args.data.join("realm"))?),
            throttle,
        })
    };
    let config = ServerConfig { realm, ..config };
    let server = Server::start(&identity, store, config)?;
    println!("keylink-server listening on {}", server.local_addr()?);
    println!("certificate fingerprint: {}", server.fingerprint());
    if !args.no_realm {
        // Standard error: standard output's two lines are what scripts read.
        eprintln!(
            "realm: password guess counters in {} (back this folder up)",
            args.data.join("realm").display()
        );
    }
    use std::io::Write;
    std::io::stdout().flush()?;
    wait_for_stop_signal().await?;
    eprintln!("keylink-server: shutting down");
    server.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM, as service managers send.
async fn wait_for_stop_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
