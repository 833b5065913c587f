//! Frames: a 4-byte big-endian length, then that many bytes. The length is
//! checked against the caller's maximum (never above [`MAX_FRAME`]) before
//! a buffer is allocated.

use quinn::{RecvStream, SendStream};

use crate::error::NetError;

/// The largest frame any keylink message may use: 12 MiB (an 8 MiB manifest
/// page plus its sealing and framing, with room to spare).
pub const MAX_FRAME: usize = 12 << 20;

/// Write one frame.
///
/// # Errors
/// [`NetError::FrameTooLarge`] if `bytes` exceeds [`MAX_FRAME`];
/// [`NetError::Write`].
pub async fn write_frame(send: &mut SendStream, bytes: &[u8]) -> Result<(), NetError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|&l| (l as usize) <= MAX_FRAME)
        .ok_or(NetError::FrameTooLarge {
            len: bytes.len() as u64,
            max: MAX_FRAME,
        })?;
    send.write_all(&len.to_be_bytes()).await?;
    send.write_all(bytes).await?;
    Ok(())
}

/// Read one frame of at most `max` bytes. `Ok(None)` if the stream ended
/// cleanly before a frame began.
///
/// # Errors
/// [`NetError::FrameTooLarge`] (nothing allocated), [`NetError::Truncated`],
/// [`NetError::Read`].
pub async fn read_frame(recv: &mut RecvStream, max: usize) -> Result<Option<Vec<u8>>, NetError> {
    let max = max.min(MAX_FRAME);
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(_)) => return Err(NetError::Truncated),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(NetError::FrameTooLarge {
            len: len as u64,
            max,
        });
    }
    let mut buf = vec![0u8; len];
    match recv.read_exact(&mut buf).await {
        Ok(()) => Ok(Some(buf)),
        Err(quinn::ReadExactError::FinishedEarly(_)) => Err(NetError::Truncated),
        Err(e) => Err(e.into()),
    }
}
