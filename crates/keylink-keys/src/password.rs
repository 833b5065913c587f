//! Passwords and how they are normalised before hashing.
//!
//! The same password must produce the same bytes on every device and
//! keyboard, so before Argon2id sees it a password is:
//!
//! 1. put in Unicode Normalization Form C (NFC), so `é` typed as one code
//!    point (macOS keyboards) and as `e` + combining accent (some Linux
//!    input methods) are the same password;
//! 2. every Unicode `White_Space` character (no-break space, ideographic
//!    space, …) other than the ASCII space is mapped to U+0020, as the PRECIS
//!    OpaqueString profile (RFC 8265) does;
//! 3. refused if it holds a control character (U+0000–U+001F, U+007F–U+009F),
//!    which usually means a stray newline from a file or terminal;
//! 4. refused if shorter than [`MIN_PASSWORD_CHARS`] characters or longer
//!    than [`MAX_PASSWORD_BYTES`] bytes of UTF-8.
//!
//! Nothing else changes: case is kept, and leading and trailing spaces are
//! part of the password (trimming silently would make a password that was
//! set with a trailing space impossible to enter exactly).

use core::fmt;

use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// Fewest Unicode scalar values a password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most UTF-8 bytes a normalised password may have.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A normalised password. Zeroizes on drop; prints as `[redacted]`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

impl Password {
    /// Normalise and validate a password as typed.
    ///
    /// # Errors
    /// [`Error::PasswordTooShort`], [`Error::PasswordTooLong`] or
    /// [`Error::PasswordControlCharacter`].
    pub fn new(typed: &str) -> Result<Self> {
        if typed.len() > 4 * MAX_PASSWORD_BYTES {
            // Bound the work of normalising before doing it.
            return Err(Error::PasswordTooLong {
                max: MAX_PASSWORD_BYTES,
            });
        }
        let mut normalised = String::with_capacity(typed.len());
        for c in typed.nfc() {
            if c.is_control() {
                normalised.zeroize();
                return Err(Error::PasswordControlCharacter);
            }
            normalised.push(if c.is_whitespace() { ' ' } else { c });
        }
        let result = if normalised.chars().count() < MIN_PASSWORD_CHARS {
            Err(Error::PasswordTooShort {
                min: MIN_PASSWORD_CHARS,
            })
        } else if normalised.len() > MAX_PASSWORD_BYTES {
            Err(Error::PasswordTooLong {
                max: MAX_PASSWORD_BYTES,
            })
        } else {
            return Ok(Self(normalised));
        };
        normalised.zeroize();
        result
    }

    /// The normalised bytes fed to Argon2id. Never log what this returns.
    pub fn expose_secret(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Vec<u8> {
        Password::new(s).unwrap().expose_secret().to_vec()
    }

    #[test]
    fn composed_and_decomposed_forms_are_one_password() {
        assert_eq!(norm("caf\u{e9} au lait"), norm("cafe\u{301} au lait"));
    }

    #[test]
    fn unicode_spaces_become_ascii_space() {
        assert_eq!(norm("correct\u{a0}horse"), b"correct horse");
        assert_eq!(norm("correct\u{3000}horse"), b"correct horse");
    }

    #[test]
    fn case_and_outer_spaces_are_kept() {
        assert_eq!(norm(" Password1 "), b" Password1 ");
        assert_ne!(norm("Password1"), norm("password1"));
    }

    #[test]
    fn bad_passwords_are_refused_with_their_class() {
        assert_eq!(
            Password::new("short").unwrap_err().class(),
            "password_too_short"
        );
        assert_eq!(Password::new("").unwrap_err().class(), "password_too_short");
        assert_eq!(
            Password::new("line one\nline two").unwrap_err().class(),
            "password_control_character"
        );
        assert_eq!(
            Password::new(&"x".repeat(MAX_PASSWORD_BYTES + 1))
                .unwrap_err()
                .class(),
            "password_too_long"
        );
        assert!(Password::new(&"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
    }
}
