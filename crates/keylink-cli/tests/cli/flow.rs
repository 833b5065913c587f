//! Must-shows 1–3 of the client issue, through the real binary: init,
//! backup, link, restore, revoke, recover by password and by recovery key,
//! password change; each failure as one line and a non-zero exit with
//! nothing damaged; and no secret in any output with RUST_LOG=trace.

use std::path::Path;

use crate::support::*;

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_whole_flow_through_the_binary() {
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s);
    let server = server(&p("server"));
    write(&p("pw"), "correct horse battery staple\n");
    let env = Env {
        server: &server,
        password_file: p("pw"),
        log: Default::default(),
    };
    let sa = env.server_args();
    // `keylink recover` for the test account, as a new device `name` in `home`.
    let recover = |home: &str, name: &str| {
        let mut c = env.cmd(&p(home));
        c.arg("recover")
            .args(&sa)
            .args(["--account", "ada-family", "--name", name]);
        c
    };

    // Device A creates the account; the recovery key is shown once.
    let mut c = env.cmd(&p("a"));
    c.args(["--json", "init"])
        .args(&sa)
        .args(["--account", "ada-family", "--name", "phone"]);
    let init = json(&env.ok(c));
    let recovery = init["recovery_key"].as_str().unwrap().to_string();
    write(&p("rk"), &recovery);
    let init_text = std::mem::take(&mut env.log.borrow_mut().text);

    // A backs up a tree.
    tree(&p("data"), 1);
    let mut c = env.cmd(&p("a"));
    c.arg("backup").arg(p("data"));
    env.ok(c);

    // B links: it shows a code (written to a file), A approves it.
    let approved = env.link(&p("b"), "laptop", &p("code"), &p("a"));
    assert!(approved.contains("Linked device"), "{approved}");

    // B restores A's backup, byte for byte.
    let mut c = env.cmd(&p("b"));
    c.arg("restore").arg("--to").arg(p("out-b"));
    env.ok(c);
    assert!(same_tree(&p("data"), &p("out-b/data")) >= 8);

    // Both list the same devices.
    let devices = |home: &str| {
        let mut c = env.cmd(&p(home));
        c.args(["--json", "devices"]);
        let v = json(&env.ok(c));
        let mut ids: Vec<String> = v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        (ids, v["history"].as_array().unwrap().len())
    };
    assert_eq!(devices("a"), devices("b"));
    assert_eq!(devices("a").0.len(), 2);

    // A revokes B (re-wrapping under the password and the recovery key),
    // then backs up a changed tree.
    // A mistyped password is refused before anything changes.
    write(&p("pw-typo"), "correct horse battery stapel\n");
    let mut c = env.cmd_with_password(&p("a"), &p("pw-typo"));
    c.args(["devices", "revoke", "laptop", "--yes"]);
    let line = env.fails(c);
    assert!(line.contains("wrong password"), "{line}");
    assert_eq!(devices("a").0.len(), 2, "nothing revoked after a typo");
    let mut c = env.cmd(&p("a"));
    c.args([
        "devices",
        "revoke",
        "laptop",
        "--yes",
        "--recovery-key-file",
    ])
    .arg(p("rk"));
    env.ok(c);
    tree(&p("data"), 2);
    std::fs::write(p("data/after-revoke.txt"), b"written after B was revoked").unwrap();
    let mut c = env.cmd(&p("a"));
    c.arg("backup").arg(p("data"));
    env.ok(c);

    // B can no longer back up, fetch or decrypt.
    let mut c = env.cmd(&p("b"));
    c.arg("backup").arg(p("data"));
    let line = env.fails(c);
    assert!(line.contains("removed from the account"), "{line}");
    let mut c = env.cmd(&p("b"));
    c.arg("restore").arg("phone").arg("--to").arg(p("out-b2"));
    let line = env.fails(c);
    assert!(line.contains("removed from the account"), "{line}");
    assert!(!p("out-b2").exists(), "nothing restored");
    // Below the CLI: the server refuses B's authentication, so B cannot
    // fetch objects at all, and B holds no key of the new epoch.
    let b_identity = std::fs::read(p("b/identity")).unwrap();
    let b_roots = std::fs::read(p("b/roots")).unwrap();
    assert_eq!(b_roots.len(), 40, "B holds exactly one key, epoch 0's");
    assert_eq!(&b_roots[..8], &0u64.to_be_bytes());
    let a_roots = std::fs::read(p("a/roots")).unwrap();
    assert_eq!(a_roots.len(), 80, "A holds epochs 0 and 1");
    let refused = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let identity = keylink_keys::DeviceIdentity::from_secret_bytes(
            b_identity[..32].try_into().unwrap(),
            b_identity[32..].try_into().unwrap(),
        );
        let ep = keylink_net::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
        let c = keylink_server::ServerClient::connect(
            &ep,
            server.addr.parse().unwrap(),
            &keylink_net::ServerTrust::Pinned(
                keylink_net::Fingerprint::parse(&server.fingerprint).unwrap(),
            ),
        )
        .await
        .unwrap();
        let account = keylink_client::account_id_for("ada-family");
        c.authenticate(&account, &identity).await.err()
    });
    let refused = refused.expect("the server authenticated a revoked device");
    assert_eq!(
        refused.code(),
        Some(keylink_wire::server::FailureCode::Forbidden),
        "{refused}"
    );

    // C recovers with only the password and restores the new snapshot.
    let c = recover("c", "desktop");
    env.ok(c);
    let mut c = env.cmd(&p("c"));
    c.arg("restore").arg("phone").arg("--to").arg(p("out-c"));
    env.ok(c);
    assert!(same_tree(&p("data"), &p("out-c/data")) >= 9);

    // D recovers with only the recovery key.
    let mut c = recover("d", "tablet");
    c.arg("--recovery-key-file").arg(p("rk"));
    env.ok(c);
    let mut c = env.cmd(&p("d"));
    c.arg("restore").arg("--to").arg(p("out-d"));
    env.ok(c);
    assert!(same_tree(&p("data"), &p("out-d/data")) >= 9);

    // The recovery key: its status, then a new one (shown once), which
    // recovers; the old one no longer does.
    let mut c = env.cmd(&p("a"));
    c.args(["--json", "recovery-key", "show"]);
    assert_eq!(json(&env.ok(c))["set"], true);
    let before_rotate = env.log.borrow().text.len();
    // (rotating asks for the password, from the file)
    let mut c = env.cmd(&p("a"));
    c.args(["--json", "recovery-key", "rotate"]);
    let rotated = json(&env.ok(c))["recovery_key"]
        .as_str()
        .unwrap()
        .to_string();
    // Its one showing is not part of the scan below.
    env.log.borrow_mut().text.truncate(before_rotate);
    write(&p("rk2"), &rotated);
    let mut c = recover("g2", "x");
    c.arg("--recovery-key-file").arg(p("rk"));
    let line = env.fails(c);
    assert!(line.contains("wrong recovery key"), "{line}");
    let mut c = recover("g3", "rk2");
    c.arg("--recovery-key-file").arg(p("rk2"));
    env.ok(c);

    // A changes the password: the new one recovers, the old one fails.
    write(&p("pw2"), "a much better passphrase\n");
    // The change starts a new epoch: it will not leave the recovery key
    // silently useless, so it must be told what to do with it.
    let mut c = env.cmd(&p("a"));
    c.args(["password", "change", "--new-password-file"])
        .arg(p("pw2"));
    let line = env.fails(c);
    assert!(
        line.contains("--recovery-key-file to keep the recovery key"),
        "{line}"
    );
    // The current password is asked first: a wrong one changes nothing.
    let mut c = env.cmd_with_password(&p("a"), &p("pw2"));
    c.args(["password", "change", "--new-password-file"])
        .arg(p("pw2"))
        .arg("--recovery-key-file")
        .arg(p("rk2"));
    let line = env.fails(c);
    assert!(line.contains("wrong password"), "{line}");
    let mut c = env.cmd(&p("a"));
    c.args(["password", "change", "--new-password-file"])
        .arg(p("pw2"))
        .arg("--recovery-key-file")
        .arg(p("rk2"));
    env.ok(c);
    let c = recover("e", "old-pw");
    let line = env.fails(c);
    assert!(line.contains("wrong password"), "{line}");
    assert!(
        !p("e/device").exists(),
        "nothing set up after a wrong password"
    );
    let mut c = env.cmd_with_password(&p("f"), &p("pw2"));
    c.arg("recover")
        .args(&sa)
        .args(["--account", "ada-family", "--name", "new-pw"]);
    env.ok(c);
    let mut c = env.cmd(&p("f"));
    c.arg("restore").arg("phone").arg("--to").arg(p("out-f"));
    env.ok(c);
    assert!(same_tree(&p("data"), &p("out-f/data")) >= 9);

    // Failures: one line, non-zero, nothing damaged. A's home must come
    // out of all of them byte for byte as it went in.
    let mut c = env.cmd(&p("a"));
    c.arg("snapshots");
    env.ok(c); // catch A up with the log first
    let home_a = snapshot_dir(&p("a"));
    // A wrong recovery key (well formed, not the account's).
    write(
        &p("rk-wrong"),
        &keylink_keys::RecoveryKey::generate(&mut rand::rng()).to_display(),
    );
    let mut c = recover("g", "x");
    c.arg("--recovery-key-file").arg(p("rk-wrong"));
    let line = env.fails(c);
    assert!(line.contains("wrong recovery key"), "{line}");
    // A recovery key with a typo: the group is named.
    let mut typo: Vec<char> = recovery.chars().collect();
    let at = typo.iter().position(|c| c.is_ascii_digit()).unwrap();
    typo[at] = if typo[at] == '1' { '2' } else { '1' };
    write(&p("rk-typo"), &typo.into_iter().collect::<String>());
    let mut c = recover("g", "x");
    c.arg("--recovery-key-file").arg(p("rk-typo"));
    let line = env.fails(c);
    assert!(line.contains("typo in group 1"), "{line}");
    assert!(!p("g/device").exists());
    // A server that is down.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap().to_string();
    drop(dead);
    let mut c = env.cmd(&p("h"));
    c.args(["--connect-timeout", "1", "recover", "--server", &dead_addr])
        .args(["--fingerprint", &server.fingerprint])
        .args(["--account", "ada-family", "--name", "x"]);
    let line = env.fails(c);
    assert!(line.contains("could not reach the server"), "{line}");
    // A fingerprint that does not match.
    let wrong_fp = format!("sha256:{}", "ab".repeat(32));
    let mut c = env.cmd(&p("h"));
    c.args([
        "recover",
        "--server",
        &server.addr,
        "--fingerprint",
        &wrong_fp,
    ])
    .args(["--account", "ada-family", "--name", "x"]);
    let line = env.fails(c);
    assert!(line.contains("expected fingerprint"), "{line}");
    assert!(!p("h/device").exists());
    // A full disk on restore: a 64 KiB file-size limit (RLIMIT_FSIZE,
    // SIGXFSZ ignored, so writes fail with EFBIG as on a full disk).
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"")
        .arg(bin())
        .arg("--home")
        .arg(p("a"))
        .args(["restore", "--to"])
        .arg(p("out-full"))
        .env("RUST_LOG", "trace")
        .stdin(std::process::Stdio::null());
    let line = env.fails(c);
    assert!(
        line.contains("big") || line.contains("space") || line.contains("write"),
        "{line}"
    );
    // Nothing half-written is left: every file present is complete.
    if p("out-full").exists() {
        for e in walkdir(&p("out-full")) {
            let rel = e.strip_prefix(p("out-full")).unwrap();
            let orig = p("data").parent().unwrap().join(rel);
            if e.is_file() {
                assert_eq!(std::fs::read(&e).unwrap(), std::fs::read(&orig).unwrap());
            }
        }
    }
    // Restoring into a folder that is not empty needs --force.
    std::fs::create_dir_all(p("busy")).unwrap();
    std::fs::write(p("busy/mine.txt"), b"keep me").unwrap();
    let mut c = env.cmd(&p("a"));
    c.arg("restore").arg("--to").arg(p("busy"));
    let line = env.fails(c);
    assert!(line.contains("not empty"), "{line}");
    assert_eq!(std::fs::read(p("busy/mine.txt")).unwrap(), b"keep me");
    assert!(snapshot_dir(&p("a")) == home_a, "A's home changed");
    // The account is intact after all of it: A still backs up and lists.
    let mut c = env.cmd(&p("a"));
    c.arg("snapshots");
    env.ok(c);

    // No secret in any output (init's one showing of the recovery key
    // aside): not the root key, the passwords or the recovery key.
    let roots = std::fs::read(p("a/roots")).unwrap();
    let mut all = env.log.borrow().text.clone();
    all.push_str(&std::fs::read_to_string(p("server.log")).unwrap());
    assert!(
        all.len() > 10_000,
        "RUST_LOG=trace produced {} bytes",
        all.len()
    );
    // The typo'd recovery key (one digit from the real one) appears nowhere
    // either, nor the device identity secrets.
    let typo_text = std::fs::read_to_string(p("rk-typo")).unwrap();
    assert!(!all.contains(typo_text.trim()));
    for home in ["a", "b", "c", "d"] {
        let id = std::fs::read(p(&format!("{home}/identity"))).unwrap();
        for half in id.chunks(32) {
            let h = hex::encode(half);
            assert!(!all.contains(&h) && !all.contains(&h.to_uppercase()));
            assert!(!all.contains(&format!("{:?}", half)));
        }
    }
    for rec in roots.chunks(40) {
        let key = hex::encode(&rec[8..]);
        assert!(!all.contains(&key) && !all.contains(&key.to_uppercase()));
        assert!(!init_text.contains(&key));
    }
    for secret in ["correct horse battery staple", "a much better passphrase"] {
        assert!(!all.contains(secret) && !init_text.contains(secret));
    }
    for key in [&recovery, &rotated] {
        let digits: String = key.chars().filter(char::is_ascii_digit).collect();
        assert!(!all.contains(key.as_str()));
        assert!(!all.replace([' ', '-', '\n'], "").contains(&digits));
    }
}

/// Every file of a folder (but the lock) with its bytes.
fn snapshot_dir(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = walkdir(dir)
        .into_iter()
        .filter(|p| p.is_file() && !p.ends_with("lock"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        }
        out.push(p);
    }
    out
}
