//! keylink's network layer — the only crate that uses quinn.
//!
//! What it does: builds QUIC endpoints for the server and for clients (ALPN
//! `keylink/1`, TLS 1.3 by rustls with the ring provider, 0-RTT off, idle
//! timeout and keep-alive set, bounded streams, 4 MiB UDP buffers);
//! identifies the server by a certificate loaded from files or generated
//! once and kept (Ed25519, self-signed), which clients pin by its SHA-256
//! fingerprint or verify against a CA; moves length-prefixed frames with the
//! length checked against a maximum before anything is allocated; and
//! exposes the TLS exporter so a protocol can bind itself to the connection.
//!
//! What it does not do: it does not interpret frames (the server and the
//! client do), and it has no insecure mode except the explicitly named
//! [`ServerTrust::InsecureAcceptAny`], for tests.

mod config;
mod error;
mod frame;
mod identity;
mod transport;

pub use config::{
    ALPN, EndpointLimits, ServerTrust, Socket, client_endpoint, client_endpoint_on, connect,
    exporter, peer_fingerprint, server_endpoint, server_endpoint_on,
};
pub use error::NetError;
pub use frame::{FrameSink, FrameSource, MAX_FRAME, read_frame, write_frame};
pub use identity::{Fingerprint, ServerIdentity};
pub use quinn::{AsyncUdpSocket, Connection, Endpoint, RecvStream, SendStream, UdpPoller};
pub use transport::{
    AnyEndpoint, AnyIncoming, Conn, MemConn, MemEndpoint, MemNet, RecvHalf, SendHalf,
};
