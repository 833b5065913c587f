//! keylink's device linking: the link code and the handshake, as a sans-IO
//! state machine (docs/protocol.md §16).
//!
//! What it does: makes and parses link codes ([`LinkCode`]); runs one link
//! attempt for one device ([`Link`]) — key agreement over X25519 with the
//! code's one-time secret, bound to the transcript and to the transport,
//! key confirmation in both directions, a short authentication string, the
//! new device's join request, the existing device's approval, and the
//! hand-over of the root key only after the new device is in the account
//! log.
//!
//! What it does not do: no sockets, no clock, no randomness of its own.
//! The driver (keylink-client) moves frames over QUIC, asks the person,
//! appends to the log through the server and stores keys.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use keylink_link::{LinkCode, Rendezvous, Shower, ShowerSecrets};
//! # fn main() -> Result<(), keylink_link::CodeError> {
//! let mut rng = rand::rng();
//! let secrets = ShowerSecrets::generate(
//!     Shower::NewDevice,
//!     Rendezvous::Relay {
//!         server: "192.0.2.7:7447".parse().unwrap(),
//!         server_fingerprint: [7; 32],
//!         channel: [1; 16],
//!     },
//!     2_000_000_000,
//!     &mut rng,
//! )?;
//! let text = secrets.code().to_text();
//! assert!(text.starts_with("keylink-link:"));
//! let parsed = LinkCode::parse(&text)?;
//! assert_eq!(parsed.payload(), secrets.code().payload());
//! # Ok(()) }
//! ```

mod code;
mod error;
mod machine;
mod schedule;

pub use code::{
    CHECKSUM_LEN, CODE_PREFIX, CODE_VERSION, LinkCode, LinkSecret, MAX_CODE_TEXT, Rendezvous,
    SECRET_LEN, Shower, ShowerSecrets,
};
pub use error::{CodeError, LinkError};
pub use machine::{
    Confirmed, Event, JoinInfo, Link, NewDevice, PendingKeys, Phase, Side, Timeouts,
    check_scanner_role, join_message,
};
pub use schedule::{Binding, Role, Sas, transcript_hash};
