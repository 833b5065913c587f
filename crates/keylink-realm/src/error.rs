//! The one error type of this crate.

/// Everything that can go wrong in the realm protocol, on either side.
///
/// No variant carries secret material: not a share, not a tag, not a
/// password. [`Error::class`] gives each variant the stable name the test
/// vectors use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key or key share is not a canonical nonzero scalar.
    #[error("bad realm key: {what}")]
    BadKey {
        /// Which key.
        what: &'static str,
    },
    /// A group element does not decode, or is the identity.
    #[error("bad group element: {what}")]
    BadElement {
        /// Which element.
        what: &'static str,
    },
    /// A realm's evaluation does not verify against its public share.
    #[error("the realm's evaluation does not verify against its registered public share")]
    ProofFailed,
    /// The OPRF refused its input.
    #[error("OPRF: {what}")]
    Oprf {
        /// What it refused.
        what: &'static str,
    },
    /// A threshold outside `1 ≤ k ≤ n ≤ 16`.
    #[error("a realm set needs 1 ≤ k ≤ n ≤ 16 realms; got {k} of {n}")]
    BadThreshold {
        /// Realms needed.
        k: u8,
        /// Realms in the set.
        n: u8,
    },
    /// A share index that is zero, repeated or outside the set.
    #[error("share index {index} is zero, repeated or outside the realm set")]
    BadIndex {
        /// The index.
        index: u8,
    },
    /// A guess policy no realm set can enforce as stated.
    #[error("guess policy: {what}")]
    BadPolicy {
        /// What is wrong with it.
        what: &'static str,
    },
    /// The bytes do not start with the expected magic.
    #[error("not a keylink realm {what} (bad magic bytes)")]
    BadMagic {
        /// Which structure.
        what: &'static str,
    },
    /// A format version this build does not understand.
    #[error("unsupported realm format version {got}; a newer keylink may be needed")]
    UnsupportedVersion {
        /// The version byte found.
        got: u8,
    },
    /// An OPRF suite this build does not understand.
    #[error("unsupported OPRF suite {got}")]
    UnsupportedSuite {
        /// The suite byte found.
        got: u8,
    },
    /// The input ended before the structure did.
    #[error("input truncated: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes there were.
        got: usize,
    },
    /// Bytes left over after the structure.
    #[error("{extra} unexpected bytes after the structure")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("malformed: {what}")]
    Malformed {
        /// Which field.
        what: &'static str,
    },
    /// A realm answered for another account.
    #[error("the realm answered for another account")]
    WrongAccount,
    /// A realm holds (or answered for) another registration than the one
    /// the password wrap names.
    #[error(
        "the realm holds a different registration than the password wrap names (a stale or foreign wrap, or a realm that lost or replaced the account)"
    )]
    WrongRegistration,
    /// A realm claimed a share slot that belongs to another realm.
    #[error("realm claims share {index}, which the registration gives to another realm")]
    WrongRealm {
        /// The claimed index.
        index: u8,
    },
    /// Two answers claimed the same share index.
    #[error("two realms claimed share {index}")]
    DuplicateIndex {
        /// The index.
        index: u8,
    },
    /// A registration's share does not match the public share it commits to.
    #[error("the share does not match the registration's public share {index}")]
    ShareMismatch {
        /// The share index.
        index: u8,
    },
    /// The account is registered here already and the request is not signed
    /// by its realm-admin key.
    #[error(
        "this account name is already registered at the realm by someone else; choose another account name"
    )]
    AlreadyRegistered,
    /// A request's realm-admin signature does not verify.
    #[error("not authorised: {what}")]
    NotAuthorized {
        /// Which signature failed.
        what: &'static str,
    },
    /// A registration for an older epoch than the one the realm holds.
    #[error("registration for epoch {got} is older than the realm's (epoch {held})")]
    StaleRegistration {
        /// The request's epoch.
        got: u64,
        /// The epoch the realm holds.
        held: u64,
    },
    /// The account is not registered at this realm.
    #[error(
        "the realm does not know this account (never registered, or its data was lost); a current device re-registers it"
    )]
    NotRegistered,
    /// The guess policy is used up: the realm refuses this registration
    /// until a current device registers again.
    #[error(
        "password recovery is locked after {wrong_guesses} wrong guesses; link from a current device, or use the recovery key"
    )]
    Locked {
        /// Guesses made since the last successful recovery.
        wrong_guesses: u32,
    },
    /// The realm limits guesses in time, and the next is not yet allowed.
    #[error("too many password guesses in a short time; try again in {wait_s} s")]
    TooSoon {
        /// Seconds until the next guess is allowed.
        wait_s: u64,
    },
    /// A counter reset without the right unlock tag.
    #[error("the unlock proof does not match; the guess counter was not reset")]
    BadUnlockTag,
    /// Fewer than `k` realms gave a valid answer.
    #[error("{needed} of {of} realms are needed, {answered} answered with a valid evaluation")]
    NotEnoughRealms {
        /// Realms needed.
        needed: u8,
        /// Realms in the set.
        of: u8,
        /// Valid answers received.
        answered: u8,
    },
    /// A realm's lifetime guess count went backwards since this device last
    /// saw it: the realm's state was restored from an old copy.
    #[error(
        "realm {index} reports {reported} guesses ever made, fewer than the {seen} this device saw: its counters were rolled back"
    )]
    RolledBack {
        /// The realm's share index.
        index: u8,
        /// What this device saw before.
        seen: u64,
        /// What the realm reports now.
        reported: u64,
    },
    /// A key-hierarchy error.
    #[error(transparent)]
    Keys(#[from] keylink_keys::Error),
}

