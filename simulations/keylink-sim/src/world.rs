//! The simulated world: accounts whose devices run the real client code
//! against a real server, an operation at a time, with invariants checked
//! after every step.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keylink_client::link::{LinkOptions, ServerInfo, ShowVia};
use keylink_client::{Device, Net, Unlock};
use keylink_keys::{DeviceId, KdfParams, Password, RecoveryKey};
use keylink_wire::account::DeviceName;
use rand::rngs::ChaCha20Rng;
use rand::{Rng, RngExt, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::adversary::{Attack, SimAdversary};
use crate::keystore::MemKeyStore;
use crate::stats::{Check, Op, Stats, Violation};

/// A file tree: relative path to contents.
pub type Tree = BTreeMap<String, Vec<u8>>;

/// Low-cost Argon2id for most simulated accounts: 64 KiB, one pass. Opened
/// only by devices on the simulated network (`KdfPolicy::insecure_accept_weak`).
pub const LOW_COST_KDF: KdfParams = KdfParams::insecure_for_tests(64, 1, 1);

/// What every account task shares.
pub struct Ctx {
    /// The server, as devices reach it.
    pub server: ServerInfo,
    /// The network devices open endpoints on.
    pub net: Net,
    /// Where device folders live.
    pub dir: PathBuf,
    /// Figures.
    pub stats: Mutex<Stats>,
    /// Accounts run at production Argon2 parameters: every `n`th (0: none).
    pub production_every: usize,
    /// Devices each account aims for.
    pub devices_per_account: usize,
    /// Operations after set-up.
    pub ops_per_account: usize,
    /// Whether devices crash and approvers dawdle.
    pub faults: bool,
    /// When the run started (virtual time).
    pub start: Instant,
    /// The malicious server, when attacks are on.
    pub adversary: Option<Arc<SimAdversary>>,
    /// The simulated network (not on real UDP).
    pub simnet: Option<crate::simnet::SimNet>,
    /// The server's storage, read directly by checks that bypass the
    /// client.
    pub store: Arc<crate::disk::ServerStore>,
    /// The realms (none over real UDP).
    pub realms: Vec<crate::realms::SimRealm>,
    /// The malicious realm's operator, when attacks are on.
    pub realm_adversary: Option<Arc<crate::realms::RealmAdversary>>,
}

impl Ctx {
    /// Whether the root keys in `keys` open `writer`'s newest snapshot,
    /// read straight from the server's storage against the log it holds
    /// (verified from genesis): no client code in between to refuse first.
    ///
    /// # Errors
    /// If the stored log cannot be read or does not verify.
    pub fn opens_snapshot(
        &self,
        account: &keylink_keys::AccountId,
        keys: &MemKeyStore,
        writer: DeviceId,
    ) -> Result<bool, String> {
        use keylink_store::Store;
        use keylink_wire::Wire;
        let prefix = format!("{}log/", keylink_server::account_prefix(account));
        let mut entries = Vec::new();
        for key in self.store.list(&prefix).map_err(|e| e.to_string())? {
            let bytes = self
                .store
                .get(&key, keylink_wire::account::MAX_ENTRY_LEN)
                .map_err(|e| e.to_string())?;
            entries.push(
                keylink_wire::account::SignedEntry::decode(&bytes).map_err(|e| e.to_string())?,
            );
        }
        let log = keylink_account::LogState::verify(&entries).map_err(|e| e.to_string())?;
        let mut ring = keylink_backup::KeyRing::new();
        for (epoch, key) in keys.root_keys() {
            ring.insert(keylink_keys::RootKey::from_secret_bytes(
                *key,
                keylink_keys::Epoch(epoch),
            ));
        }
        Ok(keylink_backup::Snapshot::open(self.store.as_ref(), &log, &ring, writer).is_ok())
    }

    /// The sequence of the newest entry of `account`'s log in the server's
    /// storage (the real log, whatever a malicious server serves).
    pub fn stored_head(&self, account: &keylink_keys::AccountId) -> Option<u64> {
        use keylink_store::Store;
        let prefix = format!("{}log/", keylink_server::account_prefix(account));
        let keys = self.store.list(&prefix).ok()?;
        keys.last()?.as_str().rsplit('/').next()?.parse().ok()
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Active,
    /// Removed from the account; it held keys up to this epoch.
    Revoked {
        epoch: u64,
    },
    /// Lost (the phone in the river): its key store is gone.
    Lost,
}

struct Dev {
    name: String,
    keys: Arc<MemKeyStore>,
    device: Option<Device>,
    id: DeviceId,
    state: State,
    /// What its folder holds now.
    tree: Tree,
    /// What its last acknowledged backup holds.
    acked: Option<Tree>,
    /// Backups since the last acknowledged one that failed after they may
    /// have been published: any of them may be the newest in the log.
    in_doubt: Vec<Tree>,
    folder: PathBuf,
}

/// One account and everything the simulator knows about it.
pub struct Account {
    index: usize,
    name: String,
    rng: ChaCha20Rng,
    password: String,
    /// The password the account was created with.
    first_password: String,
    recovery: Option<String>,
    params: KdfParams,
    /// The realms guarding the password (none for every third account).
    realms: Option<keylink_client::Realms>,
    /// Which of the run's realms, by index.
    realm_set: Vec<usize>,
    /// Wrong passwords tested since the realms last reset (as far as this
    /// account knows: reset when an honest operation may have unlocked).
    wrong_tests: u32,
    devices: Vec<Dev>,
    /// Secrets that ever existed in this account: root keys, identity
    /// secrets, passwords, recovery keys (scanned for in storage).
    pub secrets: Vec<Vec<u8>>,
    /// The same, for a constant-time "already known" (each step
    /// re-derives every device's keys).
    known: std::collections::HashSet<Vec<u8>>,
    next_name: usize,
    /// Stored objects already scanned for secrets.
    scanned: std::collections::BTreeSet<String>,
    step: u64,
    recent: VecDeque<String>,
    trace: Sha256,
}

const RECENT: usize = 24;

/// The name of account `index` in a run seeded with `seed`.
pub fn account_name(seed: u64, index: usize) -> String {
    format!("sim-{seed:016x}-{index}")
}

fn rand_password(rng: &mut ChaCha20Rng) -> String {
    (0..20)
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect()
}

fn name(s: &str) -> Option<DeviceName> {
    DeviceName::new(s).ok()
}

fn options(ctx: &Ctx) -> LinkOptions {
    LinkOptions {
        net: ctx.net.clone(),
        ..LinkOptions::default()
    }
}

impl Account {
    /// Account `index` of a run seeded with `seed`.
    pub fn new(seed: u64, index: usize, production: bool) -> Self {
        let mut h = Sha256::new();
        h.update(b"keylink-sim/account");
        h.update(seed.to_be_bytes());
        h.update((index as u64).to_be_bytes());
        let mut rng = ChaCha20Rng::from_seed(h.finalize().into());
        let password = rand_password(&mut rng);
        Self {
            index,
            name: account_name(seed, index),
            rng,
            first_password: password.clone(),
            password,
            recovery: None,
            realms: None,
            realm_set: Vec::new(),
            wrong_tests: 0,
            params: if production {
                KdfParams::DEFAULT
            } else {
                LOW_COST_KDF
            },
            devices: Vec::new(),
            secrets: Vec::new(),
            known: std::collections::HashSet::new(),
            next_name: 0,
            scanned: std::collections::BTreeSet::new(),
            step: 0,
            recent: VecDeque::new(),
            trace: Sha256::new(),
        }
    }

    /// The hash of this account's operation trace.
    pub fn trace_hash(&self) -> [u8; 32] {
        self.trace.clone().finalize().into()
    }

    fn note(&mut self, line: String) {
        self.trace.update(line.as_bytes());
        self.trace.update(b"\n");
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(line);
    }

    fn violation(&self, ctx: &Ctx, check: Check, detail: String) {
        ctx.stats().violations.push(Violation {
            check,
            account: Some(self.index),
            step: self.step,
            detail,
            trace: self.recent.iter().cloned().collect(),
        });
    }

    fn check(&self, ctx: &Ctx, check: Check, ok: bool, detail: impl FnOnce() -> String) {
        ctx.stats().check(check);
        if !ok {
            self.violation(ctx, check, detail());
        }
    }

    /// Violations found in this account so far.
    fn violations_here(&self, ctx: &Ctx) -> usize {
        ctx.stats()
            .violations
            .iter()
            .filter(|v| v.account == Some(self.index))
            .count()
    }

    fn new_device_name(&mut self) -> String {
        self.next_name += 1;
        format!("d{}", self.next_name)
    }

    fn active(&self) -> Vec<usize> {
        (0..self.devices.len())
            .filter(|&i| self.devices[i].state == State::Active && self.devices[i].device.is_some())
            .collect()
    }

    fn pick(&mut self, from: &[usize]) -> Option<usize> {
        if from.is_empty() {
            None
        } else {
            Some(from[self.rng.random_range(0..from.len())])
        }
    }

    fn remember(&mut self, secret: &[u8]) {
        if self.known.insert(secret.to_vec()) {
            self.secrets.push(secret.to_vec());
        }
    }

    /// Every secret `keys` holds: its root keys and the subkeys derived
    /// from them (each device's subkey, the chunk-id and epoch-history
    /// keys), and its identity secrets.
    fn remember_secrets(&mut self, keys: &MemKeyStore) {
        let account = keylink_client::account_id_for(&self.name);
        let ids: Vec<DeviceId> = self
            .devices
            .iter()
            .map(|d| d.id)
            .chain(keys.device_id())
            .collect();
        for (epoch, k) in keys.root_keys() {
            self.remember(k.as_slice());
            let root = keylink_keys::RootKey::from_secret_bytes(*k, keylink_keys::Epoch(epoch));
            self.remember(root.chunk_id_key(&account).expose_secret());
            self.remember(root.epoch_history_key(&account).expose_secret());
            for id in &ids {
                self.remember(root.device_subkey(&account, id).expose_secret());
            }
        }
        for k in keys.identity_secrets() {
            self.remember(k.as_slice());
        }
    }

    /// Scan the objects stored for this account since the last scan for
    /// every secret the account has had so far (the end of the run scans
    /// everything again, for secrets made later).
    fn scan_new_objects(&mut self, ctx: &Ctx) {
        use keylink_store::Store;
        let account = keylink_client::account_id_for(&self.name);
        let prefix = keylink_server::account_prefix(&account);
        let Ok(keys) = ctx.store.list(&prefix) else {
            return;
        };
        let fresh: Vec<_> = keys
            .into_iter()
            .filter(|k| !self.scanned.contains(k.as_str()))
            .collect();
        if fresh.is_empty() {
            return;
        }
        let stores: Vec<Arc<MemKeyStore>> = self.devices.iter().map(|d| d.keys.clone()).collect();
        for k in stores {
            self.remember_secrets(&k);
        }
        let password = self.password.as_bytes().to_vec();
        self.remember(&password);
        if let Some(digits) = self.recovery.as_ref().map(|r| r.replace(' ', "")) {
            self.remember(digits.as_bytes());
        }
        let secrets = self.secrets.clone();
        let index = crate::SecretIndex::new(&secrets);
        for key in fresh {
            self.scanned.insert(key.as_str().to_string());
            let Ok(bytes) = ctx.store.get(&key, usize::MAX) else {
                continue;
            };
            let hit = index.find(&bytes);
            if hit.is_some() {
                ctx.stats().flagged_objects.insert(key.as_str().to_string());
            }
            self.check(ctx, Check::NoSecretInStorage, hit.is_none(), || {
                format!(
                    "a secret appears in stored object {} at byte {}",
                    key.as_str(),
                    hit.unwrap_or(0)
                )
            });
        }
    }

    fn folder(&self, ctx: &Ctx, device: &str) -> PathBuf {
        ctx.dir
            .join(format!("a{}", self.index))
            .join(device)
            .join("tree")
    }

    /// Create the account and link devices up to the target, then run the
    /// operations.
    pub async fn run(&mut self, ctx: &Ctx) {
        // A person whose sign-up fails (a server down or out of disk) tries
        // again a little later, up to three times in all. The pause also
        // lets virtual time move: over memory nothing else might.
        let mut created = false;
        for attempt in 0..3 {
            if attempt > 0 {
                let pause = Duration::from_millis(self.rng.random_range(1_000..6_000));
                tokio::time::sleep(pause).await;
            }
            if self.create(ctx).await {
                created = true;
                break;
            }
        }
        if !created {
            return;
        }
        let mut attempts = 0;
        while self.active().len() < ctx.devices_per_account
            && attempts < ctx.devices_per_account * 3
        {
            attempts += 1;
            self.step += 1;
            self.link(ctx, false, None).await;
            self.after_step(ctx);
            self.pause_if_unreachable().await;
        }
        for _ in 0..ctx.ops_per_account {
            self.step += 1;
            self.one_op(ctx).await;
            self.after_step(ctx);
            self.pause_if_unreachable().await;
        }
        // Final: every device's acknowledged backup is still there.
        self.step += 1;
        self.final_check(ctx).await;
        for d in &self.devices {
            let _ = std::fs::remove_dir_all(d.folder.parent().unwrap_or(&d.folder));
        }
        let keys: Vec<Arc<MemKeyStore>> = self.devices.iter().map(|d| d.keys.clone()).collect();
        for k in keys {
            self.remember_secrets(&k);
        }
        let password = self.password.as_bytes().to_vec();
        self.remember(&password);
    }

    /// A person whose app could not reach the server tries again a little
    /// later, not at once (over memory, with no latency, every step would
    /// otherwise fail within one instant of a server restart).
    async fn pause_if_unreachable(&mut self) {
        let unreachable = self
            .recent
            .back()
            .is_some_and(|l| l.contains("Unreachable") || l.contains("showing the code failed"));
        if unreachable {
            let pause = Duration::from_millis(self.rng.random_range(1_000..6_000));
            tokio::time::sleep(pause).await;
        }
    }

    async fn create(&mut self, ctx: &Ctx) -> bool {
        self.step += 1;
        let keys = Arc::new(MemKeyStore::default());
        let dname = self.new_device_name();
        let (Ok(password), Some(dn)) = (Password::new(&self.password), name(&dname)) else {
            return false;
        };
        // Every third account has no realm, every third 1-of-1, every
        // third 2-of-3 (with the malicious realm in its set when attacks are on).
        self.realm_set = match (ctx.realms.len(), self.index % 3) {
            (0, _) | (_, 0) => Vec::new(),
            (_, 1) => vec![0],
            (n, _) => (0..n).collect(),
        };
        self.realms = (!self.realm_set.is_empty()).then(|| keylink_client::Realms {
            realms: self
                .realm_set
                .iter()
                .map(|&i| keylink_client::RealmInfo {
                    addr: ctx.realms[i].info.addr,
                    fingerprint: ctx.realms[i].info.fingerprint,
                })
                .collect(),
            needed: if self.realm_set.len() == 1 { 1 } else { 2 },
            attempts: keylink_realm::DEFAULT_ATTEMPTS,
        });
        let t = Instant::now();
        let r = Device::create_account(
            keys.clone(),
            ctx.server.clone(),
            keylink_client::NewAccount {
                account_name: &self.name,
                device_name: &dn,
                password: &password,
                params: self.params,
                recovery_key: true,
                realms: self.realms.clone(),
            },
        )
        .await;
        let ok = r.is_ok();
        if let Err(e) = &r
            && std::env::var_os("KEYLINK_SIM_DEBUG").is_some()
        {
            eprintln!("create: {e}");
        }
        ctx.stats()
            .op(Op::CreateAccount, ok, t.elapsed(), ctx.start);
        self.note(format!("{} create {dname}: {}", self.step, outcome(&r)));
        match r {
            Ok((device, recovery)) => {
                self.recovery = recovery.map(|k| k.to_display().to_string());
                if let Some(r) = &self.recovery {
                    let r = r.as_bytes().to_vec();
                    self.remember(&r);
                }
                self.add_device(ctx, dname, keys, device);
                true
            }
            Err(_) => false,
        }
    }

    async fn one_op(&mut self, ctx: &Ctx) {
        let active = self.active().len();
        let weights: [(OpChoice, u32); 13] = [
            (OpChoice::Backup, 25),
            (OpChoice::ConcurrentBackup, if active >= 2 { 5 } else { 0 }),
            (OpChoice::Restore, 20),
            (
                OpChoice::Link,
                if active < ctx.devices_per_account {
                    10
                } else {
                    3
                },
            ),
            (OpChoice::Revoke, if active >= 3 { 4 } else { 0 }),
            (OpChoice::ChangePassword, 3),
            (OpChoice::RotateRecovery, 3),
            (OpChoice::Lose, if active >= 3 { 2 } else { 0 }),
            (
                OpChoice::Recover,
                if active < ctx.devices_per_account + 1 {
                    4
                } else {
                    1
                },
            ),
            (OpChoice::Crash, if ctx.faults { 5 } else { 0 }),
            (OpChoice::Agree, 4),
            (
                OpChoice::Attack,
                if ctx.adversary.is_some() { 10 } else { 0 },
            ),
            (
                OpChoice::GuessPassword,
                if self.realms.is_some() { 5 } else { 0 },
            ),
        ];
        let total: u32 = weights.iter().map(|w| w.1).sum();
        let mut roll = self.rng.random_range(0..total);
        let mut choice = OpChoice::Backup;
        for (c, w) in weights {
            if roll < w {
                choice = c;
                break;
            }
            roll -= w;
        }
        match choice {
            OpChoice::Backup => self.backup(ctx).await,
            OpChoice::ConcurrentBackup => self.concurrent_backup(ctx).await,
            OpChoice::Restore => self.restore(ctx).await,
            OpChoice::Link => {
                self.link(ctx, true, None).await;
            }
            OpChoice::Revoke => self.revoke(ctx).await,
            OpChoice::ChangePassword => self.change_password(ctx).await,
            OpChoice::RotateRecovery => self.rotate_recovery(ctx).await,
            OpChoice::Lose => self.lose(ctx),
            OpChoice::Recover => {
                self.recover(ctx, None).await;
            }
            OpChoice::Crash => self.crash(ctx).await,
            OpChoice::Agree => self.agree(ctx).await,
            OpChoice::Attack => self.attack(ctx).await,
            OpChoice::GuessPassword => self.guess_password(ctx).await,
        }
    }

    /// Change a device's folder a little and write it to disk.
    fn edit(&mut self, i: usize) -> std::io::Result<()> {
        let edits = self.rng.random_range(1..=4);
        for _ in 0..edits {
            let n = self.devices[i].tree.len();
            let roll = self.rng.random_range(0..10);
            if n > 0 && roll < 2 {
                let k = self.rng.random_range(0..n);
                let key = self.devices[i].tree.keys().nth(k).cloned();
                if let Some(key) = key {
                    self.devices[i].tree.remove(&key);
                }
            } else {
                let path = if n > 0 && roll < 5 {
                    let k = self.rng.random_range(0..n);
                    self.devices[i]
                        .tree
                        .keys()
                        .nth(k)
                        .cloned()
                        .unwrap_or_default()
                } else {
                    let dir = self.rng.random_range(0..3);
                    let f = self.rng.random_range(0..1000);
                    if dir == 0 {
                        format!("f{f}.bin")
                    } else {
                        format!("sub{dir}/f{f}.bin")
                    }
                };
                let len = match self.rng.random_range(0..10) {
                    0 => 0,
                    1..=7 => self.rng.random_range(1..4096),
                    _ => self.rng.random_range(4096..40_000),
                };
                let mut data = vec![0u8; len];
                self.rng.fill_bytes(&mut data);
                self.devices[i].tree.insert(path, data);
            }
        }
        write_tree(&self.devices[i].folder, &self.devices[i].tree)
    }

    async fn backup(&mut self, ctx: &Ctx) {
        let active = self.active();
        let Some(i) = self.pick(&active) else { return };
        if let Err(e) = self.edit(i) {
            self.note(format!(
                "{} backup {}: cannot write folder: {e}",
                self.step, self.devices[i].name
            ));
            return;
        }
        self.backup_one(ctx, i).await;
    }

    /// Back up device `i`'s folder; whether it was acknowledged.
    async fn backup_one(&mut self, ctx: &Ctx, i: usize) -> bool {
        let folder = self.devices[i].folder.clone();
        let tree = self.devices[i].tree.clone();
        let Some(device) = self.devices[i].device.as_mut() else {
            return false;
        };
        let t = Instant::now();
        let r = device.backup(&[folder], |_| {}).await;
        ctx.stats()
            .op(Op::Backup, r.is_ok(), t.elapsed(), ctx.start);
        self.note(format!(
            "{} backup {}: {}",
            self.step,
            self.devices[i].name,
            outcome(&r)
        ));
        let d = &mut self.devices[i];
        match r {
            Ok(_) => {
                d.acked = Some(tree);
                d.in_doubt.clear();
                true
            }
            Err(_) => {
                d.in_doubt.push(tree);
                false
            }
        }
    }

    async fn concurrent_backup(&mut self, ctx: &Ctx) {
        let active = self.active();
        let Some(a) = self.pick(&active) else { return };
        let others: Vec<usize> = active.into_iter().filter(|&x| x != a).collect();
        let Some(b) = self.pick(&others) else { return };
        for i in [a, b] {
            if self.edit(i).is_err() {
                return;
            }
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.devices.split_at_mut(hi);
        let (da, db) = (&mut left[lo], &mut right[0]);
        let (Some(xa), Some(xb)) = (da.device.as_mut(), db.device.as_mut()) else {
            return;
        };
        let (fa, fb) = ([da.folder.clone()], [db.folder.clone()]);
        let t = Instant::now();
        let (ra, rb) = tokio::join!(xa.backup(&fa, |_| {}), xb.backup(&fb, |_| {}));
        let el = t.elapsed();
        for (d, r) in [(da, &ra), (db, &rb)] {
            ctx.stats()
                .op(Op::ConcurrentBackup, r.is_ok(), el, ctx.start);
            if r.is_ok() {
                d.acked = Some(d.tree.clone());
                d.in_doubt.clear();
            } else {
                d.in_doubt.push(d.tree.clone());
            }
        }
        let line = format!(
            "{} concurrent backup {} and {}: {} / {}",
            self.step,
            self.devices[lo].name,
            self.devices[hi].name,
            outcome(&ra),
            outcome(&rb)
        );
        self.note(line);
    }

    /// Restore device `s`'s newest snapshot on device `r` and compare.
    /// Restore `s`'s newest snapshot on `r` and compare; the error's class
    /// if the restore failed.
    async fn restore_check(&mut self, ctx: &Ctx, r: usize, s: usize) -> Option<String> {
        let target = ctx
            .dir
            .join(format!("a{}", self.index))
            .join(format!("restore-{}", self.step));
        let which = self.devices[s].name.clone();
        let Some(device) = self.devices[r].device.as_mut() else {
            return Some("NoDevice".into());
        };
        let t = Instant::now();
        let result = device.restore(Some(&which), &target, |_, _| {}).await;
        if let Err(e) = &result {
            tracing::debug!(error = %e, "restore failed");
            if std::env::var_os("KEYLINK_SIM_DEBUG").is_some() {
                eprintln!("restore: {e}");
            }
        }
        ctx.stats()
            .op(Op::Restore, result.is_ok(), t.elapsed(), ctx.start);
        let line = format!(
            "{} restore {} on {}: {}",
            self.step,
            which,
            self.devices[r].name,
            outcome(&result)
        );
        self.note(line);
        if result.is_ok() {
            let got = read_tree(&target.join("tree"));
            let src = &self.devices[s];
            let matches =
                |t: &Option<Tree>| t.as_ref().is_some_and(|t| Some(t) == got.as_ref().ok());
            let ok = matches(&src.acked) || src.in_doubt.iter().any(|t| matches(&Some(t.clone())));
            let detail = || {
                format!(
                    "restored {} files of {}, expected {} (or one of {} backups in doubt)",
                    got.as_ref().map_or(0, BTreeMap::len),
                    which,
                    src.acked.as_ref().map_or(0, BTreeMap::len),
                    src.in_doubt.len()
                )
            };
            self.check(ctx, Check::RestoreEqualsBackup, ok, detail);
        }
        let _ = std::fs::remove_dir_all(&target);
        result.err().map(|e| class(&e))
    }

    async fn restore(&mut self, ctx: &Ctx) {
        let active = self.active();
        let Some(r) = self.pick(&active) else { return };
        let sources: Vec<usize> = (0..self.devices.len())
            .filter(|&i| self.devices[i].state == State::Active && self.devices[i].acked.is_some())
            .collect();
        let Some(s) = self.pick(&sources) else { return };
        self.restore_check(ctx, r, s).await;
    }

    /// A new device shows a code; an existing device approves (or, now
    /// and then, declines).
    /// Returns the class of the first side's error if the link failed, and
    /// whether a relay replay (frame `replay`, when asked) happened.
    async fn link(
        &mut self,
        ctx: &Ctx,
        may_decline: bool,
        replay: Option<usize>,
    ) -> (Option<String>, bool) {
        let active = self.active();
        let Some(e) = self.pick(&active) else {
            return (None, false);
        };
        let approve = !may_decline || self.rng.random_range(0..10) != 0;
        // One approver in ten is slow (1 to 30 s); one in fifty never
        // answers, and the link must end by its approval timeout.
        let slow = match (ctx.faults, self.rng.random_range(0..50)) {
            (true, 0) => {
                ctx.stats().fault("absent approvers", 1, ctx.start);
                Duration::from_secs(24 * 3600)
            }
            (true, 1..=5) => {
                ctx.stats().fault("slow approvers", 1, ctx.start);
                Duration::from_millis(self.rng.random_range(1_000..30_000))
            }
            _ => Duration::ZERO,
        };
        // Half the time the new device shows the code; otherwise the
        // existing device shows it and the new device scans.
        let reverse = self.rng.random_bool(0.5);
        let keys = Arc::new(MemKeyStore::default());
        let dname = self.new_device_name();
        let opts = options(ctx);
        let account_name = self.name.clone();
        let Some(dn) = name(&dname) else {
            return (Some("NotStarted".into()), false);
        };
        let answer = move |_| async move {
            if !slow.is_zero() {
                tokio::time::sleep(slow).await;
            }
            approve
        };
        let t = Instant::now();
        let arm = |code: &str| {
            let channel = match keylink_link::LinkCode::parse(code).map(|c| *c.rendezvous()) {
                Ok(keylink_link::Rendezvous::Relay { channel, .. }) => Some(channel),
                _ => None,
            };
            if let (Some(adv), Some(ch), Some(k)) = (&ctx.adversary, channel, replay) {
                adv.arm_relay(ch, k);
            }
            channel
        };
        let relay = ShowVia::Relay(ctx.server.clone());
        let Some(existing) = self.devices[e].device.as_mut() else {
            return (Some("NotStarted".into()), false);
        };
        let (shown, new_side, old_side) = if reverse {
            match existing.show_link_for_new(relay, &opts).await {
                Err(err) => (Err(err), None, None),
                Ok(pending) => {
                    let code = pending.code_text().to_string();
                    let channel = arm(&code);
                    let (n, o) = tokio::join!(
                        Device::scan_link(
                            keys.clone(),
                            ctx.server.clone(),
                            &code,
                            Some(&account_name),
                            &dn,
                            &opts,
                        ),
                        existing.finish_shown_link(pending, &opts, answer),
                    );
                    (Ok(channel), Some(n), Some(o))
                }
            }
        } else {
            match Device::show_link(keys.clone(), ctx.server.clone(), relay, &opts).await {
                Err(err) => (Err(err), None, None),
                Ok(shown) => {
                    let code = shown.code_text().to_string();
                    let channel = arm(&code);
                    let (n, o) = tokio::join!(
                        shown.finish(Some(&account_name), &dn, &opts),
                        existing.approve_link(&code, &opts, answer),
                    );
                    (Ok(channel), Some(n), Some(o))
                }
            }
        };
        let (channel, new_side, old_side) = match (shown, new_side, old_side) {
            (Ok(channel), Some(n), Some(o)) => (channel, n, o),
            (shown, _, _) => {
                ctx.stats().op(Op::Link, false, t.elapsed(), ctx.start);
                if std::env::var_os("KEYLINK_SIM_DEBUG").is_some()
                    && let Err(e) = &shown
                {
                    eprintln!("link (showing): {e}");
                }
                let why = shown.err().map_or_else(|| "?".to_string(), |e| class(&e));
                self.note(format!(
                    "{} link {dname}: showing the code failed: {why}",
                    self.step
                ));
                return (Some("NotStarted".into()), false);
            }
        };
        let ok = new_side.is_ok() && old_side.is_ok();
        if std::env::var_os("KEYLINK_SIM_DEBUG").is_some() {
            if let Err(e) = &new_side {
                eprintln!("link (new side): {e}");
            }
            if let Err(e) = &old_side {
                eprintln!("link (existing side): {e}");
            }
        }
        let failed = match (&new_side, &old_side) {
            (Err(e), _) => Some(class(e)),
            (_, Err(e)) => Some(class(e)),
            _ => None,
        };
        let replayed = match (&ctx.adversary, channel, replay) {
            (Some(adv), Some(ch), Some(_)) => adv.disarm_relay(&ch),
            _ => false,
        };
        ctx.stats().op(
            if approve { Op::Link } else { Op::LinkDeclined },
            ok == approve,
            t.elapsed(),
            ctx.start,
        );
        let line = format!(
            "{} link {dname} via {} ({}, approve {approve}): new {} / existing {}",
            self.step,
            self.devices[e].name,
            if reverse {
                "existing shows"
            } else {
                "new shows"
            },
            outcome(&new_side),
            outcome(&old_side)
        );
        self.note(line);
        // A device outside the signed list never holds the account's keys.
        let holds_keys = !keys.root_keys().is_empty();
        let id = keys.device_id();
        let in_list = match self.devices[e].device.as_mut() {
            Some(d) => match d.devices().await {
                Ok((list, _)) => Some(list.iter().any(|v| Some(v.id) == id)),
                Err(_) => None,
            },
            None => None,
        };
        if holds_keys {
            if let Some(in_list) = in_list {
                self.check(ctx, Check::OutsiderGetsNoKey, in_list, || {
                    format!("{dname} holds root keys but is not in the account's device list")
                });
            }
        } else {
            ctx.stats().check(Check::OutsiderGetsNoKey);
        }
        if !approve {
            self.check(
                ctx,
                Check::OutsiderGetsNoKey,
                !holds_keys && new_side.is_err(),
                || format!("{dname} was declined but linked or holds keys"),
            );
        }
        if let Ok(device) = new_side {
            self.add_device(ctx, dname, keys, device);
        }
        (failed, replayed)
    }

    /// A device just set up (created, linked or recovered) joins the run.
    fn add_device(&mut self, ctx: &Ctx, name: String, keys: Arc<MemKeyStore>, mut device: Device) {
        // An app knows its realms: a device that joined by linking is told.
        if device.realms().is_none() && self.realms.is_some() {
            let _ = device.set_realms(self.realms.clone());
        }
        self.remember_secrets(&keys);
        let folder = self.folder(ctx, &name);
        self.devices.push(Dev {
            name,
            keys,
            id: device.device_id(),
            device: Some(device),
            state: State::Active,
            tree: Tree::new(),
            acked: None,
            in_doubt: Vec::new(),
            folder,
        });
    }

    fn password(&self) -> Option<Password> {
        Password::new(&self.password).ok()
    }

    async fn revoke(&mut self, ctx: &Ctx) {
        // Checks the password through the realms, which unlocks them.
        self.wrong_tests = 0;
        let active = self.active();
        let Some(a) = self.pick(&active) else { return };
        let targets: Vec<usize> = (0..self.devices.len())
            .filter(|&i| i != a && matches!(self.devices[i].state, State::Active | State::Lost))
            .collect();
        let Some(x) = self.pick(&targets) else { return };
        let Some(password) = self.password() else {
            return;
        };
        let recovery = self
            .recovery
            .as_deref()
            .and_then(|r| RecoveryKey::parse(r).ok());
        let target = self.devices[x].id;
        let params = self.params;
        let held = self.devices[x]
            .keys
            .root_keys()
            .keys()
            .max()
            .copied()
            .unwrap_or(0);
        let Some(device) = self.devices[a].device.as_mut() else {
            return;
        };
        let t = Instant::now();
        let r = device
            .revoke(target, Some((&password, params)), recovery.as_ref())
            .await;
        ctx.stats()
            .op(Op::Revoke, r.is_ok(), t.elapsed(), ctx.start);
        let line = format!(
            "{} revoke {} by {}: {}",
            self.step,
            self.devices[x].name,
            self.devices[a].name,
            outcome(&r)
        );
        self.note(line);
        if r.is_err() {
            // The removal may have landed with its answer lost: ask the log.
            let listed = match self.devices[a].device.as_mut() {
                Some(d) => d
                    .devices()
                    .await
                    .map(|(list, _)| list.iter().any(|v| v.id == target)),
                None => Ok(true),
            };
            match listed {
                Ok(true) => return,
                Ok(false) => {
                    self.note(format!(
                        "{} {} was removed after all",
                        self.step, self.devices[x].name
                    ));
                    // Its rotation may not have landed (a server that failed
                    // part-way); the error then says to revoke it again, and
                    // a person does.
                    if let Some(d) = self.devices[a].device.as_mut() {
                        let again = d
                            .revoke(target, Some((&password, params)), recovery.as_ref())
                            .await;
                        let line = format!(
                            "{} revoke {} again: {}",
                            self.step,
                            self.devices[x].name,
                            outcome(&again)
                        );
                        self.note(line);
                    }
                }
                Err(_) => {
                    // Unknown: stop using it rather than guess.
                    self.devices[x].device = None;
                    self.devices[x].state = State::Lost;
                    self.note(format!(
                        "{} {} in doubt after a failed revocation: set aside",
                        self.step, self.devices[x].name
                    ));
                    return;
                }
            }
        }
        self.devices[x].state = State::Revoked { epoch: held };
        let keys = self.devices[a].keys.clone();
        self.remember_secrets(&keys);
        // New data under the new key; the revoked device must not read it,
        // neither through the client (which stops at its removal) nor with
        // every key it holds, straight from the server's storage.
        let backed_up = self.edit(a).is_ok() && self.backup_one(ctx, a).await;
        if !backed_up {
            return;
        }
        let which = self.devices[a].name.clone();
        let writer = self.devices[a].id;
        let name = self.devices[x].name.clone();
        if let Some(revoked) = self.devices[x].device.as_mut() {
            let target_dir = ctx
                .dir
                .join(format!("a{}", self.index))
                .join(format!("revoked-{}", self.step));
            let r = revoked.restore(Some(&which), &target_dir, |_, _| {}).await;
            let _ = std::fs::remove_dir_all(&target_dir);
            self.check(ctx, Check::RevokedCannotDecrypt, r.is_err(), || {
                format!("revoked {name} restored {which}'s snapshot written after its removal")
            });
        }
        let account = keylink_client::account_id_for(&self.name);
        // The writer's own keys must open it, or the check shows nothing.
        let control = ctx.opens_snapshot(&account, &self.devices[a].keys, writer);
        match (control, ctx.opens_snapshot(&account, &self.devices[x].keys, writer)) {
            (Ok(true), Ok(opened)) => self.check(ctx, Check::RevokedKeysOpenNothingNew, !opened, || {
                format!("{name}'s keys open {which}'s snapshot written after {name}'s removal")
            }),
            (control, revoked) => self.note(format!(
                "{} could not check {name}'s keys from storage: writer {control:?}, revoked {revoked:?}",
                self.step
            )),
        }
    }

    async fn change_password(&mut self, ctx: &Ctx) {
        // Checks the password through the realms, which unlocks them.
        self.wrong_tests = 0;
        let active = self.active();
        let Some(a) = self.pick(&active) else { return };
        let new = rand_password(&mut self.rng);
        let (Some(cur), Ok(next)) = (self.password(), Password::new(&new)) else {
            return;
        };
        let params = self.params;
        // The change starts a new epoch: the recovery key is re-entered to
        // keep it working, as a person following the prompt would.
        let recovery = self
            .recovery
            .as_ref()
            .and_then(|r| keylink_keys::RecoveryKey::parse(r).ok());
        let update = match &recovery {
            Some(k) => keylink_client::RecoveryUpdate::Keep(k),
            None => keylink_client::RecoveryUpdate::Drop,
        };
        let Some(device) = self.devices[a].device.as_mut() else {
            return;
        };
        let t = Instant::now();
        let r = device
            .change_password(&cur, &next, params, update)
            .await
            .map(|_| ());
        ctx.stats()
            .op(Op::ChangePassword, r.is_ok(), t.elapsed(), ctx.start);
        self.note(format!(
            "{} change password on {}: {}",
            self.step,
            self.devices[a].name,
            outcome(&r)
        ));
        self.remember(new.as_bytes());
        if r.is_ok() {
            self.password = new;
        }
    }

    async fn rotate_recovery(&mut self, ctx: &Ctx) {
        // Checks the password through the realms, which unlocks them.
        self.wrong_tests = 0;
        let active = self.active();
        let Some(a) = self.pick(&active) else { return };
        let Some(password) = self.password() else {
            return;
        };
        let Some(device) = self.devices[a].device.as_mut() else {
            return;
        };
        let t = Instant::now();
        let r = device.rotate_recovery_key(&password).await;
        ctx.stats()
            .op(Op::RotateRecovery, r.is_ok(), t.elapsed(), ctx.start);
        self.note(format!(
            "{} rotate recovery key on {}: {}",
            self.step,
            self.devices[a].name,
            outcome(&r)
        ));
        if let Ok(k) = r {
            let text = k.to_display().to_string();
            self.remember(text.as_bytes());
            self.recovery = Some(text);
        }
    }

    fn lose(&mut self, ctx: &Ctx) {
        let active = self.active();
        let Some(x) = self.pick(&active) else { return };
        self.devices[x].device = None;
        self.devices[x].state = State::Lost;
        ctx.stats()
            .op(Op::LoseDevice, true, Duration::ZERO, ctx.start);
        self.note(format!("{} lose {}", self.step, self.devices[x].name));
    }

    /// A fresh device recovers (with `password` in place of the current
    /// one, when given); the error's class if it failed.
    async fn recover(&mut self, ctx: &Ctx, password: Option<String>) -> Option<String> {
        let keys = Arc::new(MemKeyStore::default());
        let dname = self.new_device_name();
        let use_recovery =
            password.is_none() && self.recovery.is_some() && self.rng.random_bool(0.4);
        let password = match password {
            Some(p) => Password::new(&p).ok(),
            None => self.password(),
        };
        let recovery = self
            .recovery
            .as_deref()
            .and_then(|r| RecoveryKey::parse(r).ok());
        let realms = self.realms.clone();
        let unlock = match (&password, &recovery, use_recovery, &realms) {
            (_, Some(k), true, _) => Unlock::RecoveryKey(k),
            (Some(p), _, _, Some(r)) => Unlock::PasswordThrough(p, r),
            (Some(p), _, _, None) => Unlock::Password(p),
            _ => return Some("NoSecret".into()),
        };
        if !use_recovery {
            // Through the realms, this attempt may unlock their counters.
            self.wrong_tests = 0;
        }
        let Some(dn) = name(&dname) else {
            return Some("BadName".into());
        };
        let t = Instant::now();
        let r = Device::recover(keys.clone(), ctx.server.clone(), &self.name, &dn, unlock).await;
        ctx.stats().op(
            if use_recovery {
                Op::RecoverWithKey
            } else {
                Op::RecoverWithPassword
            },
            r.is_ok(),
            t.elapsed(),
            ctx.start,
        );
        self.note(format!(
            "{} recover {dname} ({}): {}",
            self.step,
            if use_recovery {
                "recovery key"
            } else {
                "password"
            },
            outcome(&r)
        ));
        let failed = r.as_ref().err().map(class);
        if let Ok(device) = r {
            self.add_device(ctx, dname, keys, device);
        }
        failed
    }

    /// Guesses the honest realms of this account's set have counted, ever
    /// (read from their stores, bypassing the realms).
    fn honest_counted(&self, ctx: &Ctx) -> u64 {
        let account = keylink_client::account_id_for(&self.name);
        self.realm_set
            .iter()
            .filter(|&&i| !ctx.realms[i].malicious)
            .filter_map(|&i| ctx.realms[i].counted(&account))
            .map(|(total, _)| total)
            .sum()
    }

    /// The most wrong passwords the honest realms of the set let anyone
    /// test between resets, and the honest guesses each test costs:
    /// `⌊h·g / (k − m)⌋` and `k − m`, with `h` honest and `m` malicious
    /// realms in the set.
    fn guess_bound(&self, ctx: &Ctx) -> (u32, u64) {
        let n = self.realm_set.len() as u32;
        let m = self
            .realm_set
            .iter()
            .filter(|&&i| ctx.realms[i].malicious)
            .count() as u32;
        let k = self.realms.as_ref().map_or(1, |r| u32::from(r.needed));
        let g = keylink_realm::GuessPolicy::new(keylink_realm::DEFAULT_ATTEMPTS, k as u8, n as u8)
            .map_or(0, |p| u32::from(p.per_realm()));
        let per_test = k.saturating_sub(m).max(1);
        ((n - m) * g / per_test, u64::from(per_test))
    }

    /// An attacker who knows the account name tries wrong passwords
    /// through the realms, a few in a row; the malicious realm's folder is
    /// rolled back now and then.
    async fn guess_password(&mut self, ctx: &Ctx) {
        let Some(realms) = self.realms.clone() else {
            return;
        };
        let account = keylink_client::account_id_for(&self.name);
        let (bound, per_test) = self.guess_bound(ctx);
        // Mostly a few tries; now and then enough to burn the whole policy.
        let tries = if self.rng.random_bool(0.3) {
            16
        } else {
            self.rng.random_range(1..=4)
        };
        for _ in 0..tries {
            let wrong = rand_password(&mut self.rng);
            let (Ok(guess), Some(dn)) = (Password::new(&wrong), name("attacker")) else {
                return;
            };
            let before = self.honest_counted(ctx);
            let t = Instant::now();
            let r = Device::recover(
                Arc::new(MemKeyStore::default()),
                ctx.server.clone(),
                &self.name,
                &dn,
                Unlock::PasswordThrough(&guess, &realms),
            )
            .await;
            ctx.stats()
                .op(Op::GuessPassword, r.is_err(), t.elapsed(), ctx.start);
            self.note(format!("{} guess a password: {}", self.step, outcome(&r)));
            match r {
                Ok(_) => {
                    self.violation(
                        ctx,
                        Check::PasswordTestsBounded,
                        "a wrong password opened the account".into(),
                    );
                    return;
                }
                Err(keylink_client::Error::WrongPassword) => {
                    self.wrong_tests += 1;
                    let after = self.honest_counted(ctx);
                    self.check(ctx, Check::NoTestWithoutKRealms, after >= before + per_test, || {
                        format!("a password was tested with {} new guesses counted at honest realms, fewer than {per_test}", after.saturating_sub(before))
                    });
                    let tested = self.wrong_tests;
                    self.check(ctx, Check::PasswordTestsBounded, tested <= bound, || {
                        format!("{tested} wrong passwords tested since the realms last reset; the honest realms allow {bound}")
                    });
                }
                Err(keylink_client::Error::RecoveryLocked { .. }) => break,
                Err(_) => {}
            }
        }
        // Now and then the malicious realm restores an old copy of its folder.
        if let Some(&i) = self.realm_set.iter().find(|&&i| ctx.realms[i].malicious)
            && self.rng.random_bool(0.3)
            && ctx.realms[i].roll_back(&account)
        {
            ctx.stats().fault("realm rollbacks", 1, ctx.start);
            self.note(format!(
                "{} the malicious realm rolled its counter back",
                self.step
            ));
        }
    }

    /// A device crashes mid-backup (its task is dropped at a random
    /// moment) and restarts from its key store.
    async fn crash(&mut self, ctx: &Ctx) {
        let active = self.active();
        let Some(i) = self.pick(&active) else { return };
        if self.edit(i).is_err() {
            return;
        }
        let after = Duration::from_millis(self.rng.random_range(0..400));
        let folder = self.devices[i].folder.clone();
        let tree = self.devices[i].tree.clone();
        if let Some(device) = self.devices[i].device.as_mut() {
            let r = tokio::time::timeout(after, device.backup(&[folder], |_| {})).await;
            match r {
                Ok(Ok(_)) => {
                    self.devices[i].acked = Some(tree);
                    self.devices[i].in_doubt.clear();
                }
                _ => self.devices[i].in_doubt.push(tree),
            }
        }
        self.devices[i].device = None;
        let reopened = Device::open_on(self.devices[i].keys.clone(), ctx.net.clone());
        ctx.stats()
            .op(Op::Crash, reopened.is_ok(), Duration::ZERO, ctx.start);
        self.note(format!(
            "{} crash {} after {} ms: reopen {}",
            self.step,
            self.devices[i].name,
            after.as_millis(),
            outcome(&reopened)
        ));
        let addr = ctx
            .simnet
            .as_ref()
            .and_then(crate::simnet::SimNet::last_addr);
        match reopened {
            Ok(d) => self.devices[i].device = Some(d),
            Err(_) => self.devices[i].state = State::Lost,
        }
        // Now and then it comes back on a network that cannot reach the
        // server for a while.
        if let (Some(net), Some(addr)) = (&ctx.simnet, addr)
            && self.rng.random_range(0..3) == 0
        {
            let cut = Duration::from_millis(self.rng.random_range(1_000..20_000));
            net.partition(addr.ip(), cut);
            ctx.stats().fault("device partitions", 1, ctx.start);
            self.note(format!(
                "{} partition {} for {} ms",
                self.step,
                self.devices[i].name,
                cut.as_millis()
            ));
        }
    }

    /// The malicious server attacks this account during one operation; a
    /// device must refuse, or nothing may come of it.
    async fn attack(&mut self, ctx: &Ctx) {
        let Some(adv) = ctx.adversary.clone() else {
            return;
        };
        let attack = Attack::ALL[self.rng.random_range(0..Attack::ALL.len())];
        let account = keylink_client::account_id_for(&self.name);
        let active = self.active();
        let Some(i) = self.pick(&active) else { return };
        let target = self.devices[i].id;
        let dname = self.devices[i].name.clone();
        // (fired, the failed operation's error class, harm): harm is damage
        // done without any device noticing.
        let (fired, failure, harm): (bool, Option<String>, Option<String>) = match attack {
            Attack::RollbackLog | Attack::WithholdRevocation | Attack::InjectDevice => {
                let before = self.devices[i].keys.head_sequence();
                adv.arm(account, attack, Some(target), None);
                let r = match self.devices[i].device.as_mut() {
                    Some(d) => d.devices().await.map(|(list, _)| list.len()),
                    None => return,
                };
                let fired = adv.disarm(&account);
                let after = self.devices[i].keys.head_sequence();
                let harm = match (&r, attack) {
                    (Ok(_), _) if after < before => Some(format!(
                        "{dname}'s verified head went back from {before:?} to {after:?}"
                    )),
                    // Harm is a verified head beyond the real log: the forged
                    // entry taken in. (That the attack fired is not enough: an
                    // answer to a request of this device's crashed task may be
                    // the one it changed, and nobody read it.)
                    (Ok(_), Attack::InjectDevice)
                        if fired && after.is_some_and(|a| Some(a) > ctx.stored_head(&account)) =>
                    {
                        Some(format!("{dname} accepted a log with a forged device entry"))
                    }
                    _ => None,
                };
                (fired, r.err().map(|e| class(&e)), harm)
            }
            Attack::ForkLog => {
                if self.edit(i).is_err() {
                    return;
                }
                let previous = self.devices[i].acked.clone();
                adv.arm(account, attack, Some(target), None);
                self.backup_one(ctx, i).await;
                let fired = adv.disarm(&account);
                if !fired {
                    (false, None, None)
                } else {
                    // The device's append was acknowledged and dropped; the
                    // real log went on without it. Its next look must fail.
                    let r = match self.devices[i].device.as_mut() {
                        Some(d) => d.devices().await.map(|_| ()),
                        None => Ok(()),
                    };
                    self.note(format!(
                        "{} {dname} after the fork: {}",
                        self.step,
                        outcome(&r)
                    ));
                    // The person resets the device (its history is not the
                    // account's); its faked backup was never stored.
                    self.devices[i].acked = previous;
                    self.devices[i].in_doubt.clear();
                    self.devices[i].device = None;
                    self.devices[i].state = State::Lost;
                    let harm = r
                        .is_ok()
                        .then(|| format!("{dname} did not notice its log was forked"));
                    (true, r.err().map(|e| class(&e)), harm)
                }
            }
            Attack::SubstituteObject | Attack::DropObject => {
                let sources: Vec<usize> = (0..self.devices.len())
                    .filter(|&s| {
                        self.devices[s].state == State::Active && self.devices[s].acked.is_some()
                    })
                    .collect();
                let Some(s) = self.pick(&sources) else { return };
                // Aim at the source device's own objects (its manifests and
                // the chunks it wrote), not whatever the account holds.
                let writer = hex::encode(self.devices[s].id.as_bytes());
                let before = self.violations_here(ctx);
                adv.arm(account, attack, None, Some(writer));
                let failure = self.restore_check(ctx, i, s).await;
                let fired = adv.disarm(&account);
                let harm = (self.violations_here(ctx) > before)
                    .then(|| "a tampered object was restored".to_string());
                (fired, failure, harm)
            }
            Attack::OldPasswordWrap => {
                if !adv.has_old_wrap(&account) {
                    return;
                }
                adv.arm(account, attack, None, None);
                let first = self.first_password.clone();
                let failure = self.recover(ctx, Some(first)).await;
                let fired = adv.disarm(&account);
                let harm = (fired && failure.is_none() && self.first_password != self.password)
                    .then(|| {
                        "the first password opened the account through its old wrap".to_string()
                    });
                (fired, failure, harm)
            }
            Attack::ReplayRelayFrame => {
                let k = self.rng.random_range(0..5);
                // Harm here is a device outside the list holding keys, which
                // `outsider_gets_no_key` checks on every link.
                let (failure, replayed) = self.link(ctx, true, Some(k)).await;
                (replayed, failure, None)
            }
        };
        // Detected: the operation failed with the error that names this
        // attack. Any other failure (a timeout, a partition, a restarting
        // server) shows nothing either way.
        let detected = failure
            .as_deref()
            .is_some_and(|c| attack.detected_by().contains(&c));
        let inconclusive = failure.is_some() && !detected;
        self.note(format!(
            "{} attack {} on {dname}: {}",
            self.step,
            attack.name(),
            match (fired, detected, inconclusive) {
                (false, _, _) => "did not fire",
                (true, true, _) => "detected",
                (true, false, true) => "inconclusive (the operation failed otherwise)",
                (true, false, false) => "no effect",
            }
        ));
        {
            let mut st = ctx.stats();
            if fired {
                st.fault(attack.name(), 1, ctx.start);
            }
            let c = st.attacks.entry(attack).or_default();
            c.armed += 1;
            if fired {
                c.fired += 1;
                if detected {
                    c.detected += 1;
                } else if inconclusive {
                    c.inconclusive += 1;
                } else if harm.is_none() {
                    c.harmless += 1;
                }
            }
        }
        if fired {
            let ok = harm.is_none();
            self.check(ctx, Check::AttackDetectedOrHarmless, ok, || {
                format!("{}: {}", attack.name(), harm.unwrap_or_default())
            });
        }
    }

    /// Two devices show the same device list.
    async fn agree(&mut self, ctx: &Ctx) {
        let active = self.active();
        let Some(a) = self.pick(&active) else { return };
        let others: Vec<usize> = active.into_iter().filter(|&x| x != a).collect();
        let Some(b) = self.pick(&others) else { return };
        let mut lists = Vec::new();
        for i in [a, b] {
            if let Some(d) = self.devices[i].device.as_mut() {
                match d.devices().await {
                    Ok((list, _)) => {
                        lists.push(list.into_iter().map(|v| (v.id, v.name)).collect::<Vec<_>>())
                    }
                    Err(_) => return,
                }
            }
        }
        self.note(format!(
            "{} compare devices of {} and {}",
            self.step, self.devices[a].name, self.devices[b].name
        ));
        if lists.len() == 2 {
            let (x, y) = (&lists[0], &lists[1]);
            self.check(ctx, Check::DevicesAgree, x == y, || {
                format!("{} and {} list different devices", x.len(), y.len())
            });
        }
    }

    /// Checks that run after every step.
    fn after_step(&mut self, ctx: &Ctx) {
        self.scan_new_objects(ctx);
        for d in &self.devices {
            if let State::Revoked { epoch } = d.state {
                let newest = d.keys.root_keys().keys().max().copied().unwrap_or(0);
                self.check(ctx, Check::RevokedGetsNoNewKey, newest <= epoch, || {
                    format!(
                        "revoked {} holds epoch {newest}, removed at {epoch}",
                        d.name
                    )
                });
            }
        }
        // Memory is the whole run's: a violation names no account.
        if let Some(rss) = crate::stats::rss_bytes() {
            let mut st = ctx.stats();
            st.peak_rss = st.peak_rss.max(rss);
            st.check(Check::MemoryBounded);
            let bound = crate::memory_bound();
            if rss > bound {
                st.violations.push(Violation {
                    check: Check::MemoryBounded,
                    account: None,
                    step: self.step,
                    detail: format!(
                        "resident memory {} MiB over the bound {} MiB",
                        rss >> 20,
                        bound >> 20
                    ),
                    trace: Vec::new(),
                });
            }
        }
    }

    /// Every active device's acknowledged backup restores as backed up.
    async fn final_check(&mut self, ctx: &Ctx) {
        // Every device still in use works again once faults pass: it syncs
        // within a few attempts (a server restart or partition may be in
        // progress elsewhere in the run).
        for i in self.active() {
            let mut ok = false;
            let mut errors = Vec::new();
            for attempt in 0..4 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                if let Some(d) = self.devices[i].device.as_mut() {
                    match d.devices().await {
                        Ok(_) => {
                            ok = true;
                            break;
                        }
                        Err(e) => errors.push(format!("{:?}: {e}", ctx.start.elapsed())),
                    }
                }
            }
            let name = self.devices[i].name.clone();
            self.check(ctx, Check::DevicesRecover, ok, || {
                format!(
                    "{name} could not reach its account after faults passed (4 attempts over 30 s): {}",
                    errors.join("; ")
                )
            });
        }
        let active = self.active();
        let Some(&r) = active.first() else { return };
        for s in 0..self.devices.len() {
            if self.devices[s].state != State::Active || self.devices[s].acked.is_none() {
                continue;
            }
            let mut restored = false;
            for attempt in 0..4 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                if self.restore_check(ctx, r, s).await.is_none() {
                    restored = true;
                    break;
                }
            }
            let name = self.devices[s].name.clone();
            self.check(ctx, Check::NoAcknowledgedBackupLost, restored, || {
                format!("{name}'s acknowledged backup did not restore (4 attempts over 30 s)")
            });
        }
        self.final_realm_check(ctx).await;
    }

    /// With the realms' honest majority up, the right password recovers:
    /// a current device first clears any lock guessers left, as a person's
    /// app would when it next comes online.
    async fn final_realm_check(&mut self, ctx: &Ctx) {
        let (Some(realms), Some(&r)) = (self.realms.clone(), self.active().first()) else {
            return;
        };
        let Some(password) = self.password() else {
            return;
        };
        let mut errors = Vec::new();
        let mut ok = false;
        for attempt in 0..4 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            let recovery = self
                .recovery
                .as_deref()
                .and_then(|k| RecoveryKey::parse(k).ok());
            let params = self.params;
            if let Some(d) = self.devices[r].device.as_mut() {
                // A revocation whose removal landed and whose rotation did
                // not blocks recovery (docs/protocol.md §12 item 24): the
                // message names the device to revoke again, and a person does.
                let removed = d
                    .sync()
                    .await
                    .ok()
                    .filter(|log| log.rotation_pending())
                    .and_then(|log| {
                        log.history().iter().rev().find_map(|h| match h.what {
                            keylink_account::HistoryAction::Revoked(id) => Some(id),
                            _ => None,
                        })
                    });
                if let Some(id) = removed
                    && let Err(e) = d
                        .revoke(id, Some((&password, params)), recovery.as_ref())
                        .await
                {
                    errors.push(format!("finish the revocation: {e}"));
                    continue;
                }
                // A revocation or change that rotated the key and then lost
                // its connection leaves the password unset; the message said
                // to set it again, and a person does.
                let pending = d
                    .sync()
                    .await
                    .map(|log| log.password_wrap_hash().is_none())
                    .unwrap_or(false);
                if pending {
                    let update = match &recovery {
                        Some(k) => keylink_client::RecoveryUpdate::Keep(k),
                        None => keylink_client::RecoveryUpdate::Drop,
                    };
                    if let Err(e) = d
                        .change_password(&password, &password, params, update)
                        .await
                    {
                        errors.push(format!("set the password again: {e}"));
                        continue;
                    }
                }
                if let Err(e) = d.check_realms().await {
                    errors.push(format!("check: {e}"));
                    continue;
                }
            }
            self.wrong_tests = 0;
            let dname = self.new_device_name();
            let Some(dn) = name(&dname) else { return };
            let keys = Arc::new(MemKeyStore::default());
            let got = Device::recover(
                keys.clone(),
                ctx.server.clone(),
                &self.name,
                &dn,
                Unlock::PasswordThrough(&password, &realms),
            )
            .await;
            self.note(format!(
                "{} final recover {dname} through the realms: {}",
                self.step,
                outcome(&got)
            ));
            match got {
                Ok(device) => {
                    self.add_device(ctx, dname, keys, device);
                    ok = true;
                    break;
                }
                Err(e) => errors.push(format!("{:?}: {e}", ctx.start.elapsed())),
            }
        }
        self.check(ctx, Check::RealmsRecover, ok, || {
            format!(
                "the right password did not recover through the realms (4 attempts over 30 s): {}",
                errors.join("; ")
            )
        });
    }
}

