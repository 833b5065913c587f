//! The state machine's own failure cases, and the link code's parser.

use std::time::Instant;

use keylink_link::{
    Binding, CodeError, Link, LinkCode, LinkError, Rendezvous, Shower, ShowerSecrets, Side,
    Timeouts,
};
use keylink_wire::Wire;
use keylink_wire::link::{AbortReason, LinkFrame};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use crate::harness::{Answer, Run, run};

fn relay() -> Rendezvous {
    Rendezvous::Relay {
        server: "[2001:db8::1]:7447".parse().unwrap(),
        server_fingerprint: [0xab; 32],
        channel: [0xcd; 16],
    }
}

fn code(shower: Shower) -> LinkCode {
    ShowerSecrets::generate(
        shower,
        relay(),
        2_000_000_000,
        &mut ChaCha20Rng::seed_from_u64(1),
    )
    .unwrap()
    .code()
    .clone()
}

#[test]
fn codes_round_trip_in_both_kinds_and_survive_retyping() {
    let c = code(Shower::NewDevice);
    let text = c.to_text();
    assert!(text.len() < 220, "{} characters", text.len());
    let back = LinkCode::parse(&text).unwrap();
    assert_eq!(back.payload(), c.payload());
    assert_eq!(back.secret().expose_secret(), c.secret().expose_secret());
    // Typed by a person: lower case, spaces, hyphens, a trailing newline.
    let body = &text[keylink_link::CODE_PREFIX.len()..];
    let typed: String = body
        .to_lowercase()
        .as_bytes()
        .chunks(5)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("-");
    let back = LinkCode::parse(&format!("KEYLINK-LINK:{typed}\n")).unwrap();
    assert_eq!(back.payload(), c.payload());
    let direct = ShowerSecrets::generate(
        Shower::ExistingDevice,
        Rendezvous::Direct {
            addr: "192.168.1.20:40000".parse().unwrap(),
            cert_fingerprint: [9; 32],
        },
        2_000_000_000,
        &mut ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    let back = LinkCode::parse(&direct.code().to_text()).unwrap();
    assert_eq!(back.rendezvous(), direct.code().rendezvous());
    assert_eq!(back.shower(), Shower::ExistingDevice);
    // Debug never shows the secret.
    let shown = format!("{back:?}");
    assert!(shown.contains("redacted"));
}

#[test]
fn malformed_codes_are_refused_by_name() {
    let c = code(Shower::NewDevice);
    let text = c.to_text().to_string();
    let mut bytes = c.payload().to_vec();
    let sum = |p: &[u8]| {
        keylink_keys::primitives::sha256(&[keylink_keys::labels::LINK_CODE_CHECKSUM, p])[..4]
            .to_vec()
    };
    let enc = |p: &[u8]| {
        let mut all = p.to_vec();
        all.extend(sum(p));
        format!("keylink-link:{}", data_encoding::BASE32_NOPAD.encode(&all))
    };
    assert!(matches!(
        LinkCode::parse("hello"),
        Err(CodeError::NotALinkCode)
    ));
    assert!(matches!(
        LinkCode::parse(&"keylink-link:".repeat(40)),
        Err(CodeError::TooLong { .. })
    ));
    assert!(matches!(
        LinkCode::parse("keylink-link:ABC!"),
        Err(CodeError::BadCharacter)
    ));
    // One changed character: the checksum catches it.
    let mut typo = text.clone().into_bytes();
    let at = typo.len() - 10;
    typo[at] = if typo[at] == b'A' { b'B' } else { b'A' };
    assert!(matches!(
        LinkCode::parse(std::str::from_utf8(&typo).unwrap()),
        Err(CodeError::Checksum)
    ));
    // Cut short.
    assert!(LinkCode::parse(&text[..text.len() - 8]).is_err());
    // A future version, with a valid checksum.
    bytes[0] = 2;
    assert!(matches!(
        LinkCode::parse(&enc(&bytes)),
        Err(CodeError::UnsupportedVersion { got: 2 })
    ));
    bytes[0] = 1;
    // Unknown flags.
    bytes[1] = 0x80;
    assert!(matches!(
        LinkCode::parse(&enc(&bytes)),
        Err(CodeError::Malformed { .. })
    ));
    bytes[1] = 0;
    // Trailing data, with a valid checksum.
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        LinkCode::parse(&enc(&long)),
        Err(CodeError::TrailingData)
    ));
    // A low-order share: the all-zero point, and the point of order 8.
    let share_at = bytes.len() - 32 - 16 - 4;
    for point in [[0u8; 32], {
        let mut p = [0u8; 32];
        p[0] = 1;
        p
    }] {
        let mut low = bytes.clone();
        low[share_at..share_at + 32].copy_from_slice(&point);
        assert!(matches!(
            LinkCode::parse(&enc(&low)),
            Err(CodeError::LowOrderShare)
        ));
    }
    // Port 0.
    let mut port0 = bytes.clone();
    port0[19] = 0;
    port0[20] = 0;
    assert!(matches!(
        LinkCode::parse(&enc(&port0)),
        Err(CodeError::BadAddress)
    ));
}

