//! Key messages: device public keys, sealed root keys, stored wraps.

use keylink_keys::{AccountId, DeviceId, DevicePublicKeys, Epoch, KeyWrap, SealedBox, WrapKind};
use prost::Message;

use crate::error::WireError;
use crate::{WIRE_VERSION, Wire, decode_checked, fixed, proto};

/// The largest encoded `DevicePublicKeys` (two 32-byte keys and framing).
const DEVICE_KEYS_MAX_LEN: usize = 128;
/// The largest encoded `KeyWraps` (two 162-byte wraps and framing).
const KEY_WRAPS_MAX_LEN: usize = 512;
/// The largest encoded `SealedRootKey` (an 81-byte box, ids and framing).
const SEALED_ROOT_KEY_MAX_LEN: usize = 256;
/// A sealed root key: version ‖ enc ‖ 32-byte key ‖ tag.
const SEALED_ROOT_KEY_BOX_LEN: usize = 1 + 32 + 32 + 16;

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
        let m = decode_checked(
            bytes,
            SEALED_ROOT_KEY_MAX_LEN,
            |m: &proto::SealedRootKey| m.version,
        )?;
        let proto::SealedRootKey {
            version: _,
            account_id,
            epoch,
            recipient,
            sealed_box,
        } = m;
        if sealed_box.len() != SEALED_ROOT_KEY_BOX_LEN {
            return Err(WireError::FieldLength {
                field: "sealed_box",
                expected: SEALED_ROOT_KEY_BOX_LEN,
                got: sealed_box.len(),
            });
        }
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

/// The key wraps a server stores for an account: a password wrap and,
/// optionally, a recovery wrap of the same account and epoch. Built only
/// through [`KeyWraps::new`] or [`Wire::decode`], which check exactly that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyWraps {
    password: KeyWrap,
    recovery: Option<KeyWrap>,
}

impl KeyWraps {
    /// Pair a password wrap with an optional recovery wrap.
    ///
    /// # Errors
    /// [`WireError::Invalid`] if a wrap is of the wrong kind;
    /// [`WireError::Inconsistent`] if the two wrap different accounts or
    /// epochs.
    pub fn new(password: KeyWrap, recovery: Option<KeyWrap>) -> Result<Self, WireError> {
        let kind = |field, wrap: &KeyWrap, want: WrapKind| {
            if wrap.kind() == want {
                Ok(())
            } else {
                Err(WireError::Invalid {
                    field,
                    source: keylink_keys::Error::Malformed {
                        what: "wrap of the wrong kind",
                    },
                })
            }
        };
        kind("password_wrap", &password, WrapKind::Password)?;
        if let Some(r) = &recovery {
            kind("recovery_wrap", r, WrapKind::Recovery)?;
            if r.account() != password.account() || r.epoch() != password.epoch() {
                return Err(WireError::Inconsistent {
                    what: "password and recovery wraps name different accounts or epochs",
                });
            }
        }
        Ok(Self { password, recovery })
    }

    /// The password wrap.
    pub fn password(&self) -> &KeyWrap {
        &self.password
    }

    /// The recovery wrap, if the account has one.
    pub fn recovery(&self) -> Option<&KeyWrap> {
        self.recovery.as_ref()
    }
}

impl Wire for KeyWraps {
    fn encode(&self) -> Vec<u8> {
        proto::KeyWraps {
            version: WIRE_VERSION,
            password_wrap: self.password.to_bytes(),
            recovery_wrap: self
                .recovery
                .as_ref()
                .map(KeyWrap::to_bytes)
                .unwrap_or_default(),
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
        let parse = |field, bytes: &[u8]| {
            KeyWrap::from_bytes(bytes).map_err(|source| WireError::Invalid { field, source })
        };
        let password = parse("password_wrap", &password_wrap)?;
        let recovery = if recovery_wrap.is_empty() {
            None
        } else {
            Some(parse("recovery_wrap", &recovery_wrap)?)
        };
        Self::new(password, recovery)
    }
}

#[cfg(test)]
mod tests {
    use keylink_keys::{AccountId, DeviceIdentity, KdfParams, Password, RecoveryKey, RootKey};
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;

    use super::*;

    fn wraps(seed: u64, epoch: u64) -> (KeyWrap, KeyWrap) {
        let mut r = ChaCha20Rng::seed_from_u64(seed);
        let account = AccountId::generate(&mut r);
        let root = RootKey::generate(Epoch(epoch), &mut r);
        let pw = Password::new("wire test password").unwrap();
        let p = KeyWrap::seal_password(
            &root,
            &account,
            &pw,
            KdfParams::insecure_for_tests(8, 1, 1),
            &mut r,
        )
        .unwrap();
        let rk = RecoveryKey::generate(&mut r);
        let rw = KeyWrap::seal_recovery(&root, &account, &rk, &mut r).unwrap();
        (p, rw)
    }

    #[test]
    fn key_wraps_round_trip_and_are_checked() {
        let (p, r) = wraps(1, 0);
        let both = KeyWraps::new(p.clone(), Some(r.clone())).unwrap();
        assert_eq!(KeyWraps::decode(&both.encode()).unwrap(), both);
        let only = KeyWraps::new(p.clone(), None).unwrap();
        assert_eq!(KeyWraps::decode(&only.encode()).unwrap(), only);
        // Swapped kinds are refused.
        assert_eq!(
            KeyWraps::new(r.clone(), Some(p.clone()))
                .unwrap_err()
                .class(),
            "invalid"
        );
        // Wraps of different epochs (or accounts) are refused.
        let (_, other) = wraps(2, 1);
        assert_eq!(
            KeyWraps::new(p, Some(other)).unwrap_err().class(),
            "inconsistent"
        );
        assert_eq!(
            KeyWraps::decode(&[]).unwrap_err().class(),
            "unsupported_version"
        );
    }

    #[test]
    fn sealed_root_key_round_trips_and_bounds_its_box() {
        let mut r = ChaCha20Rng::seed_from_u64(3);
        let account = AccountId::generate(&mut r);
        let device = DeviceIdentity::generate(&mut r);
        let root = RootKey::generate(Epoch(2), &mut r);
        let sealed =
            SealedBox::seal_root_key(&root, &device.public_keys(), &account, &mut r).unwrap();
        let msg = SealedRootKey {
            account,
            epoch: Epoch(2),
            recipient: device.device_id(),
            sealed,
        };
        let back = SealedRootKey::decode(&msg.encode()).unwrap();
        assert_eq!(back, msg);
        let opened = back
            .sealed
            .open_root_key(&device, &back.account, back.epoch)
            .unwrap();
        assert_eq!(opened.expose_secret(), root.expose_secret());
        let long = proto::SealedRootKey {
            version: 1,
            account_id: vec![0; 16],
            epoch: 2,
            recipient: vec![0; 16],
            sealed_box: vec![1; 100],
        }
        .encode_to_vec();
        assert_eq!(
            SealedRootKey::decode(&long).unwrap_err().class(),
            "field_length"
        );
        assert_eq!(
            SealedRootKey::decode(&[0u8; 300]).unwrap_err().class(),
            "too_large"
        );
    }
}
