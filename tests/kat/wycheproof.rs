//! Wycheproof vectors run through keylink's own primitive wrappers
//! (`keylink_keys::primitives`), never the underlying crates, so they test
//! the exact calls keylink makes, policy included.
//!
//! Checked, with every vector required to get its expected verdict:
//!
//! - X25519 (`x25519_agree`): valid and acceptable vectors give exactly the
//!   vector's shared secret (non-canonical public keys are reduced mod p),
//!   except that an all-zero shared secret (low-order public key) must be
//!   refused with `Error::NonContributory`, whatever Wycheproof's verdict.
//! - Ed25519 (`ed25519_verify_strict`): valid signatures verify, invalid ones
//!   (malleable `S`, bad `R` encodings, wrong lengths...) are rejected.
//! - ChaCha20-Poly1305 and XChaCha20-Poly1305 (`chacha_*`, `xchacha_*`):
//!   valid vectors seal to exactly `ct ‖ tag` and open to the plaintext;
//!   invalid ones do not open. Vectors with a key, nonce or tag size our
//!   wrappers' types cannot express count as rejections, and must be invalid.
//! - HKDF-SHA256 (`hkdf_sha256`): valid vectors give exactly `okm` (an empty
//!   salt also equals an explicit `HashLen` zero salt, per RFC 5869); an
//!   oversized output is an error.
//!
//! Each test prints a summary line (run with `--nocapture` to see it) and
//! lists every mismatching `tc_id` on failure.

use ::wycheproof::TestResult;
use keylink_keys::Error;
use keylink_keys::primitives::{
    NONCE_LEN, TAG_LEN, XNONCE_LEN, chacha_open, chacha_seal, ed25519_verify_strict, hkdf_sha256,
    x25519_agree, xchacha_open, xchacha_seal,
};

/// Verdict counts for one primitive's vectors.
struct Tally {
    name: &'static str,
    total: usize,
    /// Valid (or acceptable) vectors that gave the expected output.
    accepted: usize,
    /// Invalid vectors that were rejected (including `inexpressible`).
    rejected: usize,
    /// X25519 only: all-zero results refused as non-contributory.
    non_contributory: usize,
    /// AEAD only: invalid vectors whose sizes our wrappers cannot express.
    inexpressible: usize,
    mismatches: Vec<String>,
}

impl Tally {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            total: 0,
            accepted: 0,
            rejected: 0,
            non_contributory: 0,
            inexpressible: 0,
            mismatches: Vec::new(),
        }
    }

    fn mismatch(&mut self, tc_id: usize, comment: &str, what: impl std::fmt::Display) {
        self.mismatches
            .push(format!("tc {tc_id} ({comment:?}): {what}"));
    }

    /// Prints the summary line and asserts every vector got its verdict.
    fn finish(self) {
        assert!(
            self.mismatches.is_empty(),
            "wycheproof {}: {} of {} vectors got an unexpected verdict:\n{}",
            self.name,
            self.mismatches.len(),
            self.total,
            self.mismatches.join("\n")
        );
        assert!(self.total > 0, "{}: no vectors loaded", self.name);
        assert_eq!(
            self.accepted + self.rejected + self.non_contributory,
            self.total,
            "{}: every vector must be counted exactly once",
            self.name
        );
        let mut extra = String::new();
        if self.non_contributory > 0 {
            extra.push_str(&format!(
                ", {} non-contributory refused",
                self.non_contributory
            ));
        }
        if self.inexpressible > 0 {
            extra.push_str(&format!(
                ", of which {} with sizes our types cannot express",
                self.inexpressible
            ));
        }
        println!(
            "wycheproof {}: {} vectors, 100% expected ({} accepted, {} rejected{extra})",
            self.name, self.total, self.accepted, self.rejected
        );
    }
}

