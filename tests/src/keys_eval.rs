//! Evaluates a key-hierarchy vector against the implementation.
//!
//! [`evaluate`] runs the operation a vector names on its inputs and returns
//! either its outputs (hex) or the class of the error it failed with. The
//! test compares that with the committed `expected` / `expected_error`; the
//! generator uses the same function to fill them in once.

use std::collections::BTreeMap;

use keylink_keys::primitives::hkdf_sha256;
use keylink_keys::{
    AccountId, DeviceId, DeviceIdentity, DevicePublicKeys, Epoch, KdfParams, KdfPolicy, KeyWrap,
    Password, RecoveryKey, RootKey, SealPurpose, SealedBox, SignatureContext, labels, verify_with,
};
use keylink_wire::Wire;
use serde_json::Value;

use crate::{Vector, VectorError};

/// Outputs by name, each a hex or text string.
pub type Outputs = BTreeMap<String, Value>;

/// What running a vector gave: its outputs, or the error class.
pub type Outcome = Result<Outputs, String>;

/// Run `v`. `Err(VectorError)` means the vector itself is unusable (a
/// missing input, an unknown kind), which the test reports as a failure.
///
/// # Errors
/// When the vector is malformed.
pub fn evaluate(v: &Vector) -> Result<Outcome, VectorError> {
    match v.kind.as_str() {
        "password_wrap" => password_wrap(v),
        "password_unwrap" => password_unwrap(v),
        "recovery_wrap" => recovery_wrap(v),
        "recovery_unwrap" => recovery_unwrap(v),
        "recovery_encode" => recovery_encode(v),
        "recovery_parse" => Ok(recovery_parse(v)?),
        "password_normalize" => Ok(Password::new(v.text("password")?)
            .map(|p| out(&[("normalized", hex::encode(p.expose_secret()))]))
            .map_err(|e| e.class().to_string())),
        "derive" => derive(v),
        "device_id" => device_id(v),
        "device_public_keys" => device_public_keys(v),
        "device_public_keys_wire" => Ok(DevicePublicKeys::decode(&v.hex("bytes")?)
            .map(|k| out(&[("device_id", hex::encode(k.device_id().as_bytes()))]))
            .map_err(|e| e.class().to_string())),
        "sealed_box" => sealed_box(v),
        "sealed_open" => sealed_open(v),
        "signature" => signature(v),
        "signature_verify" => signature_verify(v),
        other => Err(VectorError::Field(format!(
            "{}: unknown kind {other}",
            v.name
        ))),
    }
}

fn out(pairs: &[(&str, String)]) -> Outputs {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
        .collect()
}

fn class(e: keylink_keys::Error) -> String {
    e.class().to_string()
}

fn root_of(v: &Vector) -> Result<RootKey, VectorError> {
    Ok(RootKey::from_secret_bytes(
        v.hex_array("root_key")?,
        Epoch(v.num("epoch")?),
    ))
}

fn account_of(v: &Vector) -> Result<AccountId, VectorError> {
    Ok(AccountId::from_bytes(v.hex_array("account_id")?))
}

fn policy_of(v: &Vector) -> Result<KdfPolicy, VectorError> {
    match v.text("policy")? {
        "default" => Ok(KdfPolicy::default()),
        "insecure_accept_weak" => Ok(KdfPolicy::insecure_accept_weak()),
        other => Err(VectorError::Field(format!(
            "{}: unknown policy {other}",
            v.name
        ))),
    }
}

fn opened(root: &RootKey) -> Outputs {
    out(&[
        ("root_key", hex::encode(root.expose_secret())),
        ("epoch", root.epoch().0.to_string()),
    ])
}

fn password_wrap(v: &Vector) -> Result<Outcome, VectorError> {
    let root = root_of(v)?;
    let account = account_of(v)?;
    let salt = v.hex_array("salt")?;
    let nonce = v.hex_array("nonce")?;
    let typed = v.text("password")?;
    let params = KdfParams::insecure_for_tests(num32(v, "m_kib")?, num32(v, "t")?, num32(v, "p")?);
    let run = || -> Result<Outputs, keylink_keys::Error> {
        let password = Password::new(typed)?;
        let wrap =
            KeyWrap::insecure_seal_password_with(&root, &account, &password, params, salt, nonce)?;
        // The wrap must open again, through the parser, to the same key.
        let back = KeyWrap::from_bytes(&wrap.to_bytes())?
            .open_password(&password, KdfPolicy::insecure_accept_weak())?;
        if back.expose_secret() != root.expose_secret() {
            return Err(keylink_keys::Error::WrongSecretOrTampered);
        }
        Ok(out(&[
            ("wrap", hex::encode(wrap.to_bytes())),
            ("wrap_hash", hex::encode(wrap.hash())),
        ]))
    };
    Ok(run().map_err(class))
}

