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
            _ => return None,
        })
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
        })
    }
}
