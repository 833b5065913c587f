//! A device's side of the realms (docs/protocol.md §19): registering an
//! account's OPRF key with its realm set, recovering a password wrap's key
//! through `k` of them, and clearing a lock a guesser left behind.
//!
//! The realm set is configured on the device (addresses and pinned
//! certificate fingerprints), never learned from the storage server: a
//! storage server that could name the realms could name its own.

use std::net::SocketAddr;

use keylink_keys::{AccountId, RealmAdminKey, RealmKek, RootKey, StretchedPassword};
use keylink_net::{AnyEndpoint as Endpoint, Fingerprint};
use keylink_realm::{
    AdminReset, GuessAnswer, NewRegistration, RealmSet, RealmStatus, Recovery, choose_realms,
};
use keylink_server::ServerClient;
use keylink_wire::server::FailureCode;

use crate::error::{Error, Result};
use crate::link::ServerInfo;
use crate::network::Net;

/// One realm, as a device pins it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealmInfo {
    /// Where it listens.
    pub addr: SocketAddr,
    /// SHA-256 of its certificate: also its realm id.
    pub fingerprint: Fingerprint,
}

/// An account's realm set: the realms in share order and how many a
/// recovery needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Realms {
    /// The realms, in share-index order.
    pub realms: Vec<RealmInfo>,
    /// Realms needed to recover (`k`).
    pub needed: u8,
    /// Password attempts per account across the set.
    pub attempts: u16,
}

impl Realms {
    /// The storage server as the one realm (1-of-1), as `keylink server`
    /// hosts by default.
    pub fn the_server(server: &ServerInfo) -> Self {
        Self {
            realms: vec![RealmInfo {
                addr: server.addr,
                fingerprint: server.fingerprint,
            }],
            needed: 1,
            attempts: keylink_realm::DEFAULT_ATTEMPTS,
        }
    }

    /// The set as the pure protocol sees it.
    ///
    /// # Errors
    /// [`Error::Realm`] for a bad threshold or policy.
    pub fn set(&self) -> Result<RealmSet> {
        let ids = self
            .realms
            .iter()
            .map(|r| *r.fingerprint.as_bytes())
            .collect();
        RealmSet::new(ids, self.needed)
            .and_then(|s| s.with_attempts(self.attempts))
            .map_err(|e| Error::Realm(e.to_string()))
    }
}

/// What a realm said, or why it said nothing.
pub(crate) struct Reached {
    pub(crate) info: RealmInfo,
    pub(crate) client: Option<ServerClient>,
    pub(crate) status: std::result::Result<RealmStatus, String>,
}

/// Connect to every realm and read its status for `account`, at once.
pub(crate) async fn reach_all(
    endpoint: &Endpoint,
    net: &Net,
    realms: &Realms,
    account: &AccountId,
) -> Vec<Reached> {
    let tasks = realms.realms.iter().map(|info| async move {
        let server = ServerInfo {
            addr: info.addr,
            fingerprint: info.fingerprint,
            net: net.clone(),
        };
        let client = match crate::device::connect_to(endpoint, &server).await {
            Ok(c) => c,
            Err(e) => {
                return Reached {
                    info: *info,
                    client: None,
                    status: Err(e.to_string()),
                };
            }
        };
        let status = match client.realm_status(account).await {
            Ok(bytes) => RealmStatus::from_bytes(&bytes).map_err(|e| e.to_string()),
            Err(e) => Err(Error::from_server(&info.addr, e).to_string()),
        };
        Reached {
            info: *info,
            client: Some(client),
            status,
        }
    });
    futures::future::join_all(tasks).await
}

