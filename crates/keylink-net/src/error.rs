//! The one error type of this crate.

/// Why a network operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A frame announced a length above the limit; it was not read.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// The announced length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("the connection ended in the middle of a message")]
    Truncated,
    /// Reading from the stream failed.
    #[error("reading from the connection failed: {0}")]
    Read(#[from] quinn::ReadExactError),
    /// Writing to the stream failed.
    #[error("writing to the connection failed: {0}")]
    Write(#[from] quinn::WriteError),
    /// The stream was closed by the peer.
    #[error("the peer closed the stream")]
    Closed(#[from] quinn::ClosedStream),
    /// The connection failed or was lost.
    #[error("connection failed: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Connecting could not start (bad address, endpoint stopping).
    #[error("could not connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The server's certificate does not match the pinned fingerprint.
    #[error(
        "the server's certificate does not match the pinned fingerprint; refusing to talk to it"
    )]
    FingerprintMismatch,
    /// A fingerprint in the wrong form.
    #[error(
        "a fingerprint is 64 hexadecimal digits (colons allowed), optionally prefixed by 'sha256:'"
    )]
    BadFingerprint,
    /// TLS or QUIC configuration failed.
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    /// Generating or loading the server certificate failed.
    #[error("server certificate: {0}")]
    Certificate(String),
    /// Socket or file I/O failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The connection or stream ended (in-memory transport).
    #[error("the connection ended")]
    Ended,
    /// Nothing listens at the address (in-memory transport).
    #[error("no server is listening at that address")]
    Unreachable,
    /// The TLS exporter is not available on this connection.
    #[error("the connection's TLS exporter is unavailable")]
    Exporter,
}
