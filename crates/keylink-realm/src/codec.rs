//! Bounded reading and plain writing of the realm formats' bytes.

use crate::error::{Error, Result};

/// A cursor over untrusted bytes that checks every read against what remains.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    total: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            total: bytes.len(),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let Some((head, rest)) = self.rest.split_first_chunk::<N>() else {
            return Err(self.truncated(N));
        };
        self.rest = rest;
        Ok(*head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// `len` bytes, where `len` was read from the input and checked against
    /// `max` by the caller's format before any allocation.
    pub(crate) fn bytes(&mut self, len: usize, max: usize, what: &'static str) -> Result<&'a [u8]> {
        if len > max {
            return Err(Error::Malformed { what });
        }
        if self.rest.len() < len {
            return Err(self.truncated(len));
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    /// Check that nothing is left.
    pub(crate) fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                extra: self.rest.len(),
            })
        }
    }

    /// A magic and a version byte; the magic names the structure.
    pub(crate) fn header(
        &mut self,
        magic: &[u8; 4],
        version: u8,
        what: &'static str,
    ) -> Result<()> {
        if self.array::<4>()? != *magic {
            return Err(Error::BadMagic { what });
        }
        let got = self.u8()?;
        if got != version {
            return Err(Error::UnsupportedVersion { got });
        }
        Ok(())
    }

    fn truncated(&self, n: usize) -> Error {
        Error::Truncated {
            needed: self.total - self.rest.len() + n,
            got: self.total,
        }
    }
}
