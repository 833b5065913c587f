//! A client for the server's protocol: one QUIC connection, one stream per
//! request. The device library builds on it; the tests drive the server
//! through it.

use std::net::SocketAddr;

use keylink_keys::{AccountId, DeviceIdentity, SignatureContext, labels};
use keylink_net::{AnyEndpoint, Conn, Connection, Endpoint, ServerTrust, read_frame, write_frame};
use keylink_wire::Wire;
use keylink_wire::server::{MAX_MESSAGE_LEN, Request, Response, SecretBytes};

use crate::conn::auth_message;
use crate::error::ClientError;

/// How long a request may take before the client gives up on it.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Most log entries [`ServerClient::fetch_log`] accepts (a server sending
/// more is refused rather than followed without end).
pub const MAX_LOG_ENTRIES: usize = 1_000_000;

/// A connection to a keylink server.
#[derive(Clone)]
pub struct ServerClient {
    conn: Conn,
}

impl ServerClient {
    /// Connect, verifying the server as `trust` says.
    ///
    /// # Errors
    /// [`ClientError::Net`] (including a fingerprint that does not match).
    pub async fn connect(
        endpoint: &Endpoint,
        addr: SocketAddr,
        trust: &ServerTrust,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            conn: keylink_net::connect(endpoint, addr, trust).await?.into(),
        })
    }

    /// Connect over any transport (QUIC, or a simulation's memory).
    ///
    /// # Errors
    /// As [`ServerClient::connect`].
    pub async fn connect_any(
        endpoint: &AnyEndpoint,
        addr: SocketAddr,
        trust: &ServerTrust,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            conn: endpoint.connect(addr, trust).await?,
        })
    }

    /// A client on a QUIC connection already made (and its server verified).
    pub fn from_connection(conn: Connection) -> Self {
        Self { conn: conn.into() }
    }

    /// A client on a connection already made, over any transport.
    pub fn from_conn(conn: Conn) -> Self {
        Self { conn }
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Conn {
        &self.conn
    }

    /// Send one request and read its answer; a refusal becomes
    /// [`ClientError::Refused`].
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn request(&self, request: &Request) -> Result<Response, ClientError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.request_inner(request))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn request_inner(&self, request: &Request) -> Result<Response, ClientError> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        write_frame(&mut send, &request.encode()).await?;
        let _ = send.finish();
        let frame = read_frame(&mut recv, MAX_MESSAGE_LEN)
            .await?
            .ok_or(keylink_net::NetError::Truncated)?;
        match Response::decode(&frame)? {
            Response::Failure { code, message } => Err(ClientError::Refused { code, message }),
            other => Ok(other),
        }
    }

    /// Prove to the server that this connection is `identity`, a device of
    /// `account`.
    ///
    /// # Errors
    /// [`ClientError::Refused`] (unknown or revoked device), [`ClientError::Net`].
    pub async fn authenticate(
        &self,
        account: &AccountId,
        identity: &DeviceIdentity,
    ) -> Result<(), ClientError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.authenticate_inner(account, identity))
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    async fn authenticate_inner(
        &self,
        account: &AccountId,
        identity: &DeviceIdentity,
    ) -> Result<(), ClientError> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        let device = identity.device_id();
        write_frame(
            &mut send,
            &Request::Hello {
                account: *account,
                device,
            }
            .encode(),
        )
        .await?;
        let frame = read_frame(&mut recv, 1024)
            .await?
            .ok_or(keylink_net::NetError::Truncated)?;
        let nonce = match Response::decode(&frame)? {
            Response::Challenge { nonce } => nonce,
            Response::Failure { code, message } => {
                return Err(ClientError::Refused { code, message });
            }
            _ => return Err(ClientError::Unexpected),
        };
        let binding = self
            .conn
            .exporter(labels::SERVER_AUTH_EXPORTER, b"")
            .map_err(|_| ClientError::Exporter)?;
        let signature = identity.sign(
            SignatureContext::ServerAuth,
            &auth_message(&nonce, account, &device, &binding),
        );
        write_frame(&mut send, &Request::Auth { signature }.encode()).await?;
        let _ = send.finish();
        let frame = read_frame(&mut recv, 1024)
            .await?
            .ok_or(keylink_net::NetError::Truncated)?;
        match Response::decode(&frame)? {
            Response::Done { .. } => Ok(()),
            Response::Failure { code, message } => Err(ClientError::Refused { code, message }),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// Append entries at `expected_next` (compare-and-swap).
    ///
    /// # Errors
    /// [`ClientError::Refused`] with `Conflict` when another device won.
    pub async fn append(
        &self,
        account: &AccountId,
        expected_next: u64,
        entries: Vec<Vec<u8>>,
    ) -> Result<(), ClientError> {
        expect_done(
            self.request(&Request::Append {
                account: *account,
                expected_next,
                entries,
            })
            .await?,
        )
        .map(|_| ())
    }

    /// Every log entry from `since` on.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn fetch_log(
        &self,
        account: &AccountId,
        since: u64,
    ) -> Result<Vec<Vec<u8>>, ClientError> {
        let mut out = Vec::new();
        loop {
            let next = since + out.len() as u64;
            match self
                .request(&Request::FetchLog {
                    account: *account,
                    since: next,
                })
                .await?
            {
                Response::Log { entries, more } => {
                    let got = entries.len();
                    out.extend(entries);
                    if out.len() > MAX_LOG_ENTRIES {
                        return Err(ClientError::Unexpected);
                    }
                    if !more || got == 0 {
                        return Ok(out);
                    }
                }
                _ => return Err(ClientError::Unexpected),
            }
        }
    }

    /// Create an object; `Ok(false)` if it already existed.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn put_object(&self, key: &str, value: Vec<u8>) -> Result<bool, ClientError> {
        expect_done(
            self.request(&Request::PutObject {
                key: key.to_string(),
                value,
            })
            .await?,
        )
    }

    /// Read an object of at most `max_len` bytes.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn get_object(&self, key: &str, max_len: u64) -> Result<Vec<u8>, ClientError> {
        match self
            .request(&Request::GetObject {
                key: key.to_string(),
                max_len,
            })
            .await?
        {
            Response::Object { value } => Ok(value),
            _ => Err(ClientError::Unexpected),
        }
    }
}

