//! Requests to the server and its responses, as validated domain values.

use keylink_keys::{AccountId, DeviceId};
use prost::Message;

use crate::error::WireError;
use crate::{WIRE_VERSION, Wire, decode_checked, fixed, proto};

/// Largest request or response message (12 MiB, the frame limit).
pub const MAX_MESSAGE_LEN: usize = 12 << 20;
/// Most entries in one append or one log answer.
pub const MAX_ENTRIES_PER_MESSAGE: usize = 1024;
/// Most keys in one listing answer.
pub const MAX_KEYS_PER_LIST: usize = 100_000;

/// Why the server refused a request. The numbers are the wire codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureCode {
    /// The request is malformed.
    BadRequest = 1,
    /// The connection has not authenticated as a device of the account.
    Unauthenticated = 2,
    /// The device is not (or no longer) a current device of the account.
    Forbidden = 3,
    /// No such account, object or wrap.
    NotFound = 4,
    /// Compare-and-swap failed: the log moved on; fetch and retry.
    Conflict = 5,
    /// Too many requests; wait and retry.
    RateLimited = 6,
    /// The object or message is larger than allowed.
    TooLarge = 7,
    /// The account's storage quota is exhausted.
    QuotaExceeded = 8,
    /// The entries do not verify against the account log.
    Invalid = 9,
    /// The relay channel is unknown, used or expired.
    ChannelUnavailable = 10,
    /// The server is busy or shutting down; retry later.
    Unavailable = 11,
    /// The server failed; nothing was changed.
    Internal = 12,
    /// The realm refuses further password guesses for this registration
    /// until a current device registers again.
    RealmLocked = 13,
    /// The realm holds another registration than the one asked about.
    RealmWrongRegistration = 14,
}

impl FailureCode {
    fn from_u32(code: u32) -> Option<Self> {
        use FailureCode::*;
        Some(match code {
            1 => BadRequest,
            2 => Unauthenticated,
            3 => Forbidden,
            4 => NotFound,
            5 => Conflict,
            6 => RateLimited,
            7 => TooLarge,
            8 => QuotaExceeded,
            9 => Invalid,
            10 => ChannelUnavailable,
            11 => Unavailable,
            12 => Internal,
            13 => RealmLocked,
            14 => RealmWrongRegistration,
            _ => return None,
        })
    }
}

