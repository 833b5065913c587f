//! The one error type of this crate.

/// Why bytes could not be turned into a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The message is longer than the format allows; it was not decoded.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a valid protobuf encoding of the message.
    #[error("malformed message: not a valid encoding")]
    Decode,
    /// The message's format version is not one this build reads.
    #[error("unsupported message version {got}; a newer keylink may be needed")]
    UnsupportedVersion {
        /// The version found.
        got: u32,
    },
    /// A fixed-length field has the wrong length.
    #[error("field {field} has {got} bytes, expected {expected}")]
    FieldLength {
        /// Field name.
        field: &'static str,
        /// Required length.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// A required field is missing or empty.
    #[error("required field {field} is missing")]
    Missing {
        /// Field name.
        field: &'static str,
    },
    /// A repeated field has more elements than the format allows.
    #[error("field {field} has more than {max} elements")]
    TooMany {
        /// Field name.
        field: &'static str,
        /// The limit.
        max: usize,
    },
    /// A device name is empty, too long, or holds a control character.
    #[error("a device name must be 1 to {max} bytes of text without control characters")]
    BadName {
        /// The longest name, in bytes.
        max: usize,
    },
    /// A path is empty, too long, absolute, or has an empty, `.`, `..` or
    /// NUL-containing component.
    #[error("unsafe or malformed path in a manifest")]
    BadPath,
    /// Fields that are each valid contradict one another.
    #[error("inconsistent message: {what}")]
    Inconsistent {
        /// What disagrees.
        what: &'static str,
    },
    /// A field decoded but holds an invalid value (for example, a public key
    /// that is not a valid point).
    #[error("invalid {field}: {source}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// What the key layer said.
        source: keylink_keys::Error,
    },
}

impl WireError {
    /// A short, stable name for the class of this error (test vectors).
    pub fn class(&self) -> &'static str {
        match self {
            WireError::TooLarge { .. } => "too_large",
            WireError::Decode => "decode",
            WireError::UnsupportedVersion { .. } => "unsupported_version",
            WireError::FieldLength { .. } => "field_length",
            WireError::Missing { .. } => "missing",
            WireError::TooMany { .. } => "too_many",
            WireError::BadName { .. } => "bad_name",
            WireError::BadPath => "bad_path",
            WireError::Inconsistent { .. } => "inconsistent",
            WireError::Invalid { .. } => "invalid",
        }
    }
}
