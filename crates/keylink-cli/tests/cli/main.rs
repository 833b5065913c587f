//! The real `keylink` binary against a real `keylink server` on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod flow;
mod realms;
mod support;
