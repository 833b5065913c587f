//! The scripted malicious server: attacks an account arms for one
//! operation, applied by the real server's [`Adversary`] hook, then
//! classified as detected (a device refused) or harmless.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use keylink_keys::{AccountId, DeviceId};
use keylink_server::adversary::{Adversary, Answer};
use keylink_wire::Wire;
use keylink_wire::account::{Action, SignedEntry};
use keylink_wire::server::{FailureCode, Request, Response};
use serde::Serialize;

/// What the server does to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attack {
    /// Serve a device its log without the newest entries.
    RollbackLog,
    /// Accept a device's append without storing it and show that device
    /// its own branch, while the others see the real log.
    ForkLog,
    /// Serve the log as it was before the newest revocation.
    WithholdRevocation,
    /// Append a forged entry adding a device the server controls.
    InjectDevice,
    /// Answer an object read with another object of the account.
    SubstituteObject,
    /// Answer an object read with "not found".
    DropObject,
    /// Serve the account's first password wrap after it was replaced.
    OldPasswordWrap,
    /// Send a relayed link frame twice.
    ReplayRelayFrame,
}

impl Attack {
    /// Every attack.
    pub const ALL: [Attack; 8] = [
        Attack::RollbackLog,
        Attack::ForkLog,
        Attack::WithholdRevocation,
        Attack::InjectDevice,
        Attack::SubstituteObject,
        Attack::DropObject,
        Attack::OldPasswordWrap,
        Attack::ReplayRelayFrame,
    ];

    /// The error classes (the client's `Error` variants) that show a
    /// device noticed this attack.
    pub fn detected_by(self) -> &'static [&'static str] {
        match self {
            Attack::RollbackLog
            | Attack::ForkLog
            | Attack::WithholdRevocation
            | Attack::InjectDevice => &["BadLog"],
            Attack::SubstituteObject => &["Backup"],
            Attack::DropObject => &["Backup", "Refused"],
            Attack::OldPasswordWrap => &["BadLog", "WrongPassword"],
            Attack::ReplayRelayFrame => &["Link"],
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Attack::RollbackLog => "roll back a log",
            Attack::ForkLog => "fork a log between devices",
            Attack::WithholdRevocation => "withhold a revocation",
            Attack::InjectDevice => "inject a device entry",
            Attack::SubstituteObject => "substitute an object",
            Attack::DropObject => "drop an object",
            Attack::OldPasswordWrap => "serve an old password wrap",
            Attack::ReplayRelayFrame => "replay a relay frame",
        }
    }
}

/// An attack armed for an account's next operation.
#[derive(Debug)]
struct Armed {
    attack: Attack,
    /// The device it is aimed at (any of the account's when `None`).
    target: Option<DeviceId>,
    /// Times it changed an answer.
    fired: u32,
    /// A fork's shadow branch: the real log's length when the device
    /// appended, and the entries only that device sees.
    shadow: Option<(u64, Vec<Vec<u8>>)>,
    /// Object attacks change only reads of keys containing this.
    keys: Option<String>,
}

/// The simulator's dishonest operator.
#[derive(Debug, Default)]
pub struct SimAdversary {
    armed: Mutex<HashMap<AccountId, Armed>>,
    /// Relay channels under attack: which frame (counted from 0) to send
    /// twice, frames seen, and whether it fired.
    channels: Mutex<HashMap<[u8; 16], (usize, usize, bool)>>,
    /// Each account's first password wrap, as it was created.
    first_wraps: Mutex<HashMap<AccountId, Vec<u8>>>,
    /// An object of each account seen in a read, to substitute.
    objects: Mutex<HashMap<AccountId, (String, Vec<u8>)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn account_of_key(key: &str) -> Option<AccountId> {
    let hex = key.strip_prefix("a/")?.get(..32)?;
    let bytes = hex::decode(hex).ok()?;
    let id: [u8; 16] = bytes.try_into().ok()?;
    Some(AccountId::from_bytes(id))
}

impl SimAdversary {
    /// Arm `attack` against `account` (at `target`, or any device; object
    /// attacks only on keys containing `keys`, when given).
    pub fn arm(
        &self,
        account: AccountId,
        attack: Attack,
        target: Option<DeviceId>,
        keys: Option<String>,
    ) {
        lock(&self.armed).insert(
            account,
            Armed {
                attack,
                target,
                fired: 0,
                shadow: None,
                keys,
            },
        );
    }

