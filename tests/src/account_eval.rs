//! Evaluates an account-log vector against the implementation: decode every
//! entry from its wire bytes, verify the log (against a remembered head when
//! one is given), and report the verified state or the error class.

use std::collections::BTreeMap;

use keylink_account::{HeadRelation, LogState, compare_logs};
use keylink_keys::KeyWrap;
use keylink_wire::Wire;
use keylink_wire::account::SignedEntry;
use serde_json::Value;

use crate::keys_eval::{Outcome, Outputs};
use crate::{Vector, VectorError};

/// Run `v`.
///
/// # Errors
/// When the vector is malformed (not when the log is invalid: that is an
/// outcome).
pub fn evaluate(v: &Vector) -> Result<Outcome, VectorError> {
    match v.kind.as_str() {
        "log_verify" => {
            let trusted = if v.has("trusted_head") {
                Some(
                    keylink_account::Head::from_bytes(&v.hex("trusted_head")?)
                        .map_err(|e| VectorError::Field(e.to_string()))?,
                )
            } else {
                None
            };
            Ok(verify(v, "entries").and_then(|state| {
                if let Some(head) = trusted {
                    state
                        .check_contains(&head)
                        .map_err(|e| e.class().to_string())?;
                }
                Ok(summary(&state))
            }))
        }
        "wrap_check" => {
            let wrap = v.hex("wrap")?;
            Ok(verify(v, "entries").and_then(|state| {
                let wrap = KeyWrap::from_bytes(&wrap).map_err(|e| e.class().to_string())?;
                state.check_wrap(&wrap).map_err(|e| e.class().to_string())?;
                Ok(out(&[("current", "true".into())]))
            }))
        }
        "compare_logs" => Ok(verify(v, "a").and_then(|a| {
            let b = verify(v, "b")?;
            let rel = compare_logs(&a, &b).map_err(|e| e.class().to_string())?;
            let rel = match rel {
                HeadRelation::Same => "same",
                HeadRelation::Ahead => "ahead",
                HeadRelation::Behind => "behind",
            };
            Ok(out(&[("relation", rel.into())]))
        })),
        other => Err(VectorError::Field(format!(
            "{}: unknown kind {other}",
            v.name
        ))),
    }
}

fn verify(v: &Vector, field: &str) -> Result<LogState, String> {
    let raw = v.hex_list(field).map_err(|e| format!("vector: {e}"))?;
    let entries = raw
        .iter()
        .map(|b| SignedEntry::decode(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "wire".to_string())?;
    LogState::verify(&entries).map_err(|e| e.class().to_string())
}

fn out(pairs: &[(&str, String)]) -> Outputs {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
        .collect::<BTreeMap<_, _>>()
}

fn summary(state: &LogState) -> Outputs {
    let head = state.head();
    let devices: Vec<String> = state.devices().keys().map(|d| d.to_string()).collect();
    out(&[
        ("head_sequence", head.sequence.to_string()),
        ("head_hash", hex::encode(head.hash)),
        ("epoch", state.epoch().0.to_string()),
        ("devices", devices.join(",")),
    ])
}
