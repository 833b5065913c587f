//! Evaluates a backup-format vector: Padmé sizes, sealing and opening
//! chunks, opening signed manifests, and decoding manifest contents.

use std::collections::BTreeMap;

use keylink_backup::format::{self, ChunkContext};
use keylink_keys::{AccountId, DeviceId, DeviceIdentity, Epoch, RootKey};
use keylink_wire::Wire;
use keylink_wire::backup::{ManifestPage, ManifestRoot};
use serde_json::Value;

use crate::keys_eval::{Outcome, Outputs};
use crate::{FixedRng, Vector, VectorError};

/// Run `v`.
///
/// # Errors
/// When the vector is malformed.
pub fn evaluate(v: &Vector) -> Result<Outcome, VectorError> {
    match v.kind.as_str() {
        "padme" => {
            let len = usize::try_from(v.num("length")?)
                .map_err(|_| VectorError::Field("length".into()))?;
            Ok(Ok(out(&[("padded", format::padme(len).to_string())])))
        }
        "chunk_seal" => {
            let (root, ctx) = context(v)?;
            let plaintext = v.hex("plaintext")?;
            let id_key = root.chunk_id_key(&ctx.account);
            let id = format::chunk_id(&id_key, &plaintext);
            let subkey = root.device_subkey(&ctx.account, &ctx.writer);
            let mut rng = FixedRng::new(v.hex("nonce")?);
            let object = format::seal_chunk(&subkey, &ctx, &id, &plaintext, &mut rng)
                .map_err(|e| VectorError::Field(e.to_string()))?;
            // It must open again to the same plaintext.
            let back = format::open_chunk(
                &subkey,
                &id_key,
                &ctx,
                &id,
                plaintext.len() as u32,
                object.clone(),
            )
            .map_err(|e| VectorError::Field(e.to_string()))?;
            if back.as_slice() != plaintext.as_slice() {
                return Ok(Err("round_trip".into()));
            }
            Ok(Ok(out(&[
                ("chunk_id", hex::encode(id)),
                ("object", hex::encode(object)),
            ])))
        }
        "chunk_open" => {
            let (root, ctx) = context(v)?;
            let id: [u8; 32] = v.hex_array("chunk_id")?;
            let len =
                u32::try_from(v.num("length")?).map_err(|_| VectorError::Field("length".into()))?;
            let subkey = root.device_subkey(&ctx.account, &ctx.writer);
            let id_key = root.chunk_id_key(&ctx.account);
            Ok(
                format::open_chunk(&subkey, &id_key, &ctx, &id, len, v.hex("object")?)
                    .map(|p| out(&[("plaintext", hex::encode(p.as_slice()))]))
                    .map_err(|e| e.class().to_string()),
            )
        }
        "manifest_open" => {
            let root = RootKey::from_secret_bytes(v.hex_array("root_key")?, Epoch(v.num("epoch")?));
            let writer = DeviceIdentity::from_secret_bytes(
                &v.hex_array("signing_seed")?,
                &v.hex_array("agreement_secret")?,
            );
            let object = v.hex("object")?;
            let hash = format::manifest_hash(&object);
            Ok(format::open_manifest(
                &writer.public_keys(),
                |h| Ok(root.device_subkey(&h.account, &h.device)),
                &object,
            )
            .and_then(|(h, plain)| {
                let decoded = ManifestRoot::decode(&plain)?;
                Ok(out(&[
                    ("account_id", hex::encode(h.account.as_bytes())),
                    ("device_id", hex::encode(h.device.as_bytes())),
                    ("epoch", h.epoch.0.to_string()),
                    ("sequence", h.sequence.to_string()),
                    ("snapshot_id", hex::encode(h.snapshot_id())),
                    ("manifest_hash", hex::encode(hash)),
                    ("root_plaintext", hex::encode(plain.as_slice())),
                    ("entry_count", decoded.entry_count.to_string()),
                ]))
            })
            .map_err(|e| e.class().to_string()))
        }
        "root_decode" => Ok(ManifestRoot::decode(&v.hex("bytes")?)
            .map(|r| {
                out(&[
                    ("entry_count", r.entry_count.to_string()),
                    ("pages", r.pages.len().to_string()),
                ])
            })
            .map_err(|e| e.class().to_string())),
        "page_decode" => Ok(ManifestPage::decode(&v.hex("bytes")?)
            .map(|p| {
                let paths: Vec<String> = p
                    .entries
                    .iter()
                    .map(|e| hex::encode(e.path.as_bytes()))
                    .collect();
                out(&[
                    ("entries", p.entries.len().to_string()),
                    ("paths", paths.join(",")),
                ])
            })
            .map_err(|e| e.class().to_string())),
        other => Err(VectorError::Field(format!(
            "{}: unknown kind {other}",
            v.name
        ))),
    }
}

fn context(v: &Vector) -> Result<(RootKey, ChunkContext), VectorError> {
    let epoch = Epoch(v.num("epoch")?);
    Ok((
        RootKey::from_secret_bytes(v.hex_array("root_key")?, epoch),
        ChunkContext {
            account: AccountId::from_bytes(v.hex_array("account_id")?),
            epoch,
            writer: DeviceId::from_bytes(v.hex_array("writer")?),
        },
    ))
}

fn out(pairs: &[(&str, String)]) -> Outputs {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
        .collect::<BTreeMap<_, _>>()
}
