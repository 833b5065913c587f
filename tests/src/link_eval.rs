//! Evaluates a linking vector (docs/protocol.md §16): parsing link code
//! text, and a handshake run through the real state machines with every
//! random value stated, so its frames are fixed bytes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keylink_keys::DeviceIdentity;
use keylink_link::{
    Binding, Event, Link, LinkCode, NewDevice, Rendezvous, Shower, ShowerSecrets, Side, Timeouts,
};
use keylink_wire::account::DeviceName;
use serde_json::Value;

use crate::keys_eval::{Outcome, Outputs};
use crate::{FixedRng, Vector, VectorError};

fn field(e: impl std::fmt::Display) -> VectorError {
    VectorError::Field(e.to_string())
}

fn out(pairs: &[(&str, String)]) -> Outputs {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
        .collect()
}

/// Run `v`.
///
/// # Errors
/// When the vector is malformed.
pub fn evaluate(v: &Vector) -> Result<Outcome, VectorError> {
    match v.kind.as_str() {
        "link_code_parse" => Ok(LinkCode::parse(v.text("text")?)
            .map(|c| {
                out(&[
                    ("payload", hex::encode(c.payload())),
                    ("text", c.to_text().to_string()),
                ])
            })
            .map_err(|e| e.class().to_string())),
        "link_handshake" => handshake(v),
        _ => Err(VectorError::Field(format!("unknown kind {}", v.kind))),
    }
}

fn rendezvous(v: &Vector) -> Result<Rendezvous, VectorError> {
    let ip: IpAddr = v.text("ip")?.parse().map_err(field)?;
    let port = u16::try_from(v.num("port")?).map_err(field)?;
    let addr = SocketAddr::new(ip, port);
    Ok(if v.has("channel") {
        Rendezvous::Relay {
            server: addr,
            server_fingerprint: v.hex_array("fingerprint")?,
            channel: v.hex_array("channel")?,
        }
    } else {
        Rendezvous::Direct {
            addr,
            cert_fingerprint: v.hex_array("fingerprint")?,
        }
    })
}

/// The shower's code from stated randomness (ephemeral secret, then link
/// secret), both devices' machines, and the frames up to the sealed join
/// request. With `hello` given, that hello is delivered to the shower
/// instead of the scanner's own (for refusals).
fn handshake(v: &Vector) -> Result<Outcome, VectorError> {
    let shower = match v.text("shower")? {
        "new" => Shower::NewDevice,
        "existing" => Shower::ExistingDevice,
        other => return Err(field(format!("shower {other}"))),
    };
    let mut rng = FixedRng::new(
        [
            v.hex_array::<32>("shower_ephemeral_secret")?.to_vec(),
            v.hex_array::<16>("link_secret")?.to_vec(),
        ]
        .concat(),
    );
    let expiry = u32::try_from(v.num("expiry")?).map_err(field)?;
    let secrets =
        ShowerSecrets::generate(shower, rendezvous(v)?, expiry, &mut rng).map_err(field)?;
    let code = secrets.code().clone();
    let binding = if v.has("exporter") {
        Binding::Direct(v.hex_array("exporter")?)
    } else {
        Binding::Relay
    };
    let new = Arc::new(DeviceIdentity::from_secret_bytes(
        &v.hex_array("new_signing_seed")?,
        &v.hex_array("new_agreement_secret")?,
    ));
    let new_side = || {
        Ok::<_, VectorError>(Side::New(NewDevice {
            identity: new.clone(),
            name: DeviceName::new(v.text("new_name")?).map_err(field)?,
            known_head: None,
        }))
    };
    let existing_side = Side::Existing {
        device: keylink_keys::DeviceId::from_bytes(v.hex_array("existing_device")?),
    };
    let (shower_side, scanner_side) = match shower {
        Shower::NewDevice => (new_side()?, existing_side),
        Shower::ExistingDevice => (existing_side, new_side()?),
    };
    let now = Instant::now();
    let t = Timeouts::default();
    let mut s = Link::shower(
        secrets,
        binding,
        shower_side,
        now + Duration::from_secs(60),
        t,
    )
    .map_err(field)?;
    let mut c = Link::scanner(
        &code,
        binding,
        scanner_side,
        now,
        t,
        &mut FixedRng::new(v.hex("scanner_ephemeral_secret")?),
    )
    .map_err(field)?;
    let own_hello = c.poll_transmit().ok_or_else(|| field("no hello"))?;
    let hello = if v.has("hello") {
        v.hex("hello")?
    } else {
        own_hello.clone()
    };
    s.handle_frame(&hello, now);
    let mut sas = None;
    while let Some(e) = s.poll_event() {
        match e {
            Event::Failed(err) => return Ok(Err(err.class().to_string())),
            Event::Confirmed { sas: x } => sas = Some(x),
            _ => {}
        }
    }
    let mut from_shower = Vec::new();
    while let Some(f) = s.poll_transmit() {
        from_shower.push(f);
    }
    for f in &from_shower {
        c.handle_frame(f, now);
    }
    let mut from_scanner = Vec::new();
    while let Some(f) = c.poll_transmit() {
        from_scanner.push(f);
    }
    while let Some(e) = c.poll_event() {
        if let Event::Failed(err) = e {
            return Ok(Err(err.class().to_string()));
        }
    }
    // The join request comes from the new device: the shower's second
    // frame in the usual direction, the scanner's first in the reverse.
    let join = match shower {
        Shower::NewDevice => from_shower.get(1),
        Shower::ExistingDevice => from_scanner.first(),
    }
    .ok_or_else(|| field("no join request"))?;
    let sas = sas.ok_or_else(|| field("no SAS"))?;
    Ok(Ok(out(&[
        ("code_text", code.to_text().to_string()),
        ("hello", hex::encode(&own_hello)),
        (
            "shower_confirm",
            hex::encode(from_shower.first().ok_or_else(|| field("no confirm"))?),
        ),
        ("join", hex::encode(join)),
        ("sas", format!("{:06}", sas.value())),
    ])))
}
