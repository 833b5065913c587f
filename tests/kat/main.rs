//! Known-answer tests: keylink's own vectors and Wycheproof's.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod account;
mod backup;
mod fuzz_corpus;
mod hostile;
mod keys;
mod link;
mod realm;
mod wycheproof;
