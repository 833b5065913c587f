//! Two link machines joined by a relay the test controls, and an existing
//! device's account log kept in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keylink_account::{LogState, create_account};
use keylink_keys::{DeviceIdentity, KdfParams, Password, RootKey};
use keylink_link::{
    Binding, Event, Link, LinkError, NewDevice, Rendezvous, Shower, ShowerSecrets, Side, Timeouts,
};
use keylink_wire::account::DeviceName;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

/// What a relay does to one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Flip one bit.
    Modify,
    /// Never deliver it.
    Drop,
    /// Deliver it twice.
    Replay,
    /// Deliver it after the next frame in its direction, or, if none
    /// follows, after both sides' deadlines.
    Reorder,
    /// Send it back to its sender instead.
    Reflect,
    /// Deliver a forged frame of the same kind first.
    Inject,
}

pub const ATTACKS: [Attack; 6] = [
    Attack::Modify,
    Attack::Drop,
    Attack::Replay,
    Attack::Reorder,
    Attack::Reflect,
    Attack::Inject,
];

/// The existing device: identity, root key and its verified log.
pub struct Existing {
    pub identity: DeviceIdentity,
    pub root: RootKey,
    pub log: LogState,
}

pub fn existing(rng: &mut ChaCha20Rng) -> Existing {
    let identity = DeviceIdentity::generate(rng);
    let a = create_account(
        &identity,
        DeviceName::new("phone").unwrap(),
        &Password::new("correct horse battery").unwrap(),
        KdfParams::insecure_for_tests(8, 1, 1),
        None,
        1,
        rng,
    )
    .unwrap();
    Existing {
        identity,
        root: a.root,
        log: a.log,
    }
}

/// What happened in one run.
#[derive(Debug, Default)]
pub struct Outcome {
    pub existing: Option<Result<(), LinkError>>,
    pub new: Option<Result<(), LinkError>>,
    pub appended: bool,
    pub welcomed: bool,
    pub sas: Vec<String>,
    /// Every frame the relay saw, in order.
    pub seen: Vec<Vec<u8>>,
    pub approvals: usize,
}

/// How the person at the existing device answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Approve,
    Decline,
    Never,
}

pub struct Run {
    pub shower: Shower,
    pub attack: Option<(usize, Attack)>,
    pub answer: Answer,
    /// A different link secret for the scanner (a mistyped or guessed code).
    pub wrong_secret: bool,
    pub seed: u64,
}

impl Run {
    pub fn new(shower: Shower) -> Self {
        Self {
            shower,
            attack: None,
            answer: Answer::Approve,
            wrong_secret: false,
            seed: 7,
        }
    }
}

struct Party {
    link: Link,
    existing: bool,
}

