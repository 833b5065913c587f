//! `keylink`: an end-to-end encrypted backup on this device, shared with
//! the account's other devices.
//!
//! Every command takes `--home DIR` (this device's state; by default
//! `$XDG_DATA_HOME/keylink` or `~/.local/share/keylink`) and `--json`.
//! Errors print one line saying what happened and what to do, and the
//! exit status is 1. Passwords come from the terminal without echo, or
//! from `--password-file` / `KEYLINK_PASSWORD_FILE`; never from an
//! argument.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use keylink_account::{HistoryAction, Joined};
use keylink_client::link::{LinkOptions, ServerInfo, ShowVia};
use keylink_client::{
    Device, FileKeyStore, KeyStore, NewAccount, RealmInfo, Realms, RecoveryUpdate, Unlock,
};
use keylink_keys::{KdfParams, Password, RecoveryKey};
use keylink_net::Fingerprint;
use keylink_wire::account::DeviceName;
use serde_json::json;
use zeroize::Zeroizing;

/// Print a line on standard output; a closed pipe (`keylink … | head`) is
/// not worth a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Parser, Debug)]
#[command(
    name = "keylink",
    version,
    about = "End-to-end encrypted backups shared by your devices"
)]
struct Cli {
    /// This device's state folder.
    #[arg(long, global = true, env = "KEYLINK_HOME")]
    home: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for the server to answer a connection.
    #[arg(
        long,
        global = true,
        env = "KEYLINK_CONNECT_TIMEOUT",
        default_value_t = 10.0
    )]
    connect_timeout: f64,
    /// Read the password from this file (first line) instead of the terminal.
    #[arg(long, global = true, env = "KEYLINK_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Debug)]
struct ServerFlags {
    /// The server's address (host:port).
    #[arg(long)]
    server: SocketAddr,
    /// The server's certificate fingerprint, as it printed it (sha256:…).
    #[arg(long)]
    fingerprint: String,
}

/// What a new key epoch does with the recovery key.
#[derive(clap::Args, Debug, Clone)]
struct RecoveryFlags {
    /// Keep the recovery key working: read it from this file (it must open
    /// the current recovery wrap).
    #[arg(long, env = "KEYLINK_RECOVERY_KEY_FILE", conflicts_with_all = ["new_recovery_key", "drop_recovery_key"])]
    recovery_key_file: Option<PathBuf>,
    /// Replace the recovery key with a new one (shown once).
    #[arg(long, conflicts_with = "drop_recovery_key")]
    new_recovery_key: bool,
    /// Have no recovery key from now on.
    #[arg(long)]
    drop_recovery_key: bool,
}

