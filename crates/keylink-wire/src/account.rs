//! Account-log messages: signed entries and their bodies.
//!
//! A [`SignedEntry`] keeps the exact body bytes it was signed over, so
//! signatures and the hash chain never depend on re-encoding. The decoded
//! [`EntryBody`] is a validated view of those bytes: every id and key has
//! its exact length, every public key is valid, every count is bounded.

use keylink_keys::primitives::sha256;
use keylink_keys::{AccountId, DeviceId, DevicePublicKeys, Epoch, SIGNATURE_LEN, SealedBox};
use prost::Message;

use crate::error::WireError;
use crate::{WIRE_VERSION, Wire, decode_checked, fixed, proto};

/// Largest encoded signed entry (256 KiB), checked before decoding.
pub const MAX_ENTRY_LEN: usize = 256 << 10;
/// Most devices an account may have at once (and sealed keys in a rotation).
pub const MAX_DEVICES: usize = 64;
/// Longest device name, in bytes of UTF-8.
pub const MAX_DEVICE_NAME_LEN: usize = 64;
/// Longest encrypted epoch history in a rotation.
pub const MAX_EPOCH_HISTORY_LEN: usize = 192 << 10;
/// Length of a hash in the log.
pub const HASH_LEN: usize = 32;
/// Domain-separation prefix of an entry hash: SHA-256(prefix ‖ body bytes).
pub const ENTRY_HASH_LABEL: &[u8] = keylink_keys::labels::LOG_ENTRY_HASH;

/// A 32-byte SHA-256 value.
pub type Hash = [u8; HASH_LEN];

/// A device's name as the log shows it: 1–64 bytes of UTF-8, no control
/// or invisible formatting characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeviceName(String);

impl DeviceName {
    /// Validate a name.
    ///
    /// # Errors
    /// [`WireError::BadName`] if empty, too long, or holding a control
    /// character or an invisible formatting character (bidirectional
    /// override or isolate, zero-width character, byte-order mark).
    pub fn new(name: &str) -> Result<Self, WireError> {
        if name.is_empty()
            || name.len() > MAX_DEVICE_NAME_LEN
            || name
                .chars()
                .any(|c| c.is_control() || is_invisible_format(c))
        {
            return Err(WireError::BadName {
                max: MAX_DEVICE_NAME_LEN,
            });
        }
        Ok(Self(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that change how text around them is shown without being
/// seen themselves (bidirectional overrides and isolates, zero-width
/// characters, the byte-order mark): a device name could use them to look
/// like another in the link history.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// A device as the log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Its public keys.
    pub keys: DevicePublicKeys,
    /// Its name.
    pub name: DeviceName,
}

impl DeviceRecord {
    /// The device id the keys name.
    pub fn id(&self) -> DeviceId {
        self.keys.device_id()
    }
}

/// A root key sealed to one device in a rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedKey {
    /// The device it is sealed to.
    pub recipient: DeviceId,
    /// The HPKE box (81 bytes).
    pub sealed: SealedBox,
}

/// What an entry does.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// The account's first entry: its first device and epoch 0.
    Genesis {
        /// The first device (also the actor).
        device: DeviceRecord,
        /// Epoch 0's account signing public key.
        account_public_key: [u8; 32],
        /// SHA-256 of the password wrap.
        password_wrap_hash: Hash,
        /// SHA-256 of the recovery wrap, if the account has one.
        recovery_wrap_hash: Option<Hash>,
    },
    /// The actor approved a new device.
    AddDevice {
        /// The new device.
        device: DeviceRecord,
    },
    /// The actor revoked a device. A `Rotate` must follow.
    RemoveDevice {
        /// The revoked device.
        device: DeviceId,
    },
    /// A new epoch.
    Rotate {
        /// The new epoch's account signing public key.
        account_public_key: [u8; 32],
        /// The new root key, sealed to every current device.
        sealed: Vec<SealedKey>,
        /// Older epochs' root keys under the new epoch-history key.
        epoch_history: Vec<u8>,
        /// The new password wrap's hash, or `None` while it is pending.
        password_wrap_hash: Option<Hash>,
        /// The new recovery wrap's hash, or `None` while it is pending.
        recovery_wrap_hash: Option<Hash>,
    },
    /// A device that opened the root key with the password or recovery key
    /// adds itself (also the actor).
    Recover {
        /// The recovering device.
        device: DeviceRecord,
    },
    /// A new password wrap.
    PasswordChanged {
        /// Its hash.
        password_wrap_hash: Hash,
    },
    /// A new recovery-key wrap.
    RecoveryKeyChanged {
        /// Its hash.
        recovery_wrap_hash: Hash,
    },
    /// The head of the actor's backup chain.
    SnapshotHead {
        /// The snapshot's id.
        snapshot_id: Hash,
        /// Its sequence in the actor's chain.
        snapshot_sequence: u64,
        /// The manifest hash (SHA-256 of `keylink/v1/manifest-hash` ‖ manifest object).
        manifest_hash: Hash,
    },
}

impl Action {
    /// A stable name for the action kind (logs, errors, vectors).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Genesis { .. } => "genesis",
            Action::AddDevice { .. } => "add_device",
            Action::RemoveDevice { .. } => "remove_device",
            Action::Rotate { .. } => "rotate",
            Action::Recover { .. } => "recover",
            Action::PasswordChanged { .. } => "password_changed",
            Action::RecoveryKeyChanged { .. } => "recovery_key_changed",
            Action::SnapshotHead { .. } => "snapshot_head",
        }
    }
}