#[test]
fn wycheproof_x25519() {
    use ::wycheproof::xdh::{TestName, TestSet};

    let set = TestSet::load(TestName::X25519).expect("load x25519 vectors");
    let mut tally = Tally::new("x25519");
    for group in &set.test_groups {
        for t in &group.tests {
            tally.total += 1;
            let secret: Option<[u8; 32]> = t.private_key.as_slice().try_into().ok();
            let public: Option<[u8; 32]> = t.public_key.as_slice().try_into().ok();
            // A key of the wrong length cannot reach the wrapper: a rejection.
            let got = match (secret, public) {
                (Some(s), Some(p)) => Some(x25519_agree(&s, &p)),
                _ => None,
            };
            let zero_shared = t.shared_secret.iter().all(|&b| b == 0);

            if zero_shared {
                // Policy: refused whatever Wycheproof says (it says "acceptable").
                match got {
                    Some(Err(Error::NonContributory)) => tally.non_contributory += 1,
                    other => tally.mismatch(
                        t.tc_id,
                        &t.comment,
                        format!("all-zero shared secret not refused as NonContributory: {other:?}"),
                    ),
                }
                continue;
            }
            match t.result {
                TestResult::Valid | TestResult::Acceptable => match got {
                    Some(Ok(shared)) if shared.as_slice() == t.shared_secret.as_slice() => {
                        tally.accepted += 1;
                    }
                    Some(Ok(shared)) => tally.mismatch(
                        t.tc_id,
                        &t.comment,
                        format!(
                            "shared secret {} != expected {}",
                            hex::encode(shared.as_slice()),
                            hex::encode(&t.shared_secret[..])
                        ),
                    ),
                    Some(Err(e)) => {
                        tally.mismatch(
                            t.tc_id,
                            &t.comment,
                            format!("{:?} rejected: {e:?}", t.result),
                        );
                    }
                    None => tally.mismatch(
                        t.tc_id,
                        &t.comment,
                        format!("{:?} vector has a key of the wrong length", t.result),
                    ),
                },
                TestResult::Invalid => match got {
                    Some(Ok(shared)) if shared.as_slice() == t.shared_secret.as_slice() => {
                        tally.mismatch(
                            t.tc_id,
                            &t.comment,
                            "invalid vector gave its shared secret",
                        );
                    }
                    // Rejected, or a different result: the bad value was not reproduced.
                    _ => tally.rejected += 1,
                },
            }
        }
    }
    tally.finish();
}

#[test]
fn wycheproof_ed25519() {
    use ::wycheproof::eddsa::{TestName, TestSet};

    let set = TestSet::load(TestName::Ed25519).expect("load ed25519 vectors");
    let mut tally = Tally::new("ed25519");
    for group in &set.test_groups {
        let public: Option<[u8; 32]> = group.key.pk.as_slice().try_into().ok();
        for t in &group.tests {
            tally.total += 1;
            let got = match &public {
                Some(pk) => ed25519_verify_strict(pk, &t.msg, &t.sig),
                None => Err(Error::InvalidPublicKey {
                    what: "test: Ed25519 key of the wrong length",
                }),
            };
            match (t.result, got) {
                (TestResult::Valid, Ok(())) => tally.accepted += 1,
                (TestResult::Invalid, Err(_)) => tally.rejected += 1,
                (TestResult::Invalid, Ok(())) => {
                    tally.mismatch(t.tc_id, &t.comment, format!("invalid signature accepted, flags {:?}", t.flags));
                }
                (TestResult::Valid, Err(e)) => tally.mismatch(
                    t.tc_id,
                    &t.comment,
                    format!("valid signature rejected by strict verification: {e:?}, flags {:?}", t.flags),
                ),
                (TestResult::Acceptable, got) => tally.mismatch(
                    t.tc_id,
                    &t.comment,
                    format!("unexpected \"acceptable\" Ed25519 vector (we gave {got:?}); decide a policy for it"),
                ),
            }
        }
    }
    tally.finish();
}

/// The group order ℓ of Ed25519, little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `a - b` on 256-bit little-endian integers; `None` if it would go negative.
fn sub_le(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in 0..32 {
        let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        out[i] = u8::try_from(d.rem_euclid(256)).ok()?;
    }
    (borrow == 0).then_some(out)
}

