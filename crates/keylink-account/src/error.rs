//! The one error type of this crate. Every verification rule that can fail
//! has its own variant, so a test (and a user's error report) says exactly
//! which rule a log broke.

use keylink_keys::{DeviceId, Epoch};
use keylink_wire::WireError;

/// Why a log, an entry, or an operation on them was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a valid entry.
    #[error("account log entry does not decode: {0}")]
    Wire(#[from] WireError),
    /// A key operation failed (an epoch history that does not open, …).
    #[error("key operation failed: {0}")]
    Keys(#[from] keylink_keys::Error),
    /// An empty log: there is not even a genesis entry.
    #[error("the account log is empty")]
    Empty,
    /// The first entry is not `Genesis`, or a `Genesis` appears later.
    #[error("entry {sequence}: genesis must be the first entry and only the first")]
    Genesis {
        /// The entry's sequence number.
        sequence: u64,
    },
    /// The entry belongs to another account (spliced in).
    #[error("entry {sequence} belongs to another account")]
    WrongAccount {
        /// The entry's sequence number.
        sequence: u64,
    },
    /// Sequence numbers are not consecutive (an entry was dropped, reordered
    /// or replayed).
    #[error("expected entry {expected}, got entry {got}")]
    Sequence {
        /// The next sequence number.
        expected: u64,
        /// The one found.
        got: u64,
    },
    /// The entry does not name the hash of the entry before it.
    #[error("entry {sequence} does not chain to the entry before it")]
    BrokenChain {
        /// The entry's sequence number.
        sequence: u64,
    },
    /// The entry claims the wrong epoch.
    #[error("entry {sequence} claims epoch {got}, expected epoch {expected}")]
    Epoch {
        /// The entry's sequence number.
        sequence: u64,
        /// The epoch it should be in.
        expected: Epoch,
        /// The epoch it claims.
        got: Epoch,
    },
    /// The signer is not, and never was, a device of the account.
    #[error("entry {sequence} is signed by device {device}, which is not in the device list")]
    UnknownDevice {
        /// The entry's sequence number.
        sequence: u64,
        /// The signer.
        device: DeviceId,
    },
    /// The signer was revoked before this entry.
    #[error("entry {sequence} is signed by device {device}, which was revoked")]
    RevokedDevice {
        /// The entry's sequence number.
        sequence: u64,
        /// The signer.
        device: DeviceId,
    },
    /// The acting device's signature does not verify.
    #[error("entry {sequence}: the device signature does not verify")]
    DeviceSignature {
        /// The entry's sequence number.
        sequence: u64,
    },
    /// The account key's signature does not verify under the epoch's key.
    #[error("entry {sequence}: the account-key signature does not verify for its epoch")]
    AccountSignature {
        /// The entry's sequence number.
        sequence: u64,
    },
    /// A `Genesis` or `Recover` whose actor is not the device it adds.
    #[error("entry {sequence}: the actor must be the device that joins")]
    ActorMismatch {
        /// The entry's sequence number.
        sequence: u64,
    },
    /// A device that is already in the list is added again, or a device id
    /// collides with one already used.
    #[error("entry {sequence}: device {device} is already in the device list")]
    DuplicateDevice {
        /// The entry's sequence number.
        sequence: u64,
        /// The device.
        device: DeviceId,
    },
    /// A revoked device is added again. Revocation is permanent: a device
    /// that comes back must generate a new identity.
    #[error("entry {sequence}: device {device} was revoked and cannot be added again")]
    ReAddRevoked {
        /// The entry's sequence number.
        sequence: u64,
        /// The device.
        device: DeviceId,
    },
    /// A removal names a device that is not current.
    #[error("entry {sequence}: device {device} is not a current device and cannot be removed")]
    RemoveNotCurrent {
        /// The entry's sequence number.
        sequence: u64,
        /// The device.
        device: DeviceId,
    },
    /// A removal would leave the account with no device.
    #[error("entry {sequence}: the last device cannot be removed")]
    RemoveLast {
        /// The entry's sequence number.
        sequence: u64,
    },
    /// An entry other than a removal or a rotation follows a removal.
    #[error(
        "entry {sequence} ({action}) follows a removal that has not been followed by a rotation"
    )]
    RotationRequired {
        /// The entry's sequence number.
        sequence: u64,
        /// The kind of entry that came too early.
        action: &'static str,
    },
    /// A rotation seals the new root key to a device that is not current.
    #[error(
        "entry {sequence}: the new root key is sealed to {device}, which is not a current device"
    )]
    SealedToNonCurrent {
        /// The entry's sequence number.
        sequence: u64,
        /// The device.
        device: DeviceId,
    },
    /// A rotation leaves a current device without the new root key, or seals
    /// to one device twice.
    #[error("entry {sequence}: the new root key must be sealed exactly once to device {device}")]
    SealedKeyCount {
        /// The entry's sequence number.
        sequence: u64,
        /// The device.
        device: DeviceId,
    },
    /// The device list would exceed its maximum size.
    #[error("entry {sequence}: an account may have at most {max} devices")]
    TooManyDevices {
        /// The entry's sequence number.
        sequence: u64,
        /// The maximum.
        max: usize,
    },
    /// A device's snapshot head goes backwards.
    #[error("entry {sequence}: snapshot sequence {got} does not follow {last}")]
    SnapshotRegression {
        /// The entry's sequence number.
        sequence: u64,
        /// The device's last published snapshot sequence.
        last: u64,
        /// The one in the entry.
        got: u64,
    },
    /// The log ends before the head this device already verified: a
    /// rollback. (A log that reaches that entry with a different hash is a
    /// [`Error::Fork`].)
    #[error(
        "the server's account log ends at entry {got}, before entry {trusted} that this device already verified: rollback"
    )]
    Rollback {
        /// Sequence of the head this device trusts.
        trusted: u64,
        /// Last sequence of the offered log.
        got: u64,
    },
    /// Two logs share a prefix and then differ: a fork.
    #[error(
        "the account log forks from the one this device saw at entry {sequence}: someone is showing different devices different histories"
    )]
    Fork {
        /// The first sequence at which they differ.
        sequence: u64,
    },
    /// A key wrap is not the one the log records as current.
    #[error(
        "the {kind} wrap served is not the current one recorded in the account log (outdated or substituted)"
    )]
    StaleWrap {
        /// `password` or `recovery key`.
        kind: &'static str,
    },
    /// The log records no current wrap of that kind (none set, or pending
    /// after a rotation).
    #[error(
        "the account has no current {kind} wrap; it must be set again on a device that holds the root key"
    )]
    WrapPending {
        /// `password` or `recovery key`.
        kind: &'static str,
    },
    /// A root key does not belong to the epoch it claims (its account key
    /// differs from the one the log records).
    #[error("the root key does not match the account log's key for epoch {epoch}")]
    RootKeyMismatch {
        /// The epoch.
        epoch: Epoch,
    },
    /// The operation needs a device that is current, and this one is not.
    #[error("device {device} is not a current device of the account")]
    NotCurrent {
        /// The device.
        device: DeviceId,
    },
    /// A rotation reuses an earlier epoch's account key (and so, in
    /// practice, its root key), which revoked devices may hold.
    #[error("entry {sequence}: the rotation reuses an earlier epoch's account key")]
    ReusedAccountKey {
        /// The entry's sequence number.
        sequence: u64,
    },
    /// A stored head does not parse.
    #[error("malformed remembered head")]
    MalformedHead,
}