/// The signed part of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryBody {
    /// The account.
    pub account: AccountId,
    /// Position in the log, from 0.
    pub sequence: u64,
    /// Hash of the previous entry (all zero for genesis).
    pub prev_hash: Hash,
    /// The epoch the entry is signed in (for `Rotate`, the new epoch).
    pub epoch: Epoch,
    /// When the actor says it wrote the entry (informational only).
    pub timestamp_ms: u64,
    /// The device that signed it.
    pub actor: DeviceId,
    /// What it does.
    pub action: Action,
}

impl EntryBody {
    /// The protobuf bytes a signer signs.
    pub fn encode(&self) -> Vec<u8> {
        to_proto_body(self).encode_to_vec()
    }
}

/// An entry as stored and sent: the body bytes and two signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedEntry {
    body_bytes: Vec<u8>,
    body: EntryBody,
    device_signature: [u8; SIGNATURE_LEN],
    account_signature: [u8; SIGNATURE_LEN],
}

impl SignedEntry {
    /// Assemble an entry from a body and the signatures over its encoding.
    pub fn new(
        body: EntryBody,
        device_signature: [u8; SIGNATURE_LEN],
        account_signature: [u8; SIGNATURE_LEN],
    ) -> Self {
        Self {
            body_bytes: body.encode(),
            body,
            device_signature,
            account_signature,
        }
    }

    /// The body bytes the signatures cover.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_bytes
    }

    /// The decoded body.
    pub fn body(&self) -> &EntryBody {
        &self.body
    }

    /// The acting device's signature.
    pub fn device_signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.device_signature
    }

    /// The account key's signature.
    pub fn account_signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.account_signature
    }

    /// SHA-256(`keylink/v1/log-entry` ‖ body bytes): what the next entry's
    /// `prev_hash` names and what a device remembers as its head.
    pub fn hash(&self) -> Hash {
        sha256(&[ENTRY_HASH_LABEL, &self.body_bytes])
    }

    /// Replace the signatures (for tests that forge or swap them).
    pub fn with_signatures(
        mut self,
        device_signature: [u8; SIGNATURE_LEN],
        account_signature: [u8; SIGNATURE_LEN],
    ) -> Self {
        self.device_signature = device_signature;
        self.account_signature = account_signature;
        self
    }

    /// Keep these exact body bytes (for tests that tamper with them); they
    /// must still decode.
    ///
    /// # Errors
    /// As [`Wire::decode`] for the body.
    pub fn with_body_bytes(mut self, body_bytes: Vec<u8>) -> Result<Self, WireError> {
        self.body = decode_body(&body_bytes)?;
        self.body_bytes = body_bytes;
        Ok(self)
    }
}

impl Wire for SignedEntry {
    fn encode(&self) -> Vec<u8> {
        proto::SignedEntry {
            version: WIRE_VERSION,
            body: self.body_bytes.clone(),
            device_signature: self.device_signature.to_vec(),
            account_signature: self.account_signature.to_vec(),
        }
        .encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let m = decode_checked(bytes, MAX_ENTRY_LEN, |m: &proto::SignedEntry| m.version)?;
        let proto::SignedEntry {
            version: _,
            body,
            device_signature,
            account_signature,
        } = m;
        Ok(Self {
            body: decode_body(&body)?,
            body_bytes: body,
            device_signature: fixed("device_signature", &device_signature)?,
            account_signature: fixed("account_signature", &account_signature)?,
        })
    }
}

