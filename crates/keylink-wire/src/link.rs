//! The device-linking handshake's messages (`proto/keylink/v1/link.proto`,
//! docs/protocol.md §16).
//!
//! [`LinkFrame`] is what travels on a link stream; [`LinkPayload`] is the
//! plaintext inside a sealed frame. The root key inside a [`Welcome`] is
//! copied out of the decoded protobuf and the protobuf's buffer wiped.

use keylink_keys::{AccountId, DeviceId, DevicePublicKeys, Epoch, RootKey};
use prost::Message;
use zeroize::Zeroize;

use crate::account::DeviceName;
use crate::{WIRE_VERSION, Wire, WireError, decode_checked, fixed, proto};

/// Largest link frame (and the relay's frame limit).
pub const MAX_LINK_FRAME: usize = 64 << 10;
/// Encoded length of a log head (`keylink_account::Head`).
pub const HEAD_LEN: usize = 41;

/// Why a link was given up, as the other side is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// A key confirmation did not verify: the code's secret was wrong.
    ConfirmationFailed = 1,
    /// The person at the existing device declined.
    Declined = 2,
    /// A step took too long, or the code expired.
    Timeout = 3,
    /// A message was out of order, malformed or did not decrypt.
    Protocol = 4,
    /// The existing device could not add the new one to the account log.
    AppendFailed = 5,
    /// The new device could not verify what it was sent against the log.
    VerificationFailed = 6,
    /// The app closed the link.
    Cancelled = 7,
    /// The two devices have seen different account histories.
    Fork = 8,
    /// The new device could not store the key.
    StoreFailed = 9,
}

impl AbortReason {
    /// The reason for a wire code; unknown codes read as [`AbortReason::Protocol`].
    pub fn from_u32(code: u32) -> Self {
        match code {
            1 => Self::ConfirmationFailed,
            2 => Self::Declined,
            3 => Self::Timeout,
            5 => Self::AppendFailed,
            6 => Self::VerificationFailed,
            7 => Self::Cancelled,
            8 => Self::Fork,
            9 => Self::StoreFailed,
            _ => Self::Protocol,
        }
    }
}

/// One frame on a link stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkFrame {
    /// Scanner to shower: ephemeral share and key confirmation.
    ScannerHello {
        /// The scanner's ephemeral X25519 public key.
        ephemeral: [u8; 32],
        /// HMAC over the transcript hash.
        confirm: [u8; 32],
    },
    /// Shower to scanner: key confirmation.
    ShowerConfirm {
        /// HMAC over the transcript hash.
        confirm: [u8; 32],
    },
    /// An encrypted [`LinkPayload`].
    Sealed {
        /// AEAD ciphertext and tag.
        ciphertext: Vec<u8>,
    },
    /// The sender gives up.
    Abort {
        /// Why.
        reason: AbortReason,
    },
}

impl Wire for LinkFrame {
    fn encode(&self) -> Vec<u8> {
        use proto::link_frame::Body as B;
        let body = match self {
            LinkFrame::ScannerHello { ephemeral, confirm } => {
                B::ScannerHello(proto::ScannerHello {
                    ephemeral: ephemeral.to_vec(),
                    confirm: confirm.to_vec(),
                })
            }
            LinkFrame::ShowerConfirm { confirm } => B::ShowerConfirm(proto::ShowerConfirm {
                confirm: confirm.to_vec(),
            }),
            LinkFrame::Sealed { ciphertext } => B::Sealed(proto::LinkSealed {
                ciphertext: ciphertext.clone(),
            }),
            LinkFrame::Abort { reason } => B::Abort(proto::LinkAbort {
                reason: *reason as u32,
            }),
        };
        proto::LinkFrame {
            version: WIRE_VERSION,
            body: Some(body),
        }
        .encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        use proto::link_frame::Body as B;
        let m = decode_checked(bytes, MAX_LINK_FRAME, |m: &proto::LinkFrame| m.version)?;
        Ok(match m.body.ok_or(WireError::Missing { field: "body" })? {
            B::ScannerHello(proto::ScannerHello { ephemeral, confirm }) => {
                LinkFrame::ScannerHello {
                    ephemeral: fixed("ephemeral", &ephemeral)?,
                    confirm: fixed("confirm", &confirm)?,
                }
            }
            B::ShowerConfirm(proto::ShowerConfirm { confirm }) => LinkFrame::ShowerConfirm {
                confirm: fixed("confirm", &confirm)?,
            },
            B::Sealed(proto::LinkSealed { ciphertext }) => {
                if ciphertext.is_empty() {
                    return Err(WireError::Missing {
                        field: "ciphertext",
                    });
                }
                LinkFrame::Sealed { ciphertext }
            }
            B::Abort(proto::LinkAbort { reason }) => LinkFrame::Abort {
                reason: AbortReason::from_u32(reason),
            },
        })
    }
}

/// The new device asks to join.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    /// Its public keys (the device id is their hash).
    pub keys: DevicePublicKeys,
    /// The name it asks to be shown as.
    pub name: DeviceName,
    /// Its signature, context link, over the join message.
    pub signature: [u8; 64],
    /// A log head it already trusts (41 bytes), if it has one.
    pub known_head: Option<[u8; HEAD_LEN]>,
}

/// The existing device hands over the account. Prints without the key.
pub struct Welcome {
    /// The account.
    pub account: AccountId,
    /// The current root key (its epoch inside).
    pub root: RootKey,
    /// The log head that contains the new device's AddDevice entry.
    pub head: [u8; HEAD_LEN],
    /// The approving device.
    pub approver: DeviceId,
}