/// Our Ed25519 policy rejects signature malleability: Wycheproof's signature
/// whose encoded `S` was replaced by `S + ℓ` (the same scalar mod ℓ, so a
/// lax verifier accepts it) is refused, while the same signature with `S`
/// reduced verifies.
#[test]
fn wycheproof_ed25519_policy_rejects_non_canonical_s() {
    use ::wycheproof::eddsa::{TestFlag, TestName, TestSet};

    let set = TestSet::load(TestName::Ed25519).expect("load ed25519 vectors");
    let (group, t) = set
        .test_groups
        .iter()
        .flat_map(|g| g.tests.iter().map(move |t| (g, t)))
        .find(|(_, t)| {
            t.flags.contains(&TestFlag::SignatureMalleability)
                && t.comment
                    .starts_with("the encoded s was replaced by s + L.")
        })
        .expect("Wycheproof has an S + L malleability vector");
    assert_eq!(t.result, TestResult::Invalid);

    let pk: [u8; 32] = group.key.pk.as_slice().try_into().expect("32-byte key");
    let sig: [u8; 64] = t.sig.as_slice().try_into().expect("64-byte signature");
    let s_plus_l: [u8; 32] = sig[32..].try_into().expect("S half");
    let s = sub_le(&s_plus_l, &ED25519_L).expect("S + L >= L");

    // The encoded S really is non-canonical (S + L ≥ ℓ), and the canonical
    // form of the same signature verifies.
    let mut canonical = sig;
    canonical[32..].copy_from_slice(&s);
    assert_eq!(
        ed25519_verify_strict(&pk, &t.msg, &canonical),
        Ok(()),
        "tc {}: the reduced signature should verify",
        t.tc_id
    );

    // The malleated encoding of the same scalar is refused.
    assert_eq!(
        ed25519_verify_strict(&pk, &t.msg, &sig),
        Err(Error::BadSignature),
        "tc {}: S + L must be rejected",
        t.tc_id
    );
}

/// Runs one AEAD's vectors through our seal/open wrappers for an `N`-byte
/// nonce.
fn run_aead<const N: usize, P>(
    name: &'static str,
    test_name: ::wycheproof::aead::TestName,
    seal: impl Fn(&[u8; 32], &[u8; N], &[u8], &[u8]) -> keylink_keys::Result<Vec<u8>>,
    open: impl Fn(&[u8; 32], &[u8; N], &[u8], &[u8]) -> keylink_keys::Result<P>,
) where
    P: std::ops::Deref<Target = Vec<u8>>,
{
    let mut tally = Tally::new(name);
    let set = match ::wycheproof::aead::TestSet::load(test_name) {
        Ok(set) => set,
        Err(e) => {
            tally.mismatch(0, "", format!("could not load vectors: {e}"));
            return tally.finish();
        }
    };
    for group in &set.test_groups {
        for t in &group.tests {
            tally.total += 1;
            let key: Option<[u8; 32]> = t.key.as_slice().try_into().ok();
            let nonce: Option<[u8; N]> = t.nonce.as_slice().try_into().ok();
            let (Some(key), Some(nonce), true) = (key, nonce, group.tag_size == TAG_LEN * 8) else {
                // Our wrappers' types cannot take this key, nonce or tag
                // size: that is a rejection, so the vector must be invalid.
                if t.result == TestResult::Invalid {
                    tally.rejected += 1;
                    tally.inexpressible += 1;
                } else {
                    tally.mismatch(
                        t.tc_id,
                        &t.comment,
                        format!(
                            "{:?} vector with key {} B, nonce {} B, tag {} bits cannot be expressed",
                            t.result,
                            t.key.len(),
                            t.nonce.len(),
                            group.tag_size
                        ),
                    );
                }
                continue;
            };
            let mut ct_tag = t.ct.to_vec();
            ct_tag.extend_from_slice(&t.tag);
            let opened = open(&key, &nonce, &t.aad, &ct_tag);
            match t.result {
                TestResult::Valid | TestResult::Acceptable => {
                    let mut ok = true;
                    match seal(&key, &nonce, &t.aad, &t.pt) {
                        Ok(sealed) if sealed == ct_tag => {}
                        Ok(sealed) => {
                            ok = false;
                            tally.mismatch(
                                t.tc_id,
                                &t.comment,
                                format!(
                                    "sealed to {} instead of {}",
                                    hex::encode(&sealed),
                                    hex::encode(&ct_tag)
                                ),
                            );
                        }
                        Err(e) => {
                            ok = false;
                            tally.mismatch(t.tc_id, &t.comment, format!("seal failed: {e:?}"));
                        }
                    }
                    match opened {
                        Ok(pt) if pt.as_slice() == t.pt.as_slice() => {}
                        Ok(_) => {
                            ok = false;
                            tally.mismatch(t.tc_id, &t.comment, "opened to the wrong plaintext");
                        }
                        Err(e) => {
                            ok = false;
                            tally.mismatch(t.tc_id, &t.comment, format!("open failed: {e:?}"));
                        }
                    }
                    if ok {
                        tally.accepted += 1;
                    }
                }
                TestResult::Invalid => match opened {
                    Err(_) => tally.rejected += 1,
                    Ok(_) => tally.mismatch(
                        t.tc_id,
                        &t.comment,
                        format!("invalid ciphertext opened, flags {:?}", t.flags),
                    ),
                },
            }
        }
    }
    tally.finish();
}