/// Register a fresh OPRF key for `root`'s epoch with every realm of
/// `realms`, replacing what each holds when one of `roots` (this device's
/// root keys) holds the realm-admin key it names. Succeeds when at least
/// `k` realms stored their share; says which did not.
pub(crate) async fn register_all(
    endpoint: &Endpoint,
    net: &Net,
    realms: &Realms,
    account: AccountId,
    root: &RootKey,
    roots: &[&RootKey],
    stretched: &StretchedPassword,
) -> Result<(NewRegistration, Vec<String>)> {
    let set = realms.set()?;
    let reached = reach_all(endpoint, net, realms, &account).await;
    // The admin key each realm holds, found among this device's roots.
    let held: Vec<Option<RootKey>> = reached
        .iter()
        .map(|r| {
            let admin = r.status.as_ref().ok()?.admin;
            roots
                .iter()
                .find(|k| k.realm_admin_key(&account).public_key() == admin)
                .map(|k| k.duplicate())
        })
        .collect();
    let admin: RealmAdminKey = root.realm_admin_key(&account);
    let reg = keylink_realm::register(
        account,
        root.epoch(),
        stretched,
        &set,
        &admin,
        |index| {
            held.get(usize::from(index).checked_sub(1)?)?
                .as_ref()
                .map(|k| k.realm_admin_key(&account))
        },
        &mut net.rng(),
    )
    .map_err(|e| Error::Realm(e.to_string()))?;
    let mut failures = Vec::new();
    let mut stored = 0u8;
    for (r, req) in reached.iter().zip(&reg.requests) {
        let Some(client) = &r.client else {
            failures.push(format!(
                "realm {}: {}",
                r.info.addr,
                r.status
                    .as_ref()
                    .err()
                    .map_or("unreachable", String::as_str)
            ));
            continue;
        };
        match client.realm_register(req.to_bytes()).await {
            Ok(()) => stored += 1,
            Err(e) => failures.push(format!(
                "realm {}: {}",
                r.info.addr,
                Error::from_server(&r.info.addr, e)
            )),
        }
    }
    if stored < realms.needed {
        return Err(Error::Realm(format!(
            "{} of {} realms are needed to register, {} stored the registration: {}",
            realms.needed,
            realms.realms.len(),
            stored,
            failures.join("; ")
        )));
    }
    Ok((reg, failures))
}

/// What a recovery through the realms found besides the key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealmReport {
    /// Realms skipped, and why (unreachable, refused, a bad evaluation, …).
    pub skipped: Vec<String>,
    /// Guesses the realms had counted since the last recovery, this one
    /// included, as they reported at unlock time (the most any one said).
    pub guesses_before: u32,
}

