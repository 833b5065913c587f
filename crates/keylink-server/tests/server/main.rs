//! Server tests over real QUIC on loopback.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod crash;
mod hostile;
mod realm;
mod relay;
mod shared;
mod support;