/// Bytes that hold a secret (a realm's share, an unlock tag): wiped on
/// drop, printed as `[redacted]`.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wrap bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes. Never log them.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Authenticate, step 1.
    Hello {
        /// The account.
        account: AccountId,
        /// The device.
        device: DeviceId,
    },
    /// Authenticate, step 3.
    Auth {
        /// The signature over the challenge.
        signature: [u8; 64],
    },
    /// Create an account from its genesis entry and wraps.
    CreateAccount {
        /// The genesis `SignedEntry`.
        genesis: Vec<u8>,
        /// The password wrap.
        password_wrap: Vec<u8>,
        /// The recovery wrap, if any.
        recovery_wrap: Option<Vec<u8>>,
    },
    /// Append entries (compare-and-swap on the next sequence).
    Append {
        /// The account.
        account: AccountId,
        /// The sequence the first entry must have.
        expected_next: u64,
        /// The `SignedEntry` bytes.
        entries: Vec<Vec<u8>>,
    },
    /// Fetch the log from a sequence on.
    FetchLog {
        /// The account.
        account: AccountId,
        /// First sequence wanted.
        since: u64,
    },
    /// Fetch the current wraps of an account.
    GetWraps {
        /// The account.
        account: AccountId,
    },
    /// Store a wrap the log records.
    PutWrap {
        /// The wrap bytes.
        wrap: Vec<u8>,
    },
    /// Create an object.
    PutObject {
        /// Its key.
        key: String,
        /// Its bytes.
        value: Vec<u8>,
    },
    /// Read an object.
    GetObject {
        /// Its key.
        key: String,
        /// Refuse objects longer than this.
        max_len: u64,
    },
    /// List object keys.
    ListObjects {
        /// The prefix.
        prefix: String,
    },
    /// Open a relay channel.
    RelayOpen,
    /// Join a relay channel.
    RelayJoin {
        /// Its id.
        channel: [u8; 16],
    },
    /// What the realm holds for an account.
    RealmStatus {
        /// The account.
        account: AccountId,
    },
    /// A password guess: counted, then evaluated.
    RealmGuess {
        /// The account.
        account: AccountId,
        /// The registration the wrap names.
        commitment: [u8; 32],
        /// The blinded element.
        blinded: [u8; 32],
    },
    /// Reset the guess counter with the unlock tag.
    RealmUnlock {
        /// The account.
        account: AccountId,
        /// The registration.
        commitment: [u8; 32],
        /// The unlock tag (32 bytes).
        unlock_tag: SecretBytes,
    },
    /// Register (or re-register) an account at the realm.
    RealmRegister {
        /// The register request; holds the realm's share.
        request: SecretBytes,
    },
    /// Move a registration to the next epoch's realm-admin key.
    RealmHandover {
        /// The hand-over bytes.
        handover: Vec<u8>,
    },
    /// Clear a guess counter on the realm-admin key's word.
    RealmReset {
        /// The reset bytes.
        reset: Vec<u8>,
    },
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// The request was refused.
    Failure {
        /// Why.
        code: FailureCode,
        /// For people.
        message: String,
    },
    /// Sign this.
    Challenge {
        /// The nonce.
        nonce: [u8; 32],
    },
    /// Done.
    Done {
        /// Whether something was created.
        created: bool,
    },
    /// Log entries.
    Log {
        /// The entries.
        entries: Vec<Vec<u8>>,
        /// Whether more follow.
        more: bool,
    },
    /// Wraps.
    Wraps {
        /// The password wrap.
        password_wrap: Vec<u8>,
        /// The recovery wrap, if any.
        recovery_wrap: Option<Vec<u8>>,
    },
    /// An object.
    Object {
        /// Its bytes.
        value: Vec<u8>,
    },
    /// Object keys.
    Keys {
        /// The keys.
        keys: Vec<String>,
    },
    /// A relay channel.
    Channel {
        /// Its id.
        channel: [u8; 16],
        /// Time left before it expires.
        expires_in_ms: u64,
    },
    /// A realm status (§19.6), parsed by `keylink-realm`.
    RealmState {
        /// The status bytes.
        status: Vec<u8>,
    },
    /// A guess answer (§19.6), parsed by `keylink-realm`.
    RealmEvaluation {
        /// The answer bytes.
        answer: Vec<u8>,
    },
    /// The counter was reset.
    RealmUnlocked {
        /// Guesses counted since the last reset, before this one.
        guesses: u32,
    },
}

fn opt(v: Vec<u8>) -> Option<Vec<u8>> {
    if v.is_empty() { None } else { Some(v) }
}

