//! The client's errors: each says what happened and what to do, and none
//! holds a secret.

use keylink_link::LinkError;
use keylink_wire::server::FailureCode;

use crate::keystore::KeyStoreError;

/// Why a device operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No device is set up in this key store.
    #[error(
        "no keylink device is set up here; run `keylink init`, `keylink link show` or `keylink recover` first"
    )]
    NotInitialized,
    /// A device is already set up in this key store.
    #[error("a keylink device is already set up here; use another --home to set up a second one")]
    AlreadyInitialized,
    /// An account with this name exists on the server.
    #[error(
        "an account named {0:?} already exists on this server; choose another name, or recover it"
    )]
    AccountExists(String),
    /// No account with this name on the server.
    #[error("no account named {0:?} on this server; check the name and the server")]
    NoSuchAccount(String),
    /// The password did not open the account's key.
    #[error("wrong password (or the server served an altered key wrap); nothing was changed")]
    WrongPassword,
    /// The recovery key did not open the account's key.
    #[error("wrong recovery key (or the server served an altered key wrap); nothing was changed")]
    WrongRecoveryKey,
    /// The account has no usable wrap for this secret.
    #[error("{0}")]
    NoWrap(&'static str),
    /// A password or recovery key that cannot be used as typed.
    #[error("{0}")]
    BadSecret(String),
    /// This device was revoked.
    #[error(
        "this device was removed from the account; it can no longer back up or read new backups"
    )]
    Revoked,
    /// The server could not be reached or did not answer.
    #[error(
        "could not reach the server at {addr}: {why}; check the address and that the server is running"
    )]
    Unreachable {
        /// Where.
        addr: String,
        /// What happened.
        why: String,
    },
    /// The server's certificate is not the pinned one.
    #[error(
        "the server at {addr} did not present the certificate with the expected fingerprint; check --fingerprint (someone may be intercepting the connection)"
    )]
    FingerprintMismatch {
        /// Where.
        addr: String,
    },
    /// The server refused a request.
    #[error("the server refused: {message}")]
    Refused {
        /// The failure code.
        code: FailureCode,
        /// Its words.
        message: String,
    },
    /// The server served a log that does not verify, is older than what
    /// this device saw, or differs from it.
    #[error(
        "the server's account log cannot be trusted ({0}); nothing was changed. Another device may show what happened"
    )]
    BadLog(String),
    /// No snapshot matches.
    #[error("{0}")]
    NoSnapshot(String),
    /// A device name or id prefix matches no device, or several.
    #[error("{0}")]
    Device(String),
    /// Linking failed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// Backup or restore failed.
    #[error(transparent)]
    Backup(#[from] keylink_backup::Error),
    /// The key store failed.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// What is in the key store is damaged.
    #[error(
        "the device's saved state is damaged ({0}); recover the device with `keylink recover` into a new --home"
    )]
    Damaged(&'static str),
    /// The account log changed under a write too many times.
    #[error("the account kept changing while this device wrote to it; try again")]
    Busy,
    /// A task failed unexpectedly.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The password is too easy to guess for what guards it (§19.14).
    #[error("{0}")]
    WeakPassword(String),
    /// A realm refused or failed (registration, a bad realm set).
    #[error("{0}")]
    Realm(String),
    /// Fewer than `k` realms gave a valid answer; the password was not tested.
    #[error(
        "{needed} of {of} realms are needed, {answered} answered; the password was not tested. {detail}"
    )]
    RealmsUnavailable {
        /// Realms needed.
        needed: u8,
        /// Realms in the set.
        of: usize,
        /// Valid answers.
        answered: u8,
        /// Which realms failed, and why.
        detail: String,
    },
    /// The realms refuse further password guesses for this account.
    #[error(
        "password recovery is locked after {wrong_guesses} wrong guesses; recover with the recovery key or link from a current device, which clears the lock. {detail}"
    )]
    RecoveryLocked {
        /// Wrong guesses counted.
        wrong_guesses: u32,
        /// Per realm.
        detail: String,
    },
}

impl Error {
    pub(crate) fn from_server(addr: &std::net::SocketAddr, e: keylink_server::ClientError) -> Self {
        use keylink_net::NetError;
        match e {
            keylink_server::ClientError::Net(NetError::FingerprintMismatch) => {
                Error::FingerprintMismatch {
                    addr: addr.to_string(),
                }
            }
            keylink_server::ClientError::Refused { code, message } => {
                // Text from the server reaches a terminal: no control
                // characters (escape sequences could rewrite the screen).
                let message: String = message
                    .chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .take(300)
                    .collect();
                if code == FailureCode::Forbidden && message.contains("revoked") {
                    Error::Revoked
                } else {
                    Error::Refused { code, message }
                }
            }
            other => Error::Unreachable {
                addr: addr.to_string(),
                why: other.to_string(),
            },
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