#[allow(clippy::needless_range_loop)] // `from` names a side, and `1 - from` the other
pub fn run(cfg: &Run) -> Outcome {
    let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
    let mut ex = existing(&mut rng);
    let new_identity = Arc::new(DeviceIdentity::generate(&mut rng));
    let t0 = Instant::now();
    let timeouts = Timeouts {
        step: Duration::from_secs(60),
        approval: Duration::from_secs(300),
    };
    let secrets = ShowerSecrets::generate(
        cfg.shower,
        Rendezvous::Relay {
            server: "192.0.2.1:7447".parse().unwrap(),
            server_fingerprint: [3; 32],
            channel: [4; 16],
        },
        2_000_000_000,
        &mut rng,
    )
    .unwrap();
    let mut code = secrets.code().clone();
    if cfg.wrong_secret {
        let mut s = *code.secret().expose_secret();
        s[0] ^= 1;
        code = keylink_link::LinkCode::new(
            code.shower(),
            *code.rendezvous(),
            *code.ephemeral(),
            keylink_link::LinkCode::secret_from_bytes(s),
            code.expires_at(),
        )
        .unwrap();
    }
    let new_side = || {
        Side::New(NewDevice {
            identity: new_identity.clone(),
            name: DeviceName::new("laptop").unwrap(),
            known_head: None,
        })
    };
    let ex_side = || Side::Existing {
        device: ex.identity.device_id(),
    };
    let (shower_side, scanner_side, shower_is_existing) = match cfg.shower {
        Shower::NewDevice => (new_side(), ex_side(), false),
        Shower::ExistingDevice => (ex_side(), new_side(), true),
    };
    let shower = Link::shower(
        secrets,
        Binding::Relay,
        shower_side,
        t0 + Duration::from_secs(300),
        timeouts,
    )
    .unwrap();
    let scanner =
        Link::scanner(&code, Binding::Relay, scanner_side, t0, timeouts, &mut rng).unwrap();
    // parties[0] is the shower, parties[1] the scanner.
    let mut parties = [
        Party {
            link: shower,
            existing: shower_is_existing,
        },
        Party {
            link: scanner,
            existing: !shower_is_existing,
        },
    ];
    let mut out = Outcome::default();
    let mut now = t0;
    let mut index = 0usize;
    // Frames waiting for delivery: (to, bytes).
    let mut wire: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut held: Option<(usize, Vec<u8>)> = None;
    for _round in 0..200 {
        // Collect what each side sends, through the relay.
        let mut progressed = false;
        for from in 0..2 {
            while let Some(frame) = parties[from].link.poll_transmit() {
                progressed = true;
                out.seen.push(frame.clone());
                let to = 1 - from;
                let this = index;
                index += 1;
                match cfg.attack {
                    Some((k, attack)) if k == this => match attack {
                        Attack::Modify => {
                            let mut f = frame.clone();
                            let at = f.len() / 2;
                            f[at] ^= 0x10;
                            wire.push((to, f));
                        }
                        Attack::Drop => {}
                        Attack::Replay => {
                            wire.push((to, frame.clone()));
                            wire.push((to, frame));
                        }
                        Attack::Reorder => held = Some((to, frame)),
                        Attack::Reflect => wire.push((from, frame)),
                        Attack::Inject => {
                            wire.push((to, forge(&frame, &mut rng)));
                            wire.push((to, frame));
                        }
                    },
                    _ => {
                        wire.push((to, frame));
                        if let Some((hto, h)) = held.take() {
                            if hto == to {
                                // The held frame goes after the next one in
                                // its direction.
                                wire.push((hto, h));
                            } else {
                                held = Some((hto, h));
                            }
                        }
                    }
                }
            }
        }
        for (to, f) in wire.drain(..) {
            progressed = true;
            parties[to].link.handle_frame(&f, now);
        }
        // Events.
        for p in &mut parties {
            while let Some(ev) = p.link.poll_event() {
                progressed = true;
                match ev {
                    Event::Confirmed { sas } => out.sas.push(sas.to_string()),
                    Event::ApprovalRequested(info) => {
                        out.approvals += 1;
                        assert_eq!(info.device, new_identity.device_id());
                        match cfg.answer {
                            Answer::Approve => p.link.approve(now),
                            Answer::Decline => p.link.decline(),
                            Answer::Never => {}
                        }
                    }
                    Event::AddDevice { record, .. } => {
                        let entry = ex
                            .log
                            .add_device(&ex.identity, &ex.root, record, 2)
                            .unwrap();
                        ex.log.apply(&entry).unwrap();
                        out.appended = true;
                        p.link.device_added(&ex.log, &ex.root, now);
                    }
                    Event::Welcome(w) => {
                        out.welcomed = true;
                        assert_eq!(w.root.expose_secret(), ex.root.expose_secret());
                        // The "server" log is the existing device's.
                        let head = keylink_account::Head::from_bytes(&w.head).unwrap();
                        ex.log.check_contains(&head).unwrap();
                        p.link.key_stored(ex.log.head());
                    }
                    Event::Linked { .. } => {
                        let slot = if p.existing {
                            &mut out.existing
                        } else {
                            &mut out.new
                        };
                        *slot = Some(Ok(()));
                    }
                    Event::Failed(e) => {
                        let slot = if p.existing {
                            &mut out.existing
                        } else {
                            &mut out.new
                        };
                        *slot = Some(Err(e));
                    }
                }
            }
        }
        if progressed {
            continue;
        }
        // Nothing moves: a held frame goes now, late; otherwise time passes
        // to the next deadline.
        if let Some((to, h)) = held.take() {
            // Late: after every deadline either side has set.
            let last = parties.iter().filter_map(|p| p.link.poll_timeout()).max();
            now = last.unwrap_or(now).max(now) + Duration::from_secs(1);
            for p in &mut parties {
                p.link.handle_timeout(now);
            }
            parties[to].link.handle_frame(&h, now);
            continue;
        }
        let next = parties.iter().filter_map(|p| p.link.poll_timeout()).min();
        match next {
            Some(t) => {
                now = now.max(t);
                for p in &mut parties {
                    p.link.handle_timeout(now);
                }
            }
            None => break,
        }
    }
    out
}

/// A frame of the same kind made up by the relay.
fn forge(frame: &[u8], rng: &mut ChaCha20Rng) -> Vec<u8> {
    use keylink_wire::Wire;
    use keylink_wire::link::LinkFrame;
    use rand::Rng;
    let mut random = [0u8; 32];
    rng.fill_bytes(&mut random);
    let forged = match LinkFrame::decode(frame).unwrap() {
        LinkFrame::ScannerHello { .. } => {
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            LinkFrame::ScannerHello {
                ephemeral: keylink_keys::primitives::x25519_public(&secret),
                confirm: random,
            }
        }
        LinkFrame::ShowerConfirm { .. } => LinkFrame::ShowerConfirm { confirm: random },
        LinkFrame::Sealed { ciphertext } => {
            let mut c = vec![0u8; ciphertext.len()];
            rng.fill_bytes(&mut c);
            LinkFrame::Sealed { ciphertext: c }
        }
        f @ LinkFrame::Abort { .. } => f,
    };
    forged.encode()
}