impl Error {
    /// A short, stable name for the class of this error (test vectors).
    pub fn class(&self) -> &'static str {
        match self {
            Error::Wire(_) => "wire",
            Error::Keys(_) => "keys",
            Error::Empty => "empty",
            Error::Genesis { .. } => "genesis",
            Error::WrongAccount { .. } => "wrong_account",
            Error::Sequence { .. } => "sequence",
            Error::BrokenChain { .. } => "broken_chain",
            Error::Epoch { .. } => "epoch",
            Error::UnknownDevice { .. } => "unknown_device",
            Error::RevokedDevice { .. } => "revoked_device",
            Error::DeviceSignature { .. } => "device_signature",
            Error::AccountSignature { .. } => "account_signature",
            Error::ActorMismatch { .. } => "actor_mismatch",
            Error::DuplicateDevice { .. } => "duplicate_device",
            Error::ReAddRevoked { .. } => "re_add_revoked",
            Error::RemoveNotCurrent { .. } => "remove_not_current",
            Error::RemoveLast { .. } => "remove_last",
            Error::RotationRequired { .. } => "rotation_required",
            Error::SealedToNonCurrent { .. } => "sealed_to_non_current",
            Error::SealedKeyCount { .. } => "sealed_key_count",
            Error::TooManyDevices { .. } => "too_many_devices",
            Error::SnapshotRegression { .. } => "snapshot_regression",
            Error::Rollback { .. } => "rollback",
            Error::Fork { .. } => "fork",
            Error::StaleWrap { .. } => "stale_wrap",
            Error::WrapPending { .. } => "wrap_pending",
            Error::RootKeyMismatch { .. } => "root_key_mismatch",
            Error::NotCurrent { .. } => "not_current",
            Error::ReusedAccountKey { .. } => "reused_account_key",
            Error::MalformedHead => "malformed_head",
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
