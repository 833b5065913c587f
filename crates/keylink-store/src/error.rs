//! The one error type of this crate.

/// Why a storage operation failed. Never carries object contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No object has that key.
    #[error("object {key} not found")]
    NotFound {
        /// The key.
        key: String,
    },
    /// The object is longer than the caller accepts; it was not read.
    #[error("object {key} is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// The key.
        key: String,
        /// Its length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The key is not a valid object key.
    #[error("invalid object key: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The underlying storage failed (disk full, permissions, …).
    #[error("storage {op} of {key} failed: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The key (or folder).
        key: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// A short, stable name for the class of this error.
    pub fn class(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "not_found",
            StoreError::TooLarge { .. } => "too_large",
            StoreError::InvalidKey { .. } => "invalid_key",
            StoreError::Io { .. } => "io",
        }
    }
}