#[test]
fn expired_codes_are_refused() {
    let c = code(Shower::NewDevice);
    assert!(c.check_fresh(1_999_999_999).is_ok());
    assert_eq!(c.check_fresh(2_000_000_000), Err(CodeError::Expired));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Any text: a typed error, never a panic; a code that parses
    /// re-encodes to the same payload.
    #[test]
    fn the_parser_never_panics(s in ".{0,420}") {
        if let Ok(c) = LinkCode::parse(&s) {
            let again = LinkCode::parse(&c.to_text()).unwrap();
            prop_assert_eq!(again.payload(), c.payload());
        }
    }

    /// Real codes with one byte changed are refused (checksum) or, if
    /// the change hit only letter case or separators, parse to the same code.
    #[test]
    fn mutated_codes_are_refused(at in 13usize..190, to in any::<u8>()) {
        let c = code(Shower::NewDevice);
        let mut text = c.to_text().to_string().into_bytes();
        let at = at.min(text.len() - 1);
        text[at] = to;
        if let Ok(s) = std::str::from_utf8(&text)
            && let Ok(back) = LinkCode::parse(s)
        {
            prop_assert_eq!(back.payload(), c.payload());
        }
    }
}

#[test]
fn a_declined_link_appends_nothing_and_tells_the_new_device() {
    for shower in [Shower::NewDevice, Shower::ExistingDevice] {
        let o = run(&Run {
            answer: Answer::Decline,
            ..Run::new(shower)
        });
        assert_eq!(o.existing, Some(Err(LinkError::Declined)));
        assert_eq!(o.new, Some(Err(LinkError::Declined)));
        assert!(!o.appended && !o.welcomed);
        assert_eq!(o.approvals, 1);
    }
}

#[test]
fn an_approver_who_never_answers_times_out_with_nothing_appended() {
    let o = run(&Run {
        answer: Answer::Never,
        ..Run::new(Shower::NewDevice)
    });
    // The existing device gives up after the approval timeout (300 s);
    // the new device waits longer (approval + two steps) and is told.
    assert_eq!(o.existing, Some(Err(LinkError::Timeout)));
    assert_eq!(
        o.new,
        Some(Err(LinkError::PeerAborted(AbortReason::Timeout)))
    );
    assert!(!o.appended);
}

#[test]
fn direct_links_bound_to_different_connections_do_not_confirm() {
    // A man in the middle who terminates QUIC on both sides holds two
    // connections with two exporters: the transcripts differ.
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let ex = crate::harness::existing(&mut rng);
    let secrets = ShowerSecrets::generate(
        Shower::NewDevice,
        Rendezvous::Direct {
            addr: "192.168.1.20:40000".parse().unwrap(),
            cert_fingerprint: [9; 32],
        },
        2_000_000_000,
        &mut rng,
    )
    .unwrap();
    let code = secrets.code().clone();
    let now = Instant::now();
    let mut shower = Link::shower(
        secrets,
        Binding::Direct([1; 32]),
        Side::New(keylink_link::NewDevice {
            identity: std::sync::Arc::new(keylink_keys::DeviceIdentity::generate(&mut rng)),
            name: keylink_wire::account::DeviceName::new("laptop").unwrap(),
            known_head: None,
        }),
        now + std::time::Duration::from_secs(60),
        Timeouts::default(),
    )
    .unwrap();
    let mut scanner = Link::scanner(
        &code,
        Binding::Direct([2; 32]),
        Side::Existing {
            device: ex.identity.device_id(),
        },
        now,
        Timeouts::default(),
        &mut rng,
    )
    .unwrap();
    shower.handle_frame(&scanner.poll_transmit().unwrap(), now);
    assert!(matches!(
        shower.poll_event(),
        Some(keylink_link::Event::Failed(LinkError::ConfirmationFailed))
    ));
    scanner.handle_frame(&shower.poll_transmit().unwrap(), now);
    assert!(matches!(
        scanner.poll_event(),
        Some(keylink_link::Event::Failed(LinkError::PeerAborted(
            AbortReason::ConfirmationFailed
        )))
    ));
}

#[test]
fn roles_and_bindings_must_fit_the_code() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let ex = crate::harness::existing(&mut rng);
    let c = code(Shower::ExistingDevice);
    // An existing device cannot scan a code another existing device shows.
    let r = Link::scanner(
        &c,
        Binding::Relay,
        Side::Existing {
            device: ex.identity.device_id(),
        },
        Instant::now(),
        Timeouts::default(),
        &mut rng,
    );
    assert!(matches!(r, Err(LinkError::WrongRole { .. })));
    let c = code(Shower::NewDevice);
    let r = Link::scanner(
        &c,
        Binding::Direct([0; 32]),
        Side::Existing {
            device: ex.identity.device_id(),
        },
        Instant::now(),
        Timeouts::default(),
        &mut rng,
    );
    assert!(matches!(r, Err(LinkError::WrongBinding)));
}

#[test]
fn a_low_order_scanner_share_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let secrets =
        ShowerSecrets::generate(Shower::NewDevice, relay(), 2_000_000_000, &mut rng).unwrap();
    let identity = std::sync::Arc::new(keylink_keys::DeviceIdentity::generate(&mut rng));
    let now = Instant::now();
    let mut shower = Link::shower(
        secrets,
        Binding::Relay,
        Side::New(keylink_link::NewDevice {
            identity,
            name: keylink_wire::account::DeviceName::new("laptop").unwrap(),
            known_head: None,
        }),
        now + std::time::Duration::from_secs(60),
        Timeouts::default(),
    )
    .unwrap();
    let mut point = [0u8; 32];
    point[0] = 1;
    shower.handle_frame(
        &LinkFrame::ScannerHello {
            ephemeral: point,
            confirm: [0; 32],
        }
        .encode(),
        now,
    );
    let ev = shower.poll_event().unwrap();
    assert!(
        matches!(ev, keylink_link::Event::Failed(LinkError::LowOrderShare)),
        "{ev:?}"
    );
    // It tells the other side, and accepts nothing more.
    assert_eq!(
        LinkFrame::decode(&shower.poll_transmit().unwrap()).unwrap(),
        LinkFrame::Abort {
            reason: AbortReason::Protocol
        }
    );
    assert!(shower.is_finished());
}
