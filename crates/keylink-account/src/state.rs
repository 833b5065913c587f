//! The verified state of an account log, and the rules every entry must
//! pass to extend it.
//!
//! [`LogState::verify`] checks a whole log from genesis; [`LogState::apply`]
//! checks one more entry on top of a verified state. Both are what every
//! device runs on what the server gives it, and what the server runs before
//! it accepts an append; nobody trusts anybody else's check.

use std::collections::BTreeMap;

use keylink_keys::{AccountId, DeviceId, Epoch, KeyWrap, SignatureContext, WrapKind, verify_with};
use keylink_wire::account::{Action, DeviceRecord, EntryBody, Hash, MAX_DEVICES, SignedEntry};

use crate::error::{Error, Result};
use crate::head::Head;

/// How a device joined the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joined {
    /// It created the account.
    Genesis,
    /// Another device approved it (linking).
    Linked {
        /// The approving device.
        by: DeviceId,
    },
    /// It opened the root key with the password or the recovery key.
    Recovered,
}

/// A current device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its keys and name.
    pub record: DeviceRecord,
    /// How it joined.
    pub joined: Joined,
    /// The log entry that added it.
    pub added_at: u64,
    /// The time that entry claims (informational).
    pub added_ms: u64,
}

/// One line of the link history every device can show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEvent {
    /// The log entry.
    pub sequence: u64,
    /// The time it claims (informational).
    pub timestamp_ms: u64,
    /// The device that signed it.
    pub actor: DeviceId,
    /// What happened.
    pub what: HistoryAction,
}

/// What a history line records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryAction {
    /// The account was created by this device.
    Created(DeviceRecord),
    /// The actor linked this device.
    Linked(DeviceRecord),
    /// This device joined with the password or recovery key.
    Recovered(DeviceRecord),
    /// The actor revoked this device.
    Revoked(DeviceId),
    /// A new epoch began.
    Rotated(Epoch),
    /// The password wrap changed.
    PasswordChanged,
    /// The recovery wrap changed.
    RecoveryKeyChanged,
}

/// The latest snapshot a device published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotHeadInfo {
    /// The snapshot's id.
    pub snapshot_id: Hash,
    /// Its sequence in the device's chain.
    pub snapshot_sequence: u64,
    /// The manifest hash (SHA-256 of `keylink/v1/manifest-hash` ‖ manifest object).
    pub manifest_hash: Hash,
    /// The epoch it was published in.
    pub epoch: Epoch,
    /// The log entry that published it.
    pub log_sequence: u64,
}

/// An account log that has been verified entry by entry from genesis.
/// It can only be built by verification.
#[derive(Clone, Debug)]
pub struct LogState {
    account: AccountId,
    hashes: Vec<Hash>,
    epoch: Epoch,
    account_keys: Vec<[u8; 32]>,
    devices: BTreeMap<DeviceId, DeviceInfo>,
    revoked: BTreeMap<DeviceId, u64>,
    rotation_pending: bool,
    password_wrap_hash: Option<Hash>,
    recovery_wrap_hash: Option<Hash>,
    epoch_history: Vec<u8>,
    snapshot_heads: BTreeMap<DeviceId, SnapshotHeadInfo>,
    history: Vec<HistoryEvent>,
}

impl LogState {
    /// Verify a whole log from its genesis entry.
    ///
    /// # Errors
    /// [`Error::Empty`], or the first rule an entry breaks.
    pub fn verify(entries: &[SignedEntry]) -> Result<Self> {
        let (first, rest) = entries.split_first().ok_or(Error::Empty)?;
        let mut state = Self::genesis(first)?;
        for entry in rest {
            state.apply(entry)?;
        }
        Ok(state)
    }

    /// Verify a log and check it against the head this device already
    /// trusts: it must contain that head (no rollback, no fork).
    ///
    /// # Errors
    /// As [`LogState::verify`], then [`Error::Rollback`] or [`Error::Fork`].
    pub fn verify_from_trusted(entries: &[SignedEntry], trusted: Option<&Head>) -> Result<Self> {
        let state = Self::verify(entries)?;
        if let Some(head) = trusted {
            state.check_contains(head)?;
        }
        Ok(state)
    }

