//! Errors of linking, in words for the person linking.

use keylink_wire::link::AbortReason;

/// Why a link code could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// The text does not start with `keylink-link:`.
    #[error("this is not a keylink link code (it should start with \"keylink-link:\")")]
    NotALinkCode,
    /// Longer than any code.
    #[error("the link code is longer than {max} characters; copy it again")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A character that base32 does not use.
    #[error("the link code has a character that cannot be in a code; copy it again")]
    BadCharacter,
    /// The checksum does not match: a typo or a damaged scan.
    #[error("the link code has a typo or was cut short (checksum mismatch); copy or scan it again")]
    Checksum,
    /// Too short for its fields.
    #[error("the link code is incomplete; copy or scan it again")]
    Truncated,
    /// Bytes after the last field.
    #[error("the link code has extra data at its end; copy or scan it again")]
    TrailingData,
    /// A version this build does not read.
    #[error("the link code is version {got}, which this keylink does not read; update keylink")]
    UnsupportedVersion {
        /// The version found.
        got: u8,
    },
    /// A field holds a value no code holds.
    #[error("the link code is malformed ({what})")]
    Malformed {
        /// Which field.
        what: &'static str,
    },
    /// An address nobody can connect to.
    #[error("the link code names an address that cannot be connected to")]
    BadAddress,
    /// The ephemeral key is a low-order or non-canonical point.
    #[error("the link code holds an invalid key; it was not made by keylink")]
    LowOrderShare,
    /// Past its expiry.
    #[error("the link code has expired; show a new one on the other device")]
    Expired,
}

/// Why a link failed. Every variant leaves the account log, both devices
/// and the server as they were, except where it says otherwise.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The code could not be used.
    #[error("{0}")]
    Code(#[from] CodeError),
    /// The relay no longer holds the code's channel: it was used, or it
    /// expired.
    #[error("this link code was already used or has expired; show a new one")]
    CodeSpent,
    /// Both devices are new, or both already belong to the account.
    #[error(
        "this code must be scanned by {expected}; run the other linking command on this device"
    )]
    WrongRole {
        /// Which device should scan it.
        expected: &'static str,
    },
    /// The binding does not fit the code (a relay code on a direct
    /// connection, or the reverse).
    #[error("the connection does not match the link code's kind")]
    WrongBinding,
    /// The other side's share is a low-order or non-canonical point.
    #[error("the other device sent an invalid key; linking stopped")]
    LowOrderShare,
    /// A key confirmation did not verify.
    #[error(
        "the link code did not match: it was mistyped, or someone other than your device tried to use it. The code is now void; show a new one and try again"
    )]
    ConfirmationFailed,
    /// A sealed message did not decrypt: altered, replayed, reordered or
    /// injected on the way.
    #[error("a linking message was altered or replayed on the way; linking stopped. Try again")]
    Tampered,
    /// A message came that does not belong at this step.
    #[error("the other device sent an unexpected message ({what}); linking stopped")]
    Unexpected {
        /// What came.
        what: &'static str,
    },
    /// A message was malformed.
    #[error("the other device sent a malformed message; linking stopped")]
    Malformed,
    /// The new device's signature over its keys does not verify.
    #[error("the new device could not prove it holds its keys; linking stopped")]
    BadSignature,
    /// The person at the existing device said no.
    #[error("linking was declined on the existing device")]
    Declined,
    /// The other device stopped, saying why.
    #[error("the other device stopped linking: {}", describe(*.0))]
    PeerAborted(AbortReason),
    /// A step did not finish in time.
    #[error("linking timed out; make sure both devices are online and try again with a new code")]
    Timeout,
    /// The connection ended early.
    #[error("the connection to the other device was lost; try again with a new code")]
    Closed,
    /// The two devices have seen different account histories.
    #[error(
        "the two devices have seen different account histories: the server may be showing them different logs. Linking stopped"
    )]
    Fork,
    /// The existing device could not append the new device to the log.
    #[error("could not add the new device to the account: {0}")]
    AppendFailed(String),
    /// The new device could not verify what it was sent.
    #[error(
        "the account data from the server does not match what the other device sent ({0}); linking stopped"
    )]
    VerificationFailed(&'static str),
    /// The new device could not store the key.
    #[error("could not store the account key on this device: {0}")]
    StoreFailed(String),
    /// The new device's AddDevice entry is in the log, but it never
    /// confirmed that it stored the key. The account log is changed.
    #[error(
        "the new device was added to the account but did not confirm; link it again with the same device (it will not be added twice), or revoke it"
    )]
    NotAcknowledged,
    /// The relay could not be used.
    #[error("the server's relay is not available: {0}")]
    Relay(String),
    /// A direct code from an existing device does not name the account's
    /// server.
    #[error("a direct link code does not say which server holds the account; give the server")]
    NeedsServer,
    /// The other device speaks another format version.
    #[error("the other device runs a different keylink version (link format {0}); update both")]
    UnsupportedVersion(u32),
    /// The app cancelled.
    #[error("linking was cancelled")]
    Cancelled,
}

