//! One client connection: authentication state and request handling. Every
//! request is one frame on its own stream, answered by one frame.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use keylink_keys::{AccountId, DeviceId, SignatureContext, labels};
use keylink_net::{Conn, RecvHalf, SendHalf, read_frame, write_frame};
use keylink_store::ObjectKey;
use keylink_wire::Wire;
use keylink_wire::server::{FailureCode, MAX_MESSAGE_LEN, Request, Response};
use rand_core::Rng;

use crate::Shared;
use crate::accounts::{Refusal, client_key_allowed, internal, store_refusal};
use crate::relay::pump;

/// Which device this connection proved it is.
pub type AuthState = Arc<Mutex<Option<(AccountId, DeviceId)>>>;

/// Serve every stream of `conn` until it closes.
pub async fn serve(shared: Arc<Shared>, conn: Conn) {
    let auth: AuthState = Arc::default();
    let peer = conn.remote_address().ip();
    while let Ok((send, recv)) = conn.accept_bi().await {
        if shared.stopping() {
            break;
        }
        let (shared, conn, auth) = (shared.clone(), conn.clone(), auth.clone());
        let guard = shared.in_flight.clone();
        tokio::spawn(async move {
            handle(&shared, &conn, &auth, peer, send, recv).await;
            drop(guard);
        });
    }
}

async fn respond(send: &mut SendHalf, r: &Response) {
    let _ = write_frame(send, &r.encode()).await;
    let _ = send.finish();
}

fn failure((code, message): Refusal) -> Response {
    Response::Failure { code, message }
}

async fn handle(
    shared: &Shared,
    conn: &Conn,
    auth: &AuthState,
    peer: IpAddr,
    mut send: SendHalf,
    mut recv: RecvHalf,
) {
    let frame = match tokio::time::timeout(
        shared.config.request_timeout,
        read_frame(&mut recv, MAX_MESSAGE_LEN),
    )
    .await
    {
        Ok(Ok(Some(f))) => f,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            respond(
                &mut send,
                &failure((FailureCode::BadRequest, e.to_string())),
            )
            .await;
            return;
        }
        Err(_) => {
            // A slow sender: give the stream up rather than hold it.
            recv.stop(1);
            return;
        }
    };
    let request = match Request::decode(&frame) {
        Ok(r) => r,
        Err(e) => {
            respond(
                &mut send,
                &failure((FailureCode::BadRequest, e.to_string())),
            )
            .await;
            return;
        }
    };
    let answer = match request {
        Request::Hello { account, device } => {
            authenticate(shared, conn, auth, account, device, &mut send, &mut recv).await
        }
        Request::RelayOpen => {
            relay_open(shared, peer, send, recv).await;
            return;
        }
        Request::RelayJoin { channel } => {
            relay_join(shared, channel, send, recv).await;
            return;
        }
        other => match shared.config.adversary() {
            None => dispatch(shared, auth, peer, other).await,
            Some(adversary) => {
                let who = *auth
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match adversary.intercept(who, &other) {
                    Some(answer) => answer,
                    None => {
                        let request = other.clone();
                        let honest = dispatch(shared, auth, peer, other).await;
                        adversary.answer(who, &request, honest)
                    }
                }
            }
        },
    };
    respond(&mut send, &answer.unwrap_or_else(failure)).await;
}

