//! Guess-limited password recovery through the real binaries
//! (docs/protocol.md §19): three `keylink server` processes as realms, an
//! account on 2-of-3; recovery with the password, with one realm down, and
//! the clear error with two down; ten wrong passwords lock the
//! registration and the right one is then refused with the reason; a
//! linked device clears the lock and recovery works again.

use crate::support::*;

#[test]
fn two_of_three_realms_through_the_binaries() {
    let t = tempfile::tempdir().unwrap();
    let p = |s: &str| t.path().join(s);
    // No time limit between guesses: this test burns the policy at once.
    let fast = ["--realm-free-guesses", "1000"];
    // s1 is the storage server and realm 1; s2 and s3 are realms only.
    let s1 = server_with(&p("s1"), "127.0.0.1:0", &fast);
    let mut s2 = Some(server_with(&p("s2"), "127.0.0.1:0", &fast));
    let mut s3 = Some(server_with(&p("s3"), "127.0.0.1:0", &fast));
    let realms = [&s1, s2.as_ref().unwrap(), s3.as_ref().unwrap()];
    std::fs::write(p("pw"), "correct horse battery staple\n").unwrap();
    std::fs::write(p("wrong"), "correct horse battery stable\n").unwrap();
    let addrs: Vec<String> = realms.iter().map(|r| r.addr.clone()).collect();
    let realm_flags: Vec<String> = realms
        .iter()
        .flat_map(|r| {
            [
                "--realm".to_string(),
                format!("{}={}", r.addr, r.fingerprint),
            ]
        })
        .chain(["--realms-needed".to_string(), "2".to_string()])
        .collect();
    let env = Env {
        server: &s1,
        password_file: p("pw"),
        log: Default::default(),
    };
    let sa = env.server_args();
    let recover = |home: &str, pw: &str| {
        let mut c = env.cmd_with_password(&p(home), &p(pw));
        c.arg("recover")
            .args(&sa)
            .args(["--account", "realm-family", "--name", home])
            .args(&realm_flags);
        c
    };

    let mut c = env.cmd(&p("a"));
    c.arg("init")
        .args(&sa)
        .args(["--account", "realm-family", "--name", "phone"])
        .args(&realm_flags);
    env.ok(c);

    // A laptop joins by linking; linking does not carry the realm set, so
    // it is told it (as an app built with it would be).
    env.link(&p("laptop"), "laptop", &p("code"), &p("a"));
    let mut c = env.cmd(&p("laptop"));
    c.args(["realms", "check"]);
    let e = env.fails(c);
    assert!(e.contains("realms set"), "{e}");
    let mut c = env.cmd(&p("laptop"));
    c.args(["realms", "set"]).args(&realm_flags);
    env.ok(c);

    // The password through all three, then with realm 3 down.
    env.ok(recover("b", "pw"));
    drop(s3.take());
    env.ok(recover("c", "pw"));

    // Realms 2 and 3 down: the password is not even tested.
    drop(s2.take());
    let e = env.fails(recover("d", "pw"));
    assert!(e.contains("2 of 3 realms are needed, 1 answered"), "{e}");

    // All three back, at the addresses the devices pinned.
    s2 = Some(server_with(&p("s2"), &addrs[1], &fast));
    s3 = Some(server_with(&p("s3"), &addrs[2], &fast));
    assert!(s2.is_some() && s3.is_some());

    // Ten wrong passwords are each refused as wrong…
    for _ in 0..10 {
        let e = env.fails(recover("x", "wrong"));
        assert!(e.contains("wrong password"), "{e}");
    }
    // …and then the right one is refused, with the reason.
    let e = env.fails(recover("x", "pw"));
    assert!(
        e.contains("password recovery is locked after 10 wrong guesses"),
        "{e}"
    );

    // A linked device clears the lock and says so; the password works again.
    let mut c = env.cmd(&p("laptop"));
    c.args(["realms", "check"]);
    let out = env.ok(c);
    assert!(out.contains("cleared"), "{out}");
    env.ok(recover("x", "pw"));

    // No output ever showed the password.
    let log = env.log.borrow();
    assert!(
        !log.text.contains("correct horse battery"),
        "a password reached the output"
    );
}
