//! Evaluates a realm vector (docs/protocol.md §19): the threshold OPRF,
//! registration descriptors, the realm key schedule with the version-2
//! wrap, and the checks a realm makes on a registration request.

use keylink_keys::{AccountId, Epoch, KdfParams, KeyWrap, RealmKek, RootKey, StretchedPassword};
use keylink_realm::shamir::combine;
use keylink_realm::{Blind, Descriptor, OprfKey, RegisterRequest, Ristretto255Sha512, Voprf};
use serde_json::Value;

use crate::keys_eval::{Outcome, Outputs};
use crate::{Vector, VectorError};

fn out(pairs: &[(&str, String)]) -> Outputs {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
        .collect()
}

fn class(e: &keylink_realm::Error) -> String {
    e.class().to_string()
}

/// Run `v`.
///
/// # Errors
/// When the vector is malformed.
pub fn evaluate(v: &Vector) -> Result<Outcome, VectorError> {
    match v.kind.as_str() {
        "realm_oprf" => oprf(v),
        "realm_descriptor" => Ok(Descriptor::from_bytes(&v.hex("descriptor")?)
            .map(|d| {
                out(&[
                    ("commitment", hex::encode(d.commitment())),
                    ("k", d.k().to_string()),
                    ("n", d.n().to_string()),
                    ("per_realm", d.policy().per_realm().to_string()),
                ])
            })
            .map_err(|e| class(&e))),
        "realm_key_schedule" => key_schedule(v),
        "realm_register_check" => Ok(RegisterRequest::from_bytes(&v.hex("request")?)
            .and_then(|r| {
                let realm: [u8; 32] =
                    v.hex_array("realm")
                        .map_err(|_| keylink_realm::Error::Malformed {
                            what: "vector realm",
                        })?;
                r.check(&realm)?;
                Ok(out(&[
                    ("index", r.index.to_string()),
                    ("commitment", hex::encode(r.descriptor.commitment())),
                    ("admin", hex::encode(r.admin)),
                ]))
            })
            .map_err(|e| class(&e))),
        _ => Err(VectorError::Field(format!("unknown kind {}", v.kind))),
    }
}

/// `input`, `blind` (64 bytes), `indices` ("1,3") and `share_<i>` for each:
/// the blinded element, each realm's evaluated element, and the combined
/// output. With `key` instead of shares: the whole key's output.
fn oprf(v: &Vector) -> Result<Outcome, VectorError> {
    let input = v.hex("input")?;
    let blind = Blind::insecure_from_bytes(v.hex_array("blind")?);
    let run = || -> Result<Outputs, keylink_realm::Error> {
        let blinded = Ristretto255Sha512::blind(&input, &blind)?;
        let mut pairs = vec![("blinded", hex::encode(blinded))];
        if v.has("key") {
            let key = OprfKey::from_bytes(&v.hex_array("key").map_err(bad)?)?;
            let output = Ristretto255Sha512::evaluate(&key, &input)?;
            pairs.push(("public_key", hex::encode(key.public_key())));
            pairs.push(("output", hex::encode(output.as_slice())));
            return Ok(out(&pairs));
        }
        let mut evaluations = Vec::new();
        let mut named = Vec::new();
        for i in v.text("indices").map_err(bad)?.split(',') {
            let index: u8 = i.trim().parse().map_err(|_| bad(()))?;
            let share = OprfKey::from_bytes(&v.hex_array(&format!("share_{index}")).map_err(bad)?)?;
            // Evaluation is deterministic; only the proof is randomised, and
            // a vector pins the element, not the proof.
            let mut rng = crate::FixedRng::new(vec![0x5a; 64]);
            let ev = Ristretto255Sha512::blind_evaluate(&share, &blinded, &mut rng)?;
            Ristretto255Sha512::verify(&share.public_key(), &input, &blind, &ev)?;
            evaluations.push((index, ev.element));
            named.push((format!("evaluated_{index}"), hex::encode(ev.element)));
        }
        let combined = combine(&evaluations)?;
        let output = Ristretto255Sha512::unblind_finalize(&input, &blind, &combined)?;
        let mut o = out(&pairs);
        for (k, e) in named {
            o.insert(k, Value::String(e));
        }
        o.insert(
            "output".into(),
            Value::String(hex::encode(output.as_slice())),
        );
        Ok(o)
    };
    Ok(run().map_err(|e| class(&e)))
}

fn bad<T>(_: T) -> keylink_realm::Error {
    keylink_realm::Error::Malformed {
        what: "vector input",
    }
}

/// `stretched`, `oprf_output`, `commitment`, `index`, `realm`: the unlock
/// tag; with `root_key`, `account`, `epoch`, `m_kib`/`t`/`p`, `salt` and
/// `nonce` also the version-2 wrap, and the root key opened back out of it.
fn key_schedule(v: &Vector) -> Result<Outcome, VectorError> {
    let stretched = StretchedPassword::insecure_from_bytes(v.hex_array("stretched")?);
    let output: [u8; 64] = v.hex_array("oprf_output")?;
    let commitment: [u8; 32] = v.hex_array("commitment")?;
    let kek = RealmKek::derive(&stretched, &output, &commitment);
    let index = u8::try_from(v.num("index")?).map_err(|e| VectorError::Field(e.to_string()))?;
    let tag = kek.unlock_tag(&commitment, index, &v.hex_array("realm")?);
    let root = RootKey::from_secret_bytes(v.hex_array("root_key")?, Epoch(v.num("epoch")?));
    let account = AccountId::from_bytes(v.hex_array("account")?);
    let num32 = |f: &str| -> Result<u32, VectorError> {
        u32::try_from(v.num(f)?).map_err(|e| VectorError::Field(e.to_string()))
    };
    let params = KdfParams::insecure_for_tests(num32("m_kib")?, num32("t")?, num32("p")?);
    let wrap = KeyWrap::insecure_seal_realm_with(
        &root,
        &account,
        params,
        v.hex_array("salt")?,
        commitment,
        &kek,
        v.hex_array("nonce")?,
    );
    Ok(wrap
        .and_then(|w| {
            let opened = KeyWrap::from_bytes(&w.to_bytes())?.open_realm(&kek)?;
            Ok(out(&[
                ("unlock_tag", hex::encode(tag.expose_secret())),
                ("wrap", hex::encode(w.to_bytes())),
                ("opened", hex::encode(opened.expose_secret())),
            ]))
        })
        .map_err(|e: keylink_keys::Error| e.class().to_string()))
}
