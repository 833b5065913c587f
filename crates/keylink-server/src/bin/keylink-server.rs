//! `keylink-server --data DIR --listen ADDR`: run a keylink server on a
//! local directory. Prints the certificate fingerprint clients pin.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use keylink_net::ServerIdentity;
use keylink_server::{Server, ServerConfig};
use keylink_store::LocalDirStore;

/// Run a keylink server.
#[derive(Parser, Debug)]
#[command(name = "keylink-server", version)]
struct Args {
    /// Data folder: the server's certificate and every stored object.
    #[arg(long, env = "KEYLINK_SERVER_DATA")]
    data: PathBuf,
    /// Address to listen on (UDP).
    #[arg(long, default_value = "127.0.0.1:4433", env = "KEYLINK_SERVER_LISTEN")]
    listen: SocketAddr,
    /// Requests without device authentication (account creation, wrap and
    /// log fetches, relay channels) a single source address may make at once.
    #[arg(long, default_value_t = 200)]
    per_address_burst: u32,
    /// ... and per second after the burst.
    #[arg(long, default_value_t = 50.0)]
    per_address_rate: f64,
    /// Most connections at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Keep objects and logs in an S3-compatible store instead of the data
    /// folder: http(s)://host:port/bucket, with the keys in
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Several servers may share
    /// one bucket.
    #[arg(long, env = "KEYLINK_SERVER_S3_URL")]
    s3_url: Option<String>,
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
    let identity = ServerIdentity::load_or_generate(&args.data.join("identity"))?;
    let store: Arc<dyn keylink_store::Store> = match &args.s3_url {
        Some(url) => {
            let config = keylink_store::S3Config::from_url_and_env(url)?;
            eprintln!(
                "storage: S3-compatible bucket {} at {}",
                config.bucket, config.endpoint
            );
            Arc::new(keylink_store::S3Store::connect(&config)?)
        }
        None => Arc::new(LocalDirStore::open(args.data.join("objects"))?),
    };
    let config = ServerConfig {
        listen: args.listen,
        per_address: (args.per_address_burst, args.per_address_rate),
        max_connections: args.max_connections,
        ..ServerConfig::default()
    };
    let server = Server::start(&identity, store, config)?;
    println!("keylink-server listening on {}", server.local_addr()?);
    println!("certificate fingerprint: {}", server.fingerprint());
    use std::io::Write;
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    eprintln!("keylink-server: shutting down");
    server.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
