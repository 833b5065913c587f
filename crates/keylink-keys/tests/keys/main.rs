//! Integration tests of the key hierarchy through its public API.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod recovery;
mod redaction;
mod sealed;
mod wrap;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

/// A seeded RNG, so every failure reproduces.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}
