//! Account logs, wraps and objects as the server keeps them — all in the
//! store, so several server processes can share one store.
//!
//! Log entries live at `a/<account>/log/<sequence, 20 digits>`. An append
//! writes each entry with create-if-absent, so of two servers appending at
//! the same sequence exactly one succeeds; the other reloads and answers
//! "conflict". Every append is verified with the same rules devices use.

use std::collections::HashMap;
use std::sync::Arc;

use keylink_account::LogState;
use keylink_keys::{AccountId, KeyWrap};
use keylink_store::{ObjectKey, Put, Store, StoreError};
use keylink_wire::Wire;
use keylink_wire::account::SignedEntry;
use keylink_wire::server::{FailureCode, MAX_ENTRIES_PER_MESSAGE};

use crate::ServerError;

/// A refusal: code and message for the client.
pub type Refusal = (FailureCode, String);

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `a/<account hex>/`: everything of an account.
pub fn account_prefix(account: &AccountId) -> String {
    format!("a/{}/", hex(account.as_bytes()))
}

fn log_prefix(account: &AccountId) -> String {
    format!("{}log/", account_prefix(account))
}

fn log_key(account: &AccountId, seq: u64) -> Result<ObjectKey, StoreError> {
    ObjectKey::new(&format!("{}{seq:020}", log_prefix(account)))
}

fn wrap_key(account: &AccountId, hash: &[u8; 32]) -> Result<ObjectKey, StoreError> {
    ObjectKey::new(&format!("{}wraps/{}", account_prefix(account), hex(hash)))
}

/// Whether a client may write or read this key: under its own account, and
/// not in the folders the server manages (log, wraps).
pub fn client_key_allowed(account: &AccountId, key: &str) -> bool {
    let prefix = account_prefix(account);
    key.starts_with(&prefix)
        && !key[prefix.len()..].starts_with("log/")
        && !key[prefix.len()..].starts_with("wraps/")
        && ObjectKey::new(key).is_ok()
}

/// One account's verified log and its raw entries.
#[derive(Clone)]
pub struct AccountLog {
    /// The verified state.
    pub state: LogState,
    /// The entries as stored.
    pub entries: Vec<Vec<u8>>,
}

/// The accounts this server has loaded.
pub struct Accounts {
    store: Arc<dyn Store>,
    /// Call the store on the request's task (see [`crate::store_call`]).
    inline: bool,
    cache: tokio::sync::Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<Option<AccountLog>>>>>,
}

/// Largest stored log entry read back.
const MAX_ENTRY: usize = keylink_wire::account::MAX_ENTRY_LEN;
/// Largest stored wrap read back.
const MAX_WRAP: usize = 512;

