//! Running `keylink` and a server, and comparing trees.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("keylink")
}

/// A `keylink server` child process, killed on drop.
pub struct ServerProcess {
    pub child: Child,
    pub addr: String,
    pub fingerprint: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn server(data: &Path) -> ServerProcess {
    server_with(data, "127.0.0.1:0", &[])
}

/// A server at `listen` with extra flags (a realm test restarts one at the
/// address its clients pinned).
pub fn server_with(data: &Path, listen: &str, extra: &[&str]) -> ServerProcess {
    // The test recovers the account several times in a second: more wrap
    // fetches than the default per-account limit allows.
    let config = data.with_extension("toml");
    std::fs::write(&config, "wraps_per_account_burst = 100\n").unwrap();
    let mut child = Command::new(bin())
        .args(["server", "--data"])
        .arg(data)
        .arg("--config")
        .arg(&config)
        .args(["--listen", listen])
        .args(extra)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(data.with_extension("log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("keylink-server listening on ")
        .unwrap()
        .to_string();
    let fingerprint = second
        .strip_prefix("certificate fingerprint: ")
        .unwrap()
        .to_string();
    ServerProcess {
        child,
        addr,
        fingerprint,
    }
}

/// Every output of every command, for the secret scan.
#[derive(Default)]
pub struct Transcript {
    pub text: String,
}

pub struct Env<'a> {
    pub server: &'a ServerProcess,
    pub password_file: PathBuf,
    pub log: std::cell::RefCell<Transcript>,
}

impl Env<'_> {
    pub fn cmd(&self, home: &Path) -> Command {
        self.cmd_with_password(home, &self.password_file)
    }

    pub fn cmd_with_password(&self, home: &Path, password_file: &Path) -> Command {
        let mut c = Command::new(bin());
        c.arg("--home")
            .arg(home)
            .arg("--password-file")
            .arg(password_file)
            .env("RUST_LOG", "trace")
            .stdin(Stdio::null());
        c
    }

    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--server".into(),
            self.server.addr.clone(),
            "--fingerprint".into(),
            self.server.fingerprint.clone(),
        ]
    }

    /// Run; record the output; return it.
    pub fn run(&self, mut c: Command) -> Output {
        let out = c.output().unwrap();
        let mut log = self.log.borrow_mut();
        log.text.push_str(&String::from_utf8_lossy(&out.stdout));
        log.text.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Run and require success; return stdout.
    pub fn ok(&self, c: Command) -> String {
        let shown = format!("{:?}", c.get_args().collect::<Vec<_>>());
        let out = self.run(c);
        let c = shown;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("keylink")).collect();
            panic!("command {c:?} failed: {}", lines.join(" | "));
        }
        String::from_utf8(out.stdout).unwrap()
    }

    /// Link a new device in `new_home` named `name` through the server's
    /// relay: it shows a code (written to `code`), the device in `approver`
    /// approves it. Returns what the approver printed.
    pub fn link(&self, new_home: &Path, name: &str, code: &Path, approver: &Path) -> String {
        let mut show = Command::new(bin());
        show.arg("--home")
            .arg(new_home)
            .args(["--json", "link", "show"])
            .args(self.server_args())
            .args(["--name", name, "--code-out"])
            .arg(code)
            .env("RUST_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shower = show.spawn().unwrap();
        let started = std::time::Instant::now();
        while !code.exists() || std::fs::read(code).unwrap().is_empty() {
            assert!(started.elapsed().as_secs() < 30, "no code written");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut c = self.cmd(approver);
        c.args(["link", "approve", "--yes"])
            .arg(format!("@{}", code.display()));
        let approved = self.ok(c);
        let out = shower.wait_with_output().unwrap();
        let mut log = self.log.borrow_mut();
        log.text.push_str(&String::from_utf8_lossy(&out.stdout));
        log.text.push_str(&String::from_utf8_lossy(&out.stderr));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        approved
    }

    /// Run and require failure with one line on stderr; return that line.
    pub fn fails(&self, c: Command) -> String {
        let out = self.run(c);
        assert!(!out.status.success(), "command succeeded unexpectedly");
        let err = String::from_utf8(out.stderr).unwrap();
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("keylink: ")).collect();
        assert_eq!(lines.len(), 1, "want one error line, got: {err}");
        lines[0].to_string()
    }
}

/// A tree with nested folders, an empty file, a 600 KB file and small files.
pub fn tree(root: &Path, seed: u8) {
    std::fs::create_dir_all(root.join("photos/2026")).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    let big: Vec<u8> = (0..600_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed)
        .collect();
    std::fs::write(root.join("photos/2026/big.raw"), big).unwrap();
    for i in 0..4 {
        std::fs::write(
            root.join(format!("note-{i}.txt")),
            format!("note {i} / {seed}"),
        )
        .unwrap();
    }
}

pub use keylink_tests::same_tree;
