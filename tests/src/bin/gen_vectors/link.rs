//! Linking vectors: link code text (valid, typed, and refused for each
//! reason) and handshakes run through the real state machines with every
//! random value stated.

use keylink_keys::primitives::{sha256, x25519_public};
use keylink_keys::{DeviceIdentity, labels};
use keylink_tests::{det_array, det_bytes};
use serde_json::{Value, json};

use crate::{Gen, Want, h};

/// Text for `payload` with a correct checksum, as a malicious or buggy
/// encoder would make it.
fn text_of(payload: &[u8]) -> String {
    let mut all = payload.to_vec();
    all.extend_from_slice(&sha256(&[labels::LINK_CODE_CHECKSUM, payload])[..4]);
    format!("keylink-link:{}", data_encoding::BASE32_NOPAD.encode(&all))
}

struct Code {
    flags: u8,
    ip: Vec<u8>,
    port: u16,
    fingerprint: [u8; 32],
    channel: Option<[u8; 16]>,
    ephemeral: [u8; 32],
    secret: [u8; 16],
    expiry: u32,
}

impl Code {
    fn payload(&self) -> Vec<u8> {
        let mut p = vec![1, self.flags, if self.ip.len() == 4 { 4 } else { 6 }];
        p.extend_from_slice(&self.ip);
        p.extend_from_slice(&self.port.to_be_bytes());
        p.extend_from_slice(&self.fingerprint);
        if let Some(c) = self.channel {
            p.extend_from_slice(&c);
        }
        p.extend_from_slice(&self.ephemeral);
        p.extend_from_slice(&self.secret);
        p.extend_from_slice(&self.expiry.to_be_bytes());
        p
    }
}

fn relay_code() -> Code {
    Code {
        flags: 0,
        ip: vec![192, 0, 2, 10],
        port: 7447,
        fingerprint: det_array("link-server-fingerprint"),
        channel: Some(det_array("link-channel")),
        ephemeral: x25519_public(&det_array("link-shower-ephemeral")),
        secret: det_array("link-secret"),
        expiry: 1_900_000_000,
    }
}

fn parse(g: &mut Gen, name: &str, text: &str, want: Want, comment: &str) {
    g.add(
        name,
        "link_code_parse",
        json!({ "text": text }),
        want,
        comment,
    );
}

