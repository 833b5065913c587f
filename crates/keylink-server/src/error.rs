//! Errors of the server and of its client.

use keylink_net::NetError;
use keylink_wire::WireError;
use keylink_wire::server::FailureCode;

/// Why the server could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The network layer failed.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// The storage failed.
    #[error("storage: {0}")]
    Store(#[from] keylink_store::StoreError),
    /// A stored account log does not verify (the data folder was altered).
    #[error("stored account log does not verify: {0}")]
    CorruptLog(#[from] keylink_account::Error),
}

/// Why a request failed, as the client sees it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The network failed (server down, wrong fingerprint, connection lost).
    #[error("{0}")]
    Net(#[from] NetError),
    /// A message did not decode.
    #[error("malformed message from the server: {0}")]
    Wire(#[from] WireError),
    /// The server refused the request.
    #[error("the server refused: {message} ({code:?})")]
    Refused {
        /// Why.
        code: FailureCode,
        /// What it said.
        message: String,
    },
    /// The server answered with the wrong kind of response.
    #[error("unexpected response from the server")]
    Unexpected,
    /// The server did not answer in time.
    #[error("the server did not answer in time; check the connection and retry")]
    Timeout,
    /// Signing the authentication challenge failed (no exporter).
    #[error("could not bind authentication to the connection")]
    Exporter,
}

impl ClientError {
    /// The failure code, if the server refused.
    pub fn code(&self) -> Option<FailureCode> {
        match self {
            ClientError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}
