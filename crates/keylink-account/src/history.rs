//! Epoch history: the root keys of older epochs, encrypted under the new
//! epoch's history key, so a device that holds only the current root key
//! can still read old backups.
//!
//! Bytes: `0x01 ‖ nonce (24) ‖ XChaCha20-Poly1305(key = epoch-history key of
//! the new epoch, nonce, aad = label ‖ account id ‖ new epoch (u64 BE),
//! plaintext = n × (epoch (u64 BE) ‖ root key (32)))`, with the epochs
//! strictly increasing.

use keylink_keys::primitives::{XNONCE_LEN, xchacha_open, xchacha_seal};
use keylink_keys::{AccountId, Epoch, RootKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The epoch-history format version.
pub const HISTORY_VERSION: u8 = 1;
/// Associated-data label of an epoch history.
pub const HISTORY_AAD_LABEL: &[u8] = keylink_keys::labels::EPOCH_HISTORY_AAD;
/// Bytes per record: epoch ‖ root key.
const RECORD_LEN: usize = 8 + 32;
/// Most epochs a history may hold (bounded by the entry size limit).
pub const MAX_HISTORY_EPOCHS: usize = 4096;

/// Encrypt `older` (every epoch before `new_root`'s, in increasing order)
/// under `new_root`'s epoch-history key.
///
/// # Errors
/// [`Error::Keys`] if there are too many epochs to encrypt.
pub fn seal_epoch_history(
    new_root: &RootKey,
    account: &AccountId,
    older: &[&RootKey],
    rng: &mut impl CryptoRng,
) -> Result<Vec<u8>> {
    if older.len() > MAX_HISTORY_EPOCHS {
        return Err(Error::Keys(keylink_keys::Error::Malformed {
            what: "epoch history too long",
        }));
    }
    let mut plain = Zeroizing::new(Vec::with_capacity(older.len() * RECORD_LEN));
    for k in older {
        plain.extend_from_slice(&k.epoch().to_be_bytes());
        plain.extend_from_slice(k.expose_secret());
    }
    let mut nonce = [0u8; XNONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let key = new_root.epoch_history_key(account);
    let ct = xchacha_seal(
        key.expose_secret(),
        &nonce,
        &aad(account, new_root.epoch()),
        &plain,
    )?;
    let mut out = Vec::with_capacity(1 + XNONCE_LEN + ct.len());
    out.push(HISTORY_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypt the history of `root`'s epoch: the root keys of every earlier
/// epoch, in increasing order.
///
/// # Errors
/// [`Error::Keys`]: unsupported version, truncated, wrong key or altered,
/// or records out of order.
pub fn open_epoch_history(
    root: &RootKey,
    account: &AccountId,
    bytes: &[u8],
) -> Result<Vec<RootKey>> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(keylink_keys::Error::Truncated { needed: 1, got: 0 }.into());
    };
    if version != HISTORY_VERSION {
        return Err(keylink_keys::Error::UnsupportedVersion { got: version }.into());
    }
    let (nonce, ct) =
        rest.split_first_chunk::<XNONCE_LEN>()
            .ok_or(keylink_keys::Error::Truncated {
                needed: 1 + XNONCE_LEN,
                got: bytes.len(),
            })?;
    let key = root.epoch_history_key(account);
    let plain = xchacha_open(key.expose_secret(), nonce, &aad(account, root.epoch()), ct)?;
    if plain.len() % RECORD_LEN != 0 || plain.len() / RECORD_LEN > MAX_HISTORY_EPOCHS {
        return Err(keylink_keys::Error::Malformed {
            what: "epoch history",
        }
        .into());
    }
    let mut keys: Vec<RootKey> = Vec::with_capacity(plain.len() / RECORD_LEN);
    for rec in plain.chunks_exact(RECORD_LEN) {
        let (e, k) = rec.split_at(8);
        let epoch = Epoch(u64::from_be_bytes(
            e.try_into().map_err(|_| keylink_keys::Error::Kdf)?,
        ));
        let bytes: [u8; 32] = k.try_into().map_err(|_| keylink_keys::Error::Kdf)?;
        let in_order = keys.last().is_none_or(|last| last.epoch() < epoch) && epoch < root.epoch();
        if !in_order {
            return Err(keylink_keys::Error::Malformed {
                what: "epoch history order",
            }
            .into());
        }
        keys.push(RootKey::from_secret_bytes(bytes, epoch));
    }
    Ok(keys)
}

fn aad(account: &AccountId, epoch: Epoch) -> Vec<u8> {
    let mut a = Vec::with_capacity(HISTORY_AAD_LABEL.len() + 16 + 8);
    a.extend_from_slice(HISTORY_AAD_LABEL);
    a.extend_from_slice(account.as_bytes());
    a.extend_from_slice(&epoch.to_be_bytes());
    a
}