async fn dispatch(
    shared: &Shared,
    auth: &AuthState,
    peer: IpAddr,
    request: Request,
) -> Result<Response, Refusal> {
    match request {
        Request::CreateAccount {
            genesis,
            password_wrap,
            recovery_wrap,
        } => {
            limit(shared.by_addr.allow(&peer, now()))?;
            let account = shared
                .accounts
                .create(&genesis, &password_wrap, recovery_wrap.as_deref())
                .await?;
            tracing::info!(account = %account, "account created");
            Ok(Response::Done { created: true })
        }
        Request::Append {
            account,
            expected_next,
            entries,
        } => {
            // Entries authenticate themselves (signatures checked against
            // the log); a connection that proved a device must still be current.
            match current_auth(auth) {
                Some((a, d)) if a == account => require_current(shared, &a, &d).await?,
                _ => limit(shared.by_addr.allow(&peer, now()))?,
            }
            let head = shared
                .accounts
                .append(&account, expected_next, entries)
                .await?;
            tracing::info!(account = %account, head, "log appended");
            Ok(Response::Done { created: true })
        }
        Request::FetchLog { account, since } => {
            if current_auth(auth).map(|(a, _)| a) != Some(account) {
                limit(shared.by_addr.allow(&peer, now()))?;
            }
            let log = shared.accounts.log(&account).await?;
            let from = usize::try_from(since)
                .unwrap_or(usize::MAX)
                .min(log.entries.len());
            let mut entries = Vec::new();
            let mut bytes = 0;
            for e in log.entries.iter().skip(from) {
                if entries.len() >= keylink_wire::server::MAX_ENTRIES_PER_MESSAGE
                    || bytes + e.len() > 8 << 20
                {
                    return Ok(Response::Log {
                        entries,
                        more: true,
                    });
                }
                bytes += e.len();
                entries.push(e.clone());
            }
            Ok(Response::Log {
                entries,
                more: false,
            })
        }
        Request::GetWraps { account } => {
            // Anyone who knows an account id may ask, so guessing is slowed
            // per account and per source address.
            let now = now();
            limit(
                shared.wraps_by_account.allow(&account, now) && shared.by_addr.allow(&peer, now),
            )?;
            let (password_wrap, recovery_wrap) = shared.accounts.wraps(&account).await?;
            Ok(Response::Wraps {
                password_wrap,
                recovery_wrap,
            })
        }
        Request::PutWrap { wrap } => {
            let (account, device) = authenticated(auth)?;
            require_current(shared, &account, &device).await?;
            let created = shared.accounts.put_wrap(&account, &wrap).await?;
            Ok(Response::Done { created })
        }
        Request::PutObject { key, value } => {
            let (account, device) = authenticated(auth)?;
            require_current(shared, &account, &device).await?;
            if value.len() > shared.config.max_object_len {
                return Err((
                    FailureCode::TooLarge,
                    format!("objects are at most {} bytes", shared.config.max_object_len),
                ));
            }
            let key = allowed_key(&account, &key)?;
            let len = value.len() as u64;
            if let Err(over) = reserve(shared, &account, len).await {
                // Storing an object that already exists costs nothing.
                let (store, k) = (shared.accounts.store().clone(), key.clone());
                let exists =
                    crate::store_call(shared.config.inline_store, move || store.exists(&k))
                        .await
                        .map_err(|_| internal("task failed"))?
                        .map_err(store_refusal)?;
                return if exists {
                    Ok(Response::Done { created: false })
                } else {
                    Err(over)
                };
            }
            let store = shared.accounts.store().clone();
            let put = crate::store_call(shared.config.inline_store, move || {
                store.put_if_absent(&key, &value)
            })
            .await
            .map_err(|_| internal("task failed"))
            .and_then(|r| r.map_err(store_refusal));
            let created = matches!(put, Ok(keylink_store::Put::Created));
            if !created {
                release(shared, &account, len).await;
            }
            put.map(|_| Response::Done { created })
        }
        Request::GetObject { key, max_len } => {
            let (account, device) = authenticated(auth)?;
            require_current(shared, &account, &device).await?;
            let key = allowed_key(&account, &key)?;
            let max = usize::try_from(max_len)
                .unwrap_or(usize::MAX)
                .min(shared.config.max_object_len);
            let store = shared.accounts.store().clone();
            let value = crate::store_call(shared.config.inline_store, move || store.get(&key, max))
                .await
                .map_err(|_| internal("task failed"))?
                .map_err(store_refusal)?;
            Ok(Response::Object { value })
        }
        Request::ListObjects { prefix } => {
            let (account, device) = authenticated(auth)?;
            require_current(shared, &account, &device).await?;
            if !prefix.starts_with(&crate::accounts::account_prefix(&account)) {
                return Err((
                    FailureCode::Forbidden,
                    "list only under your own account".into(),
                ));
            }
            let store = shared.accounts.store().clone();
            let keys = crate::store_call(shared.config.inline_store, move || store.list(&prefix))
                .await
                .map_err(|_| internal("task failed"))?
                .map_err(store_refusal)?;
            Ok(Response::Keys {
                keys: keys.into_iter().map(|k| k.as_str().to_string()).collect(),
            })
        }
        Request::RealmStatus { account } => {
            limit(shared.by_addr.allow(&peer, now()))?;
            let status = realm(shared)?.status(&account).await?;
            Ok(Response::RealmState { status })
        }
        Request::RealmGuess {
            account,
            commitment,
            blinded,
        } => {
            limit(shared.by_addr.allow(&peer, now()))?;
            let answer = realm(shared)?
                .guess(&account, &commitment, &blinded, unix_ms())
                .await?;
            Ok(Response::RealmEvaluation { answer })
        }
        Request::RealmUnlock {
            account,
            commitment,
            unlock_tag,
        } => {
            limit(shared.by_addr.allow(&peer, now()))?;
            let tag: [u8; 32] = unlock_tag
                .expose_secret()
                .try_into()
                .map_err(|_| (FailureCode::BadRequest, "unlock tag is not 32 bytes".into()))?;
            let guesses = realm(shared)?
                .unlock(
                    &account,
                    &commitment,
                    &keylink_keys::UnlockTag::from_bytes(tag),
                )
                .await?;
            Ok(Response::RealmUnlocked { guesses })
        }
        Request::RealmRegister { request } => {
            limit(shared.by_addr.allow(&peer, now()))?;
            realm(shared)?.register(request.expose_secret()).await?;
            Ok(Response::Done { created: true })
        }
        Request::RealmHandover { handover } => {
            limit(shared.by_addr.allow(&peer, now()))?;
            realm(shared)?.handover(&handover).await?;
            Ok(Response::Done { created: true })
        }
        Request::RealmReset { reset } => {
            limit(shared.by_addr.allow(&peer, now()))?;
            let guesses = realm(shared)?.admin_reset(&reset).await?;
            Ok(Response::RealmUnlocked { guesses })
        }
        Request::Hello { .. }
        | Request::Auth { .. }
        | Request::RelayOpen
        | Request::RelayJoin { .. } => Err((FailureCode::BadRequest, "out of order".into())),
        _ => Err((FailureCode::BadRequest, "unknown request".into())),
    }
}