fn describe(reason: AbortReason) -> &'static str {
    match reason {
        AbortReason::ConfirmationFailed => "the code did not match",
        AbortReason::Declined => "the person at the existing device declined",
        AbortReason::Timeout => "it timed out",
        AbortReason::AppendFailed => "it could not add this device to the account",
        AbortReason::VerificationFailed => "it could not verify the account data",
        AbortReason::Cancelled => "it was cancelled",
        AbortReason::Fork => "the devices have seen different account histories",
        AbortReason::StoreFailed => "it could not store the account key",
        _ => "a message was malformed or out of order",
    }
}

impl CodeError {
    /// A stable name for the error's kind (test vectors name errors by it).
    pub fn class(&self) -> &'static str {
        match self {
            CodeError::NotALinkCode => "not_a_link_code",
            CodeError::TooLong { .. } => "too_long",
            CodeError::BadCharacter => "bad_character",
            CodeError::Checksum => "checksum",
            CodeError::Truncated => "truncated",
            CodeError::TrailingData => "trailing_data",
            CodeError::UnsupportedVersion { .. } => "unsupported_version",
            CodeError::Malformed { .. } => "malformed",
            CodeError::BadAddress => "bad_address",
            CodeError::LowOrderShare => "low_order_share",
            CodeError::Expired => "expired",
        }
    }
}

impl LinkError {
    /// A stable name for the error's kind (test vectors name errors by it).
    pub fn class(&self) -> &'static str {
        match self {
            LinkError::Code(c) => c.class(),
            LinkError::CodeSpent => "code_spent",
            LinkError::WrongRole { .. } => "wrong_role",
            LinkError::WrongBinding => "wrong_binding",
            LinkError::LowOrderShare => "low_order_share",
            LinkError::ConfirmationFailed => "confirmation_failed",
            LinkError::Tampered => "tampered",
            LinkError::Unexpected { .. } => "unexpected",
            LinkError::Malformed => "malformed",
            LinkError::BadSignature => "bad_signature",
            LinkError::Declined => "declined",
            LinkError::PeerAborted(_) => "peer_aborted",
            LinkError::Timeout => "timeout",
            LinkError::Closed => "closed",
            LinkError::Fork => "fork",
            LinkError::AppendFailed(_) => "append_failed",
            LinkError::VerificationFailed(_) => "verification_failed",
            LinkError::StoreFailed(_) => "store_failed",
            LinkError::NotAcknowledged => "not_acknowledged",
            LinkError::Cancelled => "cancelled",
            LinkError::Relay(_) => "relay",
            LinkError::NeedsServer => "needs_server",
            LinkError::UnsupportedVersion(_) => "unsupported_version",
        }
    }
}
