//! The one error type of this crate.

use keylink_keys::{DeviceId, Epoch};
use keylink_store::StoreError;
use keylink_wire::WireError;

/// Why a backup or restore failed. No variant carries plaintext or keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object store failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A manifest's plaintext does not decode.
    #[error("manifest content: {0}")]
    Wire(#[from] WireError),
    /// A key operation failed.
    #[error("keys: {0}")]
    Keys(#[from] keylink_keys::Error),
    /// Reading the files to back up, or writing restored files, failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The local path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An object format version this build does not read.
    #[error("unsupported {what} format version {got}")]
    UnsupportedVersion {
        /// Which object.
        what: &'static str,
        /// The version byte.
        got: u8,
    },
    /// An object is shorter than its fixed parts, or a length field claims
    /// more than remains.
    #[error("{what} is truncated or malformed")]
    Malformed {
        /// Which object.
        what: &'static str,
    },
    /// An object did not authenticate: wrong key, wrong context (another
    /// file, device, account or epoch), or altered. Nothing of it was used.
    #[error("{what} failed authentication: altered, or not the object it claims to be")]
    Tampered {
        /// Which object.
        what: &'static str,
    },
    /// A chunk decrypted but its content does not hash to its id, or its
    /// length differs from the reference.
    #[error("chunk content does not match its id or length")]
    ChunkMismatch,
    /// A file's restored content does not have the length the manifest records.
    #[error("restored file {path} does not match the manifest")]
    FileMismatch {
        /// The path in the snapshot.
        path: String,
    },
    /// The manifest's signature does not verify under its device's key.
    #[error("the manifest is not signed by device {device}")]
    BadSignature {
        /// The device that should have signed it.
        device: DeviceId,
    },
    /// The manifest is not the one the account log names (rollback or
    /// substitution by the server).
    #[error(
        "the manifest served is not the one the account log records (rollback or substitution)"
    )]
    NotLogHead,
    /// The account log has no snapshot from that device.
    #[error("the account log records no snapshot from device {device}")]
    NoSnapshot {
        /// The device.
        device: DeviceId,
    },
    /// The manifest was written by a device that is not current in the log.
    #[error("device {device} is not a current device of the account")]
    UnknownDevice {
        /// The device.
        device: DeviceId,
    },
    /// No root key for the epoch a snapshot was written in.
    #[error("no root key for epoch {epoch} on this device")]
    NoKeyForEpoch {
        /// The epoch.
        epoch: Epoch,
    },
    /// The manifest header names another account, device, epoch or sequence
    /// than the log's snapshot head.
    #[error("the manifest header does not match the snapshot the log names")]
    HeaderMismatch,
    /// A restored path would leave the restore folder (through a symlink
    /// already there), or names a folder where a file belongs.
    #[error(
        "refusing to restore {path}: it would leave the restore folder or clash with another entry"
    )]
    UnsafePath {
        /// The path in the snapshot.
        path: String,
    },
    /// A file has more chunks than a manifest page can describe.
    #[error("{path} is too large for one manifest page")]
    FileTooLarge {
        /// The local path.
        path: String,
    },
}

impl Error {
    /// A short, stable name for the class of this error (tests, vectors).
    pub fn class(&self) -> &'static str {
        match self {
            Error::Store(_) => "store",
            Error::Wire(_) => "wire",
            Error::Keys(_) => "keys",
            Error::Io { .. } => "io",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::Malformed { .. } => "malformed",
            Error::Tampered { .. } => "tampered",
            Error::ChunkMismatch => "chunk_mismatch",
            Error::FileMismatch { .. } => "file_mismatch",
            Error::BadSignature { .. } => "bad_signature",
            Error::NotLogHead => "not_log_head",
            Error::NoSnapshot { .. } => "no_snapshot",
            Error::UnknownDevice { .. } => "unknown_device",
            Error::NoKeyForEpoch { .. } => "no_key_for_epoch",
            Error::HeaderMismatch => "header_mismatch",
            Error::UnsafePath { .. } => "unsafe_path",
            Error::FileTooLarge { .. } => "file_too_large",
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