pub(crate) fn generate(g: &mut Gen) {
    let base = relay_code();
    let good = text_of(&base.payload());
    parse(
        g,
        "code_relay_ipv4",
        &good,
        Want::Ok,
        "A relay code over IPv4, the new device showing: 109-byte payload, checksum, base32.",
    );
    let v6 = Code {
        flags: 1,
        ip: vec![0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ..relay_code()
    };
    parse(
        g,
        "code_relay_ipv6_existing_shows",
        &text_of(&v6.payload()),
        Want::Ok,
        "A relay code over IPv6 shown by the existing device (flag bit 0).",
    );
    let direct = Code {
        flags: 2,
        ip: vec![10, 0, 0, 7],
        port: 40_001,
        channel: None,
        ..relay_code()
    };
    parse(
        g,
        "code_direct_ipv4",
        &text_of(&direct.payload()),
        Want::Ok,
        "A direct code (flag bit 1): the listener's address and certificate fingerprint, no channel id.",
    );
    let body = &good["keylink-link:".len()..];
    let typed: Vec<String> = body
        .to_lowercase()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    parse(
        g,
        "code_typed_lowercase_grouped",
        &format!("  KeyLink-Link:{}\n", typed.join("- ")),
        Want::Ok,
        "The relay code typed by a person: prefix in mixed case, lower-case body in groups with hyphens and spaces, surrounding white space. Same payload as code_relay_ipv4.",
    );

    // Refusals.
    let mut typo = good.clone().into_bytes();
    let at = typo.len() - 20;
    typo[at] = if typo[at] == b'Q' { b'R' } else { b'Q' };
    parse(
        g,
        "code_typo",
        &String::from_utf8(typo).unwrap_or_default(),
        Want::Err("checksum"),
        "One character of the relay code changed: the checksum no longer matches.",
    );
    let mut p = base.payload();
    p[0] = 2;
    parse(
        g,
        "code_version_2",
        &text_of(&p),
        Want::Err("unsupported_version"),
        "Version byte 2 with a correct checksum.",
    );
    let mut p = base.payload();
    p[1] = 0x04;
    parse(
        g,
        "code_unknown_flag",
        &text_of(&p),
        Want::Err("malformed"),
        "Flag bit 2 set: unknown flags are refused.",
    );
    let mut p = base.payload();
    p[2] = 5;
    parse(
        g,
        "code_address_family_5",
        &text_of(&p),
        Want::Err("malformed"),
        "Address family 5.",
    );
    let mut p = base.payload();
    p.push(0);
    parse(
        g,
        "code_trailing_byte",
        &text_of(&p),
        Want::Err("trailing_data"),
        "One byte after the expiry, with a correct checksum.",
    );
    let p = base.payload();
    parse(
        g,
        "code_truncated_field",
        &text_of(&p[..p.len() - 1]),
        Want::Err("truncated"),
        "The expiry one byte short, with a correct checksum.",
    );
    parse(
        g,
        "code_too_short",
        "keylink-link:AAAA",
        Want::Err("truncated"),
        "Two bytes after decoding: shorter than a checksum.",
    );
    for (name, point, what) in [
        ("code_zero_share", [0u8; 32], "the all-zero point"),
        (
            "code_order_8_share",
            {
                let mut q = [0u8; 32];
                q[0] = 1;
                q
            },
            "the point u = 1 (low order)",
        ),
        (
            "code_noncanonical_share",
            {
                let mut q = [0xffu8; 32];
                q[0] = 0xee;
                q[31] = 0x7f;
                q
            },
            "u = p + 1, not canonically encoded",
        ),
    ] {
        let c = Code {
            ephemeral: point,
            ..relay_code()
        };
        parse(
            g,
            name,
            &text_of(&c.payload()),
            Want::Err("low_order_share"),
            &format!("The shower's ephemeral key is {what}."),
        );
    }
    let c = Code {
        port: 0,
        ..relay_code()
    };
    parse(
        g,
        "code_port_0",
        &text_of(&c.payload()),
        Want::Err("bad_address"),
        "Port 0.",
    );
    let c = Code {
        ip: vec![0, 0, 0, 0],
        ..relay_code()
    };
    parse(
        g,
        "code_unspecified_address",
        &text_of(&c.payload()),
        Want::Err("bad_address"),
        "Address 0.0.0.0.",
    );
    parse(
        g,
        "code_wrong_prefix",
        &good.replace("keylink-link:", "keylink:"),
        Want::Err("not_a_link_code"),
        "The prefix is not keylink-link:.",
    );
    parse(
        g,
        "code_bad_character",
        &format!("{good}!"),
        Want::Err("bad_character"),
        "A character outside base32.",
    );
    parse(
        g,
        "code_padding",
        &format!("{good}="),
        Want::Err("bad_character"),
        "Base32 padding is not used.",
    );
    parse(
        g,
        "code_too_long",
        &format!("keylink-link:{}", "A".repeat(400)),
        Want::Err("too_long"),
        "Over 400 bytes of text: refused before decoding.",
    );

    // Handshakes.
    let new = DeviceIdentity::from_secret_bytes(
        &det_array("link-new-signing"),
        &det_array("link-new-agreement"),
    );
    let (seed, agree) = new.expose_secret_bytes();
    let hs = |shower: &str, direct: bool| -> Value {
        let mut v = json!({
            "shower": shower,
            "ip": if direct { "10.0.0.7" } else { "192.0.2.10" },
            "port": if direct { 40_001 } else { 7447 },
            "fingerprint": h(&det_bytes("link-server-fingerprint", 32)),
            "shower_ephemeral_secret": h(&det_bytes("link-shower-ephemeral", 32)),
            "link_secret": h(&det_bytes("link-secret", 16)),
            "expiry": 1_900_000_000u32,
            "scanner_ephemeral_secret": h(&det_bytes("link-scanner-ephemeral", 32)),
            "new_signing_seed": h(&seed),
            "new_agreement_secret": h(&agree),
            "new_name": "Ada's laptop",
            "existing_device": h(&det_bytes("link-existing-device", 16)),
        });
        let o = v.as_object_mut().unwrap_or_else(|| unreachable!());
        if direct {
            o.insert("exporter".into(), json!(h(&det_bytes("link-exporter", 32))));
        } else {
            o.insert("channel".into(), json!(h(&det_bytes("link-channel", 16))));
        }
        v
    };
    for (name, shower, direct, comment) in [
        (
            "handshake_relay_new_shows",
            "new",
            false,
            "The usual direction through the relay: the new device shows, the existing device scans. Frames: the scanner's hello, the shower's confirmation, the new device's sealed join request (first frame it seals, counter 0).",
        ),
        (
            "handshake_relay_existing_shows",
            "existing",
            false,
            "The reverse direction through the relay: the existing device shows, the new device scans and sends the join request after the shower's confirmation.",
        ),
        (
            "handshake_direct_new_shows",
            "new",
            true,
            "A direct link: the transcript binds the stated TLS exporter value.",
        ),
        (
            "handshake_direct_existing_shows",
            "existing",
            true,
            "A direct link in the reverse direction.",
        ),
    ] {
        g.add(
            name,
            "link_handshake",
            hs(shower, direct),
            Want::Ok,
            comment,
        );
    }
    // The shower refuses hellos it cannot confirm.
    let base_hello = {
        let v = hs("new", false);
        let vec: keylink_tests::Vector = keylink_tests::Vector {
            name: "probe".into(),
            kind: "link_handshake".into(),
            inputs: serde_json::from_value(v).unwrap_or_default(),
            expected: None,
            expected_error: None,
            comment: String::new(),
        };
        match keylink_tests::link_eval::evaluate(&vec) {
            Ok(Ok(o)) => hex::decode(o["hello"].as_str().unwrap_or_default()).unwrap_or_default(),
            _ => unreachable!("the probe handshake runs"),
        }
    };
    let with_hello = |hello: &[u8]| {
        let mut v = hs("new", false);
        v.as_object_mut()
            .unwrap_or_else(|| unreachable!())
            .insert("hello".into(), json!(h(hello)));
        v
    };
    // Hello layout: 08 01 52 44 0a 20 <ephemeral 32> 12 20 <confirm 32>.
    let mut bad = base_hello.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    g.add("handshake_wrong_confirmation", "link_handshake", with_hello(&bad), Want::Err("confirmation_failed"),
        "The scanner's confirmation MAC with its last bit flipped: the shower refuses (and voids the code).");
    let mut other_secret = hs("new", false);
    other_secret["link_secret"] = json!(h(&det_bytes("another-link-secret", 16)));
    other_secret
        .as_object_mut()
        .unwrap_or_else(|| unreachable!())
        .insert("hello".into(), json!(h(&base_hello)));
    g.add(
        "handshake_hello_for_another_secret",
        "link_handshake",
        other_secret,
        Want::Err("confirmation_failed"),
        "A hello made for the same code but a different link secret (a guess): refused.",
    );
    let mut low = base_hello.clone();
    low[6..38].copy_from_slice(&[0u8; 32]);
    g.add(
        "handshake_zero_share",
        "link_handshake",
        with_hello(&low),
        Want::Err("low_order_share"),
        "The scanner's ephemeral key is the all-zero point.",
    );
    g.add(
        "handshake_truncated_hello",
        "link_handshake",
        with_hello(&base_hello[..base_hello.len() - 1]),
        Want::Err("malformed"),
        "The hello one byte short.",
    );
    let mut v2 = base_hello.clone();
    v2[1] = 2;
    g.add(
        "handshake_hello_version_2",
        "link_handshake",
        with_hello(&v2),
        Want::Err("unsupported_version"),
        "The hello's frame version is 2: refused as a version this build does not read (§1.5), not as malformed.",
    );
}
