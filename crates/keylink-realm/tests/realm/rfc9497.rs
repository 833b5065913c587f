//! RFC 9497 Appendix A.1.2 (VOPRF, ristretto255-SHA512) through our `Voprf` trait.

use keylink_realm::{Blind, Error, Evaluation, OprfKey, Ristretto255Sha512, Voprf};

struct Vector {
    input: &'static str,
    blind: &'static str,
    blinded: &'static str,
    evaluated: &'static str,
    proof: &'static str,
    output: &'static str,
}

// RFC 9497 A.1.2: Seed a3…a3, KeyInfo "test key".
const SK: &str = "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909";
const PK: &str = "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e";

const VECTORS: [Vector; 2] = [
    // A.1.2.1
    Vector {
        input: "00",
        blind: "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706",
        blinded: "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",
        evaluated: "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",
        proof: "ddef93772692e535d1a53903db24367355cc2cc78de93b3be5a8ffcc6985dd066d4346421d17bf5117a2a1ff0fcb2a759f58a539dfbe857a40bce4cf49ec600d",
        output: "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7da4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c",
    },
    // A.1.2.2
    Vector {
        input: "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
        blind: "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706",
        blinded: "cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c",
        evaluated: "60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468",
        proof: "401a0da6264f8cf45bb2f5264bc31e109155600babb3cd4e5af7d181a2c9dc0a67154fabf031fd936051dec80b0b6ae29c9503493dde7393b722eafdf5a50b02",
        output: "8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6",
    },
];

fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// The RFC's 32-byte blind scalar, as the 64 bytes our blind reduces from.
fn blind(s: &str) -> Blind {
    let mut wide = [0u8; 64];
    wide[..32].copy_from_slice(&arr::<32>(s));
    Blind::insecure_from_bytes(wide)
}

#[test]
fn rfc9497_voprf_ristretto255_vectors_pass_through_our_trait() {
    let key = OprfKey::from_bytes(&arr(SK)).unwrap();
    assert_eq!(key.public_key(), arr::<32>(PK));
    let mut rng = crate::rng(1);
    for v in &VECTORS {
        let input = hex::decode(v.input).unwrap();
        let b = blind(v.blind);
        assert_eq!(
            Ristretto255Sha512::blind(&input, &b).unwrap(),
            arr::<32>(v.blinded)
        );
        let rfc = Evaluation {
            element: arr(v.evaluated),
            proof: arr(v.proof),
        };
        Ristretto255Sha512::verify(&arr(PK), &input, &b, &rfc).unwrap();
        let out = Ristretto255Sha512::unblind_finalize(&input, &b, &rfc.element).unwrap();
        assert_eq!(out.as_slice(), arr::<64>(v.output).as_slice());
        assert_eq!(
            Ristretto255Sha512::evaluate(&key, &input)
                .unwrap()
                .as_slice(),
            arr::<64>(v.output).as_slice()
        );
        // Our own evaluation: the same element (it is deterministic) and a
        // proof that verifies (its nonce is hedged, so its bytes differ).
        let ours = Ristretto255Sha512::blind_evaluate(&key, &arr(v.blinded), &mut rng).unwrap();
        assert_eq!(ours.element, rfc.element);
        Ristretto255Sha512::verify(&arr(PK), &input, &b, &ours).unwrap();
    }
}

#[test]
fn a_proof_against_another_key_or_altered_fails() {
    let v = &VECTORS[0];
    let input = hex::decode(v.input).unwrap();
    let b = blind(v.blind);
    let good = Evaluation {
        element: arr(v.evaluated),
        proof: arr(v.proof),
    };
    let mut rng = crate::rng(2);
    let other = OprfKey::generate(&mut rng).public_key();
    assert_eq!(
        Ristretto255Sha512::verify(&other, &input, &b, &good),
        Err(Error::ProofFailed)
    );
    let mut bad = good;
    bad.proof[0] ^= 1;
    assert!(matches!(
        Ristretto255Sha512::verify(&arr(PK), &input, &b, &bad),
        Err(Error::ProofFailed | Error::BadElement { .. })
    ));
    // An evaluation with the right element but from another input's blind.
    let other_input = hex::decode(VECTORS[1].input).unwrap();
    assert_eq!(
        Ristretto255Sha512::verify(&arr(PK), &other_input, &b, &good),
        Err(Error::ProofFailed)
    );
}

#[test]
fn keys_of_wrong_encoding_or_order_are_refused() {
    // Zero, the group order ℓ itself, and 2²⁵⁵ − 1: none is a canonical nonzero scalar.
    let order = arr::<32>("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
    for bad in [[0u8; 32], order, [0xff; 32]] {
        assert_eq!(OprfKey::from_bytes(&bad).unwrap_err().class(), "bad_key");
    }
    // An element that is not a ristretto255 encoding, and the identity.
    let v = &VECTORS[0];
    let input = hex::decode(v.input).unwrap();
    let good = Evaluation {
        element: arr(v.evaluated),
        proof: arr(v.proof),
    };
    for pk in [[0xff; 32], [0; 32]] {
        assert_eq!(
            Ristretto255Sha512::verify(&pk, &input, &blind(v.blind), &good)
                .unwrap_err()
                .class(),
            "bad_element"
        );
    }
}