impl Accounts {
    /// Over `store`; `inline` as [`ServerConfig::inline_store`](crate::ServerConfig::inline_store).
    pub fn new(store: Arc<dyn Store>, inline: bool) -> Self {
        Self {
            store,
            inline,
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn slot(&self, account: &AccountId) -> Arc<tokio::sync::Mutex<Option<AccountLog>>> {
        self.cache.lock().await.entry(*account).or_default().clone()
    }

    /// The account's log, brought up to date with the store.
    ///
    /// # Errors
    /// `NotFound` if there is no such account; `Internal` if the store fails
    /// or holds a log that does not verify.
    pub async fn log(&self, account: &AccountId) -> Result<AccountLog, Refusal> {
        let slot = self.slot(account).await;
        let mut guard = slot.lock().await;
        self.refresh(account, &mut guard).await?;
        match guard.clone() {
            Some(log) => Ok(log),
            None => {
                // Asking about ids that do not exist must not grow the cache.
                drop(guard);
                self.cache.lock().await.remove(account);
                Err((FailureCode::NotFound, "no such account".into()))
            }
        }
    }

    /// Load entries the store has beyond what the cache holds (written by
    /// this or another server).
    async fn refresh(
        &self,
        account: &AccountId,
        slot: &mut Option<AccountLog>,
    ) -> Result<(), Refusal> {
        let store = self.store.clone();
        let account = *account;
        let mut current = slot.take();
        let result = crate::store_call(
            self.inline,
            move || -> Result<Option<AccountLog>, ServerError> {
                let mut next = current.as_ref().map_or(0, |l| l.state.next_sequence());
                loop {
                    let key = log_key(&account, next)?;
                    let bytes = match store.get(&key, MAX_ENTRY) {
                        Ok(b) => b,
                        Err(StoreError::NotFound { .. }) => return Ok(current),
                        Err(e) => return Err(e.into()),
                    };
                    let entry =
                        SignedEntry::decode(&bytes).map_err(keylink_account::Error::from)?;
                    match &mut current {
                        None => {
                            let state = LogState::genesis(&entry)?;
                            current = Some(AccountLog {
                                state,
                                entries: vec![bytes],
                            });
                        }
                        Some(log) => {
                            log.state.apply(&entry)?;
                            log.entries.push(bytes);
                        }
                    }
                    next += 1;
                }
            },
        )
        .await
        .map_err(|_| internal("log loading task failed"))?;
        match result {
            Ok(log) => {
                *slot = log;
                Ok(())
            }
            Err(e) => {
                tracing::error!(account = %account, error = %e, "stored account log unreadable");
                Err(internal("the stored account log is unreadable"))
            }
        }
    }

    /// Create an account from its genesis entry and wraps.
    ///
    /// # Errors
    /// `Invalid`, `Conflict` (exists), `Internal`.
    pub async fn create(
        &self,
        genesis: &[u8],
        password_wrap: &[u8],
        recovery_wrap: Option<&[u8]>,
    ) -> Result<AccountId, Refusal> {
        let entry = SignedEntry::decode(genesis)
            .map_err(|e| (FailureCode::Invalid, format!("genesis: {e}")))?;
        let state = LogState::genesis(&entry)
            .map_err(|e| (FailureCode::Invalid, format!("genesis: {e}")))?;
        let account = *state.account();
        let pw = KeyWrap::from_bytes(password_wrap)
            .map_err(|e| (FailureCode::Invalid, format!("password wrap: {e}")))?;
        state
            .check_wrap(&pw)
            .map_err(|e| (FailureCode::Invalid, e.to_string()))?;
        if recovery_wrap.is_some() != state.recovery_wrap_hash().is_some() {
            return Err((
                FailureCode::Invalid,
                "the recovery wrap must be sent exactly when the genesis records one".into(),
            ));
        }
        let rw = match recovery_wrap {
            Some(b) => {
                let w = KeyWrap::from_bytes(b)
                    .map_err(|e| (FailureCode::Invalid, format!("recovery wrap: {e}")))?;
                state
                    .check_wrap(&w)
                    .map_err(|e| (FailureCode::Invalid, e.to_string()))?;
                Some(w)
            }
            None => None,
        };
        let slot = self.slot(&account).await;
        let mut guard = slot.lock().await;
        let store = self.store.clone();
        let genesis = genesis.to_vec();
        let created = crate::store_call(self.inline, move || -> Result<bool, StoreError> {
            // Wraps first: an account whose log exists always has its wraps.
            store.put_if_absent(&wrap_key(&account, &pw.hash())?, &pw.to_bytes())?;
            if let Some(w) = rw {
                store.put_if_absent(&wrap_key(&account, &w.hash())?, &w.to_bytes())?;
            }
            Ok(store.put_if_absent(&log_key(&account, 0)?, &genesis)? == Put::Created)
        })
        .await
        .map_err(|_| internal("task failed"))?
        .map_err(store_refusal)?;
        if !created {
            return Err((FailureCode::Conflict, "the account already exists".into()));
        }
        *guard = None;
        self.refresh(&account, &mut guard).await?;
        Ok(account)
    }

    /// Append entries on top of the log (compare-and-swap on `expected_next`).
    ///
    /// # Errors
    /// `Conflict` if the log has moved on; `Invalid` if an entry breaks a
    /// rule; `Internal`.
    pub async fn append(
        &self,
        account: &AccountId,
        expected_next: u64,
        raw: Vec<Vec<u8>>,
    ) -> Result<u64, Refusal> {
        if raw.is_empty() || raw.len() > MAX_ENTRIES_PER_MESSAGE {
            return Err((
                FailureCode::BadRequest,
                "between 1 and 1024 entries per append".into(),
            ));
        }
        let slot = self.slot(account).await;
        let mut guard = slot.lock().await;
        self.refresh(account, &mut guard).await?;
        let log = guard
            .as_ref()
            .ok_or((FailureCode::NotFound, "no such account".into()))?;
        if log.state.next_sequence() != expected_next {
            return Err((
                FailureCode::Conflict,
                format!(
                    "the log is at entry {}, not {expected_next}: fetch it and retry",
                    log.state.next_sequence()
                ),
            ));
        }
        let mut next = log.clone();
        for bytes in &raw {
            let entry =
                SignedEntry::decode(bytes).map_err(|e| (FailureCode::Invalid, e.to_string()))?;
            next.state
                .apply(&entry)
                .map_err(|e| (FailureCode::Invalid, e.to_string()))?;
            next.entries.push(bytes.clone());
        }
        let store = self.store.clone();
        let account_id = *account;
        let written = crate::store_call(
            self.inline,
            move || -> Result<usize, (usize, StoreError)> {
                for (i, bytes) in raw.iter().enumerate() {
                    let put = log_key(&account_id, expected_next + i as u64)
                        .and_then(|key| store.put_if_absent(&key, bytes))
                        .map_err(|e| (i, e))?;
                    if put == Put::AlreadyExists {
                        return Ok(i);
                    }
                }
                Ok(raw.len())
            },
        )
        .await
        .map_err(|_| internal("task failed"))?
        .map_err(|(done, e)| {
            if done == 0 {
                return store_refusal(e);
            }
            // The first entries are in the log (the next read finds them);
            // say so rather than "nothing was changed".
            tracing::error!(error = %e, done, "storage failure part-way through an append");
            (
                FailureCode::Conflict,
                format!(
                    "storage failure after {done} of the entries were appended: \
                     fetch the log and retry"
                ),
            )
        })?;
        if written < next.entries.len() - log.entries.len() {
            // Another server appended at the same place first.
            *guard = None;
            self.refresh(account, &mut guard).await?;
            return Err((
                FailureCode::Conflict,
                "another device appended first: fetch the log and retry".into(),
            ));
        }
        let head = next.state.next_sequence();
        *guard = Some(next);
        Ok(head)
    }

    /// Store a wrap; it must belong to `account` (its header says so).
    ///
    /// # Errors
    /// `Invalid`, `Internal`.
    pub async fn put_wrap(&self, account: &AccountId, bytes: &[u8]) -> Result<bool, Refusal> {
        let wrap = KeyWrap::from_bytes(bytes).map_err(|e| (FailureCode::Invalid, e.to_string()))?;
        if wrap.account() != account {
            return Err((
                FailureCode::Forbidden,
                "the wrap belongs to another account".into(),
            ));
        }
        let store = self.store.clone();
        let account = *account;
        crate::store_call(self.inline, move || -> Result<bool, StoreError> {
            Ok(
                store.put_if_absent(&wrap_key(&account, &wrap.hash())?, &wrap.to_bytes())?
                    == Put::Created,
            )
        })
        .await
        .map_err(|_| internal("task failed"))?
        .map_err(store_refusal)
    }

    /// The wraps the log records as current.
    ///
    /// # Errors
    /// `NotFound`, `Internal`.
    pub async fn wraps(&self, account: &AccountId) -> Result<(Vec<u8>, Option<Vec<u8>>), Refusal> {
        let log = self.log(account).await?;
        let (pw, rw) = (
            log.state.password_wrap_hash(),
            log.state.recovery_wrap_hash(),
        );
        // A wrap pending after a rotation is not served; the other one
        // still is (empty bytes stand for the missing password wrap).
        if pw.is_none() && rw.is_none() {
            return Err((
                FailureCode::NotFound,
                "no current wrap (both pending after a rotation)".into(),
            ));
        }
        let store = self.store.clone();
        let account = *account;
        crate::store_call(
            self.inline,
            move || -> Result<(Vec<u8>, Option<Vec<u8>>), StoreError> {
                let p = match pw {
                    Some(h) => store.get(&wrap_key(&account, &h)?, MAX_WRAP)?,
                    None => Vec::new(),
                };
                let r = match rw {
                    Some(h) => Some(store.get(&wrap_key(&account, &h)?, MAX_WRAP)?),
                    None => None,
                };
                Ok((p, r))
            },
        )
        .await
        .map_err(|_| internal("task failed"))?
        .map_err(store_refusal)
    }
}

/// A store failure as the client sees it (no paths, no contents).
pub fn store_refusal(e: StoreError) -> Refusal {
    match e {
        StoreError::NotFound { .. } => (FailureCode::NotFound, "not found".into()),
        StoreError::TooLarge { .. } => (FailureCode::TooLarge, "object too large".into()),
        StoreError::InvalidKey { reason } => {
            (FailureCode::BadRequest, format!("invalid key: {reason}"))
        }
        other => {
            tracing::error!(error = %other, "storage failure");
            internal("storage failure; nothing was changed")
        }
    }
}

/// An internal failure.
pub fn internal(what: &str) -> Refusal {
    (FailureCode::Internal, what.to_string())
}
