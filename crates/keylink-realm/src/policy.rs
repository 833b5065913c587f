//! Guess policies: how many password attempts an account gets across its
//! realm set, and how fast.
//!
//! Each realm counts on its own, and a recovery needs `k` realms, so with a
//! per-realm limit `g` an attacker who spreads guesses perfectly gets
//! `⌊n·g / k⌋` attempts across the set. The policy is stated the other way
//! round: `attempts` per account across the set, from which each realm's
//! `g` is the largest value whose bound does not exceed it.

use crate::error::{Error, Result};
use crate::shamir::check_threshold;

/// The default: ten password attempts per account across the realm set.
pub const DEFAULT_ATTEMPTS: u16 = 10;
/// The most attempts a registration may ask for.
pub const MAX_ATTEMPTS: u16 = 100;

/// A guess policy for one registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuessPolicy {
    attempts: u16,
    per_realm: u16,
}

impl GuessPolicy {
    /// The policy allowing at most `attempts` guesses across a `k`-of-`n`
    /// set: each realm allows `g = ⌈(attempts + 1)·k / n⌉ − 1`, the largest
    /// `g` with `⌊n·g / k⌋ ≤ attempts`.
    ///
    /// # Errors
    /// [`Error::BadThreshold`]; [`Error::BadPolicy`] if `attempts` is zero,
    /// above [`MAX_ATTEMPTS`], or too small for every realm to allow one guess.
    pub fn new(attempts: u16, k: u8, n: u8) -> Result<Self> {
        check_threshold(k, n)?;
        if attempts == 0 || attempts > MAX_ATTEMPTS {
            return Err(Error::BadPolicy {
                what: "attempts must be between 1 and 100",
            });
        }
        let (k, n) = (u32::from(k), u32::from(n));
        let per_realm = ((u32::from(attempts) + 1) * k).div_ceil(n) - 1;
        if per_realm == 0 {
            return Err(Error::BadPolicy {
                what: "too few attempts for this realm set: each realm must allow one",
            });
        }
        Ok(Self {
            attempts,
            // per_realm ≤ attempts·k/n + 1 ≤ 100·16 + 1, far below u16::MAX.
            per_realm: u16::try_from(per_realm).map_err(|_| Error::BadPolicy {
                what: "per-realm limit out of range",
            })?,
        })
    }

    /// Rebuild from stored fields, checking that `per_realm` is what
    /// [`GuessPolicy::new`] derives.
    ///
    /// # Errors
    /// As [`GuessPolicy::new`], or [`Error::BadPolicy`] if they disagree.
    pub fn from_parts(attempts: u16, per_realm: u16, k: u8, n: u8) -> Result<Self> {
        let policy = Self::new(attempts, k, n)?;
        if policy.per_realm != per_realm {
            return Err(Error::BadPolicy {
                what: "per-realm limit is not the one the stated attempts give",
            });
        }
        Ok(policy)
    }

    /// Attempts per account across the set (the stated policy).
    pub fn attempts(&self) -> u16 {
        self.attempts
    }

    /// Guesses each realm counts before it locks the registration.
    pub fn per_realm(&self) -> u16 {
        self.per_realm
    }

    /// The most attempts an attacker gets across a `k`-of-`n` set:
    /// `⌊n·g / k⌋`.
    pub fn bound(&self, k: u8, n: u8) -> u32 {
        u32::from(n) * u32::from(self.per_realm) / u32::from(k.max(1))
    }
}

/// How a realm spaces guesses in time: `free` guesses at once, then one per
/// `interval_ms`, counted from the last guess. A realm operator's setting,
/// not the registrant's: it bounds how fast anyone burns a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// Guesses allowed without waiting, since the last successful recovery.
    pub free: u16,
    /// The wait after each later guess, in milliseconds.
    pub interval_ms: u64,
}

impl Throttle {
    /// Three guesses at once, then one every 20 minutes (three an hour).
    pub const DEFAULT: Throttle = Throttle {
        free: 3,
        interval_ms: 20 * 60 * 1000,
    };
    /// No spacing at all: for tests that must burn a policy quickly.
    pub const NONE: Throttle = Throttle {
        free: u16::MAX,
        interval_ms: 0,
    };
}

impl Default for Throttle {
    fn default() -> Self {
        Self::DEFAULT
    }
}
