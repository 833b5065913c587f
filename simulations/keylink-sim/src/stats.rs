//! What a run counts: operations, checks, violations, latencies and
//! memory.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// An operation a device does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Create an account (its first device).
    CreateAccount,
    /// Link a new device, approved.
    Link,
    /// A link the existing device declined (success: it failed).
    LinkDeclined,
    /// Back up a folder.
    Backup,
    /// Two devices back up at once.
    ConcurrentBackup,
    /// Restore and compare.
    Restore,
    /// Revoke a device (key rotation).
    Revoke,
    /// Change the password.
    ChangePassword,
    /// Replace the recovery key.
    RotateRecovery,
    /// A device is lost.
    LoseDevice,
    /// A fresh device recovers with the password.
    RecoverWithPassword,
    /// A fresh device recovers with the recovery key.
    RecoverWithKey,
    /// A device crashes mid-backup and restarts.
    Crash,
    /// An attacker tries a wrong password through the realms (success: it
    /// was refused).
    GuessPassword,
}

impl Op {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::CreateAccount => "create account",
            Op::Link => "link",
            Op::LinkDeclined => "link (declined)",
            Op::Backup => "backup",
            Op::ConcurrentBackup => "concurrent backup",
            Op::Restore => "restore",
            Op::Revoke => "revoke",
            Op::ChangePassword => "change password",
            Op::RotateRecovery => "rotate recovery key",
            Op::LoseDevice => "lose device",
            Op::RecoverWithPassword => "recover (password)",
            Op::RecoverWithKey => "recover (recovery key)",
            Op::Crash => "crash and restart",
            Op::GuessPassword => "guess password (attacker)",
        }
    }
}

/// A named invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Every restore equals what was backed up.
    RestoreEqualsBackup,
    /// A device outside the signed list never receives key material.
    OutsiderGetsNoKey,
    /// A revoked device never decrypts data written after its revocation.
    RevokedCannotDecrypt,
    /// A revoked device's keys, used directly on the stored objects, open
    /// nothing written after its revocation.
    RevokedKeysOpenNothingNew,
    /// A revoked device never holds a newer root key.
    RevokedGetsNoNewKey,
    /// No acknowledged backup is lost.
    NoAcknowledgedBackupLost,
    /// No secret reaches the server's storage in the clear.
    NoSecretInStorage,
    /// Two devices of an account list the same devices.
    DevicesAgree,
    /// Resident memory stays under its bound.
    MemoryBounded,
    /// Every malicious-server action is detected by a device or harmless.
    AttackDetectedOrHarmless,
    /// A device works again once faults pass.
    DevicesRecover,
    /// Wrong passwords tested since the realms last reset stay within what
    /// the honest realms of the set allow.
    PasswordTestsBounded,
    /// A password is tested only after k realms (less the malicious ones in
    /// the set) counted a guess.
    NoTestWithoutKRealms,
    /// With k honest realms up, the right password recovers.
    RealmsRecover,
}

impl Check {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Check::RestoreEqualsBackup => "restore_equals_backup",
            Check::OutsiderGetsNoKey => "outsider_gets_no_key",
            Check::RevokedCannotDecrypt => "revoked_cannot_decrypt",
            Check::RevokedKeysOpenNothingNew => "revoked_keys_open_nothing_new",
            Check::RevokedGetsNoNewKey => "revoked_gets_no_new_key",
            Check::NoAcknowledgedBackupLost => "no_acknowledged_backup_lost",
            Check::NoSecretInStorage => "no_secret_in_storage",
            Check::DevicesAgree => "devices_agree",
            Check::MemoryBounded => "memory_bounded",
            Check::AttackDetectedOrHarmless => "attack_detected_or_harmless",
            Check::DevicesRecover => "devices_recover",
            Check::PasswordTestsBounded => "password_tests_bounded",
            Check::NoTestWithoutKRealms => "no_test_without_k_realms",
            Check::RealmsRecover => "realms_recover",
        }
    }
}

/// A broken invariant, with what led to it.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    /// Which check.
    pub check: Check,
    /// Which account (`None` for a run-wide check: storage, memory).
    pub account: Option<usize>,
    /// The account's step.
    pub step: u64,
    /// What was seen.
    pub detail: String,
    /// The account's last steps.
    pub trace: Vec<String>,
}

impl Violation {
    /// Where it happened, for people: "account 12, step 5" or "the run".
    pub fn place(&self) -> String {
        match self.account {
            Some(a) => format!("account {a}, step {}", self.step),
            None => "the run as a whole".into(),
        }
    }
}

/// Counts of one operation.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct OpCount {
    /// Succeeded (for a declined link: was refused as it should be).
    pub ok: u64,
    /// Failed (network faults, crashes, races).
    pub failed: u64,
}

/// What became of one kind of attack.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct AttackCount {
    /// Armed for an operation.
    pub armed: u64,
    /// Changed at least one answer or frame.
    pub fired: u64,
    /// A device refused (an error named the problem).
    pub detected: u64,
    /// Devices carried on and every check held.
    pub harmless: u64,
    /// The operation failed for another reason (a network fault, a server
    /// restart): neither detected nor shown harmless.
    pub inconclusive: u64,
}

/// Everything counted during a run.
#[derive(Debug, Default)]
pub struct Stats {
    /// Operations by kind.
    pub ops: BTreeMap<Op, OpCount>,
    /// Latency of each successful operation, virtual microseconds.
    pub latency_us: BTreeMap<Op, Vec<u64>>,
    /// Completed operations per virtual second, by kind.
    pub timeline: BTreeMap<u64, BTreeMap<Op, u64>>,
    /// Checks run, by name.
    pub checks: BTreeMap<Check, u64>,
    /// Broken invariants.
    pub violations: Vec<Violation>,
    /// Highest resident memory seen.
    pub peak_rss: u64,
    /// Faults per virtual second, by kind.
    pub fault_timeline: BTreeMap<u64, BTreeMap<String, u64>>,
    /// Stored objects already reported as holding a secret.
    pub flagged_objects: std::collections::BTreeSet<String>,
    /// Attacks by kind.
    pub attacks: BTreeMap<crate::adversary::Attack, AttackCount>,
}

impl Stats {
    /// Count an operation that took `took` (virtual time).
    pub fn op(&mut self, op: Op, ok: bool, took: Duration, start: Instant) {
        let c = self.ops.entry(op).or_default();
        if ok {
            c.ok += 1;
            self.latency_us
                .entry(op)
                .or_default()
                .push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        } else {
            c.failed += 1;
        }
        let second = start.elapsed().as_secs();
        *self
            .timeline
            .entry(second)
            .or_default()
            .entry(op)
            .or_default() += 1;
    }

    /// Count `n` faults of `kind` in this virtual second.
    pub fn fault(&mut self, kind: &str, n: u64, start: Instant) {
        if n > 0 {
            let second = start.elapsed().as_secs();
            *self
                .fault_timeline
                .entry(second)
                .or_default()
                .entry(kind.to_string())
                .or_default() += n;
        }
    }

    /// Count a check run.
    pub fn check(&mut self, check: Check) {
        *self.checks.entry(check).or_default() += 1;
    }
}

/// Resident memory of this process, in bytes, where the system says
/// (`VmRSS` in `/proc/self/status`).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The `q` quantile (0..=1) of `values` (sorted in place), nearest rank.
pub fn quantile(values: &mut [u64], q: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}
