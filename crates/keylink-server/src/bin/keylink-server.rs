//! `keylink-server --data DIR [--listen ADDR] [--config FILE] [--s3-url URL]`:
//! run a keylink server. Prints the address and the certificate fingerprint
//! clients pin. Settings come from flags, then an optional TOML file, then
//! defaults (a flag wins over the file).

use std::process::ExitCode;

use clap::Parser;
use keylink_server::cmd::{ServerArgs, run};

/// Run a keylink server.
#[derive(Parser, Debug)]
#[command(name = "keylink-server", version)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
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
    match runtime.block_on(run(args.server)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keylink-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