impl std::fmt::Debug for Welcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Welcome")
            .field("account", &self.account)
            .field("epoch", &self.root.epoch())
            .field("root", &"<redacted>")
            .field("approver", &self.approver)
            .finish_non_exhaustive()
    }
}

/// The plaintext of a sealed link frame.
#[derive(Debug)]
pub enum LinkPayload {
    /// New device to existing device.
    Join(JoinRequest),
    /// Existing device to new device.
    Welcome(Welcome),
    /// New device to existing device: verified and stored.
    Ack {
        /// The head it verified.
        head: [u8; HEAD_LEN],
    },
}

impl LinkPayload {
    /// Encode into a buffer that is wiped when dropped (it may hold the
    /// root key).
    pub fn encode_secret(&self) -> zeroize::Zeroizing<Vec<u8>> {
        use proto::link_payload::Body as B;
        let body = match self {
            LinkPayload::Join(j) => B::Join(proto::JoinRequest {
                signing_key: j.keys.signing_key().to_vec(),
                agreement_key: j.keys.agreement_key().to_vec(),
                name: j.name.as_str().to_string(),
                signature: j.signature.to_vec(),
                known_head: j.known_head.map(|h| h.to_vec()).unwrap_or_default(),
            }),
            LinkPayload::Welcome(w) => B::Welcome(proto::Welcome {
                account_id: w.account.as_bytes().to_vec(),
                epoch: w.root.epoch().0,
                root_key: w.root.expose_secret().to_vec(),
                head: w.head.to_vec(),
                approver: w.approver.as_bytes().to_vec(),
            }),
            LinkPayload::Ack { head } => B::Ack(proto::LinkAck {
                head: head.to_vec(),
            }),
        };
        let mut msg = proto::LinkPayload {
            version: WIRE_VERSION,
            body: Some(body),
        };
        let out = zeroize::Zeroizing::new(msg.encode_to_vec());
        if let Some(B::Welcome(w)) = msg.body.as_mut() {
            w.root_key.zeroize();
        }
        out
    }

    /// Decode a sealed frame's plaintext.
    ///
    /// # Errors
    /// [`WireError`] naming the first thing wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        use proto::link_payload::Body as B;
        let m = decode_checked(bytes, MAX_LINK_FRAME, |m: &proto::LinkPayload| m.version)?;
        Ok(match m.body.ok_or(WireError::Missing { field: "body" })? {
            B::Join(proto::JoinRequest {
                signing_key,
                agreement_key,
                name,
                signature,
                known_head,
            }) => LinkPayload::Join(JoinRequest {
                keys: DevicePublicKeys::from_bytes(
                    fixed("signing_key", &signing_key)?,
                    fixed("agreement_key", &agreement_key)?,
                )
                .map_err(|_| WireError::Inconsistent {
                    what: "invalid device public key",
                })?,
                name: DeviceName::new(&name)?,
                signature: fixed("signature", &signature)?,
                known_head: if known_head.is_empty() {
                    None
                } else {
                    Some(fixed("known_head", &known_head)?)
                },
            }),
            B::Welcome(mut w) => {
                let key = fixed::<32>("root_key", &w.root_key);
                w.root_key.zeroize();
                let mut key = key?;
                let root = RootKey::from_secret_bytes(key, Epoch(w.epoch));
                key.zeroize();
                LinkPayload::Welcome(Welcome {
                    account: AccountId::from_bytes(fixed("account_id", &w.account_id)?),
                    root,
                    head: fixed("head", &w.head)?,
                    approver: DeviceId::from_bytes(fixed("approver", &w.approver)?),
                })
            }
            B::Ack(proto::LinkAck { head }) => LinkPayload::Ack {
                head: fixed("head", &head)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_refuse_bad_lengths() {
        let f = LinkFrame::ScannerHello {
            ephemeral: [9; 32],
            confirm: [7; 32],
        };
        assert_eq!(LinkFrame::decode(&f.encode()), Ok(f));
        let short = proto::LinkFrame {
            version: 1,
            body: Some(proto::link_frame::Body::ShowerConfirm(
                proto::ShowerConfirm {
                    confirm: vec![0; 31],
                },
            )),
        }
        .encode_to_vec();
        assert!(matches!(
            LinkFrame::decode(&short),
            Err(WireError::FieldLength {
                field: "confirm",
                ..
            })
        ));
        let future = proto::LinkFrame {
            version: 2,
            body: None,
        }
        .encode_to_vec();
        assert_eq!(
            LinkFrame::decode(&future),
            Err(WireError::UnsupportedVersion { got: 2 })
        );
        assert!(matches!(
            LinkFrame::decode(&vec![0u8; MAX_LINK_FRAME + 1]),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn welcome_round_trips_and_debug_hides_the_key() {
        let root = RootKey::from_secret_bytes([0x5a; 32], Epoch(3));
        let w = LinkPayload::Welcome(Welcome {
            account: AccountId::from_bytes([1; 16]),
            root,
            head: [2; HEAD_LEN],
            approver: DeviceId::from_bytes([3; 16]),
        });
        let bytes = w.encode_secret();
        let LinkPayload::Welcome(back) = LinkPayload::decode(&bytes).unwrap() else {
            panic!("not a welcome")
        };
        assert_eq!(back.root.expose_secret(), &[0x5a; 32]);
        assert_eq!(back.root.epoch(), Epoch(3));
        let shown = format!("{back:?}");
        assert!(!shown.contains("5a") && !shown.contains("90"), "{shown}");
    }
}
