//! The thin wrappers through which all of keylink reaches its primitives.
//!
//! Every other module calls these, and the Wycheproof suite runs through
//! them, so the vectors test the exact calls keylink makes (including its
//! policy choices: strict Ed25519 verification, refusal of non-contributory
//! X25519 results) rather than the underlying crates in isolation.

use chacha20poly1305::aead::{Aead, AeadInOut, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};
use ed25519_dalek::{Signature, VerifyingKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Length of an XChaCha20-Poly1305 nonce.
pub const XNONCE_LEN: usize = 24;
/// Length of a ChaCha20-Poly1305 (IETF) nonce.
pub const NONCE_LEN: usize = 12;
/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// The largest output HKDF-SHA256 can produce (255 × 32 bytes).
pub const HKDF_SHA256_MAX_OUTPUT: usize = 255 * 32;

/// HKDF-SHA256 (RFC 5869): extract with `salt` (empty = no salt), expand
/// with `info` into `out`.
///
/// # Errors
/// [`Error::Malformed`] if `out` is longer than [`HKDF_SHA256_MAX_OUTPUT`].
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<()> {
    let salt = if salt.is_empty() { None } else { Some(salt) };
    Hkdf::<Sha256>::new(salt, ikm)
        .expand_multi_info(info, out)
        .map_err(|_| Error::Malformed {
            what: "HKDF output length",
        })
}

/// HKDF-SHA256 into a fixed 32-byte array that zeroizes on drop.
pub(crate) fn hkdf32(ikm: &[u8], salt: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is always within HKDF-SHA256's output limit.
    let _always_ok = hkdf_sha256(ikm, salt, info, out.as_mut_slice());
    out
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// XChaCha20-Poly1305 seal: returns `ciphertext ‖ tag`.
pub fn xchacha_seal(
    key: &[u8; 32],
    nonce: &[u8; XNONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    XChaCha20Poly1305::new(key.into())
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Malformed {
            what: "AEAD input length",
        })
}

/// XChaCha20-Poly1305 open of `ciphertext ‖ tag`. The plaintext is returned
/// only if the tag verifies.
///
/// # Errors
/// [`Error::WrongSecretOrTampered`] if the tag does not verify.
pub fn xchacha_open(
    key: &[u8; 32],
    nonce: &[u8; XNONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            nonce.into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::WrongSecretOrTampered)
}

/// XChaCha20-Poly1305 seal in place: `buf` becomes the ciphertext and the
/// tag is returned (no copy of the plaintext is made).
///
/// # Errors
/// [`Error::Malformed`] if `buf` exceeds the AEAD's length limit.
pub fn xchacha_seal_in_place(
    key: &[u8; 32],
    nonce: &[u8; XNONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN]> {
    XChaCha20Poly1305::new(key.into())
        .encrypt_inout_detached(nonce.into(), aad, buf.into())
        .map(Into::into)
        .map_err(|_| Error::Malformed {
            what: "AEAD input length",
        })
}

/// XChaCha20-Poly1305 open in place: the tag is checked first, and only if
/// it verifies does `buf` become the plaintext. On failure `buf` is zeroed.
///
/// # Errors
/// [`Error::WrongSecretOrTampered`] if the tag does not verify.
pub fn xchacha_open_in_place(
    key: &[u8; 32],
    nonce: &[u8; XNONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<()> {
    let result = XChaCha20Poly1305::new(key.into()).decrypt_inout_detached(
        nonce.into(),
        aad,
        buf.into(),
        tag.into(),
    );
    if result.is_err() {
        buf.fill(0);
        return Err(Error::WrongSecretOrTampered);
    }
    Ok(())
}

/// ChaCha20-Poly1305 (RFC 8439) seal: returns `ciphertext ‖ tag`.
pub fn chacha_seal(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(
            nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Malformed {
            what: "AEAD input length",
        })
}

/// ChaCha20-Poly1305 (RFC 8439) open of `ciphertext ‖ tag`.
///
/// # Errors
/// [`Error::WrongSecretOrTampered`] if the tag does not verify.
pub fn chacha_open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    ChaCha20Poly1305::new(key.into())
        .decrypt(
            nonce.into(),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::WrongSecretOrTampered)
}

/// X25519 with keylink's policy: the all-zero output of a low-order public
/// key is refused (checked in constant time), so no exchange with such a
/// key is ever treated as secret.
///
/// # Errors
/// [`Error::NonContributory`] if the result is all zeros.
pub fn x25519_agree(secret: &[u8; 32], public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
    let shared = Zeroizing::new(x25519_dalek::x25519(*secret, *public));
    if bool::from(shared.ct_eq(&[0u8; 32])) {
        return Err(Error::NonContributory);
    }
    Ok(shared)
}

/// The X25519 public key of a 32-byte secret scalar.
pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    let secret = x25519_dalek::StaticSecret::from(*secret);
    x25519_dalek::PublicKey::from(&secret).to_bytes()
}

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts`.
///
/// # Errors
/// [`Error::Kdf`] only if the HMAC implementation refuses a 32-byte key.
pub fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> Result<[u8; 32]> {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).map_err(|_| Error::Kdf)?;
    for p in parts {
        mac.update(p);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// Whether an X25519 public key is canonically encoded: the unused top bit
/// is clear and the u-coordinate is below p = 2^255 − 19. X25519 itself
/// ignores the top bit and reduces u mod p, so without this check one key
/// would have several byte strings, and ids derived from them would differ.
pub fn x25519_is_canonical(public: &[u8; 32]) -> bool {
    if public[31] & 0x80 != 0 {
        return false;
    }
    // u ≥ p exactly when bytes 1..=30 are 0xff, byte 31 is 0x7f and
    // byte 0 is ≥ 0xed (little-endian).
    let top_is_max = public[31] == 0x7f && public[1..31].iter().all(|&b| b == 0xff);
    !(top_is_max && public[0] >= 0xed)
}

/// Whether an X25519 public key is a low-order point (one that makes every
/// exchange non-contributory). Public input, so not constant time.
pub fn x25519_is_low_order(public: &[u8; 32]) -> bool {
    // Any clamped scalar is a multiple of the cofactor 8, so it maps every
    // point of order dividing 8 to the identity (all-zero output) and no
    // other point there.
    const PROBE_SCALAR: [u8; 32] = [0x55; 32];
    x25519_dalek::x25519(PROBE_SCALAR, *public) == [0u8; 32]
}

/// Ed25519 verification with keylink's policy (strict, as RFC 8032 §5.1.7
/// read with the stricter checks of `verify_strict`): the signature's `S`
/// must be canonical (`S < ℓ`), the public key `A` must be canonically
/// encoded, and neither `A` nor the commitment `R` may be of small order. This rules out signature
/// malleability and keys that verify many messages.
///
/// # Errors
/// [`Error::InvalidPublicKey`] if the key does not decode or is weak;
/// [`Error::BadSignature`] if the signature does not verify.
pub fn ed25519_verify_strict(public: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<()> {
    let key = ed25519_public(public)?;
    let sig = Signature::from_slice(signature).map_err(|_| Error::BadSignature)?;
    key.verify_strict(message, &sig)
        .map_err(|_| Error::BadSignature)
}

/// Decode an Ed25519 public key, refusing non-canonical encodings (so one
/// key has exactly one byte string, and ids derived from it are unique) and
/// small-order (weak) keys.
pub(crate) fn ed25519_public(public: &[u8; 32]) -> Result<VerifyingKey> {
    let key = VerifyingKey::from_bytes(public).map_err(|_| Error::InvalidPublicKey {
        what: "Ed25519 key does not decode",
    })?;
    if key.to_edwards().compress().as_bytes() != public {
        return Err(Error::InvalidPublicKey {
            what: "Ed25519 key is not canonically encoded",
        });
    }
    if key.is_weak() {
        return Err(Error::InvalidPublicKey {
            what: "Ed25519 key has small order",
        });
    }
    Ok(key)
}

/// Constant-time equality of two byte strings (lengths are public).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y = p + k for small k encodes the same point as y = k: strict
    /// decoding must accept only the canonical form.
    #[test]
    fn non_canonical_ed25519_encodings_are_refused() {
        let mut found = 0;
        for k in 2u8..19 {
            let mut canonical = [0u8; 32];
            canonical[0] = k;
            // p = 2^255 - 19: little-endian 0xed, 0xff × 30, 0x7f.
            let mut non_canonical = [0xffu8; 32];
            non_canonical[0] = 0xed + k;
            non_canonical[31] = 0x7f;
            if ed25519_public(&canonical).is_ok() {
                found += 1;
                assert!(matches!(
                    ed25519_public(&non_canonical),
                    Err(Error::InvalidPublicKey { .. })
                ));
            }
        }
        assert!(
            found > 0,
            "no large-order point with a small y to test with"
        );
    }

    #[test]
    fn low_order_x25519_points_are_detected() {
        assert!(x25519_is_low_order(&[0u8; 32]));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(x25519_is_low_order(&one));
        assert!(!x25519_is_low_order(&x25519_dalek::X25519_BASEPOINT_BYTES));
    }

    #[test]
    fn x25519_canonical_encoding() {
        let base = x25519_dalek::X25519_BASEPOINT_BYTES;
        assert!(x25519_is_canonical(&base));
        let mut high = base;
        high[31] |= 0x80;
        assert!(!x25519_is_canonical(&high));
        let mut p_minus_1 = [0xffu8; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        assert!(x25519_is_canonical(&p_minus_1));
        let mut p = p_minus_1;
        p[0] = 0xed;
        assert!(!x25519_is_canonical(&p));
    }
}