impl Wire for Request {
    fn encode(&self) -> Vec<u8> {
        use proto::request::Body as B;
        let body = match self {
            Request::Hello { account, device } => B::Hello(proto::Hello {
                account_id: account.as_bytes().to_vec(),
                device_id: device.as_bytes().to_vec(),
            }),
            Request::Auth { signature } => B::Auth(proto::AuthProof {
                signature: signature.to_vec(),
            }),
            Request::CreateAccount {
                genesis,
                password_wrap,
                recovery_wrap,
            } => B::CreateAccount(proto::CreateAccount {
                genesis: genesis.clone(),
                password_wrap: password_wrap.clone(),
                recovery_wrap: recovery_wrap.clone().unwrap_or_default(),
            }),
            Request::Append {
                account,
                expected_next,
                entries,
            } => B::Append(proto::Append {
                account_id: account.as_bytes().to_vec(),
                expected_next: *expected_next,
                entries: entries.clone(),
            }),
            Request::FetchLog { account, since } => B::FetchLog(proto::FetchLog {
                account_id: account.as_bytes().to_vec(),
                since: *since,
            }),
            Request::GetWraps { account } => B::GetWraps(proto::GetWraps {
                account_id: account.as_bytes().to_vec(),
            }),
            Request::PutWrap { wrap } => B::PutWrap(proto::PutWrap { wrap: wrap.clone() }),
            Request::PutObject { key, value } => B::PutObject(proto::PutObject {
                key: key.clone(),
                value: value.clone(),
            }),
            Request::GetObject { key, max_len } => B::GetObject(proto::GetObject {
                key: key.clone(),
                max_len: *max_len,
            }),
            Request::ListObjects { prefix } => B::ListObjects(proto::ListObjects {
                prefix: prefix.clone(),
            }),
            Request::RelayOpen => B::RelayOpen(proto::RelayOpen {}),
            Request::RelayJoin { channel } => B::RelayJoin(proto::RelayJoin {
                channel_id: channel.to_vec(),
            }),
            Request::RealmStatus { account } => B::RealmStatus(proto::RealmStatusRequest {
                account_id: account.as_bytes().to_vec(),
            }),
            Request::RealmGuess {
                account,
                commitment,
                blinded,
            } => B::RealmGuess(proto::RealmGuess {
                account_id: account.as_bytes().to_vec(),
                commitment: commitment.to_vec(),
                blinded: blinded.to_vec(),
            }),
            Request::RealmUnlock {
                account,
                commitment,
                unlock_tag,
            } => B::RealmUnlock(proto::RealmUnlock {
                account_id: account.as_bytes().to_vec(),
                commitment: commitment.to_vec(),
                unlock_tag: unlock_tag.expose_secret().to_vec(),
            }),
            Request::RealmRegister { request } => B::RealmRegister(proto::RealmRegister {
                request: request.expose_secret().to_vec(),
            }),
            Request::RealmHandover { handover } => B::RealmHandover(proto::RealmHandover {
                handover: handover.clone(),
            }),
            Request::RealmReset { reset } => B::RealmReset(proto::RealmReset {
                reset: reset.clone(),
            }),
        };
        proto::Request {
            version: WIRE_VERSION,
            body: Some(body),
        }
        .encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        use proto::request::Body as B;
        let m = decode_checked(bytes, MAX_MESSAGE_LEN, |m: &proto::Request| m.version)?;
        let proto::Request { version: _, body } = m;
        let account = |b: &[u8]| fixed("account_id", b).map(AccountId::from_bytes);
        Ok(match body.ok_or(WireError::Missing { field: "body" })? {
            B::Hello(proto::Hello {
                account_id,
                device_id,
            }) => Request::Hello {
                account: account(&account_id)?,
                device: DeviceId::from_bytes(fixed("device_id", &device_id)?),
            },
            B::Auth(proto::AuthProof { signature }) => Request::Auth {
                signature: fixed("signature", &signature)?,
            },
            B::CreateAccount(proto::CreateAccount {
                genesis,
                password_wrap,
                recovery_wrap,
            }) => Request::CreateAccount {
                genesis,
                password_wrap,
                recovery_wrap: opt(recovery_wrap),
            },
            B::Append(proto::Append {
                account_id,
                expected_next,
                entries,
            }) => {
                if entries.len() > MAX_ENTRIES_PER_MESSAGE {
                    return Err(WireError::TooMany {
                        field: "entries",
                        max: MAX_ENTRIES_PER_MESSAGE,
                    });
                }
                Request::Append {
                    account: account(&account_id)?,
                    expected_next,
                    entries,
                }
            }
            B::FetchLog(proto::FetchLog { account_id, since }) => Request::FetchLog {
                account: account(&account_id)?,
                since,
            },
            B::GetWraps(proto::GetWraps { account_id }) => Request::GetWraps {
                account: account(&account_id)?,
            },
            B::PutWrap(proto::PutWrap { wrap }) => Request::PutWrap { wrap },
            B::PutObject(proto::PutObject { key, value }) => Request::PutObject { key, value },
            B::GetObject(proto::GetObject { key, max_len }) => Request::GetObject { key, max_len },
            B::ListObjects(proto::ListObjects { prefix }) => Request::ListObjects { prefix },
            B::RelayOpen(proto::RelayOpen {}) => Request::RelayOpen,
            B::RelayJoin(proto::RelayJoin { channel_id }) => Request::RelayJoin {
                channel: fixed("channel_id", &channel_id)?,
            },
            B::RealmStatus(proto::RealmStatusRequest { account_id }) => Request::RealmStatus {
                account: account(&account_id)?,
            },
            B::RealmGuess(proto::RealmGuess {
                account_id,
                commitment,
                blinded,
            }) => Request::RealmGuess {
                account: account(&account_id)?,
                commitment: fixed("commitment", &commitment)?,
                blinded: fixed("blinded", &blinded)?,
            },
            B::RealmUnlock(proto::RealmUnlock {
                account_id,
                commitment,
                unlock_tag,
            }) => {
                let tag = SecretBytes::new(unlock_tag);
                let _: [u8; 32] = fixed("unlock_tag", tag.expose_secret())?;
                Request::RealmUnlock {
                    account: account(&account_id)?,
                    commitment: fixed("commitment", &commitment)?,
                    unlock_tag: tag,
                }
            }
            B::RealmRegister(proto::RealmRegister { request }) => Request::RealmRegister {
                request: SecretBytes::new(request),
            },
            B::RealmHandover(proto::RealmHandover { handover }) => {
                Request::RealmHandover { handover }
            }
            B::RealmReset(proto::RealmReset { reset }) => Request::RealmReset { reset },
        })
    }
}