/// Count `len` bytes against the account's quota before writing them.
async fn reserve(shared: &Shared, account: &AccountId, len: u64) -> Result<(), Refusal> {
    let mut usage = shared.usage.lock().await;
    if !usage.contains_key(account) {
        // First use since start: what the store already holds for it.
        let store = shared.accounts.store().clone();
        let prefix = crate::accounts::account_prefix(account);
        let stored: u64 = crate::store_call(shared.config.inline_store, move || {
            store.list_with_sizes(&prefix)
        })
        .await
        .map_err(|_| internal("task failed"))?
        .map_err(store_refusal)?
        .iter()
        .filter(|(k, _)| !k.as_str().contains("/log/"))
        .map(|(_, size)| size)
        .sum();
        usage.insert(*account, stored);
    }
    let used = usage.entry(*account).or_insert(0);
    if used.saturating_add(len) > shared.config.quota_bytes {
        return Err((
            FailureCode::QuotaExceeded,
            format!(
                "the account's storage quota of {} bytes is used up",
                shared.config.quota_bytes
            ),
        ));
    }
    *used += len;
    Ok(())
}

/// Give back a reservation whose object was not created.
async fn release(shared: &Shared, account: &AccountId, len: u64) {
    if let Some(used) = shared.usage.lock().await.get_mut(account) {
        *used = used.saturating_sub(len);
    }
}

fn limit(allowed: bool) -> Result<(), Refusal> {
    if allowed {
        Ok(())
    } else {
        Err((
            FailureCode::RateLimited,
            "too many requests; wait and retry".into(),
        ))
    }
}

