//! Shamir sharing of an OPRF key, and recombination in the exponent.
//!
//! The key `s` is the constant term of a random polynomial `f` of degree
//! `k − 1` over the scalar field; realm `i` (1-based) holds `f(i)`. Any `k`
//! realms' evaluations `Zᵢ = f(i) · B` combine to `s · B = Σ λᵢ · Zᵢ`, with
//! `λᵢ` the Lagrange coefficients at zero over the indices that answered.
//! Fewer than `k` shares say nothing about `s`.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use rand_core::CryptoRng;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::oprf::{ELEMENT_LEN, OprfKey, decode_element, random_scalar};

/// Most realms one registration may name.
pub const MAX_REALMS: u8 = 16;

/// One realm's share: its 1-based index and `f(index)`.
#[derive(Debug)]
pub struct Share {
    /// The share index, 1 ..= n.
    pub index: u8,
    /// `f(index)`.
    pub key: OprfKey,
}

/// Check a threshold: `1 ≤ k ≤ n ≤ MAX_REALMS`.
///
/// # Errors
/// [`Error::BadThreshold`].
pub fn check_threshold(k: u8, n: u8) -> Result<()> {
    if k == 0 || k > n || n > MAX_REALMS {
        return Err(Error::BadThreshold { k, n });
    }
    Ok(())
}

/// Split `key` into `n` shares, any `k` of which recombine it.
///
/// # Errors
/// [`Error::BadThreshold`]; [`Error::BadKey`] in the negligible case that a
/// share comes out zero (the caller draws a fresh key).
pub fn split(key: &OprfKey, k: u8, n: u8, rng: &mut impl CryptoRng) -> Result<Vec<Share>> {
    check_threshold(k, n)?;
    let mut coefficients = Vec::with_capacity(usize::from(k));
    coefficients.push(*key.scalar());
    for _ in 1..k {
        coefficients.push(random_scalar(rng));
    }
    let shares = (1..=n)
        .map(|index| {
            let x = Scalar::from(u64::from(index));
            // Horner's rule from the highest coefficient down.
            let mut y = Scalar::ZERO;
            for c in coefficients.iter().rev() {
                y = y * x + c;
            }
            let share = OprfKey::from_scalar(y).map(|key| Share { index, key });
            y.zeroize();
            share
        })
        .collect();
    coefficients.zeroize();
    shares
}

/// The Lagrange coefficients at zero for the given distinct, nonzero
/// indices, in the same order.
///
/// # Errors
/// [`Error::BadIndex`] for a zero, repeated or out-of-range index.
pub fn lagrange_at_zero(indices: &[u8]) -> Result<Vec<Scalar>> {
    for (a, &i) in indices.iter().enumerate() {
        if i == 0 || i > MAX_REALMS || indices[..a].contains(&i) {
            return Err(Error::BadIndex { index: i });
        }
    }
    Ok(indices
        .iter()
        .map(|&i| {
            let xi = Scalar::from(u64::from(i));
            let mut num = Scalar::ONE;
            let mut den = Scalar::ONE;
            for &j in indices.iter().filter(|&&j| j != i) {
                let xj = Scalar::from(u64::from(j));
                num *= xj;
                den *= xj - xi;
            }
            // den ≠ 0: the indices are distinct and below the group order.
            num * den.invert()
        })
        .collect())
}

/// Combine `k` realms' evaluated elements `(index, Zᵢ)` into `s · B`.
///
/// # Errors
/// [`Error::BadIndex`] as [`lagrange_at_zero`]; [`Error::BadElement`] for an
/// element that does not decode.
pub fn combine(evaluations: &[(u8, [u8; ELEMENT_LEN])]) -> Result<[u8; ELEMENT_LEN]> {
    let indices: Vec<u8> = evaluations.iter().map(|(i, _)| *i).collect();
    let lambdas = lagrange_at_zero(&indices)?;
    let mut sum = RistrettoPoint::identity();
    for ((_, element), lambda) in evaluations.iter().zip(lambdas) {
        sum += decode_element(element, "evaluated element")? * lambda;
    }
    Ok(sum.compress().to_bytes())
}