impl Wire for Response {
    fn encode(&self) -> Vec<u8> {
        use proto::response::Body as B;
        let body = match self {
            Response::Failure { code, message } => B::Failure(proto::Failure {
                code: *code as u32,
                message: message.clone(),
            }),
            Response::Challenge { nonce } => B::Challenge(proto::Challenge {
                nonce: nonce.to_vec(),
            }),
            Response::Done { created } => B::Done(proto::Done { created: *created }),
            Response::Log { entries, more } => B::Log(proto::LogEntries {
                entries: entries.clone(),
                more: *more,
            }),
            Response::Wraps {
                password_wrap,
                recovery_wrap,
            } => B::Wraps(proto::Wraps {
                password_wrap: password_wrap.clone(),
                recovery_wrap: recovery_wrap.clone().unwrap_or_default(),
            }),
            Response::Object { value } => B::Object(proto::ObjectBytes {
                value: value.clone(),
            }),
            Response::Keys { keys } => B::Keys(proto::ObjectKeys { keys: keys.clone() }),
            Response::Channel {
                channel,
                expires_in_ms,
            } => B::Channel(proto::RelayChannel {
                channel_id: channel.to_vec(),
                expires_in_ms: *expires_in_ms,
            }),
            Response::RealmState { status } => B::RealmState(proto::RealmState {
                status: status.clone(),
            }),
            Response::RealmEvaluation { answer } => B::RealmEvaluation(proto::RealmEvaluation {
                answer: answer.clone(),
            }),
            Response::RealmUnlocked { guesses } => {
                B::RealmUnlocked(proto::RealmUnlocked { guesses: *guesses })
            }
        };
        proto::Response {
            version: WIRE_VERSION,
            body: Some(body),
        }
        .encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        use proto::response::Body as B;
        let m = decode_checked(bytes, MAX_MESSAGE_LEN, |m: &proto::Response| m.version)?;
        let proto::Response { version: _, body } = m;
        Ok(match body.ok_or(WireError::Missing { field: "body" })? {
            B::Failure(proto::Failure { code, message }) => Response::Failure {
                code: FailureCode::from_u32(code).ok_or(WireError::Inconsistent {
                    what: "unknown failure code",
                })?,
                message,
            },
            B::Challenge(proto::Challenge { nonce }) => Response::Challenge {
                nonce: fixed("nonce", &nonce)?,
            },
            B::Done(proto::Done { created }) => Response::Done { created },
            B::Log(proto::LogEntries { entries, more }) => {
                if entries.len() > MAX_ENTRIES_PER_MESSAGE {
                    return Err(WireError::TooMany {
                        field: "entries",
                        max: MAX_ENTRIES_PER_MESSAGE,
                    });
                }
                Response::Log { entries, more }
            }
            B::Wraps(proto::Wraps {
                password_wrap,
                recovery_wrap,
            }) => Response::Wraps {
                password_wrap,
                recovery_wrap: opt(recovery_wrap),
            },
            B::Object(proto::ObjectBytes { value }) => Response::Object { value },
            B::Keys(proto::ObjectKeys { keys }) => {
                if keys.len() > MAX_KEYS_PER_LIST {
                    return Err(WireError::TooMany {
                        field: "keys",
                        max: MAX_KEYS_PER_LIST,
                    });
                }
                Response::Keys { keys }
            }
            B::Channel(proto::RelayChannel {
                channel_id,
                expires_in_ms,
            }) => Response::Channel {
                channel: fixed("channel_id", &channel_id)?,
                expires_in_ms,
            },
            B::RealmState(proto::RealmState { status }) => Response::RealmState { status },
            B::RealmEvaluation(proto::RealmEvaluation { answer }) => {
                Response::RealmEvaluation { answer }
            }
            B::RealmUnlocked(proto::RealmUnlocked { guesses }) => {
                Response::RealmUnlocked { guesses }
            }
        })
    }
}
