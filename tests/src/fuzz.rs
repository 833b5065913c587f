//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz), shared with the
//! test that replays their saved corpora in `cargo test`. Each feeds
//! untrusted bytes to a decoder (and what follows it) and must never panic.

use keylink_wire::Wire;

/// Key wraps: parse, then try to open with a fixed password and recovery key.
pub fn key_wrap(data: &[u8]) {
    if let Ok(wrap) = keylink_keys::KeyWrap::from_bytes(data) {
        let _ = wrap.to_bytes();
        if let Ok(pw) = keylink_keys::Password::new("fuzzing password") {
            // Weak parameters only: a hostile header must not make fuzzing slow.
            if wrap.params().m_kib() <= 64 && wrap.params().t() <= 2 {
                let _ = wrap.open_password(&pw, keylink_keys::KdfPolicy::insecure_accept_weak());
            }
        }
    }
}

/// Sealed boxes.
pub fn sealed_box(data: &[u8]) {
    let _ = keylink_keys::SealedBox::from_bytes(data).map(|b| b.to_bytes());
}

/// Recovery keys as typed.
pub fn recovery_key(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keylink_keys::RecoveryKey::parse(text);
    }
}

/// Account-log entries, and a log made of however many decode.
pub fn signed_entry(data: &[u8]) {
    let entries: Vec<_> = data
        .split(|&b| b == 0xfe)
        .filter_map(|chunk| keylink_wire::account::SignedEntry::decode(chunk).ok())
        .collect();
    let _ = keylink_account::LogState::verify(&entries);
}

/// Backup manifests: roots, pages and the object header.
pub fn manifest(data: &[u8]) {
    let _ = keylink_wire::backup::ManifestRoot::decode(data);
    let _ = keylink_wire::backup::ManifestPage::decode(data);
    let _ = keylink_backup::format::ManifestHeader::from_bytes(data);
}

/// Server requests and responses.
pub fn server_message(data: &[u8]) {
    let _ = keylink_wire::server::Request::decode(data);
    let _ = keylink_wire::server::Response::decode(data);
}

/// Link codes as typed, pasted or scanned: parse, and a code that parses
/// must re-encode to text that parses to the same payload.
pub fn link_code(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(code) = keylink_link::LinkCode::parse(text)
    {
        let again = keylink_link::LinkCode::parse(&code.to_text());
        assert!(again.is_ok_and(|c| c.payload() == code.payload()));
    }
}

/// The linking state machines of both devices, joined by a relay the input
/// scripts: each byte is an operation on the frames in flight (deliver,
/// drop, duplicate, flip a bit, reflect, inject bytes, let time pass,
/// close). Besides never panicking, two properties are checked on every
/// input: the root key never crosses the relay in the clear, and the new
/// device never receives it before the AddDevice entry is appended.
pub fn link_machine(data: &[u8]) {
    let _ = link_fuzz::run(data);
}

/// What [`link_machine`] did with `data`: whether AddDevice was appended,
/// and how many of the two devices finished linked.
pub fn link_machine_outcome(data: &[u8]) -> (bool, usize) {
    link_fuzz::run(data)
}

