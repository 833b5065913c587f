//! The realm a server hosts (docs/protocol.md §19): per-account records in
//! the realm's own store (the server's data folder, never the bucket it
//! keeps accounts in), changed only by compare-and-swap.
//!
//! A record's versions live at `r/<account hex>/<generation, 20 digits>`.
//! Every change writes generation `g + 1` with create-if-absent, so of two
//! requests that read generation `g` exactly one succeeds and the other
//! reads again — the account log's discipline. Versions are never deleted:
//! deleting one would let a slow writer re-create it behind a newer one.
//! A guess is written (durably: `put_if_absent` returns only then) before
//! it is evaluated, so a crash in between spends the guess and never gives
//! it.

use std::sync::Arc;

use keylink_keys::{AccountId, UnlockTag};
use keylink_realm::{
    AdminReset, Error as RealmError, Handover, RealmRecord, RegisterRequest, Throttle,
};
use keylink_store::{ObjectKey, Put, Store, StoreError};
use keylink_wire::server::FailureCode;

use crate::accounts::{Refusal, internal, store_refusal};

/// Largest stored record: a 16-slot descriptor plus the fixed fields.
const MAX_RECORD_LEN: usize = 2048;
/// Compare-and-swap attempts before a request gives up as busy.
const CAS_ATTEMPTS: usize = 32;

/// Where a server's realm keeps its records, and how it spaces guesses.
#[derive(Clone)]
pub struct RealmConfig {
    /// The realm's own store (a folder beside the server's identity).
    pub store: Arc<dyn Store>,
    /// How fast guesses may come.
    pub throttle: Throttle,
}

impl std::fmt::Debug for RealmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealmConfig")
            .field("throttle", &self.throttle)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Realm {
    store: Arc<dyn Store>,
    id: [u8; 32],
    throttle: Throttle,
    inline: bool,
}

impl Realm {
    pub(crate) fn new(config: RealmConfig, id: [u8; 32], inline: bool) -> Self {
        Self {
            store: config.store,
            id,
            throttle: config.throttle,
            inline,
        }
    }

    /// What the realm holds for `account`.
    pub(crate) async fn status(&self, account: &AccountId) -> Result<Vec<u8>, Refusal> {
        let (_, record) = self.latest(account).await?.ok_or_else(not_registered)?;
        Ok(record.status().to_bytes())
    }

    /// Count a guess, durably, then evaluate it.
    pub(crate) async fn guess(
        &self,
        account: &AccountId,
        commitment: &[u8; 32],
        blinded: &[u8; 32],
        now_ms: u64,
    ) -> Result<Vec<u8>, Refusal> {
        for _ in 0..CAS_ATTEMPTS {
            let (generation, record) = self.latest(account).await?.ok_or_else(not_registered)?;
            let counted = record
                .begin_guess(commitment, now_ms, self.throttle)
                .map_err(refusal)?;
            if !self.write(account, generation + 1, &counted).await? {
                continue;
            }
            tracing::info!(account = %account, used = counted.status().used, "realm guess counted");
            let mut rng = rand::rng();
            let answer = counted.evaluate(blinded, &mut rng).map_err(refusal)?;
            return Ok(answer.to_bytes());
        }
        Err(busy())
    }

    /// Reset the counter for the holder of the unlock tag.
    pub(crate) async fn unlock(
        &self,
        account: &AccountId,
        commitment: &[u8; 32],
        tag: &UnlockTag,
    ) -> Result<u32, Refusal> {
        for _ in 0..CAS_ATTEMPTS {
            let (generation, record) = self.latest(account).await?.ok_or_else(not_registered)?;
            let (next, used) = record.unlock(commitment, tag).map_err(refusal)?;
            if used == 0 {
                return Ok(0);
            }
            if self.write(account, generation + 1, &next).await? {
                tracing::info!(account = %account, "realm counter reset");
                return Ok(u32::from(used));
            }
        }
        Err(busy())
    }

    /// Register, or re-register, an account.
    pub(crate) async fn register(&self, request: &[u8]) -> Result<(), Refusal> {
        let req = RegisterRequest::from_bytes(request).map_err(refusal)?;
        let account = *req.descriptor.account();
        for _ in 0..CAS_ATTEMPTS {
            let latest = self.latest(&account).await?;
            let next = RealmRecord::register(&self.id, latest.as_ref().map(|(_, r)| r), &req)
                .map_err(refusal)?;
            let generation = latest.as_ref().map_or(0, |(g, _)| g + 1);
            if latest
                .as_ref()
                .is_some_and(|(_, r)| r.to_bytes() == next.to_bytes())
            {
                return Ok(());
            }
            if self.write(&account, generation, &next).await? {
                tracing::info!(account = %account, epoch = req.descriptor.epoch().0, "realm registration stored");
                return Ok(());
            }
        }
        Err(busy())
    }

