//! Load and throughput tool for the keylink server.
//!
//! ```text
//! keylink-load load [--channels 1000] [--uploads 1000]
//!     Starts the keylink-server binary (next to this one) on a temporary
//!     folder, holds N relay channels open at once (each exchanging frames)
//!     and N concurrent object uploads, then prints p50/p99 latencies, the
//!     error count and the server's peak memory. Exits non-zero on any error.
//! keylink-load throughput [--mib 256]
//!     In one process, on loopback: a bare quinn stream's throughput, then
//!     keylink object uploads (1 MiB objects, authenticated, in-memory
//!     store), and their ratio.
//! ```

use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use keylink_account::create_account;
use keylink_keys::{AccountId, DeviceIdentity, KdfParams, Password};
use keylink_net::{
    Fingerprint, ServerIdentity, ServerTrust, client_endpoint, read_frame, write_frame,
};
use keylink_server::{Server, ServerClient, ServerConfig};
use keylink_store::MemoryStore;
use keylink_wire::Wire;
use keylink_wire::account::DeviceName;
use keylink_wire::server::{Request, Response};

#[derive(Parser)]
#[command(name = "keylink-load")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Concurrent relay channels and uploads against a server process.
    Load {
        /// Relay channels held open at once.
        #[arg(long, default_value_t = 1000)]
        channels: usize,
        /// Concurrent object uploads.
        #[arg(long, default_value_t = 1000)]
        uploads: usize,
    },
    /// Bare QUIC stream throughput against keylink uploads.
    Throughput {
        /// MiB to send in each measurement.
        #[arg(long, default_value_t = 256)]
        mib: usize,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keylink-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match args.mode {
            Mode::Load { channels, uploads } => load(channels, uploads).await,
            Mode::Throughput { mib } => throughput(mib).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keylink-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A new account with one device, created through `client`.
async fn account(client: &ServerClient) -> anyhow::Result<(AccountId, DeviceIdentity)> {
    let mut rng = rand_core::UnwrapErr(rand::rngs::SysRng);
    let device = DeviceIdentity::generate(&mut rng);
    let pw = Password::new("load test password")?;
    let new = create_account(
        &device,
        DeviceName::new("load")?,
        &pw,
        KdfParams::insecure_for_tests(8, 1, 1),
        None,
        0,
        &mut rng,
    )?;
    let (account, g, wrap) = (new.account, new.genesis, new.password_wrap);
    client
        .request(&Request::CreateAccount {
            genesis: g.encode(),
            password_wrap: wrap.to_bytes(),
            recovery_wrap: None,
        })
        .await?;
    Ok((account, device))
}

fn prefix(account: &AccountId) -> String {
    let hex: String = account
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("a/{hex}/chunks/")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "  {name:<28} n={:<5} p50={:>8.2} ms  p99={:>8.2} ms  max={:>8.2} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

async fn connections(
    n: usize,
    addr: SocketAddr,
    trust: &ServerTrust,
) -> anyhow::Result<Vec<ServerClient>> {
    let ep = client_endpoint("127.0.0.1:0".parse()?)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(ServerClient::connect(&ep, addr, trust).await?);
    }
    Ok(out)
}

async fn load(channels: usize, uploads: usize) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let exe = std::env::current_exe()?.with_file_name("keylink-server");
    let mut child = Command::new(&exe)
        // Every client here shares one source address: lift the
        // per-address limit that would otherwise (rightly) throttle it.
        .args([
            "--data",
            &data.path().display().to_string(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--per-address-burst",
            "1000000",
            "--per-address-rate",
            "1000000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| {
            format!(
                "start {} (build it first: cargo build -p keylink-server --bins)",
                exe.display()
            )
        })?;
    let pid = child.id();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stdout.take().context("no stdout")?,
    ));
    let addr: SocketAddr = lines
        .next()
        .context("no address")??
        .rsplit(' ')
        .next()
        .context("no address")?
        .parse()?;
    let fp = Fingerprint::parse(
        lines
            .next()
            .context("no fingerprint")??
            .rsplit(' ')
            .next()
            .context("no fingerprint")?,
    )?;
    let trust = ServerTrust::Pinned(fp);
    let result = run_load(addr, &trust, channels, uploads).await;
    let peak = peak_rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    let errors = result?;
    println!(
        "  server peak memory (VmHWM): {:.1} MiB",
        peak as f64 / 1024.0
    );
    if errors > 0 {
        bail!("{errors} operations failed");
    }
    println!("  0 errors");
    Ok(())
}