fn decode_body(bytes: &[u8]) -> Result<EntryBody, WireError> {
    let m = decode_checked(bytes, MAX_ENTRY_LEN, |m: &proto::EntryBody| m.version)?;
    let proto::EntryBody {
        version: _,
        account_id,
        sequence,
        prev_hash,
        epoch,
        timestamp_ms,
        actor,
        action,
    } = m;
    Ok(EntryBody {
        account: AccountId::from_bytes(fixed("account_id", &account_id)?),
        sequence,
        prev_hash: fixed("prev_hash", &prev_hash)?,
        epoch: Epoch(epoch),
        timestamp_ms,
        actor: DeviceId::from_bytes(fixed("actor", &actor)?),
        action: action_from_proto(action.ok_or(WireError::Missing { field: "action" })?)?,
    })
}

fn action_from_proto(a: proto::entry_body::Action) -> Result<Action, WireError> {
    use proto::entry_body::Action as P;
    Ok(match a {
        P::Genesis(proto::Genesis {
            device,
            account_public_key,
            password_wrap_hash,
            recovery_wrap_hash,
        }) => Action::Genesis {
            device: record(device)?,
            account_public_key: account_key(&account_public_key)?,
            password_wrap_hash: fixed("password_wrap_hash", &password_wrap_hash)?,
            recovery_wrap_hash: optional_hash("recovery_wrap_hash", &recovery_wrap_hash)?,
        },
        P::AddDevice(proto::AddDevice { device }) => Action::AddDevice {
            device: record(device)?,
        },
        P::RemoveDevice(proto::RemoveDevice { device }) => Action::RemoveDevice {
            device: DeviceId::from_bytes(fixed("device", &device)?),
        },
        P::Rotate(proto::Rotate {
            account_public_key,
            sealed,
            epoch_history,
            password_wrap_hash,
            recovery_wrap_hash,
        }) => {
            if sealed.len() > MAX_DEVICES {
                return Err(WireError::TooMany {
                    field: "sealed",
                    max: MAX_DEVICES,
                });
            }
            if epoch_history.len() > MAX_EPOCH_HISTORY_LEN {
                return Err(WireError::FieldLength {
                    field: "epoch_history",
                    expected: MAX_EPOCH_HISTORY_LEN,
                    got: epoch_history.len(),
                });
            }
            Action::Rotate {
                account_public_key: account_key(&account_public_key)?,
                sealed: sealed
                    .into_iter()
                    .map(
                        |proto::SealedKey {
                             recipient,
                             sealed_box,
                         }| {
                            Ok(SealedKey {
                                recipient: DeviceId::from_bytes(fixed("recipient", &recipient)?),
                                sealed: sealed_root_box(&sealed_box)?,
                            })
                        },
                    )
                    .collect::<Result<_, WireError>>()?,
                epoch_history,
                password_wrap_hash: optional_hash("password_wrap_hash", &password_wrap_hash)?,
                recovery_wrap_hash: optional_hash("recovery_wrap_hash", &recovery_wrap_hash)?,
            }
        }
        P::Recover(proto::Recover { device }) => Action::Recover {
            device: record(device)?,
        },
        P::PasswordChanged(proto::PasswordChanged { password_wrap_hash }) => {
            Action::PasswordChanged {
                password_wrap_hash: fixed("password_wrap_hash", &password_wrap_hash)?,
            }
        }
        P::RecoveryKeyChanged(proto::RecoveryKeyChanged { recovery_wrap_hash }) => {
            Action::RecoveryKeyChanged {
                recovery_wrap_hash: fixed("recovery_wrap_hash", &recovery_wrap_hash)?,
            }
        }
        P::SnapshotHead(proto::SnapshotHead {
            snapshot_id,
            snapshot_sequence,
            manifest_hash,
        }) => Action::SnapshotHead {
            snapshot_id: fixed("snapshot_id", &snapshot_id)?,
            snapshot_sequence,
            manifest_hash: fixed("manifest_hash", &manifest_hash)?,
        },
    })
}

/// A sealed root key in a rotation: exactly 81 bytes.
fn sealed_root_box(bytes: &[u8]) -> Result<SealedBox, WireError> {
    const ROOT_BOX_LEN: usize = 1 + 32 + 32 + 16;
    if bytes.len() != ROOT_BOX_LEN {
        return Err(WireError::FieldLength {
            field: "sealed_box",
            expected: ROOT_BOX_LEN,
            got: bytes.len(),
        });
    }
    SealedBox::from_bytes(bytes).map_err(|source| WireError::Invalid {
        field: "sealed_box",
        source,
    })
}

fn account_key(bytes: &[u8]) -> Result<[u8; 32], WireError> {
    let key: [u8; 32] = fixed("account_public_key", bytes)?;
    // The account key must be a valid, strict Ed25519 key, like a device's.
    keylink_keys::check_signing_key(&key).map_err(|source| WireError::Invalid {
        field: "account_public_key",
        source,
    })?;
    Ok(key)
}