impl ServerClient {
    /// Keys of the authenticated account's objects under `prefix`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn list_objects(&self, prefix: &str) -> Result<Vec<String>, ClientError> {
        match self
            .request(&Request::ListObjects {
                prefix: prefix.to_string(),
            })
            .await?
        {
            Response::Keys { keys } => Ok(keys),
            _ => Err(ClientError::Unexpected),
        }
    }
}

/// Realm requests (docs/protocol.md §19). None needs authentication. The
/// bytes are `keylink-realm`'s formats, which the caller parses.
impl ServerClient {
    /// The realm's status for `account` (§19.6 "KLRS").
    ///
    /// # Errors
    /// [`ClientError`]; `NotFound` if the realm does not know the account.
    pub async fn realm_status(&self, account: &AccountId) -> Result<Vec<u8>, ClientError> {
        match self
            .request(&Request::RealmStatus { account: *account })
            .await?
        {
            Response::RealmState { status } => Ok(status),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// One counted password guess (§19.6 "KLRA" comes back).
    ///
    /// # Errors
    /// [`ClientError`]; `RealmLocked`, `RealmWrongRegistration`, `RateLimited`.
    pub async fn realm_guess(
        &self,
        account: &AccountId,
        commitment: &[u8; 32],
        blinded: &[u8; 32],
    ) -> Result<Vec<u8>, ClientError> {
        match self
            .request(&Request::RealmGuess {
                account: *account,
                commitment: *commitment,
                blinded: *blinded,
            })
            .await?
        {
            Response::RealmEvaluation { answer } => Ok(answer),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// Reset the realm's counter; returns the guesses it had counted.
    ///
    /// # Errors
    /// [`ClientError`]; `Forbidden` for a wrong tag.
    pub async fn realm_unlock(
        &self,
        account: &AccountId,
        commitment: &[u8; 32],
        unlock_tag: &keylink_keys::UnlockTag,
    ) -> Result<u32, ClientError> {
        match self
            .request(&Request::RealmUnlock {
                account: *account,
                commitment: *commitment,
                unlock_tag: SecretBytes::new(unlock_tag.expose_secret().to_vec()),
            })
            .await?
        {
            Response::RealmUnlocked { guesses } => Ok(guesses),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// Send a register request (it holds this realm's share: send it to its
    /// own realm only).
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn realm_register(&self, request: Vec<u8>) -> Result<(), ClientError> {
        let r = self
            .request(&Request::RealmRegister {
                request: SecretBytes::new(request),
            })
            .await?;
        expect_done(r).map(|_| ())
    }

    /// Clear a locked counter with the admin key; returns the guesses it
    /// had counted.
    ///
    /// # Errors
    /// [`ClientError`]; `Forbidden` for a key the realm does not hold,
    /// `Conflict` when the count moved since the status was read.
    pub async fn realm_reset(&self, reset: Vec<u8>) -> Result<u32, ClientError> {
        match self.request(&Request::RealmReset { reset }).await? {
            Response::RealmUnlocked { guesses } => Ok(guesses),
            _ => Err(ClientError::Unexpected),
        }
    }

    /// Send a hand-over.
    ///
    /// # Errors
    /// [`ClientError`].
    pub async fn realm_handover(&self, handover: Vec<u8>) -> Result<(), ClientError> {
        let r = self.request(&Request::RealmHandover { handover }).await?;
        expect_done(r).map(|_| ())
    }
}

fn expect_done(r: Response) -> Result<bool, ClientError> {
    match r {
        Response::Done { created } => Ok(created),
        _ => Err(ClientError::Unexpected),
    }
}