async fn run_load(
    addr: SocketAddr,
    trust: &ServerTrust,
    channels: usize,
    uploads: usize,
) -> anyhow::Result<usize> {
    println!(
        "keylink-load: {channels} relay channels held at once, {uploads} concurrent uploads, server at {addr}"
    );
    // Relay: openers and joiners on separate connections, 25 streams each.
    let per = 25;
    let openers = connections(channels.div_ceil(per), addr, trust).await?;
    let joiners = connections(channels.div_ceil(per), addr, trust).await?;
    let started = Instant::now();
    let barrier = Arc::new(tokio::sync::Barrier::new(channels));
    let mut tasks = Vec::new();
    for i in 0..channels {
        let (a, b, barrier) = (
            openers[i / per].clone(),
            joiners[i / per].clone(),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let result = relay_setup(&a, &b, i).await;
            // Every task reaches the barrier, failed or not, so none waits forever.
            barrier.wait().await;
            match result {
                Ok((latency, streams)) => relay_finish(streams).await.map(|()| latency),
                Err(e) => Err(e),
            }
        }));
    }
    let mut relay_lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(d)) => relay_lat.push(d),
            _ => errors += 1,
        }
    }
    println!(
        "  relay: {} channels open at once, all done in {:.2} s",
        channels,
        started.elapsed().as_secs_f64()
    );
    report("relay open+join+round trip", relay_lat);

    // Uploads: one account, 40 authenticated connections.
    let setup = connections(1, addr, trust).await?;
    let first = setup.first().context("no connection")?;
    let (account, device) = account(first).await?;
    let uploaders = connections(40, addr, trust).await?;
    for c in &uploaders {
        c.authenticate(&account, &device).await?;
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    let p = prefix(&account);
    for i in 0..uploads {
        let (c, key) = (
            uploaders[i % uploaders.len()].clone(),
            format!("{p}load-{i:05}"),
        );
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            c.put_object(&key, vec![(i % 251) as u8; 64 << 10])
                .await
                .map(|_| t.elapsed())
        }));
    }
    let mut up_lat = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(d)) => up_lat.push(d),
            _ => errors += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  uploads: {uploads} x 64 KiB in {secs:.2} s ({:.0} uploads/s, fsynced)",
        uploads as f64 / secs
    );
    report("upload 64 KiB", up_lat);
    Ok(errors)
}

type Streams = (
    keylink_net::SendHalf,
    keylink_net::RecvHalf,
    keylink_net::SendHalf,
    keylink_net::RecvHalf,
);

/// Open a channel on `a`, join it on `b`, pass one frame: the latency.
async fn relay_setup(
    a: &ServerClient,
    b: &ServerClient,
    i: usize,
) -> anyhow::Result<(Duration, Streams)> {
    let t = Instant::now();
    let (mut a_send, mut a_recv) = a.connection().open_bi().await?;
    write_frame(&mut a_send, &Request::RelayOpen.encode()).await?;
    let Response::Channel { channel, .. } =
        Response::decode(&read_frame(&mut a_recv, 1024).await?.context("closed")?)?
    else {
        bail!("no channel");
    };
    let (mut b_send, mut b_recv) = b.connection().open_bi().await?;
    write_frame(&mut b_send, &Request::RelayJoin { channel }.encode()).await?;
    let Response::Done { .. } =
        Response::decode(&read_frame(&mut b_recv, 1024).await?.context("closed")?)?
    else {
        bail!("join refused");
    };
    write_frame(&mut a_send, format!("hello {i}").as_bytes()).await?;
    let got = read_frame(&mut b_recv, 1024).await?.context("closed")?;
    if got != format!("hello {i}").as_bytes() {
        bail!("wrong frame");
    }
    Ok((t.elapsed(), (a_send, a_recv, b_send, b_recv)))
}