fn num32(v: &Vector, field: &str) -> Result<u32, VectorError> {
    u32::try_from(v.num(field)?)
        .map_err(|_| VectorError::Field(format!("{}: {field} exceeds u32", v.name)))
}

fn password_unwrap(v: &Vector) -> Result<Outcome, VectorError> {
    let bytes = v.hex("wrap")?;
    let policy = policy_of(v)?;
    let typed = v.text("password")?;
    let run = || -> Result<Outputs, keylink_keys::Error> {
        let wrap = KeyWrap::from_bytes(&bytes)?;
        let password = Password::new(typed)?;
        Ok(opened(&wrap.open_password(&password, policy)?))
    };
    Ok(run().map_err(class))
}

fn recovery_wrap(v: &Vector) -> Result<Outcome, VectorError> {
    let root = root_of(v)?;
    let account = account_of(v)?;
    let salt = v.hex_array("salt")?;
    let nonce = v.hex_array("nonce")?;
    let text = v.text("recovery_key")?;
    let run = || -> Result<Outputs, keylink_keys::Error> {
        let key = RecoveryKey::parse(text)?;
        let wrap = KeyWrap::insecure_seal_recovery_with(&root, &account, &key, salt, nonce)?;
        let back = KeyWrap::from_bytes(&wrap.to_bytes())?.open_recovery(&key)?;
        if back.expose_secret() != root.expose_secret() {
            return Err(keylink_keys::Error::WrongSecretOrTampered);
        }
        Ok(out(&[("wrap", hex::encode(wrap.to_bytes()))]))
    };
    Ok(run().map_err(class))
}

fn recovery_unwrap(v: &Vector) -> Result<Outcome, VectorError> {
    let bytes = v.hex("wrap")?;
    let text = v.text("recovery_key")?;
    let run = || -> Result<Outputs, keylink_keys::Error> {
        let key = RecoveryKey::parse(text)?;
        Ok(opened(&KeyWrap::from_bytes(&bytes)?.open_recovery(&key)?))
    };
    Ok(run().map_err(class))
}

fn recovery_encode(v: &Vector) -> Result<Outcome, VectorError> {
    let text = v.text("digits")?;
    let mut digits = [0u8; 64];
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VectorError::Field(format!(
            "{}: digits must be 64 ASCII digits",
            v.name
        )));
    }
    for (d, b) in digits.iter_mut().zip(text.bytes()) {
        *d = b - b'0';
    }
    Ok(RecoveryKey::from_digits(digits)
        .map(|k| out(&[("display", k.to_display().to_string())]))
        .map_err(class))
}

fn recovery_parse(v: &Vector) -> Result<Outcome, VectorError> {
    Ok(RecoveryKey::parse(v.text("text")?)
        .map(|k| {
            let ascii = k.expose_secret_ascii();
            out(&[(
                "digits",
                String::from_utf8_lossy(ascii.as_slice()).into_owned(),
            )])
        })
        .map_err(|e| match e {
            // The located group is part of the answer.
            keylink_keys::Error::RecoveryChecksum { group } => match group {
                Some(g) => format!("bad_recovery_checksum:group_{g}"),
                None => "bad_recovery_checksum:unlocated".to_string(),
            },
            e => class(e),
        }))
}

fn derive(v: &Vector) -> Result<Outcome, VectorError> {
    let root = root_of(v)?;
    let account = account_of(v)?;
    let key = match v.text("purpose")? {
        "device_subkey" => {
            let device = DeviceId::from_bytes(v.hex_array("device_id")?);
            hex::encode(root.device_subkey(&account, &device).expose_secret())
        }
        "chunk_id_key" => hex::encode(root.chunk_id_key(&account).expose_secret()),
        "epoch_history_key" => hex::encode(root.epoch_history_key(&account).expose_secret()),
        "account_signing_key" => {
            // The seed is internal to the key type; recompute it from the
            // specification so the vector states it for other implementations.
            let mut seed = [0u8; 32];
            hkdf_sha256(
                root.expose_secret(),
                account.as_bytes(),
                &[labels::ACCOUNT_SIGNING_SEED],
                &mut seed,
            )
            .map_err(|e| VectorError::Field(e.to_string()))?;
            let public = root.account_signing_key(&account).public_key();
            let from_seed = DeviceIdentity::from_secret_bytes(&seed, &[9; 32]);
            if from_seed.public_keys().signing_key() != &public {
                return Ok(Err("seed_mismatch".into()));
            }
            return Ok(Ok(out(&[
                ("seed", hex::encode(seed)),
                ("public_key", hex::encode(public)),
            ])));
        }
        other => {
            return Err(VectorError::Field(format!(
                "{}: unknown purpose {other}",
                v.name
            )));
        }
    };
    Ok(Ok(out(&[("key", key)])))
}