    /// Disarm the account's attack; whether it changed any answer.
    pub fn disarm(&self, account: &AccountId) -> bool {
        lock(&self.armed)
            .remove(account)
            .is_some_and(|a| a.fired > 0)
    }

    /// Send frame `index` of relay `channel` twice.
    pub fn arm_relay(&self, channel: [u8; 16], index: usize) {
        lock(&self.channels).insert(channel, (index, 0, false));
    }

    /// Stop attacking `channel`; whether the replay happened.
    pub fn disarm_relay(&self, channel: &[u8; 16]) -> bool {
        lock(&self.channels).remove(channel).is_some_and(|c| c.2)
    }

    /// Whether the account has a first password wrap unlike `current`.
    pub fn has_old_wrap(&self, account: &AccountId) -> bool {
        lock(&self.first_wraps).contains_key(account)
    }

    fn tamper_log(
        armed: &mut Armed,
        who: Option<(AccountId, DeviceId)>,
        since: u64,
        entries: Vec<Vec<u8>>,
        more: bool,
    ) -> (Vec<Vec<u8>>, bool) {
        let aimed = armed.target.is_none() || who.map(|w| w.1) == armed.target;
        if !aimed || more {
            return (entries, more);
        }
        match armed.attack {
            Attack::RollbackLog if since == 0 && entries.len() > 1 => {
                let keep = entries.len() - 1;
                armed.fired += 1;
                (entries[..keep].to_vec(), false)
            }
            Attack::WithholdRevocation => {
                let cut = entries.iter().rposition(|e| {
                    SignedEntry::decode(e)
                        .is_ok_and(|s| matches!(s.body().action, Action::RemoveDevice { .. }))
                });
                match cut {
                    Some(i) if i > 0 => {
                        armed.fired += 1;
                        (entries[..i].to_vec(), false)
                    }
                    _ => (entries, more),
                }
            }
            Attack::InjectDevice => match forge_add_device(&entries) {
                Some(forged) => {
                    armed.fired += 1;
                    let mut e = entries;
                    e.push(forged);
                    (e, false)
                }
                None => (entries, more),
            },
            Attack::ForkLog => match &armed.shadow {
                Some((at, branch)) => {
                    let at = usize::try_from(*at).unwrap_or(usize::MAX);
                    let start = usize::try_from(since).unwrap_or(usize::MAX);
                    let mut view: Vec<Vec<u8>> = entries;
                    // `entries` begins at `since`; the fork point is `at`.
                    let keep = at.saturating_sub(start).min(view.len());
                    view.truncate(keep);
                    view.extend(branch.iter().cloned());
                    armed.fired += 1;
                    (view, false)
                }
                None => (entries, more),
            },
            _ => (entries, more),
        }
    }
}

/// An `AddDevice` entry for a device the server made up, chained onto the
/// log and signed with keys that are not the account's.
fn forge_add_device(entries: &[Vec<u8>]) -> Option<Vec<u8>> {
    let last = SignedEntry::decode(entries.last()?).ok()?;
    let record =
        entries.iter().find_map(
            |e| match SignedEntry::decode(e).ok()?.body().action.clone() {
                Action::Genesis { device, .. } | Action::AddDevice { device } => Some(device),
                _ => None,
            },
        )?;
    let mut body = last.body().clone();
    body.sequence += 1;
    body.prev_hash = last.hash();
    body.action = Action::AddDevice { device: record };
    Some(SignedEntry::new(body, [7u8; 64], [9u8; 64]).encode())
}

impl Adversary for SimAdversary {
    fn intercept(&self, who: Option<(AccountId, DeviceId)>, request: &Request) -> Option<Answer> {
        let Request::Append {
            account,
            expected_next,
            entries,
        } = request
        else {
            return None;
        };
        let mut armed = lock(&self.armed);
        let a = armed.get_mut(account)?;
        let aimed = a.target.is_none() || who.map(|w| w.1) == a.target;
        if a.attack != Attack::ForkLog || !aimed {
            return None;
        }
        // Acknowledge and keep the entries for this device's eyes only.
        match &mut a.shadow {
            None => a.shadow = Some((*expected_next, entries.clone())),
            Some((at, branch)) if *at + branch.len() as u64 == *expected_next => {
                branch.extend(entries.iter().cloned());
            }
            Some(_) => return None,
        }
        a.fired += 1;
        Some(Ok(Response::Done { created: true }))
    }

