//! Building entries: what a device signs to create an account, link or
//! recover a device, revoke one, change a wrap, or publish a snapshot head.
//!
//! Every builder returns plain data (entries, keys, wraps); nothing is sent
//! or stored here. Each entry it returns passes [`LogState::apply`] on the
//! state it was built from; the tests hold it to that.

use keylink_keys::{
    AccountId, DeviceIdentity, Epoch, KdfParams, KeyWrap, Password, RecoveryKey, RootKey,
    SealedBox, SignatureContext,
};
use keylink_wire::account::{Action, DeviceRecord, EntryBody, Hash, SealedKey, SignedEntry};
use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::history::seal_epoch_history;
use crate::state::LogState;

/// Sign `body` with the actor's identity and the epoch's account key.
pub fn sign_entry(body: EntryBody, actor: &DeviceIdentity, root: &RootKey) -> SignedEntry {
    let bytes = body.encode();
    let device_sig = actor.sign(SignatureContext::AccountLogDevice, &bytes);
    let account_sig = root
        .account_signing_key(&body.account)
        .sign(SignatureContext::AccountLogAccount, &bytes);
    SignedEntry::new(body, device_sig, account_sig)
}

/// The genesis entry of a new account.
pub fn genesis(
    account: AccountId,
    device: &DeviceIdentity,
    name: keylink_wire::account::DeviceName,
    root: &RootKey,
    password_wrap: &KeyWrap,
    recovery_wrap: Option<&KeyWrap>,
    now_ms: u64,
) -> SignedEntry {
    let record = DeviceRecord {
        keys: device.public_keys(),
        name,
    };
    let body = EntryBody {
        account,
        sequence: 0,
        prev_hash: [0; 32],
        epoch: Epoch::GENESIS,
        timestamp_ms: now_ms,
        actor: device.device_id(),
        action: Action::Genesis {
            device: record,
            account_public_key: root.account_signing_key(&account).public_key(),
            password_wrap_hash: password_wrap.hash(),
            recovery_wrap_hash: recovery_wrap.map(KeyWrap::hash),
        },
    };
    sign_entry(body, device, root)
}

/// Everything a new account starts with: its id, epoch 0's root key, the
/// wraps the server will keep, the genesis entry to send it, and the
/// verified one-entry log.
#[derive(Debug)]
pub struct NewAccount {
    /// The account's id.
    pub account: AccountId,
    /// Epoch 0's root key.
    pub root: RootKey,
    /// The root key under the password.
    pub password_wrap: KeyWrap,
    /// The root key under the recovery key, if one was given.
    pub recovery_wrap: Option<KeyWrap>,
    /// The genesis entry.
    pub genesis: SignedEntry,
    /// The log, verified.
    pub log: LogState,
}

/// Create an account on `device`: a fresh id and root key, wrapped under the
/// password (and the recovery key, if given), and the signed genesis entry.
///
/// # Errors
/// [`Error::Keys`] if the password wrap cannot be made (parameters above
/// the ceiling, or below the floor unless made with the insecure
/// constructor); [`Error`] if the genesis entry does not verify (a bug).
#[allow(clippy::too_many_arguments)]
pub fn create_account(
    device: &DeviceIdentity,
    name: keylink_wire::account::DeviceName,
    password: &Password,
    params: KdfParams,
    recovery: Option<&RecoveryKey>,
    now_ms: u64,
    rng: &mut impl CryptoRng,
) -> Result<NewAccount> {
    let account = AccountId::generate(rng);
    let root = RootKey::generate(Epoch::GENESIS, rng);
    let password_wrap = KeyWrap::seal_password(&root, &account, password, params, rng)?;
    let recovery_wrap = match recovery {
        Some(key) => Some(KeyWrap::seal_recovery(&root, &account, key, rng)?),
        None => None,
    };
    let genesis = genesis(
        account,
        device,
        name,
        &root,
        &password_wrap,
        recovery_wrap.as_ref(),
        now_ms,
    );
    let log = LogState::verify(std::slice::from_ref(&genesis))?;
    Ok(NewAccount {
        account,
        root,
        password_wrap,
        recovery_wrap,
        genesis,
        log,
    })
}

/// What the new wraps of a rotation are made from. Without the password
/// (the user was not asked), the password wrap is pending until a
/// `PasswordChanged` entry; likewise the recovery wrap.
pub struct RotationWraps<'a> {
    /// The password and the Argon2id parameters to wrap under.
    pub password: Option<(&'a Password, KdfParams)>,
    /// The recovery key to wrap under (the old one re-entered, or a new one).
    pub recovery: Option<&'a RecoveryKey>,
}