/// Which realms guard the password (docs/protocol.md §19).
#[derive(clap::Args, Debug, Clone)]
struct RealmFlags {
    /// A realm, as ADDR=FINGERPRINT (host:port=sha256:…), repeated in the
    /// same order on every device. Without any, the server given by
    /// --server is the one realm (1-of-1).
    #[arg(long = "realm", value_name = "ADDR=FINGERPRINT")]
    realms: Vec<String>,
    /// How many of the realms a recovery needs (default: a majority).
    #[arg(long)]
    realms_needed: Option<u8>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a keylink server (prints its certificate fingerprint).
    Server(keylink_server::cmd::ServerArgs),
    /// Create an account with this device as its first.
    Init {
        #[command(flatten)]
        server: ServerFlags,
        /// The account's name (others find the account by it: pick one
        /// that is not easy to guess).
        #[arg(long)]
        account: String,
        /// This device's name.
        #[arg(long)]
        name: String,
        /// Do not make a recovery key.
        #[arg(long)]
        no_recovery_key: bool,
        #[command(flatten)]
        realms: RealmFlags,
        /// Guard the password with no realm: anyone who gets the password
        /// wrap (the server's operator, a thief of its storage, anyone who
        /// knows the account name) can then test passwords offline.
        #[arg(long, conflicts_with_all = ["realms", "realms_needed"])]
        insecure_no_realm: bool,
    },
    /// Back up files and folders as a new snapshot.
    Backup {
        /// What to back up.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List the newest snapshot of each device.
    Snapshots,
    /// Restore a snapshot (by id prefix or device name; by default this
    /// device's newest, or else the newest of any device).
    Restore {
        /// Snapshot id prefix or device name.
        snapshot: Option<String>,
        /// Where to restore.
        #[arg(long)]
        to: PathBuf,
        /// Restore into a folder that is not empty (files the snapshot
        /// holds are replaced; this also resumes an interrupted restore).
        #[arg(long)]
        force: bool,
    },
    /// Link a new device.
    #[command(subcommand)]
    Link(LinkCommand),
    /// List the account's devices and the link history.
    Devices {
        #[command(subcommand)]
        action: Option<DevicesCommand>,
    },
    /// Change the account password.
    #[command(subcommand)]
    Password(PasswordCommand),
    /// Show the recovery key's status, or replace it.
    #[command(subcommand, name = "recovery-key")]
    RecoveryKey(RecoveryCommand),
    /// Set up this device from the password or the recovery key.
    Recover {
        #[command(flatten)]
        server: ServerFlags,
        /// The account's name.
        #[arg(long)]
        account: String,
        /// This device's name.
        #[arg(long)]
        name: String,
        /// Use the recovery key instead of the password.
        #[arg(long)]
        recovery_key: bool,
        /// Read the recovery key from this file instead of the terminal.
        #[arg(long, env = "KEYLINK_RECOVERY_KEY_FILE")]
        recovery_key_file: Option<PathBuf>,
        #[command(flatten)]
        realms: RealmFlags,
    },
    /// The realms that guard the password: check them, or tell this device
    /// which they are.
    #[command(subcommand)]
    Realms(RealmsCommand),
}

#[derive(Subcommand, Debug)]
enum RealmsCommand {
    /// Ask every realm about the account; clear a lock a guesser left.
    Check,
    /// Pin the account's realm set on this device (one that joined by linking).
    Set {
        #[command(flatten)]
        realms: RealmFlags,
    },
}

#[derive(Subcommand, Debug)]
enum LinkCommand {
    /// On the new device: show a link code (QR and text) and wait.
    Show {
        #[command(flatten)]
        server: ServerFlags,
        /// This device's name.
        #[arg(long)]
        name: String,
        /// The account's name, to remember (optional).
        #[arg(long)]
        account: Option<String>,
        /// Also write the code text to this file.
        #[arg(long)]
        code_out: Option<PathBuf>,
        /// Link directly on the LAN instead of through the server: listen
        /// here (host:port) and put this address in the code.
        #[arg(long)]
        direct: Option<SocketAddr>,
    },
    /// On an existing device: link the device showing CODE.
    Approve {
        /// The code text (keylink-link:…), or @FILE to read it from a file.
        code: String,
        /// Approve without asking.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
enum DevicesCommand {
    /// Remove a device (by name or id prefix) and rotate the account key.
    Revoke {
        /// The device's name or id prefix.
        device: String,
        /// Also re-wrap under this recovery key (the current one, re-entered,
        /// from a file); without it the recovery key stops working until
        /// `keylink recovery-key rotate`.
        #[arg(long)]
        recovery_key_file: Option<PathBuf>,
        /// Revoke without asking.
        #[arg(long)]
        yes: bool,
        /// Change the password in the same step: the revoked device's
        /// holder, who may know the old one, gets nothing new with it.
        #[arg(long)]
        change_password: bool,
        /// With --change-password: read the new password from this file.
        #[arg(long, env = "KEYLINK_NEW_PASSWORD_FILE", requires = "change_password")]
        new_password_file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum PasswordCommand {
    /// Set a new password (the current one is asked first). This starts a
    /// new key epoch: an old password wrap with the old password opens
    /// only what came before.
    Change {
        /// Read the new password from this file instead of the terminal.
        #[arg(long, env = "KEYLINK_NEW_PASSWORD_FILE")]
        new_password_file: Option<PathBuf>,
        #[command(flatten)]
        recovery: RecoveryFlags,
        #[command(flatten)]
        realms: RealmFlags,
        /// Keep (or move to) a password wrap without realms.
        #[arg(long, conflicts_with_all = ["realms", "realms_needed"])]
        insecure_no_realm: bool,
    },
}

#[derive(Subcommand, Debug)]
enum RecoveryCommand {
    /// Whether a recovery key is set (the key itself is never stored).
    Show,
    /// Make a new recovery key; the old one stops working.
    Rotate,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("keylink: error: {first} (see keylink --help)");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keylink: error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // A question left unanswered on standard input must not keep the
    // process alive.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of causes, joined.
            let text = format!("{e:#}").replace(['\n', '\r'], " ");
            eprintln!("keylink: error: {text}");
            ExitCode::FAILURE
        }
    }
}

fn home(cli: &Cli) -> anyhow::Result<PathBuf> {
    if let Some(h) = &cli.home {
        return Ok(h.clone());
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("keylink"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow!("no --home given and $HOME is not set"))?;
    Ok(PathBuf::from(home).join(".local/share/keylink"))
}

fn store(cli: &Cli) -> anyhow::Result<Arc<dyn KeyStore>> {
    Ok(Arc::new(FileKeyStore::open(home(cli)?)?))
}

fn server_info(s: &ServerFlags) -> anyhow::Result<ServerInfo> {
    let fingerprint = Fingerprint::parse(&s.fingerprint).map_err(|_| {
        anyhow!("--fingerprint must be sha256: and 64 hex digits, as the server printed it")
    })?;
    Ok(ServerInfo::new(s.server, fingerprint))
}

/// An account name is how a fresh device finds the account again, so it
/// must be typed exactly: no surrounding space, no control characters.
fn check_account_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name.len() > 128
        || name.trim() != name
        || name.chars().any(char::is_control)
    {
        bail!("--account must be 1 to 128 bytes, without surrounding spaces or control characters");
    }
    Ok(())
}

fn device_name(n: &str) -> anyhow::Result<DeviceName> {
    DeviceName::new(n).map_err(|e| anyhow!("--name: {e}"))
}

/// Read a secret line from `file`, or from the terminal without echo.
fn read_secret(file: Option<&Path>, prompt: &str) -> anyhow::Result<Zeroizing<String>> {
    if let Some(f) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(f).with_context(|| format!("read {}", f.display()))?,
        );
        let line = text.lines().next().unwrap_or("");
        return Ok(Zeroizing::new(line.to_string()));
    }
    if !std::io::stdin().is_terminal() {
        let how = if prompt.starts_with("Recovery") {
            "--recovery-key-file"
        } else {
            "--password-file (or KEYLINK_PASSWORD_FILE)"
        };
        bail!(
            "no terminal to ask for the {}; give {how}",
            prompt.to_lowercase()
        );
    }
    Ok(Zeroizing::new(
        rpassword::prompt_password(format!("{prompt}: ")).context("read from the terminal")?,
    ))
}

fn password(cli: &Cli, prompt: &str, confirm: bool) -> anyhow::Result<Password> {
    let first = read_secret(cli.password_file.as_deref(), prompt)?;
    if confirm && cli.password_file.is_none() {
        let again = read_secret(None, "Repeat it")?;
        if *again != *first {
            bail!("the two passwords differ; nothing was changed");
        }
    }
    Password::new(&first).map_err(|e| anyhow!("{e}"))
}

/// The new password: from `file`, or typed twice at the terminal.
fn new_password(file: Option<&Path>) -> anyhow::Result<Password> {
    match file {
        Some(f) => Password::new(&read_secret(Some(f), "New account password")?)
            .map_err(|e| anyhow!("{e}")),
        None => {
            let first = read_secret(None, "New account password")?;
            let again = read_secret(None, "Repeat it")?;
            if *again != *first {
                bail!("the two passwords differ; nothing was changed");
            }
            Password::new(&first).map_err(|e| anyhow!("{e}"))
        }
    }
}

fn recovery_key(file: Option<&Path>) -> anyhow::Result<RecoveryKey> {
    let text = read_secret(file, "Recovery key")?;
    RecoveryKey::parse(&text).map_err(|e| anyhow!("{e}"))
}

fn progress_bar(total: Option<u64>) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    );
    if let Ok(s) = style {
        bar.set_style(s);
    }
    bar
}

