//! The one error type of this crate.

/// Everything that can go wrong in the key hierarchy.
///
/// No variant carries secret material: not a key, not a password, not a digit
/// of a recovery key. Opening a wrap with the wrong secret and opening a wrap
/// whose bytes were altered are deliberately the same variant
/// ([`Error::WrongSecretOrTampered`]): the commitment and the AEAD tag cannot
/// tell them apart, and a caller should not try.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The password or recovery key is wrong, or the wrap was altered.
    #[error("wrong password or recovery key, or the key wrap was altered; nothing was changed")]
    WrongSecretOrTampered,
    /// The wrap asks for a key-derivation cost below what this reader accepts
    /// (a downgrade attempt, or a wrap written by an insecure test build).
    #[error(
        "key wrap asks for Argon2id m={m_kib} KiB, t={t}, p={p}, below the accepted floor; refusing to use it"
    )]
    ParamsBelowFloor {
        /// Memory cost in KiB.
        m_kib: u32,
        /// Time cost (passes).
        t: u32,
        /// Parallelism (lanes).
        p: u32,
    },
    /// The wrap asks for a key-derivation cost above what this reader is
    /// willing to spend (a hostile header trying to exhaust the device).
    #[error(
        "key wrap asks for Argon2id m={m_kib} KiB, t={t}, p={p}, above the accepted ceiling; refusing to run it"
    )]
    ParamsAboveCeiling {
        /// Memory cost in KiB.
        m_kib: u32,
        /// Time cost (passes).
        t: u32,
        /// Parallelism (lanes).
        p: u32,
    },
    /// A format version this build does not understand.
    #[error("unsupported format version {got}; a newer keylink may be needed")]
    UnsupportedVersion {
        /// The version byte found.
        got: u8,
    },
    /// A key-derivation function identifier this build does not understand.
    #[error("unsupported key-derivation function id {got}")]
    UnsupportedKdf {
        /// The identifier found.
        got: u8,
    },
    /// The bytes do not start with the expected magic.
    #[error("not a keylink key wrap (bad magic bytes)")]
    BadMagic,
    /// The input ended before the structure did.
    #[error("input truncated: needed {needed} bytes, got {got}")]
    Truncated {
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes that were given.
        got: usize,
    },
    /// Bytes remain after the structure ended.
    #[error("{extra} unexpected trailing bytes after the structure")]
    TrailingBytes {
        /// How many bytes were left over.
        extra: usize,
    },
    /// A field holds a value the format forbids.
    #[error("malformed {what}")]
    Malformed {
        /// Which field or structure.
        what: &'static str,
    },
    /// A password wrap was given where a recovery wrap was expected, or the
    /// reverse.
    #[error("this wrap is a {got} wrap, not a {expected} wrap")]
    WrongWrapKind {
        /// The kind the caller asked to open.
        expected: &'static str,
        /// The kind the wrap is.
        got: &'static str,
    },
    /// A password wrap whose key needs the realms was asked to open with the
    /// password alone, or a realm-less one with realms.
    #[error("this password wrap {needs}; its key cannot be derived the other way")]
    RealmMismatch {
        /// What the wrap needs: "needs the realms" or "does not use realms".
        needs: &'static str,
    },
    /// An X25519 exchange produced the all-zero output: the peer's public
    /// key is a low-order point.
    #[error("the public key is a low-order point (non-contributory key exchange); refusing it")]
    NonContributory,
    /// A public key does not decode, or is a small-order (weak) key.
    #[error("invalid public key: {what}")]
    InvalidPublicKey {
        /// Which key.
        what: &'static str,
    },
    /// A signature did not verify under the given key and context.
    #[error("signature verification failed")]
    BadSignature,
    /// A sealed box did not open: not addressed to this device, addressed to
    /// another account or epoch, or altered.
    #[error("sealed key could not be opened: not for this device, account or epoch, or altered")]
    SealedBoxOpen,
    /// The password is empty after normalisation.
    #[error("the password is too short: at least {min} characters are required")]
    PasswordTooShort {
        /// Minimum length in Unicode scalar values.
        min: usize,
    },
    /// The password is longer than the format allows.
    #[error("the password is too long: at most {max} bytes are allowed")]
    PasswordTooLong {
        /// Maximum length in bytes (UTF-8, after normalisation).
        max: usize,
    },
    /// The password holds a control character (a stray newline or escape),
    /// which a user could not type again reliably.
    #[error("the password contains a control character")]
    PasswordControlCharacter,
    /// A recovery key's check group does not match its digits: a typo.
    #[error("{}", recovery_checksum_message(*group))]
    RecoveryChecksum {
        /// The 1-based group holding the typo, when it can be located.
        group: Option<usize>,
    },
    /// A recovery key group has the wrong number of digits.
    #[error("recovery key group {group} has {len} digits; every group has 4")]
    RecoveryGroupLength {
        /// 1-based group index.
        group: usize,
        /// Digits found in it.
        len: usize,
    },
    /// A recovery key has the wrong number of digits or groups.
    #[error("a recovery key has 68 digits in 17 groups of 4; this one has {digits} digits")]
    RecoveryLength {
        /// Digits found.
        digits: usize,
    },
    /// A recovery key contains a character other than digits, spaces and dashes.
    #[error("recovery key character {position} is not a digit, space or dash")]
    RecoveryCharacter {
        /// 1-based character position.
        position: usize,
    },
    /// The Argon2 implementation refused its inputs. Parameters are checked
    /// before it runs, so this indicates a bug, not bad input.
    #[error("the password hashing function failed")]
    Kdf,
}

fn recovery_checksum_message(group: Option<usize>) -> String {
    match group {
        Some(g) => format!("recovery key has a typo in group {g}; check that group and try again"),
        None => "recovery key check digits do not match; check every group and try again".into(),
    }
}

impl Error {
    /// A short, stable name for the class of this error, used by the test
    /// vectors (`expected_error`) and by callers that map errors to codes.
    pub fn class(&self) -> &'static str {
        match self {
            Error::WrongSecretOrTampered => "wrong_secret_or_tampered",
            Error::ParamsBelowFloor { .. } => "params_below_floor",
            Error::ParamsAboveCeiling { .. } => "params_above_ceiling",
            Error::UnsupportedVersion { .. } => "unsupported_version",
            Error::UnsupportedKdf { .. } => "unsupported_kdf",
            Error::BadMagic => "bad_magic",
            Error::Truncated { .. } => "truncated",
            Error::TrailingBytes { .. } => "trailing_bytes",
            Error::Malformed { .. } => "malformed",
            Error::WrongWrapKind { .. } => "wrong_wrap_kind",
            Error::RealmMismatch { .. } => "realm_mismatch",
            Error::NonContributory => "non_contributory",
            Error::InvalidPublicKey { .. } => "invalid_public_key",
            Error::BadSignature => "bad_signature",
            Error::SealedBoxOpen => "sealed_box_open",
            Error::PasswordTooShort { .. } => "password_too_short",
            Error::PasswordTooLong { .. } => "password_too_long",
            Error::PasswordControlCharacter => "password_control_character",
            Error::RecoveryChecksum { .. } => "bad_recovery_checksum",
            Error::RecoveryGroupLength { .. } => "recovery_group_length",
            Error::RecoveryLength { .. } => "recovery_length",
            Error::RecoveryCharacter { .. } => "recovery_character",
            Error::Kdf => "kdf",
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
