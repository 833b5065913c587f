//! Object keys: a small, safe alphabet, so a key can never escape a store's
//! folder or mean different things to different backends.

use core::fmt;

use crate::error::StoreError;

/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// A validated object key: `/`-separated segments of `[A-Za-z0-9._-]`, no
/// empty, `.` or `..` segment, no segment starting with `.` (reserved for
/// the store's own files), at most 1,024 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validate a key.
    ///
    /// # Errors
    /// [`StoreError::InvalidKey`].
    pub fn new(key: &str) -> Result<Self, StoreError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(StoreError::InvalidKey {
                reason: "empty or longer than 1024 bytes",
            });
        }
        for seg in key.split('/') {
            if seg.is_empty() || seg.starts_with('.') {
                return Err(StoreError::InvalidKey {
                    reason: "empty segment, or a segment starting with '.'",
                });
            }
            if !seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            {
                return Err(StoreError::InvalidKey {
                    reason: "characters outside [A-Za-z0-9._-]",
                });
            }
        }
        Ok(Self(key.to_string()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::borrow::Borrow<str> for ObjectKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectKey({})", self.0)
    }
}