    /// Clear a counter on the admin key's word.
    pub(crate) async fn admin_reset(&self, bytes: &[u8]) -> Result<u32, Refusal> {
        let r = AdminReset::from_bytes(bytes).map_err(refusal)?;
        for _ in 0..CAS_ATTEMPTS {
            let (generation, record) = self.latest(&r.account).await?.ok_or_else(not_registered)?;
            let (next, used) = record.admin_reset(&r).map_err(refusal)?;
            if used == 0 {
                return Ok(0);
            }
            if self.write(&r.account, generation + 1, &next).await? {
                tracing::info!(account = %r.account, "realm counter cleared by the admin key");
                return Ok(u32::from(used));
            }
        }
        Err(busy())
    }

    /// Move a registration to a new realm-admin key.
    pub(crate) async fn handover(&self, bytes: &[u8]) -> Result<(), Refusal> {
        let h = Handover::from_bytes(bytes).map_err(refusal)?;
        for _ in 0..CAS_ATTEMPTS {
            let (generation, record) = self.latest(&h.account).await?.ok_or_else(not_registered)?;
            let next = record.handover(&h).map_err(refusal)?;
            if next.to_bytes() == record.to_bytes() {
                return Ok(());
            }
            if self.write(&h.account, generation + 1, &next).await? {
                tracing::info!(account = %h.account, epoch = h.epoch.0, "realm admin key handed over");
                return Ok(());
            }
        }
        Err(busy())
    }

    async fn latest(&self, account: &AccountId) -> Result<Option<(u64, RealmRecord)>, Refusal> {
        let store = self.store.clone();
        let prefix = prefix(account);
        let found = crate::store_call(self.inline, move || -> Result<_, StoreError> {
            let Some(key) = store.list(&prefix)?.pop() else {
                return Ok(None);
            };
            let bytes = store.get(&key, MAX_RECORD_LEN)?;
            Ok(Some((key, bytes)))
        })
        .await
        .map_err(|_| internal("task failed"))?
        .map_err(store_refusal)?;
        let Some((key, bytes)) = found else {
            return Ok(None);
        };
        let generation = key
            .as_str()
            .rsplit('/')
            .next()
            .and_then(|g| g.parse::<u64>().ok())
            .ok_or_else(|| corrupt(account))?;
        let record = RealmRecord::from_bytes(&bytes).map_err(|_| corrupt(account))?;
        if record.descriptor().account() != account {
            return Err(corrupt(account));
        }
        Ok(Some((generation, record)))
    }

    /// Write generation `generation`; `false` if another request wrote it first.
    async fn write(
        &self,
        account: &AccountId,
        generation: u64,
        record: &RealmRecord,
    ) -> Result<bool, Refusal> {
        let key = ObjectKey::new(&format!("{}{generation:020}", prefix(account)))
            .map_err(store_refusal)?;
        let bytes = record.to_bytes();
        let store = self.store.clone();
        let put = crate::store_call(self.inline, move || store.put_if_absent(&key, &bytes))
            .await
            .map_err(|_| internal("task failed"))?
            .map_err(store_refusal)?;
        Ok(put == Put::Created)
    }
}

fn prefix(account: &AccountId) -> String {
    format!("r/{}/", crate::accounts::hex(account.as_bytes()))
}

fn not_registered() -> Refusal {
    refusal(RealmError::NotRegistered)
}

fn busy() -> Refusal {
    (
        FailureCode::Unavailable,
        "the realm is busy with other requests for this account; retry".into(),
    )
}

fn corrupt(account: &AccountId) -> Refusal {
    tracing::error!(account = %account, "realm record does not parse: the realm folder was altered");
    internal("the realm's record for this account is damaged")
}

/// What a realm error tells the client.
pub(crate) fn refusal(e: RealmError) -> Refusal {
    let code = match &e {
        RealmError::Locked { .. } => FailureCode::RealmLocked,
        RealmError::WrongRegistration => FailureCode::RealmWrongRegistration,
        RealmError::TooSoon { .. } => FailureCode::RateLimited,
        RealmError::NotRegistered => FailureCode::NotFound,
        RealmError::AlreadyRegistered
        | RealmError::NotAuthorized { .. }
        | RealmError::BadUnlockTag
        | RealmError::WrongAccount => FailureCode::Forbidden,
        RealmError::StaleRegistration { .. } => FailureCode::Conflict,
        RealmError::WrongRealm { .. }
        | RealmError::ShareMismatch { .. }
        | RealmError::BadKey { .. }
        | RealmError::BadPolicy { .. }
        | RealmError::BadThreshold { .. }
        | RealmError::BadIndex { .. } => FailureCode::Invalid,
        _ => FailureCode::BadRequest,
    };
    (code, format!("realm: {e}"))
}