fn optional_hash(field: &'static str, bytes: &[u8]) -> Result<Option<Hash>, WireError> {
    if bytes.is_empty() {
        Ok(None)
    } else {
        fixed(field, bytes).map(Some)
    }
}

fn record(r: Option<proto::DeviceRecord>) -> Result<DeviceRecord, WireError> {
    let proto::DeviceRecord {
        signing_key,
        agreement_key,
        name,
    } = r.ok_or(WireError::Missing { field: "device" })?;
    Ok(DeviceRecord {
        keys: DevicePublicKeys::from_bytes(
            fixed("signing_key", &signing_key)?,
            fixed("agreement_key", &agreement_key)?,
        )
        .map_err(|source| WireError::Invalid {
            field: "device keys",
            source,
        })?,
        name: DeviceName::new(&name)?,
    })
}

fn record_to_proto(r: &DeviceRecord) -> proto::DeviceRecord {
    proto::DeviceRecord {
        signing_key: r.keys.signing_key().to_vec(),
        agreement_key: r.keys.agreement_key().to_vec(),
        name: r.name.as_str().to_string(),
    }
}

fn opt(h: &Option<Hash>) -> Vec<u8> {
    h.map(|h| h.to_vec()).unwrap_or_default()
}

fn to_proto_body(b: &EntryBody) -> proto::EntryBody {
    use proto::entry_body::Action as P;
    let action = match &b.action {
        Action::Genesis {
            device,
            account_public_key,
            password_wrap_hash,
            recovery_wrap_hash,
        } => P::Genesis(proto::Genesis {
            device: Some(record_to_proto(device)),
            account_public_key: account_public_key.to_vec(),
            password_wrap_hash: password_wrap_hash.to_vec(),
            recovery_wrap_hash: opt(recovery_wrap_hash),
        }),
        Action::AddDevice { device } => P::AddDevice(proto::AddDevice {
            device: Some(record_to_proto(device)),
        }),
        Action::RemoveDevice { device } => P::RemoveDevice(proto::RemoveDevice {
            device: device.as_bytes().to_vec(),
        }),
        Action::Rotate {
            account_public_key,
            sealed,
            epoch_history,
            password_wrap_hash,
            recovery_wrap_hash,
        } => P::Rotate(proto::Rotate {
            account_public_key: account_public_key.to_vec(),
            sealed: sealed
                .iter()
                .map(|s| proto::SealedKey {
                    recipient: s.recipient.as_bytes().to_vec(),
                    sealed_box: s.sealed.to_bytes(),
                })
                .collect(),
            epoch_history: epoch_history.clone(),
            password_wrap_hash: opt(password_wrap_hash),
            recovery_wrap_hash: opt(recovery_wrap_hash),
        }),
        Action::Recover { device } => P::Recover(proto::Recover {
            device: Some(record_to_proto(device)),
        }),
        Action::PasswordChanged { password_wrap_hash } => {
            P::PasswordChanged(proto::PasswordChanged {
                password_wrap_hash: password_wrap_hash.to_vec(),
            })
        }
        Action::RecoveryKeyChanged { recovery_wrap_hash } => {
            P::RecoveryKeyChanged(proto::RecoveryKeyChanged {
                recovery_wrap_hash: recovery_wrap_hash.to_vec(),
            })
        }
        Action::SnapshotHead {
            snapshot_id,
            snapshot_sequence,
            manifest_hash,
        } => P::SnapshotHead(proto::SnapshotHead {
            snapshot_id: snapshot_id.to_vec(),
            snapshot_sequence: *snapshot_sequence,
            manifest_hash: manifest_hash.to_vec(),
        }),
    };
    proto::EntryBody {
        version: WIRE_VERSION,
        account_id: b.account.as_bytes().to_vec(),
        sequence: b.sequence,
        prev_hash: b.prev_hash.to_vec(),
        epoch: b.epoch.0,
        timestamp_ms: b.timestamp_ms,
        actor: b.actor.as_bytes().to_vec(),
        action: Some(action),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_refuse_what_could_impersonate() {
        assert!(DeviceName::new("Alice's phone").is_ok());
        assert!(DeviceName::new("Téléphone 📱").is_ok());
        let long = "x".repeat(65);
        for bad in [
            "",
            "a\nb",
            "phone\u{202E}enohp",
            "lap\u{200B}top",
            "\u{FEFF}phone",
            long.as_str(),
        ] {
            assert_eq!(
                DeviceName::new(bad).unwrap_err().class(),
                "bad_name",
                "{bad:?}"
            );
        }
    }
}
