//! Recovery keys: 64 random decimal digits plus a 4-digit check group.
//!
//! Shown to the user once, as 17 groups of four digits:
//!
//! ```text
//! 0417 2291 8830 5512 0096 7342 1187 6605 3349 2210 9981 4476 0312 8857 1290 6634 ....
//! └──────────────────────────── 64 random digits ─────────────────────────────┘ check
//! ```
//!
//! 64 uniform digits carry log2(10^64) ≈ 212.6 bits, far above the 128-bit
//! security target (256 bits would need 78 digits; see `docs/protocol.md`).
//!
//! The check group `C` (four digits, leading zeros kept) is chosen so that
//! the whole 68-digit number `M = N·10^4 + C` is divisible by the prime
//! 9929, with `C < 9929`; `N` is the 64 data digits read as one number. A
//! single-digit typo changes `M` by `e·10^j` (`0 < |e| ≤ 9`) and a swap of
//! two adjacent different digits changes it by `9·(a−b)·10^j`; neither is
//! ever a multiple of 9929, so every such typo is caught, wherever it is,
//! check group included. 9929 was chosen among the primes below 10^4 so that
//! the 68 × 18 possible single-digit changes all leave different remainders:
//! no single-digit typo can be explained by any other single-digit typo or by
//! a swap in another group, so the parser always reports the group of a
//! single-digit typo. A swap inside a group is located too; a swap across
//! two groups is caught but not located.
//! All of this runs before any key derivation or network request.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Random digits in a recovery key.
pub const RECOVERY_DATA_DIGITS: usize = 64;
/// Digits in the check group.
pub const RECOVERY_CHECK_DIGITS: usize = 4;
/// Digits in a written recovery key.
pub const RECOVERY_TOTAL_DIGITS: usize = RECOVERY_DATA_DIGITS + RECOVERY_CHECK_DIGITS;
/// Digits per group.
pub const RECOVERY_GROUP_LEN: usize = 4;
/// Groups in a written recovery key (16 data groups and the check group).
pub const RECOVERY_GROUPS: usize = RECOVERY_TOTAL_DIGITS / RECOVERY_GROUP_LEN;
/// The prime modulus of the check group.
pub const RECOVERY_CHECK_MODULUS: u32 = 9929;
/// Longest text [`RecoveryKey::parse`] will look at.
pub const RECOVERY_MAX_TEXT_LEN: usize = 256;

/// A recovery key: 64 decimal digits (each 0–9). Zeroizes on drop; prints
/// as `[redacted]`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RecoveryKey {
    digits: [u8; RECOVERY_DATA_DIGITS],
}

impl RecoveryKey {
    /// A fresh recovery key: each digit uniform, by rejection sampling of
    /// random bytes (bytes 250–255 are discarded, so `byte % 10` is uniform).
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut digits = [0u8; RECOVERY_DATA_DIGITS];
        let mut filled = 0;
        let mut buf = Zeroizing::new([0u8; 32]);
        while filled < RECOVERY_DATA_DIGITS {
            rng.fill_bytes(buf.as_mut_slice());
            for &b in buf.iter() {
                if b < 250 && filled < RECOVERY_DATA_DIGITS {
                    digits[filled] = b % 10;
                    filled += 1;
                }
            }
        }
        Self { digits }
    }

    /// Build a key from its 64 digits (values 0–9), as the test vectors do.
    ///
    /// # Errors
    /// [`Error::Malformed`] if a value is above 9.
    pub fn from_digits(digits: [u8; RECOVERY_DATA_DIGITS]) -> Result<Self> {
        if digits.iter().any(|&d| d > 9) {
            return Err(Error::Malformed {
                what: "recovery key digit",
            });
        }
        Ok(Self { digits })
    }

    /// Parse a recovery key as a person typed it.
    ///
    /// Spaces, tabs, newlines and dashes may separate groups. With
    /// separators, every group must have exactly four digits (so a dropped
    /// or doubled digit is reported with its group); without any, the text
    /// must be exactly 68 digits. Then the check group is verified.
    ///
    /// # Errors
    /// [`Error::RecoveryCharacter`], [`Error::RecoveryGroupLength`],
    /// [`Error::RecoveryLength`] or [`Error::RecoveryChecksum`]. None of them
    /// says which digits were typed.
    pub fn parse(text: &str) -> Result<Self> {
        let digits = collect_digits(text)?;
        let (data, check) = digits.split_at(RECOVERY_DATA_DIGITS);
        let mut key = Self {
            digits: [0u8; RECOVERY_DATA_DIGITS],
        };
        key.digits.copy_from_slice(data);
        if check_of(data) != check_value(check) {
            return Err(Error::RecoveryChecksum {
                group: locate_typo(&digits),
            });
        }
        Ok(key)
    }

    /// The key as shown to the user: 17 space-separated groups of four.
    pub fn to_display(&self) -> Zeroizing<String> {
        let mut all = Zeroizing::new([0u8; RECOVERY_TOTAL_DIGITS]);
        all[..RECOVERY_DATA_DIGITS].copy_from_slice(&self.digits);
        let check = check_of(&self.digits);
        for (i, slot) in all[RECOVERY_DATA_DIGITS..].iter_mut().enumerate() {
            // Four decimal digits of check (< 9929), most significant first.
            let pow = 10u32.pow((RECOVERY_CHECK_DIGITS - 1 - i) as u32);
            *slot = ((check / pow) % 10) as u8;
        }
        let mut s = Zeroizing::new(String::with_capacity(
            RECOVERY_TOTAL_DIGITS + RECOVERY_GROUPS,
        ));
        for (i, d) in all.iter().enumerate() {
            if i > 0 && i % RECOVERY_GROUP_LEN == 0 {
                s.push(' ');
            }
            s.push(char::from(b'0' + d));
        }
        s
    }

    /// The 64 digits as ASCII, the input keying material of the recovery
    /// key-encryption key. Never log what this returns.
    pub fn expose_secret_ascii(&self) -> Zeroizing<[u8; RECOVERY_DATA_DIGITS]> {
        let mut out = Zeroizing::new([0u8; RECOVERY_DATA_DIGITS]);
        for (o, d) in out.iter_mut().zip(self.digits.iter()) {
            *o = b'0' + d;
        }
        out
    }
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey([redacted])")
    }
}

