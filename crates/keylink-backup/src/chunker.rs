//! Content-defined chunking (FastCDC 2020, via the `fastcdc` crate), so an
//! edit re-uploads only the chunks around it.
//!
//! The gear table is keyed: `fastcdc` XORs a 64-bit seed into every entry,
//! and the seed is derived from the epoch's chunk-id key. With the public
//! table, anyone holding a candidate file could compute its cut points and
//! recognise it from the sequence of stored object sizes; with a keyed
//! table they cannot without the key. (64 bits XORed into a public table is
//! a speed bump rather than a proof: it is stated as such in the spec.)

use std::io::Read;

use fastcdc::v2020::{Normalization, StreamCDC};

use crate::error::{Error, Result};

/// Smallest chunk (except a file's last, or a file smaller than this): 64 KiB.
pub const CHUNK_MIN: usize = 64 << 10;
/// Target average chunk: 256 KiB.
pub const CHUNK_AVG: usize = 256 << 10;
/// Largest chunk this writer makes: 1 MiB (readers accept up to 8 MiB).
pub const CHUNK_MAX: usize = 1 << 20;

/// The gear-table seed for an epoch: the first 8 bytes (little-endian) of
/// `BLAKE3-derive-key("keylink/v1/chunker-seed", chunk-id key)`, with 0
/// (which `fastcdc` treats as "unkeyed") replaced by 1.
pub fn seed(id_key: &keylink_keys::ChunkIdKey) -> u64 {
    let context = std::str::from_utf8(keylink_keys::labels::CHUNKER_SEED)
        .unwrap_or("keylink/v1/chunker-seed");
    let derived = zeroize::Zeroizing::new(blake3::derive_key(context, id_key.expose_secret()));
    let mut first = [0u8; 8];
    first.copy_from_slice(&derived[..8]);
    u64::from_le_bytes(first).max(1)
}

/// Split a stream into chunks with the keyed table `seed`. The buffer is
/// bounded by [`CHUNK_MAX`].
pub fn chunks<R: Read>(reader: R, seed: u64) -> impl Iterator<Item = Result<Vec<u8>>> {
    StreamCDC::with_level_and_seed(
        reader,
        CHUNK_MIN,
        CHUNK_AVG,
        CHUNK_MAX,
        Normalization::Level1,
        seed,
    )
    .map(|c| {
        c.map(|c| c.data).map_err(|e| Error::Io {
            op: "read",
            path: String::new(),
            source: match e {
                fastcdc::v2020::Error::IoError(io) => io,
                other => std::io::Error::other(other.to_string()),
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use keylink_keys::{AccountId, Epoch, RootKey};

    use super::*;

    fn cuts(data: &[u8], seed: u64) -> Vec<usize> {
        chunks(data, seed)
            .map(|c| c.map(|c| c.len()).unwrap_or(0))
            .collect()
    }

    /// Two accounts (two chunk-id keys) cut the same file at different
    /// places; one account always cuts it the same way.
    #[test]
    fn cut_points_depend_on_the_key() {
        let mut rng = rand::rng();
        let mut data = vec![0u8; 3_000_000];
        rand::Rng::fill_bytes(&mut rng, &mut data);
        let key =
            |rng: &mut _| RootKey::generate(Epoch(0), rng).chunk_id_key(&AccountId::generate(rng));
        let (a, b) = (seed(&key(&mut rng)), seed(&key(&mut rng)));
        assert_ne!(a, b);
        assert_eq!(cuts(&data, a), cuts(&data, a));
        assert_ne!(cuts(&data, a), cuts(&data, b));
        assert_ne!(cuts(&data, a), cuts(&data, 0), "not the public table");
    }
}