    fn answer(
        &self,
        who: Option<(AccountId, DeviceId)>,
        request: &Request,
        answer: Answer,
    ) -> Answer {
        match request {
            Request::CreateAccount {
                genesis,
                password_wrap,
                ..
            } => {
                if answer.is_ok()
                    && let Ok(g) = SignedEntry::decode(genesis)
                {
                    lock(&self.first_wraps)
                        .entry(g.body().account)
                        .or_insert_with(|| password_wrap.clone());
                }
                answer
            }
            Request::FetchLog { account, since } => {
                let mut armed = lock(&self.armed);
                let Some(a) = armed.get_mut(account) else {
                    return answer;
                };
                match answer {
                    Ok(Response::Log { entries, more }) => {
                        let (entries, more) = Self::tamper_log(a, who, *since, entries, more);
                        Ok(Response::Log { entries, more })
                    }
                    other => other,
                }
            }
            Request::GetWraps { account } => {
                let mut armed = lock(&self.armed);
                let Some(a) = armed.get_mut(account) else {
                    return answer;
                };
                if a.attack != Attack::OldPasswordWrap {
                    return answer;
                }
                let first = lock(&self.first_wraps).get(account).cloned();
                match (answer, first) {
                    (
                        Ok(Response::Wraps {
                            password_wrap,
                            recovery_wrap,
                        }),
                        Some(old),
                    ) => {
                        if old != password_wrap {
                            a.fired += 1;
                        }
                        Ok(Response::Wraps {
                            password_wrap: old,
                            recovery_wrap,
                        })
                    }
                    (other, _) => other,
                }
            }
            Request::GetObject { key, .. } => {
                let Some(account) = account_of_key(key) else {
                    return answer;
                };
                if let Ok(Response::Object { value }) = &answer {
                    lock(&self.objects)
                        .entry(account)
                        .or_insert_with(|| (key.clone(), value.clone()));
                }
                let mut armed = lock(&self.armed);
                let Some(a) = armed
                    .get_mut(&account)
                    .filter(|a| a.keys.as_deref().is_none_or(|k| key.contains(k)))
                else {
                    return answer;
                };
                match (a.attack, answer) {
                    (Attack::DropObject, Ok(Response::Object { .. })) if a.fired == 0 => {
                        a.fired += 1;
                        Err((FailureCode::NotFound, "no such object".into()))
                    }
                    (Attack::SubstituteObject, Ok(Response::Object { value })) if a.fired == 0 => {
                        a.fired += 1;
                        let other = lock(&self.objects).get(&account).cloned();
                        let mut swapped = match other {
                            Some((k, v)) if k != *key => v,
                            _ => value,
                        };
                        if let Some(b) = swapped.last_mut() {
                            *b ^= 1;
                        }
                        Ok(Response::Object { value: swapped })
                    }
                    (_, answer) => answer,
                }
            }
            _ => answer,
        }
    }

    fn relay(&self, channel: &[u8; 16], frame: Vec<u8>) -> Vec<Vec<u8>> {
        let mut channels = lock(&self.channels);
        match channels.get_mut(channel) {
            Some((index, seen, fired)) => {
                let this = *seen;
                *seen += 1;
                if this == *index {
                    *fired = true;
                    vec![frame.clone(), frame]
                } else {
                    vec![frame]
                }
            }
            None => vec![frame],
        }
    }
}