    /// Verify a genesis entry and start a state from it.
    ///
    /// # Errors
    /// The first rule the entry breaks.
    pub fn genesis(entry: &SignedEntry) -> Result<Self> {
        let body = entry.body();
        let sequence = body.sequence;
        let Action::Genesis {
            device,
            account_public_key,
            password_wrap_hash,
            recovery_wrap_hash,
        } = &body.action
        else {
            return Err(Error::Genesis { sequence });
        };
        if sequence != 0 {
            return Err(Error::Sequence {
                expected: 0,
                got: sequence,
            });
        }
        if body.prev_hash != [0u8; 32] {
            return Err(Error::BrokenChain { sequence });
        }
        if body.epoch != Epoch::GENESIS {
            return Err(Error::Epoch {
                sequence,
                expected: Epoch::GENESIS,
                got: body.epoch,
            });
        }
        if body.actor != device.id() {
            return Err(Error::ActorMismatch { sequence });
        }
        check_device_signature(entry, device.keys.signing_key())?;
        check_account_signature(entry, account_public_key)?;
        let mut state = Self {
            account: body.account,
            hashes: vec![entry.hash()],
            epoch: Epoch::GENESIS,
            account_keys: vec![*account_public_key],
            devices: BTreeMap::new(),
            revoked: BTreeMap::new(),
            rotation_pending: false,
            password_wrap_hash: Some(*password_wrap_hash),
            recovery_wrap_hash: *recovery_wrap_hash,
            epoch_history: Vec::new(),
            snapshot_heads: BTreeMap::new(),
            history: Vec::new(),
        };
        state.add(device, Joined::Genesis, body);
        state.push_history(body, HistoryAction::Created(device.clone()));
        Ok(state)
    }

    /// Check one more entry on top of this state and, if it passes, apply it.
    /// On error the state is unchanged.
    ///
    /// # Errors
    /// The first rule the entry breaks.
    pub fn apply(&mut self, entry: &SignedEntry) -> Result<()> {
        let body = entry.body();
        let sequence = body.sequence;
        if let Action::Genesis { .. } = body.action {
            return Err(Error::Genesis { sequence });
        }
        if body.account != self.account {
            return Err(Error::WrongAccount { sequence });
        }
        let expected = self.next_sequence();
        if sequence != expected {
            return Err(Error::Sequence {
                expected,
                got: sequence,
            });
        }
        if body.prev_hash != self.head().hash {
            return Err(Error::BrokenChain { sequence });
        }
        let is_rotate = matches!(body.action, Action::Rotate { .. });
        let want_epoch = if is_rotate {
            self.epoch.next().ok_or(Error::Epoch {
                sequence,
                expected: self.epoch,
                got: body.epoch,
            })?
        } else {
            self.epoch
        };
        if body.epoch != want_epoch {
            return Err(Error::Epoch {
                sequence,
                expected: want_epoch,
                got: body.epoch,
            });
        }
        if self.rotation_pending
            && !matches!(
                body.action,
                Action::Rotate { .. } | Action::RemoveDevice { .. }
            )
        {
            return Err(Error::RotationRequired {
                sequence,
                action: body.action.kind(),
            });
        }
        // The signer: the joining device for Recover, a current device otherwise.
        let signer = match &body.action {
            Action::Recover { device } => {
                if body.actor != device.id() {
                    return Err(Error::ActorMismatch { sequence });
                }
                self.check_new_device(device, sequence)?;
                *device.keys.signing_key()
            }
            _ => *self
                .current_signer(&body.actor, sequence)?
                .record
                .keys
                .signing_key(),
        };
        check_device_signature(entry, &signer)?;
        let account_key = match &body.action {
            Action::Rotate {
                account_public_key, ..
            } => *account_public_key,
            _ => self.account_key(self.epoch).unwrap_or([0; 32]),
        };
        check_account_signature(entry, &account_key)?;
        self.check_action(body)?;
        self.hashes.push(entry.hash());
        self.apply_action(body);
        Ok(())
    }

