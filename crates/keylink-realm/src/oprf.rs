//! The OPRF: RFC 9497's VOPRF mode (`modeID = 0x01`) over
//! ristretto255-SHA512, behind one small trait.
//!
//! [`Voprf`] is all the rest of keylink sees of the OPRF. Its one
//! implementation, [`Ristretto255Sha512`], delegates hashing to the group,
//! blinding, evaluation and proof checking to `pakery-crypto` (pinned
//! exactly), and does itself only what RFC 9497 has no single-server
//! function for: unblinding an element that was combined from several
//! realms' evaluations, and the RFC's `Finalize` hash over it. The RFC 9497
//! Appendix A.1.2 vectors run through this trait in the tests.

use core::fmt;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use pakery_crypto::{Ristretto255VoprfClient, Ristretto255VoprfServer};
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Length of an encoded group element (ristretto255).
pub const ELEMENT_LEN: usize = 32;
/// Length of an encoded scalar.
pub const SCALAR_LEN: usize = 32;
/// Length of a DLEQ proof: `c ‖ s`.
pub const PROOF_LEN: usize = 64;
/// Length of the OPRF output (SHA-512).
pub const OUTPUT_LEN: usize = 64;
/// Length of the bytes a blind is reduced from.
pub const BLIND_SEED_LEN: usize = 64;
/// Longest OPRF input (RFC 9497's two-byte length prefix).
pub const MAX_INPUT_LEN: usize = 65_535;

/// An OPRF key, or one realm's Shamir share of one: a nonzero scalar.
/// Zeroizes on drop; prints as `[redacted]`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct OprfKey(Scalar);

impl OprfKey {
    /// A fresh uniformly random nonzero key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        loop {
            let s = random_scalar(rng);
            if s != Scalar::ZERO {
                return Self(s);
            }
        }
    }

    /// Parse a key: 32 bytes, a canonical little-endian scalar, not zero.
    ///
    /// # Errors
    /// [`Error::BadKey`] for a non-canonical encoding or zero.
    pub fn from_bytes(bytes: &[u8; SCALAR_LEN]) -> Result<Self> {
        let s: Option<Scalar> = Scalar::from_canonical_bytes(*bytes).into();
        match s {
            Some(s) if s != Scalar::ZERO => Ok(Self(s)),
            _ => Err(Error::BadKey {
                what: "OPRF key share (not a canonical nonzero scalar)",
            }),
        }
    }

    /// The key's bytes, for a realm's own record. Never log them.
    pub fn to_bytes(&self) -> Zeroizing<[u8; SCALAR_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key `key · G`, which a realm's proofs are checked against.
    pub fn public_key(&self) -> [u8; ELEMENT_LEN] {
        RistrettoPoint::mul_base(&self.0).compress().to_bytes()
    }

    pub(crate) fn from_scalar(s: Scalar) -> Result<Self> {
        if s == Scalar::ZERO {
            return Err(Error::BadKey {
                what: "OPRF key share (zero)",
            });
        }
        Ok(Self(s))
    }

    /// An explicit copy; both copies zeroize on drop.
    pub(crate) fn duplicate(&self) -> Self {
        Self(self.0)
    }

    pub(crate) fn scalar(&self) -> &Scalar {
        &self.0
    }
}

impl fmt::Debug for OprfKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OprfKey([redacted])")
    }
}

/// The client's blind: 64 uniformly random bytes, reduced modulo the group
/// order (little-endian) to the scalar `r`. Kept secret while a request is
/// out; zeroizes on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Blind([u8; BLIND_SEED_LEN]);

impl Blind {
    /// A fresh blind.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut b = [0u8; BLIND_SEED_LEN];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// A blind from known bytes, for test vectors only: a blind that is
    /// ever reused or known to anyone else lets the realm link or open
    /// requests.
    pub fn insecure_from_bytes(bytes: [u8; BLIND_SEED_LEN]) -> Self {
        Self(bytes)
    }

    fn scalar(&self) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&self.0)
    }
}

impl fmt::Debug for Blind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Blind([redacted])")
    }
}

/// A realm's answer to a blinded element: `Z = key · B` and a DLEQ proof
/// that the same key is behind the realm's public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// The evaluated element `Z`.
    pub element: [u8; ELEMENT_LEN],
    /// The DLEQ proof `c ‖ s`.
    pub proof: [u8; PROOF_LEN],
}

impl fmt::Debug for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evaluation").finish_non_exhaustive()
    }
}

/// The OPRF keylink uses, as the rest of keylink sees it.
pub trait Voprf {
    /// `Blind(input)`: the blinded element `r · H(input)` to send.
    ///
    /// # Errors
    /// [`Error::Oprf`] for an input longer than [`MAX_INPUT_LEN`], one that
    /// hashes to the identity, or a blind that reduces to zero.
    fn blind(input: &[u8], blind: &Blind) -> Result<[u8; ELEMENT_LEN]>;

    /// `BlindEvaluate` with a proof: what a realm answers.
    ///
    /// # Errors
    /// [`Error::BadElement`] if `blinded` is not a valid non-identity element.
    fn blind_evaluate(
        key: &OprfKey,
        blinded: &[u8; ELEMENT_LEN],
        rng: &mut impl CryptoRng,
    ) -> Result<Evaluation>;

    /// Check a realm's evaluation of `Blind(input)` against its public key.
    ///
    /// # Errors
    /// [`Error::BadElement`] for a public key or element that does not
    /// decode; [`Error::ProofFailed`] if the proof does not verify.
    fn verify(
        public_key: &[u8; ELEMENT_LEN],
        input: &[u8],
        blind: &Blind,
        evaluation: &Evaluation,
    ) -> Result<()>;

