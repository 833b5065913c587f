//! `keylink-server --data DIR [--listen ADDR] [--config FILE] [--s3-url URL]`:
//! run a keylink server. Prints the address and the certificate fingerprint
//! clients pin. Settings come from flags, then an optional TOML file, then
//! defaults (a flag wins over the file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use keylink_net::ServerIdentity;
use keylink_server::{Server, ServerConfig};
use keylink_store::LocalDirStore;

/// Run a keylink server.
#[derive(Parser, Debug)]
#[command(name = "keylink-server", version)]
struct Args {
    /// Data folder: the server's certificate, and every stored object unless
    /// --s3-url is given.
    #[arg(long, env = "KEYLINK_SERVER_DATA")]
    data: PathBuf,
    /// A TOML file with any of: listen, s3_url, per_address_burst,
    /// per_address_rate, max_connections, max_object_bytes, quota_bytes,
    /// relay_ttl_secs.
    #[arg(long, env = "KEYLINK_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (UDP) [default 127.0.0.1:4433].
    #[arg(long, env = "KEYLINK_SERVER_LISTEN")]
    listen: Option<SocketAddr>,
    /// Keep objects and logs in an S3-compatible store instead of the data
    /// folder: http(s)://host:port/bucket, with the keys in
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Several servers may share
    /// one bucket.
    #[arg(long, env = "KEYLINK_SERVER_S3_URL")]
    s3_url: Option<String>,
    /// Requests without device authentication (account creation, wrap and
    /// log fetches, relay channels) one source address may make at once [200].
    #[arg(long)]
    per_address_burst: Option<u32>,
    /// ... and per second after the burst [50].
    #[arg(long)]
    per_address_rate: Option<f64>,
    /// Most connections at once [10000].
    #[arg(long)]
    max_connections: Option<usize>,
}

/// The optional TOML file.
#[derive(serde::Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    s3_url: Option<String>,
    per_address_burst: Option<u32>,
    per_address_rate: Option<f64>,
    max_connections: Option<usize>,
    max_object_bytes: Option<usize>,
    quota_bytes: Option<u64>,
    relay_ttl_secs: Option<u64>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keylink-server: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keylink-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
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
        relay_ttl: file
            .relay_ttl_secs
            .map(Duration::from_secs)
            .unwrap_or(d.relay_ttl),
        ..d
    };
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
    let server = Server::start(&identity, store, config)?;
    println!("keylink-server listening on {}", server.local_addr()?);
    println!("certificate fingerprint: {}", server.fingerprint());
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