fn identity_of(v: &Vector) -> Result<DeviceIdentity, VectorError> {
    Ok(DeviceIdentity::from_secret_bytes(
        &v.hex_array("signing_seed")?,
        &v.hex_array("agreement_secret")?,
    ))
}

fn device_id(v: &Vector) -> Result<Outcome, VectorError> {
    let id = identity_of(v)?;
    let keys = id.public_keys();
    Ok(Ok(out(&[
        ("signing_key", hex::encode(keys.signing_key())),
        ("agreement_key", hex::encode(keys.agreement_key())),
        ("device_id", hex::encode(keys.device_id().as_bytes())),
        ("wire", hex::encode(keys.encode())),
    ])))
}

fn device_public_keys(v: &Vector) -> Result<Outcome, VectorError> {
    Ok(
        DevicePublicKeys::from_bytes(v.hex_array("signing_key")?, v.hex_array("agreement_key")?)
            .map(|k| out(&[("device_id", hex::encode(k.device_id().as_bytes()))]))
            .map_err(class),
    )
}

fn purpose_of(v: &Vector) -> Result<SealPurpose, VectorError> {
    match v.text("purpose")? {
        "root_key" => Ok(SealPurpose::RootKey),
        "epoch_history" => Ok(SealPurpose::EpochHistory),
        other => Err(VectorError::Field(format!(
            "{}: unknown purpose {other}",
            v.name
        ))),
    }
}

fn sealed_box(v: &Vector) -> Result<Outcome, VectorError> {
    let recipient = identity_of(v)?;
    let account = account_of(v)?;
    let epoch = Epoch(v.num("epoch")?);
    let purpose = purpose_of(v)?;
    let plaintext = v.hex("plaintext")?;
    let sealed = SealedBox::insecure_seal_with_ephemeral_ikm(
        purpose,
        &recipient.public_keys(),
        &account,
        epoch,
        &plaintext,
        v.hex_array("ikm_e")?,
    );
    let run = || -> Result<Outputs, keylink_keys::Error> {
        let sealed = sealed?;
        let back = SealedBox::from_bytes(&sealed.to_bytes())?
            .open(purpose, &recipient, &account, epoch)?;
        if back.as_slice() != plaintext.as_slice() {
            return Err(keylink_keys::Error::SealedBoxOpen);
        }
        Ok(out(&[
            ("enc", hex::encode(sealed.enc())),
            ("sealed", hex::encode(sealed.to_bytes())),
        ]))
    };
    Ok(run().map_err(class))
}

fn sealed_open(v: &Vector) -> Result<Outcome, VectorError> {
    let recipient = identity_of(v)?;
    let account = account_of(v)?;
    let epoch = Epoch(v.num("epoch")?);
    let purpose = purpose_of(v)?;
    let bytes = v.hex("sealed")?;
    let run = || -> Result<Outputs, keylink_keys::Error> {
        let plain = SealedBox::from_bytes(&bytes)?.open(purpose, &recipient, &account, epoch)?;
        Ok(out(&[("plaintext", hex::encode(plain.as_slice()))]))
    };
    Ok(run().map_err(class))
}

fn context_of(v: &Vector) -> Result<SignatureContext, VectorError> {
    let label = v.text("context")?;
    SignatureContext::from_label(label.as_bytes())
        .ok_or_else(|| VectorError::Field(format!("{}: unknown context {label}", v.name)))
}

fn signature(v: &Vector) -> Result<Outcome, VectorError> {
    let id = identity_of(v)?;
    let context = context_of(v)?;
    let message = v.hex("message")?;
    let sig = id.sign(context, &message);
    let keys = id.public_keys();
    if let Err(e) = keys.verify(context, &message, &sig) {
        return Ok(Err(class(e)));
    }
    Ok(Ok(out(&[
        ("public_key", hex::encode(keys.signing_key())),
        ("signature", hex::encode(sig)),
    ])))
}

fn signature_verify(v: &Vector) -> Result<Outcome, VectorError> {
    let public = v.hex_array("public_key")?;
    let context = context_of(v)?;
    Ok(
        verify_with(&public, context, &v.hex("message")?, &v.hex("signature")?)
            .map(|()| out(&[("valid", "true".into())]))
            .map_err(class),
    )
}