/// With every channel open at once, pass a frame back, then close.
async fn relay_finish(
    (mut a_send, mut a_recv, mut b_send, _b_recv): Streams,
) -> anyhow::Result<()> {
    write_frame(&mut b_send, b"bye").await?;
    if read_frame(&mut a_recv, 1024).await?.as_deref() != Some(&b"bye"[..]) {
        bail!("wrong frame back");
    }
    let _ = a_send.finish();
    let _ = b_send.finish();
    Ok(())
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn throughput(mib: usize) -> anyhow::Result<()> {
    let identity = ServerIdentity::generate()?;
    let trust = ServerTrust::Pinned(identity.fingerprint());
    let chunk = vec![0x5au8; 1 << 20];

    // Baseline: a bare quinn stream, the server reading and discarding.
    let raw_ep = keylink_net::server_endpoint(
        &identity,
        "127.0.0.1:0".parse()?,
        keylink_net::EndpointLimits::default(),
    )?;
    let raw_addr = raw_ep.local_addr()?;
    let sink = raw_ep.clone();
    tokio::spawn(async move {
        while let Some(inc) = sink.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = inc.await else { return };
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    tokio::spawn(async move {
                        while let Ok(Some(_)) = recv.read_chunk(1 << 20, true).await {}
                        let _ = send.write_all(b"k").await;
                        let _ = send.finish();
                    });
                }
            });
        }
    });
    let ep = client_endpoint("127.0.0.1:0".parse()?)?;
    let conn = keylink_net::connect(&ep, raw_addr, &trust).await?;
    let t = Instant::now();
    let (mut send, mut recv) = conn.open_bi().await?;
    for _ in 0..mib {
        send.write_all(&chunk).await?;
    }
    send.finish()?;
    let mut ack = [0u8; 1];
    recv.read_exact(&mut ack).await?;
    let raw = t.elapsed().as_secs_f64();

    // keylink: 1 MiB objects through the authenticated protocol.
    let server = Server::start(
        &identity,
        Arc::new(MemoryStore::new()),
        ServerConfig::default(),
    )?;
    let client = ServerClient::connect(&ep, server.local_addr()?, &trust).await?;
    let (account, device) = account(&client).await?;
    client.authenticate(&account, &device).await?;
    let p = prefix(&account);
    // Uploads go out 8 at a time, as the backup engine's uploader does.
    let t = Instant::now();
    let mut in_flight = tokio::task::JoinSet::new();
    for i in 0..mib {
        if in_flight.len() >= 8 {
            in_flight.join_next().await.context("upload task")???;
        }
        let (c, key, body) = (client.clone(), format!("{p}t-{i:05}"), chunk.clone());
        in_flight.spawn(async move { c.put_object(&key, body).await.map(|_| ()) });
    }
    while let Some(r) = in_flight.join_next().await {
        r??;
    }
    let keylink = t.elapsed().as_secs_f64();
    println!("throughput on loopback, {mib} MiB each:");
    println!(
        "  bare quinn stream (baseline):      {:8.1} MiB/s",
        mib as f64 / raw
    );
    println!(
        "  keylink uploads (1 MiB objects, 8 in flight): {:8.1} MiB/s",
        mib as f64 / keylink
    );
    println!(
        "  ratio keylink/bare = {:.2}  (goal >= 0.60)",
        raw / keylink
    );
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