#[test]
fn wycheproof_chacha20_poly1305() {
    run_aead::<NONCE_LEN, _>(
        "chacha20-poly1305",
        ::wycheproof::aead::TestName::ChaCha20Poly1305,
        chacha_seal,
        chacha_open,
    );
}

#[test]
fn wycheproof_xchacha20_poly1305() {
    run_aead::<XNONCE_LEN, _>(
        "xchacha20-poly1305",
        ::wycheproof::aead::TestName::XChaCha20Poly1305,
        xchacha_seal,
        xchacha_open,
    );
}

#[test]
fn wycheproof_hkdf_sha256() {
    use ::wycheproof::hkdf::{TestFlag, TestName, TestSet};

    let set = TestSet::load(TestName::HkdfSha256).expect("load hkdf-sha256 vectors");
    let mut tally = Tally::new("hkdf-sha256");
    for group in &set.test_groups {
        for t in &group.tests {
            tally.total += 1;
            let mut out = vec![0u8; t.size];
            let got = hkdf_sha256(&t.ikm, &t.salt, &[&t.info], &mut out);
            match (t.result, got) {
                (TestResult::Valid | TestResult::Acceptable, Ok(())) if out == *t.okm => {
                    // RFC 5869: no salt means HashLen zero bytes; our empty
                    // salt ("no salt") must agree with the explicit form.
                    if t.flags.contains(&TestFlag::EmptySalt) {
                        let mut explicit = vec![0u8; t.size];
                        let r = hkdf_sha256(&t.ikm, &[0u8; 32], &[&t.info], &mut explicit);
                        if r.is_err() || explicit != out {
                            tally.mismatch(
                                t.tc_id,
                                &t.comment,
                                "empty salt differs from an explicit 32-byte zero salt",
                            );
                            continue;
                        }
                    }
                    tally.accepted += 1;
                }
                (TestResult::Valid | TestResult::Acceptable, Ok(())) => tally.mismatch(
                    t.tc_id,
                    &t.comment,
                    format!(
                        "okm {} != expected {}",
                        hex::encode(&out),
                        hex::encode(&t.okm[..])
                    ),
                ),
                (TestResult::Valid | TestResult::Acceptable, Err(e)) => {
                    tally.mismatch(
                        t.tc_id,
                        &t.comment,
                        format!("{:?} rejected: {e:?}", t.result),
                    );
                }
                (TestResult::Invalid, Err(_)) => tally.rejected += 1,
                (TestResult::Invalid, Ok(())) => tally.mismatch(
                    t.tc_id,
                    &t.comment,
                    format!("invalid vector (size {}) produced output", t.size),
                ),
            }
        }
    }
    tally.finish();
}
