//! Backup tests through the public API: round trips over random trees,
//! boundary sizes, nonce uniqueness across devices, deduplication, and one
//! named test per hostile input.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod dedup;
mod roundtrip;
mod support;
