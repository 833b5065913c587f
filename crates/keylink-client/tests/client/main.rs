//! The client over real QUIC on loopback, against a real server with a
//! local-folder store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod device;
mod evil_relay;
mod link_e2e;
mod link_failures;
mod offline_attacker;
mod password_change;
mod realm_rollback;
mod strength;
mod support;
