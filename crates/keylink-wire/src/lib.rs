//! keylink's wire format.
//!
//! What it does: encodes and decodes the protobuf messages in
//! `proto/keylink/v1/`, and converts them to and from validated domain types.
//! The prost-generated types are private to this crate; everything else sees
//! only domain values, which can be built only through validation (every
//! field named in the conversion, every length checked, the version checked
//! first, the whole message bounded before decoding).
//!
//! What it does not do: no I/O and no cryptography beyond the validation the
//! domain types themselves perform (a public key must be a valid key).
//!
//! ```
//! use keylink_keys::DeviceIdentity;
//! use keylink_wire::{Wire, WireError};
//! # fn main() -> Result<(), WireError> {
//! let device = DeviceIdentity::generate(&mut rand::rng());
//! let bytes = device.public_keys().encode();
//! let back = keylink_keys::DevicePublicKeys::decode(&bytes)?;
//! assert_eq!(back.device_id(), device.device_id());
//! // A message from a future format version is its own error.
//! assert!(matches!(
//!     keylink_keys::DevicePublicKeys::decode(&[0x08, 0x02]),
//!     Err(WireError::UnsupportedVersion { got: 2 })
//! ));
//! # Ok(()) }
//! ```

pub mod account;
pub mod backup;
mod error;
mod keys;
pub mod link;
pub mod server;

#[allow(missing_docs, clippy::all)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/keylink.v1.rs"));
}

pub use error::WireError;
pub use keys::{KeyWraps, SealedRootKey};

/// The protobuf format version every top-level message carries.
pub const WIRE_VERSION: u32 = 1;

/// A domain type with a wire encoding.
pub trait Wire: Sized {
    /// Encode to protobuf bytes.
    fn encode(&self) -> Vec<u8>;
    /// Decode and validate protobuf bytes.
    ///
    /// # Errors
    /// [`WireError`] naming what was wrong.
    fn decode(bytes: &[u8]) -> Result<Self, WireError>;
}

/// Check the message bound, decode with prost, then check the version.
pub(crate) fn decode_checked<M: prost::Message + Default>(
    bytes: &[u8],
    max_len: usize,
    version: impl Fn(&M) -> u32,
) -> Result<M, WireError> {
    if bytes.len() > max_len {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let msg = M::decode(bytes).map_err(|_| WireError::Decode)?;
    let got = version(&msg);
    if got != WIRE_VERSION {
        return Err(WireError::UnsupportedVersion { got });
    }
    Ok(msg)
}

/// A `bytes` field that must have exactly `N` bytes.
pub(crate) fn fixed<const N: usize>(
    field: &'static str,
    bytes: &[u8],
) -> Result<[u8; N], WireError> {
    bytes.try_into().map_err(|_| WireError::FieldLength {
        field,
        expected: N,
        got: bytes.len(),
    })
}