    /// Unblind an evaluated element (one realm's, or several combined) and
    /// hash it with the input: RFC 9497's `Finalize` without the proof check,
    /// which [`Voprf::verify`] did per realm.
    ///
    /// # Errors
    /// [`Error::BadElement`] or [`Error::Oprf`] (a blind that reduces to zero).
    fn unblind_finalize(
        input: &[u8],
        blind: &Blind,
        element: &[u8; ELEMENT_LEN],
    ) -> Result<Zeroizing<[u8; OUTPUT_LEN]>>;

    /// The output computed directly with the whole key (`Evaluate`): what
    /// the threshold protocol must reproduce, and what registration uses.
    ///
    /// # Errors
    /// [`Error::Oprf`] for an input that is too long or hashes to the identity.
    fn evaluate(key: &OprfKey, input: &[u8]) -> Result<Zeroizing<[u8; OUTPUT_LEN]>>;
}

/// RFC 9497 VOPRF, ristretto255-SHA512 (context string
/// `"OPRFV1-\x01-ristretto255-SHA512"`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ristretto255Sha512;

impl Voprf for Ristretto255Sha512 {
    fn blind(input: &[u8], blind: &Blind) -> Result<[u8; ELEMENT_LEN]> {
        // The client context needs a public key only to verify; blinding does
        // not use it, so the generator stands in.
        let client = Ristretto255VoprfClient::new(&generator())?;
        let (_state, blinded) = client.deterministic_blind(input, &blind.0)?;
        Ok(blinded)
    }

    fn blind_evaluate(
        key: &OprfKey,
        blinded: &[u8; ELEMENT_LEN],
        rng: &mut impl CryptoRng,
    ) -> Result<Evaluation> {
        decode_element(blinded, "blinded element")?;
        let server = Ristretto255VoprfServer::from_secret_key(&key.0.to_bytes())?;
        let (element, proof) = server.blind_evaluate(blinded, rng)?;
        Ok(Evaluation { element, proof })
    }

    fn verify(
        public_key: &[u8; ELEMENT_LEN],
        input: &[u8],
        blind: &Blind,
        evaluation: &Evaluation,
    ) -> Result<()> {
        decode_element(public_key, "realm public key")?;
        decode_element(&evaluation.element, "evaluated element")?;
        let client = Ristretto255VoprfClient::new(public_key)?;
        let (state, _blinded) = client.deterministic_blind(input, &blind.0)?;
        match client.finalize(&state, input, &evaluation.element, &evaluation.proof) {
            // The output is of this one realm's share alone: of no use, and
            // wiped as it drops.
            Ok(_single) => Ok(()),
            Err(pakery_crypto::VoprfError::Verify) => Err(Error::ProofFailed),
            Err(pakery_crypto::VoprfError::Deserialize) => Err(Error::BadElement {
                what: "proof (scalar not canonical)",
            }),
            Err(e) => Err(Error::from(e)),
        }
    }

    fn unblind_finalize(
        input: &[u8],
        blind: &Blind,
        element: &[u8; ELEMENT_LEN],
    ) -> Result<Zeroizing<[u8; OUTPUT_LEN]>> {
        if input.len() > MAX_INPUT_LEN {
            return Err(Error::Oprf {
                what: "input longer than 65535 bytes",
            });
        }
        let point = decode_element(element, "evaluated element")?;
        let r = blind.scalar();
        if r == Scalar::ZERO {
            return Err(Error::Oprf {
                what: "blind reduces to zero",
            });
        }
        let mut inverse = r.invert();
        let unblinded = Zeroizing::new((point * inverse).compress().to_bytes());
        inverse.zeroize();
        Ok(finalize_hash(input, &unblinded))
    }

    fn evaluate(key: &OprfKey, input: &[u8]) -> Result<Zeroizing<[u8; OUTPUT_LEN]>> {
        let server = Ristretto255VoprfServer::from_secret_key(&key.0.to_bytes())?;
        Ok(server.evaluate(input)?)
    }
}

/// RFC 9497 §3.3.1 `Finalize`'s hash:
/// `SHA-512(I2OSP(len(input), 2) ‖ input ‖ I2OSP(32, 2) ‖ N ‖ "Finalize")`.
/// The caller has bounded `input` to [`MAX_INPUT_LEN`].
fn finalize_hash(input: &[u8], unblinded: &[u8; ELEMENT_LEN]) -> Zeroizing<[u8; OUTPUT_LEN]> {
    let mut h = Sha512::new();
    h.update((input.len() as u16).to_be_bytes());
    h.update(input);
    h.update((ELEMENT_LEN as u16).to_be_bytes());
    h.update(unblinded);
    h.update(b"Finalize");
    let mut out = Zeroizing::new([0u8; OUTPUT_LEN]);
    out.copy_from_slice(&h.finalize());
    out
}

/// Decode a ristretto255 element, refusing non-canonical encodings and
/// the identity.
pub(crate) fn decode_element(
    bytes: &[u8; ELEMENT_LEN],
    what: &'static str,
) -> Result<RistrettoPoint> {
    match CompressedRistretto(*bytes).decompress() {
        Some(p) if p != RistrettoPoint::default() => Ok(p),
        _ => Err(Error::BadElement { what }),
    }
}

fn generator() -> [u8; ELEMENT_LEN] {
    curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED.to_bytes()
}

pub(crate) fn random_scalar(rng: &mut impl CryptoRng) -> Scalar {
    let mut wide = Zeroizing::new([0u8; 64]);
    rng.fill_bytes(wide.as_mut_slice());
    Scalar::from_bytes_mod_order_wide(&wide)
}