/// Everything a revocation produces: the entries to append, the new root
/// key, and the new wraps for the server.
#[derive(Debug)]
pub struct Rotation {
    /// `RemoveDevice` (absent for a rotation without a removal), then `Rotate`.
    pub entries: Vec<SignedEntry>,
    /// The new epoch's root key.
    pub root: RootKey,
    /// The new password wrap, if the password was given.
    pub password_wrap: Option<KeyWrap>,
    /// The new recovery wrap, if a recovery key was given.
    pub recovery_wrap: Option<KeyWrap>,
}

impl LogState {
    /// An entry by `actor` in the current epoch.
    fn body(&self, actor: &DeviceIdentity, action: Action, now_ms: u64) -> EntryBody {
        EntryBody {
            account: *self.account(),
            sequence: self.next_sequence(),
            prev_hash: self.head().hash,
            epoch: self.epoch(),
            timestamp_ms: now_ms,
            actor: actor.device_id(),
            action,
        }
    }

    fn check_root(&self, root: &RootKey) -> Result<()> {
        let epoch = self.epoch();
        let expected = self
            .account_key(epoch)
            .ok_or(Error::RootKeyMismatch { epoch })?;
        if root.epoch() != epoch || !root.matches_account_key(self.account(), &expected) {
            return Err(Error::RootKeyMismatch { epoch });
        }
        Ok(())
    }

    fn check_actor(&self, actor: &DeviceIdentity) -> Result<()> {
        let id = actor.device_id();
        if self.is_current(&id) {
            Ok(())
        } else {
            Err(Error::NotCurrent { device: id })
        }
    }

    fn signed(
        &self,
        actor: &DeviceIdentity,
        root: &RootKey,
        action: Action,
        now_ms: u64,
    ) -> Result<SignedEntry> {
        self.check_actor(actor)?;
        self.check_root(root)?;
        Ok(sign_entry(self.body(actor, action, now_ms), actor, root))
    }

    /// `actor` approves `device` (linking).
    ///
    /// # Errors
    /// [`Error::NotCurrent`] or [`Error::RootKeyMismatch`].
    pub fn add_device(
        &self,
        actor: &DeviceIdentity,
        root: &RootKey,
        device: DeviceRecord,
        now_ms: u64,
    ) -> Result<SignedEntry> {
        self.signed(actor, root, Action::AddDevice { device }, now_ms)
    }

    /// A new device that opened `root` with the password or recovery key
    /// adds itself.
    ///
    /// # Errors
    /// [`Error::RootKeyMismatch`] if `root` is not the current epoch's key.
    pub fn recover(
        &self,
        device: &DeviceIdentity,
        name: keylink_wire::account::DeviceName,
        root: &RootKey,
        now_ms: u64,
    ) -> Result<SignedEntry> {
        self.check_root(root)?;
        let record = DeviceRecord {
            keys: device.public_keys(),
            name,
        };
        Ok(sign_entry(
            self.body(device, Action::Recover { device: record }, now_ms),
            device,
            root,
        ))
    }

    /// Record a new password wrap (a password change, or the pending wrap
    /// after a rotation).
    ///
    /// # Errors
    /// [`Error::NotCurrent`], [`Error::RootKeyMismatch`].
    pub fn password_changed(
        &self,
        actor: &DeviceIdentity,
        root: &RootKey,
        wrap: &KeyWrap,
        now_ms: u64,
    ) -> Result<SignedEntry> {
        self.signed(
            actor,
            root,
            Action::PasswordChanged {
                password_wrap_hash: wrap.hash(),
            },
            now_ms,
        )
    }

    /// Record a new recovery wrap.
    ///
    /// # Errors
    /// [`Error::NotCurrent`], [`Error::RootKeyMismatch`].
    pub fn recovery_key_changed(
        &self,
        actor: &DeviceIdentity,
        root: &RootKey,
        wrap: &KeyWrap,
        now_ms: u64,
    ) -> Result<SignedEntry> {
        self.signed(
            actor,
            root,
            Action::RecoveryKeyChanged {
                recovery_wrap_hash: wrap.hash(),
            },
            now_ms,
        )
    }

    /// Publish the head of `actor`'s backup chain.
    ///
    /// # Errors
    /// [`Error::NotCurrent`], [`Error::RootKeyMismatch`].
    pub fn snapshot_head(
        &self,
        actor: &DeviceIdentity,
        root: &RootKey,
        snapshot_id: Hash,
        snapshot_sequence: u64,
        manifest_hash: Hash,
        now_ms: u64,
    ) -> Result<SignedEntry> {
        let action = Action::SnapshotHead {
            snapshot_id,
            snapshot_sequence,
            manifest_hash,
        };
        self.signed(actor, root, action, now_ms)
    }