/// A log timestamp (ms since the Unix epoch) as RFC 3339 UTC.
fn time(ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(at).to_string()
}

fn print_json(v: &serde_json::Value) {
    say!("{v}");
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if !(cli.connect_timeout.is_finite() && cli.connect_timeout > 0.0) {
        bail!("--connect-timeout must be a positive number of seconds");
    }
    keylink_client::set_connect_timeout(Duration::from_secs_f64(cli.connect_timeout.min(3600.0)));
    match &cli.command {
        Command::Server(args) => keylink_server::cmd::run(args.clone()).await,
        Command::Init {
            server,
            account,
            name,
            no_recovery_key,
            realms,
            insecure_no_realm,
        } => {
            let info = server_info(server)?;
            let name = device_name(name)?;
            let store = store(&cli)?;
            if store.load("device")?.is_some() {
                return Err(keylink_client::Error::AlreadyInitialized.into());
            }
            check_account_name(account)?;
            let guard = if *insecure_no_realm {
                None
            } else {
                Some(realm_set(realms, &info)?)
            };
            let pw = password(&cli, "New account password", true)?;
            let (device, recovery) = Device::create_account(
                store,
                info,
                NewAccount {
                    account_name: account,
                    device_name: &name,
                    password: &pw,
                    params: KdfParams::DEFAULT,
                    recovery_key: !no_recovery_key,
                    realms: guard,
                },
            )
            .await?;
            let digits = recovery.as_ref().map(|k| k.to_display());
            if cli.json {
                print_json(&json!({
                    "account": account,
                    "account_id": device.account().to_string(),
                    "device": device.device_id().to_string(),
                    "device_name": device.device_name(),
                    "recovery_key": digits.as_deref(),
                }));
            } else {
                say!(
                    "Created account {account:?} with this device, {:?} ({}).",
                    device.device_name(),
                    device.device_id()
                );
                if let Some(d) = digits {
                    say!("Recovery key (shown once; write it down and keep it offline):");
                    say!("  {}", d.as_str());
                }
            }
            Ok(())
        }
        Command::Backup { paths } => {
            let mut device = Device::open(store(&cli)?)?;
            let bar = progress_bar(None);
            let b = bar.clone();
            let started = Instant::now();
            let summary = device
                .backup(paths, move |s| {
                    b.set_position(s.bytes_read);
                    b.set_message(format!("{} entries", s.entries));
                })
                .await;
            bar.finish_and_clear();
            let summary = summary?;
            let secs = started.elapsed().as_secs_f64().max(1e-6);
            let s = summary.stats;
            if cli.json {
                print_json(&json!({
                    "snapshot": summary.snapshot,
                    "sequence": summary.sequence,
                    "entries": s.entries,
                    "bytes_read": s.bytes_read,
                    "chunks_uploaded": s.chunks_uploaded,
                    "chunks_reused": s.chunks_reused,
                    "bytes_uploaded": s.chunk_bytes_uploaded + s.manifest_bytes_uploaded,
                    "seconds": secs,
                }));
            } else {
                say!(
                    "Snapshot {} (#{}): {} entries, {} bytes read, {} chunks uploaded, {} reused, {:.1} MiB/s.",
                    &summary.snapshot[..16],
                    summary.sequence,
                    s.entries,
                    s.bytes_read,
                    s.chunks_uploaded,
                    s.chunks_reused,
                    s.bytes_read as f64 / secs / 1_048_576.0
                );
            }
            Ok(())
        }
        Command::Snapshots => {
            let mut device = Device::open(store(&cli)?)?;
            let list = device.snapshots().await?;
            if cli.json {
                let items: Vec<_> = list
                    .iter()
                    .map(|s| {
                        json!({
                            "id": s.id,
                            "device": s.device.to_string(),
                            "device_name": s.device_name,
                            "sequence": s.sequence,
                            "epoch": s.epoch.0,
                            "published_ms": s.published_ms,
                        })
                    })
                    .collect();
                print_json(&json!({ "snapshots": items }));
            } else if list.is_empty() {
                say!("No snapshots yet.");
            } else {
                for s in &list {
                    say!(
                        "{}  #{}  from {}  {}",
                        &s.id[..16],
                        s.sequence,
                        s.device_name.as_deref().unwrap_or("(a removed device)"),
                        s.published_ms.map(time).unwrap_or_default()
                    );
                }
            }
            Ok(())
        }
        Command::Restore {
            snapshot,
            to,
            force,
        } => {
            if !force
                && std::fs::read_dir(to)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(false)
            {
                bail!(
                    "{} is not empty; restore into an empty folder, or pass --force to replace what the snapshot holds",
                    to.display()
                );
            }
            let mut device = Device::open(store(&cli)?)?;
            let bar = progress_bar(Some(0));
            let b = bar.clone();
            let started = Instant::now();
            let stats = device
                .restore(snapshot.as_deref(), to, move |s, total| {
                    b.set_length(total);
                    b.set_position(s.bytes_written);
                    b.set_message(format!("{} files", s.files + s.files_skipped));
                })
                .await;
            bar.finish_and_clear();
            let stats = stats?;
            let secs = started.elapsed().as_secs_f64().max(1e-6);
            if cli.json {
                print_json(&json!({
                    "files": stats.files,
                    "files_skipped": stats.files_skipped,
                    "dirs": stats.dirs,
                    "symlinks": stats.symlinks,
                    "bytes_written": stats.bytes_written,
                    "seconds": secs,
                }));
            } else {
                say!(
                    "Restored {} files ({} already there), {} folders, {} links, {} bytes into {} at {:.1} MiB/s.",
                    stats.files,
                    stats.files_skipped,
                    stats.dirs,
                    stats.symlinks,
                    stats.bytes_written,
                    to.display(),
                    stats.bytes_written as f64 / secs / 1_048_576.0
                );
            }
            Ok(())
        }
        Command::Link(LinkCommand::Show {
            server,
            name,
            account,
            code_out,
            direct,
        }) => {
            let info = server_info(server)?;
            let name = device_name(name)?;
            let store = store(&cli)?;
            let json_out = cli.json;
            let options = LinkOptions {
                on_sas: Some(Arc::new(move |sas| {
                    if !json_out {
                        say!("Connected. Check that the other device shows: {sas}");
                    }
                })),
                ..LinkOptions::default()
            };
            let via = match direct {
                Some(addr) => ShowVia::Direct {
                    bind: *addr,
                    advertise: *addr,
                },
                None => ShowVia::Relay(info.clone()),
            };
            let shown = Device::show_link(store, info, via, &options).await?;
            let code = shown.code_text().to_string();
            if let Some(path) = code_out {
                write_private(path, code.as_bytes())?;
            }
            if cli.json {
                print_json(&json!({ "code": code }));
            } else {
                if std::io::stdout().is_terminal()
                    && let Ok(qr) = qrcode::QrCode::new(code.as_bytes())
                {
                    say!(
                        "{}",
                        qr.render::<qrcode::render::unicode::Dense1x2>()
                            .quiet_zone(true)
                            .build()
                    );
                }
                say!("Scan this on a device already in the account, or there run");
                say!("`keylink link approve -` and paste this code:");
                say!("  {code}");
                say!("Waiting for approval…");
            }
            let _ = std::io::stdout().flush();
            let device = shown.finish(account.as_deref(), &name, &options).await?;
            if cli.json {
                print_json(&json!({
                    "linked": true,
                    "account_id": device.account().to_string(),
                    "device": device.device_id().to_string(),
                }));
            } else {
                say!(
                    "Linked: this device is {:?} ({}) in account {}.",
                    device.device_name(),
                    device.device_id(),
                    device.account_name()
                );
            }
            Ok(())
        }
        Command::Link(LinkCommand::Approve { code, yes }) => {
            if cli.json && !*yes {
                bail!("--json needs --yes (there is no one to ask)");
            }
            let code = if code == "-" {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("read the code from standard input")?;
                Zeroizing::new(line)
            } else if let Some(path) = code.strip_prefix('@') {
                Zeroizing::new(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("read the code from {path}"))?,
                )
            } else {
                Zeroizing::new(code.clone())
            };
            if !*yes && !std::io::stdin().is_terminal() {
                bail!("no terminal to ask for approval; pass --yes to approve");
            }
            let mut device = Device::open(store(&cli)?)?;
            let yes = *yes;
            let json_out = cli.json;
            let approve = move |info: keylink_link::JoinInfo| async move {
                if !json_out {
                    say!("A device asks to join this account:");
                    say!("  name:        {}", info.name.as_str());
                    say!("  fingerprint: {}", info.device);
                    say!(
                        "  code:        {}  (it must match the one the new device shows)",
                        info.sas
                    );
                }
                if yes {
                    return true;
                }
                print!("Approve? [y/N] ");
                let _ = std::io::stdout().flush();
                tokio::task::spawn_blocking(|| {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).is_ok()
                        && matches!(line.trim(), "y" | "Y" | "yes")
                })
                .await
                .unwrap_or(false)
            };
            let added = device
                .approve_link(code.trim(), &LinkOptions::default(), approve)
                .await?;
            if cli.json {
                print_json(&json!({ "linked": added.to_string() }));
            } else {
                say!("Linked device {added}.");
            }
            Ok(())
        }
        Command::Devices { action: None } => {
            let mut device = Device::open(store(&cli)?)?;
            let (devices, history) = device.devices().await?;
            let names: std::collections::BTreeMap<String, String> = history
                .iter()
                .filter_map(|h| match &h.what {
                    HistoryAction::Created(r)
                    | HistoryAction::Linked(r)
                    | HistoryAction::Recovered(r) => {
                        Some((r.keys.device_id().to_string(), r.name.as_str().to_string()))
                    }
                    _ => None,
                })
                .collect();
            let name_of = |id: &str| {
                names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id[..8].to_string())
            };
            if cli.json {
                let ds: Vec<_> = devices
                    .iter()
                    .map(|d| {
                        json!({
                            "id": d.id.to_string(),
                            "name": d.name,
                            "this_device": d.this_device,
                            "added_ms": d.added_ms,
                            "joined": match d.joined {
                                Joined::Genesis => json!({"how": "created"}),
                                Joined::Linked { by } => json!({"how": "linked", "by": by.to_string()}),
                                Joined::Recovered => json!({"how": "recovered"}),
                            },
                        })
                    })
                    .collect();
                let hs: Vec<_> = history
                    .iter()
                    .map(|h| {
                        json!({
                            "sequence": h.sequence,
                            "timestamp_ms": h.timestamp_ms,
                            "actor": h.actor.to_string(),
                            "event": describe(&h.what, &name_of),
                        })
                    })
                    .collect();
                print_json(&json!({ "devices": ds, "history": hs }));
            } else {
                say!("Devices:");
                for d in &devices {
                    let how = match d.joined {
                        Joined::Genesis => "created the account".to_string(),
                        Joined::Linked { by } => format!("linked by {}", name_of(&by.to_string())),
                        Joined::Recovered => "recovered with the password or recovery key".into(),
                    };
                    say!(
                        "  {}{}  {}  {}, {}",
                        if d.this_device { "* " } else { "  " },
                        d.name,
                        &d.id.to_string()[..16],
                        how,
                        time(d.added_ms)
                    );
                }
                say!("History:");
                for h in &history {
                    say!(
                        "  {}  {} {}",
                        time(h.timestamp_ms),
                        name_of(&h.actor.to_string()),
                        describe(&h.what, &name_of)
                    );
                }
            }
            Ok(())
        }
        Command::Devices {
            action:
                Some(DevicesCommand::Revoke {
                    device: who,
                    recovery_key_file,
                    yes,
                    change_password,
                    new_password_file,
                }),
        } => {
            let mut device = Device::open(store(&cli)?)?;
            let (devices, _) = device.devices().await?;
            let target = device.resolve_device(who)?;
            let name = devices
                .iter()
                .find(|d| d.id == target)
                .map(|d| d.name.clone())
                .unwrap_or_default();
            if !*yes {
                if !std::io::stdin().is_terminal() {
                    bail!("no terminal to confirm revoking {name:?} ({target}); pass --yes");
                }
                eprint!("Revoke {name:?} ({target})? It loses access for good. [y/N] ");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                if !matches!(line.trim(), "y" | "Y" | "yes") {
                    bail!("not revoked");
                }
            }
            let pw = password(&cli, "Account password (to re-wrap the new key)", false)?;
            // A typo here would seal the new key under a password nobody
            // knows: check it opens the current wrap first.
            device.check_password(&pw).await?;
            let new = if *change_password {
                let new = new_password(new_password_file.as_deref())?;
                keylink_client::check_password_strength(
                    &new,
                    device.realms(),
                    &[device.account_name(), device.device_name()],
                )?;
                Some(new)
            } else {
                None
            };
            let rk = match recovery_key_file {
                Some(f) => Some(recovery_key(Some(f))?),
                None => None,
            };
            device
                .revoke(
                    target,
                    Some((new.as_ref().unwrap_or(&pw), KdfParams::DEFAULT)),
                    rk.as_ref(),
                )
                .await?;
            if cli.json {
                print_json(
                    &json!({ "revoked": target.to_string(), "recovery_key_rewrapped": rk.is_some() }),
                );
            } else {
                say!("Revoked {target}; the account key was rotated.");
                if new.is_some() {
                    say!(
                        "The new password protects the new key; the old one opens nothing written from now on."
                    );
                }
                if rk.is_none() {
                    say!(
                        "The recovery key no longer opens the account: run `keylink recovery-key rotate` for a new one."
                    );
                }
            }
            Ok(())
        }
        Command::Password(PasswordCommand::Change {
            new_password_file,
            recovery,
            realms,
            insecure_no_realm,
        }) => {
            let mut device = Device::open(store(&cli)?)?;
            if *insecure_no_realm {
                device.set_realms(None)?;
            } else if !realms.realms.is_empty() || device.realms().is_none() {
                // Named realms, or an account moving to realms: by default
                // the server as the one realm.
                let set = realm_set(realms, &device.server())?;
                device.set_realms(Some(set))?;
            }
            let has_recovery = device.recovery_status().await?.set;
            let kept;
            let update = if let Some(f) = &recovery.recovery_key_file {
                kept = recovery_key(Some(f))?;
                RecoveryUpdate::Keep(&kept)
            } else if recovery.new_recovery_key {
                RecoveryUpdate::Replace
            } else if recovery.drop_recovery_key || !has_recovery {
                RecoveryUpdate::Drop
            } else {
                bail!(
                    "a password change starts a new key epoch: give --recovery-key-file to keep the recovery key working, --new-recovery-key to replace it, or --drop-recovery-key; nothing was changed"
                );
            };
            let current = password(&cli, "Current account password", false)?;
            let new = new_password(new_password_file.as_deref())?;
            let fresh = device
                .change_password(&current, &new, KdfParams::DEFAULT, update)
                .await?;
            let digits = fresh.as_ref().map(|k| k.to_display());
            if cli.json {
                print_json(&json!({ "password_changed": true, "recovery_key": digits.as_deref() }));
            } else {
                say!(
                    "Password changed and the account key rotated; the old password opens nothing written from now on."
                );
                if let Some(d) = digits {
                    say!("New recovery key (shown once; the old one no longer works):");
                    say!("  {}", d.as_str());
                }
            }
            Ok(())
        }
        Command::RecoveryKey(RecoveryCommand::Show) => {
            let mut device = Device::open(store(&cli)?)?;
            let st = device.recovery_status().await?;
            if cli.json {
                print_json(&json!({ "set": st.set, "changed_at_entry": st.changed_at }));
            } else if st.set {
                say!(
                    "A recovery key is set. It is never stored on a device; `keylink recovery-key rotate` makes a new one."
                );
            } else {
                say!("No recovery key is set; `keylink recovery-key rotate` makes one.");
            }
            Ok(())
        }
        Command::RecoveryKey(RecoveryCommand::Rotate) => {
            let mut device = Device::open(store(&cli)?)?;
            let pw = password(&cli, "Account password", false)?;
            let key = device.rotate_recovery_key(&pw).await?;
            let digits = key.to_display();
            if cli.json {
                print_json(&json!({ "recovery_key": digits.as_str() }));
            } else {
                say!("New recovery key (shown once; the old one no longer works):");
                say!("  {}", digits.as_str());
            }
            Ok(())
        }
        Command::Recover {
            server,
            account,
            name,
            recovery_key: use_rk,
            recovery_key_file,
            realms,
        } => {
            let info = server_info(server)?;
            let name = device_name(name)?;
            let store = store(&cli)?;
            let device = if *use_rk || recovery_key_file.is_some() {
                let k = recovery_key(recovery_key_file.as_deref())?;
                Device::recover(store, info, account, &name, Unlock::RecoveryKey(&k)).await?
            } else {
                let set = realm_set(realms, &info)?;
                let pw = password(&cli, "Account password", false)?;
                Device::recover(
                    store,
                    info,
                    account,
                    &name,
                    Unlock::PasswordThrough(&pw, &set),
                )
                .await?
            };
            if cli.json {
                print_json(&json!({
                    "account_id": device.account().to_string(),
                    "device": device.device_id().to_string(),
                }));
            } else {
                say!(
                    "Recovered: this device is {:?} ({}) in account {account:?}.",
                    device.device_name(),
                    device.device_id()
                );
            }
            Ok(())
        }
        Command::Realms(RealmsCommand::Set { realms }) => {
            let mut device = Device::open(store(&cli)?)?;
            let set = realm_set(realms, &device.server())?;
            device.set_realms(Some(set))?;
            if !cli.json {
                say!(
                    "This device now knows the account's realms; `keylink realms check` asks them."
                );
            }
            Ok(())
        }
        Command::Realms(RealmsCommand::Check) => {
            let mut device = Device::open(store(&cli)?)?;
            let checks = device.check_realms().await?;
            if cli.json {
                let list: Vec<_> = checks
                    .iter()
                    .map(|c| json!({"realm": c.addr.to_string(), "state": c.state, "guesses": c.guesses, "cleared": c.cleared, "rolled_back": c.rolled_back}))
                    .collect();
                print_json(&json!({ "realms": list }));
            } else if checks.is_empty() {
                say!("The account's password wrap uses no realm.");
            } else {
                for c in &checks {
                    say!("realm {}: {}", c.addr, c.state);
                }
                if checks.iter().any(|c| c.rolled_back) {
                    say!(
                        "A realm's counters went backwards: its operator restored an old copy, which hands a guesser back the guesses counted since. Tell its operator; consider changing the password."
                    );
                }
                if checks.iter().any(|c| c.cleared) {
                    say!(
                        "Password recovery was locked by wrong guesses; this device cleared the lock. If you did not make those guesses, someone tried your password: consider changing it."
                    );
                }
            }
            Ok(())
        }
    }
}