/// Recover the wrap key of registration `commitment` through `k` realms.
/// Each realm asked spends one counted guess.
pub(crate) async fn recover_kek(
    endpoint: &Endpoint,
    net: &Net,
    realms: &Realms,
    account: AccountId,
    commitment: [u8; 32],
    stretched: &StretchedPassword,
) -> Result<(RealmKek, Vec<Reached>, RealmReport)> {
    let reached = reach_all(endpoint, net, realms, &account).await;
    let mut report = RealmReport::default();
    let mut statuses = Vec::new();
    let mut locked = None;
    // Guesses counted across the set since the last recovery; each guess
    // counts at k realms, so this over k is the guesses made.
    let counted: u32 = reached
        .iter()
        .filter_map(|r| r.status.as_ref().ok())
        .filter(|s| s.descriptor.commitment() == commitment)
        .map(|s| u32::from(s.used))
        .sum();
    let guesses_made = counted / u32::from(realms.needed.max(1));
    for r in &reached {
        match &r.status {
            Ok(s) if s.descriptor.commitment() != commitment => report.skipped.push(format!(
                "realm {}: holds another registration than the password wrap names",
                r.info.addr
            )),
            Ok(s) if s.locked() => {
                locked = Some(guesses_made);
                report.skipped.push(format!(
                    "realm {}: locked ({} guesses counted)",
                    r.info.addr, s.used
                ));
            }
            Ok(s) => statuses.push((*r.info.fingerprint.as_bytes(), s.clone())),
            Err(e) => report.skipped.push(format!("realm {}: {e}", r.info.addr)),
        }
    }
    let mut recovery = Recovery::start(account, commitment, stretched, &mut net.rng())
        .map_err(|e| Error::Realm(e.to_string()))?;
    for id in choose_realms(&commitment, &statuses) {
        if recovery.needed() == 0 {
            break;
        }
        let Some(r) = reached
            .iter()
            .find(|r| r.info.fingerprint.as_bytes() == &id)
        else {
            continue;
        };
        let (Some(client), Ok(status)) = (&r.client, &r.status) else {
            continue;
        };
        match client
            .realm_guess(&account, &commitment, recovery.blinded())
            .await
        {
            Ok(bytes) => {
                let checked = GuessAnswer::from_bytes(&bytes)
                    .and_then(|a| recovery.accept(&id, &status.descriptor, &a));
                if let Err(e) = checked {
                    report
                        .skipped
                        .push(format!("realm {}: {e}; skipped", r.info.addr));
                }
            }
            Err(e) if e.code() == Some(FailureCode::RealmLocked) => {
                locked = Some(guesses_made);
                report.skipped.push(format!(
                    "realm {}: {}",
                    r.info.addr,
                    Error::from_server(&r.info.addr, e)
                ));
            }
            Err(e) => report.skipped.push(format!(
                "realm {}: {}",
                r.info.addr,
                Error::from_server(&r.info.addr, e)
            )),
        }
    }
    let kek = match recovery.finish(stretched) {
        Ok(kek) => kek,
        Err(keylink_realm::Error::NotEnoughRealms {
            needed,
            of,
            answered,
        }) => {
            // With no valid answer the registration was never read: the
            // configured set says how many were needed.
            let (needed, of) = if answered == 0 {
                (realms.needed, realms.realms.len())
            } else {
                (needed, usize::from(of))
            };
            if let Some(wrong_guesses) = locked.filter(|_| answered < needed) {
                return Err(Error::RecoveryLocked {
                    wrong_guesses,
                    detail: report.skipped.join("; "),
                });
            }
            return Err(Error::RealmsUnavailable {
                needed,
                of,
                answered,
                detail: report.skipped.join("; "),
            });
        }
        Err(e) => return Err(Error::Realm(e.to_string())),
    };
    Ok((kek, reached, report))
}

/// After the wrap opened: send every realm reached its unlock tag so it
/// resets its counter; returns the most guesses any realm had counted.
pub(crate) async fn unlock_all(
    reached: &[Reached],
    account: AccountId,
    commitment: [u8; 32],
    kek: &RealmKek,
) -> u32 {
    let mut most = 0;
    for r in reached {
        let (Some(client), Ok(status)) = (&r.client, &r.status) else {
            continue;
        };
        let tag = kek.unlock_tag(&commitment, status.index, r.info.fingerprint.as_bytes());
        if let Ok(n) = client.realm_unlock(&account, &commitment, &tag).await {
            most = most.max(n);
        }
    }
    most
}

/// Per realm: what a current device found, and whether it cleared a lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealmCheck {
    /// The realm.
    pub addr: SocketAddr,
    /// What it says, in words.
    pub state: String,
    /// Guesses it had counted since the last recovery.
    pub guesses: u16,
    /// Whether it was locked and this device cleared it.
    pub cleared: bool,
    /// The guesses it says it ever counted for the account.
    pub total: u64,
    /// Whether that is fewer than this device saw before: the realm's
    /// folder was restored from an old copy, which gave a guesser back the
    /// guesses counted since.
    pub rolled_back: bool,
}