    /// Revoke `target`: a `RemoveDevice` entry, then a `Rotate` to a fresh
    /// root key sealed to every remaining device, with every older root key
    /// (`older`, epochs 0 to current − 1, plus `root` itself) under the new
    /// epoch-history key. The revoked device keeps what it could read before
    /// (it held those keys) and can derive nothing of the new epoch.
    ///
    /// # Errors
    /// [`Error::NotCurrent`], [`Error::RootKeyMismatch`], or the rule the
    /// removal breaks ([`Error::RemoveNotCurrent`], [`Error::RemoveLast`]).
    #[allow(clippy::too_many_arguments)]
    pub fn revoke(
        &self,
        actor: &DeviceIdentity,
        root: &RootKey,
        older: &[RootKey],
        target: keylink_keys::DeviceId,
        wraps: RotationWraps<'_>,
        now_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Rotation> {
        let remove = self.signed(actor, root, Action::RemoveDevice { device: target }, now_ms)?;
        let mut after = self.clone();
        after.apply(&remove)?;
        let mut rotation = after.rotate(actor, root, older, wraps, now_ms, rng)?;
        rotation.entries.insert(0, remove);
        Ok(rotation)
    }

    /// Start a new epoch without removing anyone (also the second half of
    /// [`LogState::revoke`]).
    ///
    /// # Errors
    /// [`Error::NotCurrent`], [`Error::RootKeyMismatch`], or a key error.
    pub fn rotate(
        &self,
        actor: &DeviceIdentity,
        root: &RootKey,
        older: &[RootKey],
        wraps: RotationWraps<'_>,
        now_ms: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Rotation> {
        self.check_actor(actor)?;
        self.check_root(root)?;
        let account = *self.account();
        let epoch = self.epoch().next().ok_or(Error::RootKeyMismatch {
            epoch: self.epoch(),
        })?;
        let new_root = RootKey::generate(epoch, rng);
        let mut sealed = Vec::with_capacity(self.devices().len());
        for (id, info) in self.devices() {
            sealed.push(SealedKey {
                recipient: *id,
                sealed: SealedBox::seal_root_key(&new_root, &info.record.keys, &account, rng)?,
            });
        }
        let mut all_old: Vec<&RootKey> = older.iter().collect();
        all_old.push(root);
        let epoch_history = seal_epoch_history(&new_root, &account, &all_old, rng)?;
        let password_wrap = match wraps.password {
            Some((password, params)) => Some(KeyWrap::seal_password(
                &new_root, &account, password, params, rng,
            )?),
            None => None,
        };
        let recovery_wrap = match wraps.recovery {
            Some(key) => Some(KeyWrap::seal_recovery(&new_root, &account, key, rng)?),
            None => None,
        };
        let action = Action::Rotate {
            account_public_key: new_root.account_signing_key(&account).public_key(),
            sealed,
            epoch_history,
            password_wrap_hash: password_wrap.as_ref().map(KeyWrap::hash),
            recovery_wrap_hash: recovery_wrap.as_ref().map(KeyWrap::hash),
        };
        let mut body = self.body(actor, action, now_ms);
        body.epoch = epoch;
        let entry = sign_entry(body, actor, &new_root);
        Ok(Rotation {
            entries: vec![entry],
            root: new_root,
            password_wrap,
            recovery_wrap,
        })
    }
}

/// Take this device's new root key out of a `Rotate` entry of the verified
/// log `state`: the entry must be the one `state` holds at its sequence, the
/// box sealed to this device must open, and the key inside must be the one
/// whose account key the log records for that epoch (HPKE authenticates no
/// sender, so this check is what ties the key to the log).
///
/// # Errors
/// [`Error::NotCurrent`] if the entry is not a rotation or seals nothing to
/// this device; [`Error::Fork`] if the entry is not part of `state`;
/// [`Error::Keys`] if the box does not open; [`Error::RootKeyMismatch`] if
/// the key is not the epoch's.
pub fn open_rotation(
    state: &LogState,
    entry: &SignedEntry,
    identity: &DeviceIdentity,
) -> Result<RootKey> {
    let body = entry.body();
    let me = identity.device_id();
    let Action::Rotate { sealed, .. } = &body.action else {
        return Err(Error::NotCurrent { device: me });
    };
    state.check_contains(&crate::head::Head {
        sequence: body.sequence,
        hash: entry.hash(),
    })?;
    let expected = state
        .account_key(body.epoch)
        .ok_or(Error::RootKeyMismatch { epoch: body.epoch })?;
    let mine = sealed
        .iter()
        .find(|s| s.recipient == me)
        .ok_or(Error::NotCurrent { device: me })?;
    let root = mine
        .sealed
        .open_root_key(identity, &body.account, body.epoch)?;
    if !root.matches_account_key(&body.account, &expected) {
        return Err(Error::RootKeyMismatch { epoch: body.epoch });
    }
    Ok(root)
}
