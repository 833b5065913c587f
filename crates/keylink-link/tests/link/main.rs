//! The linking state machine, driven without I/O: a full link in both
//! directions, the malicious-relay harness (every frame modified, dropped,
//! replayed, delayed, reflected and injected), and the failure cases that
//! need no network.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
mod machine;
mod relay_attacks;
