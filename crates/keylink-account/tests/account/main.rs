//! Account-log tests through the public API: named attacks, random
//! histories and their mutations, and revocation.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attacks;
mod props;
mod revocation;
mod support;