/// Check every realm of the account's registration `commitment`; clear a
/// locked counter with the realm-admin key one of `roots` holds.
pub(crate) async fn check_and_clear(
    endpoint: &Endpoint,
    net: &Net,
    realms: &Realms,
    account: AccountId,
    commitment: [u8; 32],
    roots: &[&RootKey],
    seen: &std::collections::BTreeMap<String, u64>,
) -> Vec<RealmCheck> {
    let reached = reach_all(endpoint, net, realms, &account).await;
    let mut out = Vec::new();
    for r in reached {
        let mut check = RealmCheck {
            addr: r.info.addr,
            state: String::new(),
            guesses: 0,
            cleared: false,
            total: 0,
            rolled_back: false,
        };
        if let Ok(s) = &r.status {
            check.total = s.total;
            let before = seen
                .get(&r.info.fingerprint.to_string())
                .copied()
                .unwrap_or(0);
            check.rolled_back =
                keylink_realm::check_not_rolled_back(s.index, before, s.total).is_err();
        }
        match (&r.client, &r.status) {
            (_, Err(e)) => check.state = e.clone(),
            (_, Ok(s)) if s.descriptor.commitment() != commitment => {
                check.state = "holds another registration than the account's password wrap; change the password to register again".into();
            }
            (Some(client), Ok(s)) => {
                check.guesses = s.used;
                check.state = format!(
                    "{} of {} guesses used",
                    s.used,
                    s.descriptor.policy().per_realm()
                );
                if s.locked() {
                    check.state = format!("locked after {} wrong guesses", s.used);
                    let admin = roots
                        .iter()
                        .map(|k| k.realm_admin_key(&account))
                        .find(|a| a.public_key() == s.admin);
                    if let Some(admin) = admin {
                        let reset = AdminReset::sign(account, commitment, s.total, &admin);
                        if client.realm_reset(reset.to_bytes()).await.is_ok() {
                            check.cleared = true;
                            check.state =
                                format!("was locked after {} wrong guesses; cleared", s.used);
                        }
                    }
                }
            }
            (None, Ok(_)) => check.state = "unreachable".into(),
        }
        if check.rolled_back {
            let before = seen
                .get(&r.info.fingerprint.to_string())
                .copied()
                .unwrap_or(0);
            check.state = format!(
                "{}; its guess counter went back from {before} to {} guesses ever: its folder was restored from an old copy",
                check.state, check.total
            );
        }
        out.push(check);
    }
    out
}

/// Whether `password` is strong enough for what will guard it
/// (docs/protocol.md §19.14). With `k ≥ 2` realms only §4.1's 8-character
/// minimum applies: a guesser gets the policy's few counted attempts, and
/// no single operator can test offline. With one realm needed (1-of-1, or
/// 1-of-n), that realm's operator holding the wrap can test passwords
/// offline at Argon2id's cost, so zxcvbn must estimate at least 10⁸
/// guesses (score 3); with no realm anyone holding the wrap can, so at
/// least 10¹⁰ (score 4). `context` holds words the person chose nearby
/// (the account and device names), which a guesser would try first.
///
/// # Errors
/// [`Error::WeakPassword`], saying why and what would help.
pub fn check_password_strength(
    password: &keylink_keys::Password,
    realms: Option<&Realms>,
    context: &[&str],
) -> Result<()> {
    let (need, why) = match realms {
        Some(r) if r.needed >= 2 => return Ok(()),
        Some(_) => (
            3u8,
            "one realm operator (the storage server's by default) could test it offline",
        ),
        None => (
            4u8,
            "without realms anyone who gets the password wrap could test it offline",
        ),
    };
    // A Password holds its normalised UTF-8 text.
    let text = std::str::from_utf8(password.expose_secret())
        .map_err(|_| Error::Internal("password is not UTF-8"))?;
    let estimate = zxcvbn::zxcvbn(text, context);
    if u8::from(estimate.score()) >= need {
        return Ok(());
    }
    let hint = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    Err(Error::WeakPassword(format!(
        "this password is too easy to guess{hint}: {why}. Use a longer one — several unrelated words work — or realms run by other operators (--realm, --realms-needed 2); nothing was changed"
    )))
}