mod link_fuzz {
    use std::collections::VecDeque;
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, Instant};

    use keylink_account::{LogState, create_account};
    use keylink_keys::{DeviceIdentity, KdfParams, Password, RootKey};
    use keylink_link::{
        Binding, Event, Link, NewDevice, Rendezvous, Shower, ShowerSecrets, Side, Timeouts,
    };
    use keylink_wire::account::DeviceName;
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;

    struct Fixture {
        existing: ([u8; 32], [u8; 32]),
        root: [u8; 32],
        log: LogState,
        new: ([u8; 32], [u8; 32]),
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(0x11);
            let e = DeviceIdentity::generate(&mut rng);
            let Ok(name) = DeviceName::new("phone") else {
                unreachable!("a fixed valid name")
            };
            let Ok(password) = Password::new("fuzzing password") else {
                unreachable!("a fixed valid password")
            };
            let Ok(a) = create_account(
                &e,
                name,
                &password,
                KdfParams::insecure_for_tests(8, 1, 1),
                None,
                1,
                &mut rng,
            ) else {
                unreachable!("fixed inputs make an account")
            };
            let n = DeviceIdentity::generate(&mut rng);
            Fixture {
                existing: e.expose_secret_bytes(),
                root: *a.root.expose_secret(),
                log: a.log,
                new: n.expose_secret_bytes(),
            }
        })
    }

    #[allow(clippy::needless_range_loop)] // `from` names a device, `1 - from` the other
    pub(super) fn run(data: &[u8]) -> (bool, usize) {
        let f = fixture();
        let mut rng = ChaCha20Rng::seed_from_u64(0x22);
        let existing = DeviceIdentity::from_secret_bytes(&f.existing.0, &f.existing.1);
        let root = RootKey::from_secret_bytes(f.root, keylink_keys::Epoch::GENESIS);
        let mut log = f.log.clone();
        let new = Arc::new(DeviceIdentity::from_secret_bytes(&f.new.0, &f.new.1));
        let Ok(name) = DeviceName::new("laptop") else {
            return (false, 0);
        };
        let (ops, reverse) = match data.split_first() {
            Some((&first, rest)) => (rest, first & 1 == 1),
            None => (data, false),
        };
        let shower = if reverse {
            Shower::ExistingDevice
        } else {
            Shower::NewDevice
        };
        let Ok(secrets) = ShowerSecrets::generate(
            shower,
            Rendezvous::Relay {
                server: std::net::SocketAddr::from(([192, 0, 2, 1], 7447)),
                server_fingerprint: [1; 32],
                channel: [2; 16],
            },
            u32::MAX,
            &mut rng,
        ) else {
            return (false, 0);
        };
        let code = secrets.code().clone();
        let new_side = Side::New(NewDevice {
            identity: new.clone(),
            name,
            known_head: None,
        });
        let ex_side = Side::Existing {
            device: existing.device_id(),
        };
        let (shower_side, scanner_side) = if reverse {
            (ex_side, new_side)
        } else {
            (new_side, ex_side)
        };
        let t0 = Instant::now();
        let timeouts = Timeouts::default();
        let Ok(a) = Link::shower(
            secrets,
            Binding::Relay,
            shower_side,
            t0 + Duration::from_secs(3600),
            timeouts,
        ) else {
            return (false, 0);
        };
        let Ok(b) = Link::scanner(&code, Binding::Relay, scanner_side, t0, timeouts, &mut rng)
        else {
            return (false, 0);
        };
        // parties[0] shows, parties[1] scans; `existing` says which is which.
        let mut parties = [a, b];
        let existing_at = usize::from(!reverse);
        let mut wire: VecDeque<(usize, Vec<u8>)> = VecDeque::new();
        let mut now = t0;
        let mut appended = false;
        let mut approve = true;
        let mut linked = 0;
        let secret = *root.expose_secret();
        let mut ops = ops.iter().copied();
        while let Some(op) = ops.next() {
            for from in 0..2 {
                while let Some(frame) = parties[from].poll_transmit() {
                    assert!(
                        !frame.windows(32).any(|w| w == secret),
                        "root key visible to the relay"
                    );
                    wire.push_back((1 - from, frame));
                }
            }
            match op % 9 {
                0 => {
                    if let Some((to, f)) = wire.pop_front() {
                        parties[to].handle_frame(&f, now);
                    }
                }
                1 => {
                    wire.pop_front();
                }
                2 => {
                    if let Some((to, f)) = wire.front().cloned() {
                        parties[to].handle_frame(&f, now);
                    }
                }
                3 => {
                    let at = usize::from(ops.next().unwrap_or(0));
                    if let Some((_, f)) = wire.front_mut()
                        && !f.is_empty()
                    {
                        let i = at % f.len();
                        f[i] ^= 1 << (at % 8);
                    }
                }
                4 => {
                    if let Some((to, f)) = wire.pop_front() {
                        parties[1 - to].handle_frame(&f, now);
                    }
                }
                5 => {
                    let n = usize::from(ops.next().unwrap_or(0));
                    let bytes: Vec<u8> = ops.by_ref().take(n).collect();
                    parties[n & 1].handle_frame(&bytes, now);
                }
                6 => {
                    now += Duration::from_secs(61);
                    for p in &mut parties {
                        p.handle_timeout(now);
                    }
                }
                7 => approve = !approve,
                _ => parties[usize::from(op & 0x10 != 0)].handle_closed(),
            }
            for (i, p) in parties.iter_mut().enumerate() {
                while let Some(ev) = p.poll_event() {
                    match ev {
                        Event::ApprovalRequested(_) if approve => p.approve(now),
                        Event::ApprovalRequested(_) => p.decline(),
                        Event::AddDevice { record, .. } => {
                            assert_eq!(i, existing_at, "only the existing device appends");
                            match log.add_device(&existing, &root, record, 2) {
                                Ok(entry) if log.apply(&entry).is_ok() => {
                                    appended = true;
                                    p.device_added(&log, &root, now);
                                }
                                _ => p.append_failed("refused".into()),
                            }
                        }
                        Event::Welcome(w) => {
                            assert!(appended, "root key before AddDevice");
                            assert_eq!(w.root.expose_secret(), &secret);
                            p.key_stored(log.head());
                        }
                        Event::Linked { .. } => linked += 1,
                        _ => {}
                    }
                }
            }
        }
        (appended, linked)
    }
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by name (the file names under `fuzz/fuzz_targets/`).
pub const TARGETS: [(&str, Target); 8] = [
    ("key_wrap", key_wrap),
    ("sealed_box", sealed_box),
    ("recovery_key", recovery_key),
    ("signed_entry", signed_entry),
    ("manifest", manifest),
    ("server_message", server_message),
    ("link_code", link_code),
    ("link_machine", link_machine),
];
