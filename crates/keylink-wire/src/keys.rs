//! Key messages: device public keys, sealed root keys, stored wraps.

use keylink_keys::{AccountId, DeviceId, DevicePublicKeys, Epoch, KeyWrap, SealedBox};
use prost::Message;

use crate::error::WireError;
use crate::{MAX_MESSAGE_LEN, WIRE_VERSION, Wire, decode_checked, fixed, proto};

/// The largest encoded `DevicePublicKeys` (two 32-byte keys and framing).
const DEVICE_KEYS_MAX_LEN: usize = 128;
/// The largest encoded `KeyWraps` (two 162-byte wraps and framing).
const KEY_WRAPS_MAX_LEN: usize = 512;

impl Wire for DevicePublicKeys {
    fn encode(&self) -> Vec<u8> {
        proto::DevicePublicKeys {
            version: WIRE_VERSION,
            signing_key: self.signing_key().to_vec(),
            agreement_key: self.agreement_key().to_vec(),
        }
        .encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let m = decode_checked(bytes, DEVICE_KEYS_MAX_LEN, |m: &proto::DevicePublicKeys| {
            m.version
        })?;
        let proto::DevicePublicKeys {
            version: _,
            signing_key,
            agreement_key,
        } = m;
        DevicePublicKeys::from_bytes(
            fixed("signing_key", &signing_key)?,
            fixed("agreement_key", &agreement_key)?,
        )
        .map_err(|source| WireError::Invalid {
            field: "device public keys",
            source,
        })
    }
}

/// A root key sealed to one device, with what it is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRootKey {
    /// The account.
    pub account: AccountId,
    /// The epoch of the sealed key.
    pub epoch: Epoch,
    /// The device it is sealed to.
    pub recipient: DeviceId,
    /// The HPKE box.
    pub sealed: SealedBox,
}

impl Wire for SealedRootKey {
    fn encode(&self) -> Vec<u8> {
        proto::SealedRootKey {
            version: WIRE_VERSION,
            account_id: self.account.as_bytes().to_vec(),
            epoch: self.epoch.0,
            recipient: self.recipient.as_bytes().to_vec(),
            sealed_box: self.sealed.to_bytes(),
        }
        .encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let m = decode_checked(bytes, MAX_MESSAGE_LEN, |m: &proto::SealedRootKey| m.version)?;
        let proto::SealedRootKey {
            version: _,
            account_id,
            epoch,
            recipient,
            sealed_box,
        } = m;
        Ok(Self {
            account: AccountId::from_bytes(fixed("account_id", &account_id)?),
            epoch: Epoch(epoch),
            recipient: DeviceId::from_bytes(fixed("recipient", &recipient)?),
            sealed: SealedBox::from_bytes(&sealed_box).map_err(|source| WireError::Invalid {
                field: "sealed_box",
                source,
            })?,
        })
    }
}

/// The key wraps a server stores for an account, as raw wrap bytes. Parse
/// each with [`KeyWrap::from_bytes`] before use; [`KeyWraps::decode`]
/// already checks that they parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyWraps {
    /// The password wrap.
    pub password_wrap: Vec<u8>,
    /// The recovery-key wrap, if the account has one.
    pub recovery_wrap: Option<Vec<u8>>,
}

impl Wire for KeyWraps {
    fn encode(&self) -> Vec<u8> {
        proto::KeyWraps {
            version: WIRE_VERSION,
            password_wrap: self.password_wrap.clone(),
            recovery_wrap: self.recovery_wrap.clone().unwrap_or_default(),
        }
        .encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let m = decode_checked(bytes, KEY_WRAPS_MAX_LEN, |m: &proto::KeyWraps| m.version)?;
        let proto::KeyWraps {
            version: _,
            password_wrap,
            recovery_wrap,
        } = m;
        if password_wrap.is_empty() {
            return Err(WireError::Missing {
                field: "password_wrap",
            });
        }
        let check = |field, bytes: &[u8]| {
            KeyWrap::from_bytes(bytes)
                .map(|_| ())
                .map_err(|source| WireError::Invalid { field, source })
        };
        check("password_wrap", &password_wrap)?;
        let recovery_wrap = if recovery_wrap.is_empty() {
            None
        } else {
            check("recovery_wrap", &recovery_wrap)?;
            Some(recovery_wrap)
        };
        Ok(Self {
            password_wrap,
            recovery_wrap,
        })
    }
}