/// The realm set the flags name, or the server as the one realm.
fn realm_set(flags: &RealmFlags, server: &ServerInfo) -> anyhow::Result<Realms> {
    if flags.realms.is_empty() {
        if flags.realms_needed.is_some_and(|k| k != 1) {
            bail!("--realms-needed needs as many --realm flags at least");
        }
        return Ok(Realms::the_server(server));
    }
    let mut realms = Vec::new();
    for r in &flags.realms {
        let (addr, fp) = r
            .split_once('=')
            .ok_or_else(|| anyhow!("--realm {r:?}: write it as ADDR=FINGERPRINT"))?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| anyhow!("--realm {r:?}: {addr:?} is not host:port"))?;
        let fingerprint = Fingerprint::parse(fp).map_err(|_| {
            anyhow!("--realm {r:?}: the fingerprint must be sha256: and 64 hex digits")
        })?;
        realms.push(RealmInfo { addr, fingerprint });
    }
    let n = realms.len();
    let needed = flags
        .realms_needed
        .unwrap_or(u8::try_from(n / 2 + 1).unwrap_or(u8::MAX));
    let set = Realms {
        realms,
        needed,
        attempts: keylink_realm::DEFAULT_ATTEMPTS,
    };
    set.set()
        .map_err(|e| anyhow!("--realm/--realms-needed: {e}"))?;
    Ok(set)
}

fn describe(what: &HistoryAction, name_of: &dyn Fn(&str) -> String) -> String {
    match what {
        HistoryAction::Created(r) => format!("created the account as {:?}", r.name.as_str()),
        HistoryAction::Linked(r) => format!(
            "linked {:?} ({})",
            r.name.as_str(),
            &r.keys.device_id().to_string()[..16]
        ),
        HistoryAction::Recovered(r) => format!("recovered as {:?}", r.name.as_str()),
        HistoryAction::Revoked(d) => format!("revoked {}", name_of(&d.to_string())),
        HistoryAction::Rotated(e) => format!("rotated the account key to epoch {}", e.0),
        HistoryAction::PasswordChanged => "changed the password".into(),
        HistoryAction::RecoveryKeyChanged => "changed the recovery key".into(),
    }
}

/// Write a file only the owner can read (the code holds the link secret).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    // An existing file keeps its mode on open: narrow it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restrict {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}
