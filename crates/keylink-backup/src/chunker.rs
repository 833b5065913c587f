//! Content-defined chunking (FastCDC 2020, via the `fastcdc` crate), so an
//! edit re-uploads only the chunks around it.

use std::io::Read;

use fastcdc::v2020::{Normalization, StreamCDC};

use crate::error::{Error, Result};

/// Smallest chunk (except a file's last, or a file smaller than this): 64 KiB.
pub const CHUNK_MIN: usize = 64 << 10;
/// Target average chunk: 256 KiB.
pub const CHUNK_AVG: usize = 256 << 10;
/// Largest chunk this writer makes: 1 MiB (readers accept up to 8 MiB).
pub const CHUNK_MAX: usize = 1 << 20;

/// Split a stream into chunks. The buffer is bounded by [`CHUNK_MAX`].
pub fn chunks<R: Read>(reader: R) -> impl Iterator<Item = Result<Vec<u8>>> {
    StreamCDC::with_level(
        reader,
        CHUNK_MIN,
        CHUNK_AVG,
        CHUNK_MAX,
        Normalization::Level1,
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