impl Error {
    /// A stable name for the error's kind, as the test vectors spell it.
    pub fn class(&self) -> &'static str {
        match self {
            Error::BadKey { .. } => "bad_key",
            Error::BadElement { .. } => "bad_element",
            Error::ProofFailed => "proof_failed",
            Error::Oprf { .. } => "oprf",
            Error::BadThreshold { .. } => "bad_threshold",
            Error::BadIndex { .. } => "bad_index",
            Error::BadPolicy { .. } => "bad_policy",
            Error::BadMagic { .. } => "bad_magic",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::UnsupportedSuite { .. } => "unsupported_suite",
            Error::Truncated { .. } => "truncated",
            Error::TrailingBytes { .. } => "trailing_bytes",
            Error::Malformed { .. } => "malformed",
            Error::WrongAccount => "wrong_account",
            Error::WrongRegistration => "wrong_registration",
            Error::WrongRealm { .. } => "wrong_realm",
            Error::DuplicateIndex { .. } => "duplicate_index",
            Error::ShareMismatch { .. } => "share_mismatch",
            Error::AlreadyRegistered => "already_registered",
            Error::NotAuthorized { .. } => "not_authorized",
            Error::StaleRegistration { .. } => "stale_registration",
            Error::NotRegistered => "not_registered",
            Error::Locked { .. } => "locked",
            Error::TooSoon { .. } => "too_soon",
            Error::BadUnlockTag => "bad_unlock_tag",
            Error::NotEnoughRealms { .. } => "not_enough_realms",
            Error::RolledBack { .. } => "rolled_back",
            Error::Keys(_) => "keys",
        }
    }
}

impl From<pakery_crypto::VoprfError> for Error {
    fn from(e: pakery_crypto::VoprfError) -> Self {
        use pakery_crypto::VoprfError as V;
        match e {
            V::Deserialize => Error::BadElement {
                what: "element or key does not decode",
            },
            V::Verify => Error::ProofFailed,
            V::InputTooLong => Error::Oprf {
                what: "input longer than 65535 bytes",
            },
            V::InvalidInput => Error::Oprf {
                what: "input hashes to the identity, or the blind is zero",
            },
            _ => Error::Oprf {
                what: "the OPRF refused the operation",
            },
        }
    }
}

/// This crate's result type.
pub type Result<T> = core::result::Result<T, Error>;