    /// Apply entries in order.
    ///
    /// # Errors
    /// The first rule an entry breaks; entries before it stay applied.
    pub fn extend<'a>(&mut self, entries: impl IntoIterator<Item = &'a SignedEntry>) -> Result<()> {
        for e in entries {
            self.apply(e)?;
        }
        Ok(())
    }

    /// The account.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The newest verified head.
    pub fn head(&self) -> Head {
        let sequence = self.hashes.len().saturating_sub(1) as u64;
        Head {
            sequence,
            hash: self.hashes.last().copied().unwrap_or([0; 32]),
        }
    }

    /// The sequence number the next entry must have.
    pub fn next_sequence(&self) -> u64 {
        self.hashes.len() as u64
    }

    /// The hash of entry `sequence`, if the log is that long.
    pub fn hash_at(&self, sequence: u64) -> Option<&Hash> {
        usize::try_from(sequence)
            .ok()
            .and_then(|i| self.hashes.get(i))
    }

    /// The account signing public key of `epoch`.
    pub fn account_key(&self, epoch: Epoch) -> Option<[u8; 32]> {
        usize::try_from(epoch.0)
            .ok()
            .and_then(|i| self.account_keys.get(i))
            .copied()
    }

    /// The current devices.
    pub fn devices(&self) -> &BTreeMap<DeviceId, DeviceInfo> {
        &self.devices
    }

    /// Whether `device` is current.
    pub fn is_current(&self, device: &DeviceId) -> bool {
        self.devices.contains_key(device)
    }

    /// Whether `device` was revoked, and at which entry.
    pub fn revoked_at(&self, device: &DeviceId) -> Option<u64> {
        self.revoked.get(device).copied()
    }

    /// Whether a removal is waiting for its rotation.
    pub fn rotation_pending(&self) -> bool {
        self.rotation_pending
    }

    /// The latest snapshot head each device published.
    pub fn snapshot_heads(&self) -> &BTreeMap<DeviceId, SnapshotHeadInfo> {
        &self.snapshot_heads
    }

    /// The link history: who created, linked, recovered and revoked whom.
    pub fn history(&self) -> &[HistoryEvent] {
        &self.history
    }

    /// The current epoch's encrypted history of older root keys (empty in
    /// epoch 0).
    pub fn epoch_history(&self) -> &[u8] {
        &self.epoch_history
    }

    /// The hash of the current password wrap (`None` while pending).
    pub fn password_wrap_hash(&self) -> Option<Hash> {
        self.password_wrap_hash
    }

    /// The hash of the current recovery wrap (`None` if there is none).
    pub fn recovery_wrap_hash(&self) -> Option<Hash> {
        self.recovery_wrap_hash
    }

    /// Check that a wrap the server served is the current one the log
    /// records (hash, account and epoch). Run this before opening it: it
    /// detects an outdated or substituted wrap, and spares the device a
    /// hostile header's Argon2id cost.
    ///
    /// # Errors
    /// [`Error::WrapPending`] if none is current; [`Error::StaleWrap`] otherwise.
    pub fn check_wrap(&self, wrap: &KeyWrap) -> Result<()> {
        let (recorded, kind) = match wrap.kind() {
            WrapKind::Password => (self.password_wrap_hash, "password"),
            WrapKind::Recovery => (self.recovery_wrap_hash, "recovery key"),
        };
        let recorded = recorded.ok_or(Error::WrapPending { kind })?;
        let fresh = keylink_keys::primitives::ct_eq(&wrap.hash(), &recorded)
            && wrap.account() == &self.account
            && wrap.epoch() == self.epoch;
        if fresh {
            Ok(())
        } else {
            Err(Error::StaleWrap { kind })
        }
    }

    /// Check that this log contains `head` (a head this device trusted
    /// before, or another device's): same hash at that sequence.
    ///
    /// # Errors
    /// [`Error::Rollback`] if this log is shorter; [`Error::Fork`] if it has
    /// a different entry there.
    pub fn check_contains(&self, head: &Head) -> Result<()> {
        match self.hash_at(head.sequence) {
            None => Err(Error::Rollback {
                trusted: head.sequence,
                got: self.head().sequence,
            }),
            Some(h) if keylink_keys::primitives::ct_eq(h, &head.hash) => Ok(()),
            Some(_) => Err(Error::Fork {
                sequence: head.sequence,
            }),
        }
    }

    fn current_signer(&self, actor: &DeviceId, sequence: u64) -> Result<&DeviceInfo> {
        if self.revoked.contains_key(actor) {
            return Err(Error::RevokedDevice {
                sequence,
                device: *actor,
            });
        }
        self.devices.get(actor).ok_or(Error::UnknownDevice {
            sequence,
            device: *actor,
        })
    }

    fn check_new_device(&self, device: &DeviceRecord, sequence: u64) -> Result<()> {
        let id = device.id();
        if self.revoked.contains_key(&id) {
            return Err(Error::ReAddRevoked {
                sequence,
                device: id,
            });
        }
        if self.devices.contains_key(&id) {
            return Err(Error::DuplicateDevice {
                sequence,
                device: id,
            });
        }
        if self.devices.len() >= MAX_DEVICES {
            return Err(Error::TooManyDevices {
                sequence,
                max: MAX_DEVICES,
            });
        }
        Ok(())
    }

    /// Rules that depend on the action (signatures already checked).
    fn check_action(&self, body: &EntryBody) -> Result<()> {
        let sequence = body.sequence;
        match &body.action {
            Action::Genesis { .. } => Err(Error::Genesis { sequence }),
            Action::AddDevice { device } => self.check_new_device(device, sequence),
            Action::RemoveDevice { device } => {
                if !self.devices.contains_key(device) {
                    return Err(Error::RemoveNotCurrent {
                        sequence,
                        device: *device,
                    });
                }
                if self.devices.len() <= 1 {
                    return Err(Error::RemoveLast { sequence });
                }
                Ok(())
            }
            Action::Rotate {
                sealed,
                account_public_key,
                ..
            } => {
                if self.account_keys.contains(account_public_key) {
                    return Err(Error::ReusedAccountKey { sequence });
                }
                let mut seen = BTreeMap::new();
                for s in sealed {
                    if !self.devices.contains_key(&s.recipient) {
                        return Err(Error::SealedToNonCurrent {
                            sequence,
                            device: s.recipient,
                        });
                    }
                    if seen.insert(s.recipient, ()).is_some() {
                        return Err(Error::SealedKeyCount {
                            sequence,
                            device: s.recipient,
                        });
                    }
                }
                match self.devices.keys().find(|d| !seen.contains_key(*d)) {
                    Some(missing) => Err(Error::SealedKeyCount {
                        sequence,
                        device: *missing,
                    }),
                    None => Ok(()),
                }
            }
            Action::Recover { .. }
            | Action::PasswordChanged { .. }
            | Action::RecoveryKeyChanged { .. } => Ok(()),
            Action::SnapshotHead {
                snapshot_sequence, ..
            } => match self.snapshot_heads.get(&body.actor) {
                Some(last) if *snapshot_sequence <= last.snapshot_sequence => {
                    Err(Error::SnapshotRegression {
                        sequence,
                        last: last.snapshot_sequence,
                        got: *snapshot_sequence,
                    })
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn apply_action(&mut self, body: &EntryBody) {
        match &body.action {
            Action::Genesis { .. } => {}
            Action::AddDevice { device } => {
                self.add(device, Joined::Linked { by: body.actor }, body);
                self.push_history(body, HistoryAction::Linked(device.clone()));
            }
            Action::Recover { device } => {
                self.add(device, Joined::Recovered, body);
                self.push_history(body, HistoryAction::Recovered(device.clone()));
            }
            Action::RemoveDevice { device } => {
                self.devices.remove(device);
                self.snapshot_heads.remove(device);
                self.revoked.insert(*device, body.sequence);
                self.rotation_pending = true;
                self.push_history(body, HistoryAction::Revoked(*device));
            }
            Action::Rotate {
                account_public_key,
                epoch_history,
                password_wrap_hash,
                recovery_wrap_hash,
                ..
            } => {
                self.epoch = body.epoch;
                self.account_keys.push(*account_public_key);
                self.rotation_pending = false;
                self.password_wrap_hash = *password_wrap_hash;
                self.recovery_wrap_hash = *recovery_wrap_hash;
                self.epoch_history = epoch_history.clone();
                self.push_history(body, HistoryAction::Rotated(body.epoch));
            }
            Action::PasswordChanged { password_wrap_hash } => {
                self.password_wrap_hash = Some(*password_wrap_hash);
                self.push_history(body, HistoryAction::PasswordChanged);
            }
            Action::RecoveryKeyChanged { recovery_wrap_hash } => {
                self.recovery_wrap_hash = Some(*recovery_wrap_hash);
                self.push_history(body, HistoryAction::RecoveryKeyChanged);
            }
            Action::SnapshotHead {
                snapshot_id,
                snapshot_sequence,
                manifest_hash,
            } => {
                self.snapshot_heads.insert(
                    body.actor,
                    SnapshotHeadInfo {
                        snapshot_id: *snapshot_id,
                        snapshot_sequence: *snapshot_sequence,
                        manifest_hash: *manifest_hash,
                        epoch: body.epoch,
                        log_sequence: body.sequence,
                    },
                );
            }
            _ => {}
        }
    }

    fn add(&mut self, device: &DeviceRecord, joined: Joined, body: &EntryBody) {
        self.devices.insert(
            device.id(),
            DeviceInfo {
                record: device.clone(),
                joined,
                added_at: body.sequence,
                added_ms: body.timestamp_ms,
            },
        );
    }

    fn push_history(&mut self, body: &EntryBody, what: HistoryAction) {
        self.history.push(HistoryEvent {
            sequence: body.sequence,
            timestamp_ms: body.timestamp_ms,
            actor: body.actor,
            what,
        });
    }
}

fn check_device_signature(entry: &SignedEntry, key: &[u8; 32]) -> Result<()> {
    verify_with(
        key,
        SignatureContext::AccountLogDevice,
        entry.body_bytes(),
        entry.device_signature(),
    )
    .map_err(|_| Error::DeviceSignature {
        sequence: entry.body().sequence,
    })
}

fn check_account_signature(entry: &SignedEntry, key: &[u8; 32]) -> Result<()> {
    verify_with(
        key,
        SignatureContext::AccountLogAccount,
        entry.body_bytes(),
        entry.account_signature(),
    )
    .map_err(|_| Error::AccountSignature {
        sequence: entry.body().sequence,
    })
}