/// The check value of 64 data digits: the `C < 9929` that makes
/// `N·10^4 + C` divisible by 9929.
fn check_of(data: &[u8]) -> u32 {
    let p = RECOVERY_CHECK_MODULUS;
    let n_mod = data
        .iter()
        .fold(0u32, |acc, &d| (acc * 10 + u32::from(d)) % p);
    (p - (n_mod * 10_000) % p) % p
}

/// The value the four check digits spell (0–9999).
fn check_value(check: &[u8]) -> u32 {
    check.iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d))
}

fn is_separator(c: char) -> bool {
    c == '-' || c.is_whitespace()
}

/// Read the 68 digits out of typed text, enforcing the group rules.
fn collect_digits(text: &str) -> Result<Zeroizing<[u8; RECOVERY_TOTAL_DIGITS]>> {
    if text.len() > RECOVERY_MAX_TEXT_LEN {
        return Err(Error::RecoveryLength {
            digits: text.chars().filter(char::is_ascii_digit).count(),
        });
    }
    if let Some((position, _)) = text
        .chars()
        .enumerate()
        .find(|&(_, c)| !(c.is_ascii_digit() || is_separator(c)))
    {
        return Err(Error::RecoveryCharacter {
            position: position + 1,
        });
    }
    let groups: Vec<&str> = text.split(is_separator).filter(|g| !g.is_empty()).collect();
    let bad_group = groups
        .iter()
        .enumerate()
        .find(|(_, g)| g.len() != RECOVERY_GROUP_LEN);
    if let (true, Some((i, g))) = (groups.len() > 1, bad_group) {
        return Err(Error::RecoveryGroupLength {
            group: i + 1,
            len: g.len(),
        });
    }
    let count: usize = groups.iter().map(|g| g.len()).sum();
    if count != RECOVERY_TOTAL_DIGITS {
        return Err(Error::RecoveryLength { digits: count });
    }
    let mut out = Zeroizing::new([0u8; RECOVERY_TOTAL_DIGITS]);
    for (slot, b) in out.iter_mut().zip(groups.iter().flat_map(|g| g.bytes())) {
        *slot = b - b'0';
    }
    Ok(out)
}

fn is_consistent(all: &[u8; RECOVERY_TOTAL_DIGITS]) -> bool {
    let (data, check) = all.split_at(RECOVERY_DATA_DIGITS);
    check_of(data) == check_value(check)
}

/// Find the group of a single typo: try every single-digit change and every
/// adjacent swap; if all the edits that make the key consistent lie in one
/// group, that is the group. Otherwise the typo cannot be located.
fn locate_typo(all: &[u8; RECOVERY_TOTAL_DIGITS]) -> Option<usize> {
    let mut trial = Zeroizing::new(*all);
    let mut found: Option<usize> = None;
    let mut note = |groups: &[usize]| -> bool {
        for &g in groups {
            match found {
                None => found = Some(g),
                Some(f) if f == g => {}
                Some(_) => return false,
            }
        }
        true
    };
    for i in 0..RECOVERY_TOTAL_DIGITS {
        let original = trial[i];
        for d in 0..10u8 {
            if d == original {
                continue;
            }
            trial[i] = d;
            if is_consistent(&trial) && !note(&[i / RECOVERY_GROUP_LEN + 1]) {
                return None;
            }
        }
        trial[i] = original;
    }
    for i in 0..RECOVERY_TOTAL_DIGITS - 1 {
        if trial[i] == trial[i + 1] {
            continue;
        }
        trial.swap(i, i + 1);
        let consistent = is_consistent(&trial);
        trial.swap(i, i + 1);
        if consistent && !note(&[i / RECOVERY_GROUP_LEN + 1, (i + 1) / RECOVERY_GROUP_LEN + 1]) {
            return None;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_properties_that_the_detection_proof_needs() {
        let p = RECOVERY_CHECK_MODULUS;
        // Prime, so e·10^j and 9·d·10^j (0 < |e|, |d| ≤ 9) are never ≡ 0.
        assert!(
            (2..p)
                .take_while(|d| d * d <= p)
                .all(|d| !p.is_multiple_of(d))
        );
        assert!(p > 9 && p < 10_000);
        // Every single-digit change at every position leaves a different
        // remainder, so a single typo has exactly one explanation.
        let mut seen = std::collections::HashSet::new();
        for j in 0..RECOVERY_TOTAL_DIGITS as u32 {
            let w = (0..j).fold(1u64, |acc, _| acc * 10 % u64::from(p));
            for e in 1..=9u64 {
                assert!(seen.insert(e * w % u64::from(p)));
                assert!(seen.insert((u64::from(p) - e * w % u64::from(p)) % u64::from(p)));
            }
        }
    }

    #[test]
    fn display_then_parse_round_trips() {
        let key = RecoveryKey::from_digits([7; 64]).unwrap();
        let shown = key.to_display();
        assert_eq!(shown.split(' ').count(), RECOVERY_GROUPS);
        let back = RecoveryKey::parse(&shown).unwrap();
        assert_eq!(*back.expose_secret_ascii(), *key.expose_secret_ascii());
    }
}