#[derive(Clone, Copy)]
enum OpChoice {
    Backup,
    ConcurrentBackup,
    Restore,
    Link,
    Revoke,
    ChangePassword,
    RotateRecovery,
    Lose,
    Recover,
    Crash,
    Agree,
    Attack,
    GuessPassword,
}

fn class(e: &keylink_client::Error) -> String {
    // The variant name only: messages may carry addresses or timings.
    let s = format!("{e:?}");
    s.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("error")
        .to_string()
}

fn outcome<T>(r: &Result<T, keylink_client::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("error {}", class(e)),
    }
}

fn write_tree(folder: &Path, tree: &Tree) -> std::io::Result<()> {
    if folder.exists() {
        std::fs::remove_dir_all(folder)?;
    }
    std::fs::create_dir_all(folder)?;
    for (path, data) in tree {
        let p = folder.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let f = std::fs::File::create(&p)?;
        std::io::Write::write_all(&mut &f, data)?;
        f.set_modified(fixed_time())?;
    }
    // Folders too, deepest first (writing into a folder moves its time).
    let mut dirs = vec![folder.to_path_buf()];
    for path in tree.keys() {
        let mut p = Path::new(path).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.push(folder.join(d));
            p = d.parent();
        }
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    for d in dirs {
        std::fs::File::open(&d)?.set_modified(fixed_time())?;
    }
    Ok(())
}

/// The time every simulated file and folder carries: times go into
/// snapshots, and a run must repeat to the byte.
fn fixed_time() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn read_tree(folder: &Path) -> std::io::Result<Tree> {
    let mut out = Tree::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            // An empty backup restores no folder at all.
            continue;
        };
        for e in entries {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(folder)
                    .map_err(std::io::Error::other)?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p)?);
            }
        }
    }
    Ok(out)
}

impl Account {
    /// Devices this account made (created, linked or recovered).
    pub fn devices_made(&self) -> usize {
        self.devices.len()
    }
}