fn current_auth(auth: &AuthState) -> Option<(AccountId, DeviceId)> {
    *auth
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn authenticated(auth: &AuthState) -> Result<(AccountId, DeviceId), Refusal> {
    current_auth(auth).ok_or((
        FailureCode::Unauthenticated,
        "authenticate as a device of the account first".into(),
    ))
}

async fn require_current(
    shared: &Shared,
    account: &AccountId,
    device: &DeviceId,
) -> Result<(), Refusal> {
    let log = shared.accounts.log(account).await?;
    if log.state.is_current(device) {
        Ok(())
    } else {
        Err((
            FailureCode::Forbidden,
            "this device is not a current device of the account (revoked?)".into(),
        ))
    }
}

fn allowed_key(account: &AccountId, key: &str) -> Result<ObjectKey, Refusal> {
    if !client_key_allowed(account, key) {
        return Err((
            FailureCode::Forbidden,
            "keys must lie under your own account's data".into(),
        ));
    }
    ObjectKey::new(key).map_err(store_refusal)
}

/// Challenge–response: the device signs the server's nonce, its account and
/// device ids, and this connection's TLS exporter (so the proof cannot be
/// replayed on another connection).
async fn authenticate(
    shared: &Shared,
    conn: &Conn,
    auth: &AuthState,
    account: AccountId,
    device: DeviceId,
    send: &mut SendHalf,
    recv: &mut RecvHalf,
) -> Result<Response, Refusal> {
    let log = shared.accounts.log(&account).await?;
    let keys = log
        .state
        .devices()
        .get(&device)
        .map(|d| d.record.keys)
        .ok_or((
            FailureCode::Forbidden,
            "this device is not a current device of the account".into(),
        ))?;
    let mut nonce = [0u8; 32];
    rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(&mut nonce);
    write_frame(send, &Response::Challenge { nonce }.encode())
        .await
        .map_err(|e| (FailureCode::BadRequest, e.to_string()))?;
    let frame = tokio::time::timeout(shared.config.request_timeout, read_frame(recv, 1024))
        .await
        .map_err(|_| (FailureCode::BadRequest, "authentication timed out".into()))?
        .map_err(|e| (FailureCode::BadRequest, e.to_string()))?
        .ok_or((FailureCode::BadRequest, "authentication abandoned".into()))?;
    let Ok(Request::Auth { signature }) = Request::decode(&frame) else {
        return Err((
            FailureCode::BadRequest,
            "expected the signed challenge".into(),
        ));
    };
    let binding = conn
        .exporter(labels::SERVER_AUTH_EXPORTER, b"")
        .map_err(|_| internal("no TLS exporter"))?;
    let message = auth_message(&nonce, &account, &device, &binding);
    keys.verify(SignatureContext::ServerAuth, &message, &signature)
        .map_err(|_| {
            (
                FailureCode::Unauthenticated,
                "the challenge signature does not verify".into(),
            )
        })?;
    *auth
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((account, device));
    tracing::debug!(account = %account, device = %device, "device authenticated");
    Ok(Response::Done { created: false })
}

/// What a device signs to authenticate.
pub fn auth_message(
    nonce: &[u8; 32],
    account: &AccountId,
    device: &DeviceId,
    binding: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + 16 + 16 + 32);
    m.extend_from_slice(nonce);
    m.extend_from_slice(account.as_bytes());
    m.extend_from_slice(device.as_bytes());
    m.extend_from_slice(binding);
    m
}

async fn relay_open(shared: &Shared, peer: IpAddr, mut send: SendHalf, recv: RecvHalf) {
    if !shared.by_addr.allow(&peer, now()) {
        respond(
            &mut send,
            &failure((FailureCode::RateLimited, "too many requests".into())),
        )
        .await;
        return;
    }
    let mut id = [0u8; 16];
    rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(&mut id);
    let Some(joined) = shared.relay.open(id, now()) else {
        respond(
            &mut send,
            &failure((
                FailureCode::Unavailable,
                "the relay is full; retry later".into(),
            )),
        )
        .await;
        return;
    };
    let answer = Response::Channel {
        channel: id,
        expires_in_ms: u64::try_from(shared.relay.ttl().as_millis()).unwrap_or(u64::MAX),
    };
    if write_frame(&mut send, &answer.encode()).await.is_err() {
        return;
    }
    match tokio::time::timeout(shared.relay.ttl(), joined).await {
        Ok(Ok(peer)) => pump((send, recv), peer, id, shared.config.adversary().cloned()).await,
        _ => {
            let _ = send.finish();
        }
    }
}

async fn relay_join(shared: &Shared, channel: [u8; 16], mut send: SendHalf, recv: RecvHalf) {
    let Some(opener) = shared.relay.join(&channel, now()) else {
        respond(
            &mut send,
            &failure((
                FailureCode::ChannelUnavailable,
                "unknown, used or expired channel".into(),
            )),
        )
        .await;
        return;
    };
    if write_frame(&mut send, &Response::Done { created: false }.encode())
        .await
        .is_err()
    {
        return;
    }
    // The opener's task forwards from here on.
    let _ = opener.send((send, recv));
}

/// The time, read from tokio's clock (virtual when a simulator pauses it),
/// so rate limits and relay lifetimes follow the same clock as timers.
fn realm(shared: &Shared) -> Result<&crate::realm::Realm, Refusal> {
    shared.realm.as_ref().ok_or_else(|| {
        (
            FailureCode::NotFound,
            "this server runs no realm; check the realm addresses".into(),
        )
    })
}

/// Milliseconds since the Unix epoch: realm records space guesses in wall
/// time, which survives a restart.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}
