//! `keylink-sim`: run the simulator and print its report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use keylink_sim::{Config, Report, Transport, run};

/// Thousands of virtual devices link, back up, revoke, recover and restore
/// through the real keylink code while the network drops packets and
/// devices crash; every step is checked.
#[derive(Parser, Debug)]
#[command(name = "keylink-sim", version)]
struct Args {
    /// The seed that drives every choice (random when absent; always printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Accounts.
    #[arg(long, default_value_t = 250)]
    accounts: usize,
    /// Devices each account links up to.
    #[arg(long, default_value_t = 4)]
    devices: usize,
    /// Operations per account after set-up.
    #[arg(long, default_value_t = 12)]
    ops: usize,
    /// Accounts acting at once.
    #[arg(long, default_value_t = 250)]
    concurrency: usize,
    /// How datagrams travel.
    #[arg(long, value_enum, default_value = "sim-quic")]
    transport: Transport,
    /// Turn off network faults, crashes and slow approvers.
    #[arg(long)]
    no_faults: bool,
    /// Turn off the malicious server.
    #[arg(long)]
    honest_server: bool,
    /// Every Nth account at production Argon2 parameters (0: none).
    #[arg(long, default_value_t = 50)]
    production_every: usize,
    /// Write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a self-contained HTML report (with SVG charts) into this
    /// folder, as index.html, and each chart as an SVG file beside it.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Where device folders go (default: /dev/shm, else the temp folder).
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keylink-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    // Where the results go must be writable before a long run starts.
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Some(parent) = args
        .json
        .as_deref()
        .and_then(std::path::Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    println!("keylink-sim seed {seed} (replay with --seed {seed})");
    let config = Config {
        seed,
        accounts: args.accounts,
        devices_per_account: args.devices,
        ops_per_account: args.ops,
        concurrency: args.concurrency,
        transport: args.transport,
        faults: !args.no_faults,
        production_every: args.production_every,
        malicious: !args.honest_server,
        dir: args.dir,
        plant_secret: false,
    };
    let bar = indicatif::ProgressBar::new(config.accounts as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} accounts done, {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let b = bar.clone();
    let report = run(&config, move |done, _| b.set_position(done as u64))?;
    bar.finish_and_clear();
    print_summary(&report);
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&report)?;
        write_atomically(path, &json)?;
        println!("figures written to {}", path.display());
    }
    if let Some(dir) = &args.report {
        for (name, svg) in keylink_sim::html::charts(&report) {
            write_atomically(&dir.join(name), svg.as_bytes())?;
        }
        let page = dir.join("index.html");
        write_atomically(&page, keylink_sim::html::page(&report).as_bytes())?;
        println!("report written to {}", page.display());
    }
    if report.violations.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

/// Write through a temporary file in the same folder, then rename: a
/// reader never sees half a report.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    // Reports hold no secret: readable like any other file.
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn print_summary(r: &Report) {
    println!();
    println!("transport        {:?}", r.transport);
    println!(
        "accounts         {} ({} at production Argon2id, the rest {})",
        r.accounts, r.production_kdf_accounts, r.low_cost_kdf
    );
    println!("devices          {}", r.devices);
    println!(
        "operations       {} in {:.1} s wall ({:.0}/s), {:.0} s virtual",
        r.total_ops, r.wall_s, r.ops_per_s, r.virtual_s
    );
    for (name, c) in &r.ops {
        println!("  {name:<24} {:>7} ok {:>6} failed", c.ok, c.failed);
    }
    println!("faults injected");
    for (name, n) in &r.faults {
        println!("  {name:<28} {n:>9}");
    }
    println!("malicious server     armed  fired detected harmless other failure");
    for (name, c) in &r.attacks {
        println!(
            "  {name:<28} {:>5} {:>6} {:>8} {:>8} {:>8}",
            c.armed, c.fired, c.detected, c.harmless, c.inconclusive
        );
    }
    println!("latency (virtual ms)     p50      p95      p99       n");
    for (name, l) in &r.latency {
        println!(
            "  {name:<18} {:>8.1} {:>8.1} {:>8.1} {:>7}",
            l.p50_ms, l.p95_ms, l.p99_ms, l.n
        );
    }
    println!("invariant checks");
    for (name, n) in &r.checks {
        println!("  {name:<28} {n:>9}");
    }
    println!("peak memory      {:.0} MiB", r.peak_rss_mib);
    println!("trace hash       {}", r.trace_hash);
    println!("violations       {}", r.violations.len());
    let mut by_check = std::collections::BTreeMap::new();
    for v in &r.violations {
        *by_check.entry(v.check.name()).or_insert(0u64) += 1;
    }
    for (name, n) in by_check {
        println!("  {name:<28} {n:>9}");
    }
    for v in r.violations.iter().take(5) {
        println!();
        println!(
            "VIOLATION {} (seed {}, {}): {}",
            v.check.name(),
            r.seed,
            v.place(),
            v.detail
        );
        for line in &v.trace {
            println!("    {line}");
        }
    }
}
