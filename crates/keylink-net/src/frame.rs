//! Frames: a 4-byte big-endian length, then that many bytes. The length is
//! checked against the caller's maximum (never above [`MAX_FRAME`]) before
//! a buffer is allocated.

use std::future::Future;

use quinn::{RecvStream, SendStream};

use crate::transport::{RecvHalf, SendHalf};

use crate::error::NetError;

/// The largest frame any keylink message may use: 12 MiB (an 8 MiB manifest
/// page plus its sealing and framing, with room to spare).
pub const MAX_FRAME: usize = 12 << 20;

/// A stream frames are written to: quinn's, or this crate's [`SendHalf`].
pub trait FrameSink {
    /// Write all of `bytes`.
    fn put(
        &mut self,
        bytes: &[u8],
    ) -> impl Future<Output = Result<(), NetError>> + std::marker::Send;
}

/// A stream frames are read from: quinn's, or this crate's [`RecvHalf`].
pub trait FrameSource {
    /// Fill `buf`; fewer bytes only when the stream ended.
    fn fill(
        &mut self,
        buf: &mut [u8],
    ) -> impl Future<Output = Result<usize, NetError>> + std::marker::Send;
}

impl FrameSink for SendStream {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        self.write_all(bytes).await.map_err(NetError::from)
    }
}

impl FrameSink for SendHalf {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        self.write_all(bytes).await
    }
}

impl FrameSource for RecvStream {
    async fn fill(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        match self.read_exact(buf).await {
            Ok(()) => Ok(buf.len()),
            Err(quinn::ReadExactError::FinishedEarly(n)) => Ok(n),
            Err(e) => Err(e.into()),
        }
    }
}

impl FrameSource for RecvHalf {
    async fn fill(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        self.read_full(buf).await
    }
}

/// Write one frame.
///
/// # Errors
/// [`NetError::FrameTooLarge`] if `bytes` exceeds [`MAX_FRAME`];
/// [`NetError::Write`].
pub async fn write_frame(send: &mut impl FrameSink, bytes: &[u8]) -> Result<(), NetError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|&l| (l as usize) <= MAX_FRAME)
        .ok_or(NetError::FrameTooLarge {
            len: bytes.len() as u64,
            max: MAX_FRAME,
        })?;
    send.put(&len.to_be_bytes()).await?;
    send.put(bytes).await?;
    Ok(())
}

/// Read one frame of at most `max` bytes. `Ok(None)` if the stream ended
/// cleanly before a frame began.
///
/// # Errors
/// [`NetError::FrameTooLarge`] (nothing allocated), [`NetError::Truncated`],
/// [`NetError::Read`].
pub async fn read_frame(
    recv: &mut impl FrameSource,
    max: usize,
) -> Result<Option<Vec<u8>>, NetError> {
    let max = max.min(MAX_FRAME);
    let mut len = [0u8; 4];
    match recv.fill(&mut len).await? {
        4 => {}
        0 => return Ok(None),
        _ => return Err(NetError::Truncated),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(NetError::FrameTooLarge {
            len: len as u64,
            max,
        });
    }
    let mut buf = vec![0u8; len];
    if recv.fill(&mut buf).await? == len {
        Ok(Some(buf))
    } else {
        Err(NetError::Truncated)
    }
}
