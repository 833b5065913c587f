//! A small world of one account and its devices, driven through the real
//! builders and verified after every entry.

use keylink_account::{LogState, RotationWraps};
use keylink_keys::{
    AccountId, DeviceId, DeviceIdentity, Epoch, KdfParams, KeyWrap, Password, RootKey,
};
use keylink_wire::account::{Action, DeviceName, DeviceRecord, EntryBody, SignedEntry};
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

pub const TINY: KdfParams = KdfParams::insecure_for_tests(8, 1, 1);

pub struct World {
    pub rng: ChaCha20Rng,
    pub account: AccountId,
    /// Every device ever made, by index (revoked ones stay).
    pub devices: Vec<DeviceIdentity>,
    /// Root keys by epoch.
    pub roots: Vec<RootKey>,
    pub log: Vec<SignedEntry>,
    pub state: LogState,
    pub password: Password,
    pub password_wraps: Vec<KeyWrap>,
    pub now_ms: u64,
    pub snapshot_seq: u64,
}

pub fn record(d: &DeviceIdentity, name: &str) -> DeviceRecord {
    DeviceRecord {
        keys: d.public_keys(),
        name: DeviceName::new(name).unwrap(),
    }
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let account = AccountId::generate(&mut rng);
        let first = DeviceIdentity::generate(&mut rng);
        let root = RootKey::generate(Epoch(0), &mut rng);
        let password = Password::new("account log password").unwrap();
        let wrap = KeyWrap::seal_password(&root, &account, &password, TINY, &mut rng).unwrap();
        let g = keylink_account::genesis(
            account,
            &first,
            DeviceName::new("device-0").unwrap(),
            &root,
            &wrap,
            None,
            1_000,
        );
        let state = LogState::verify(std::slice::from_ref(&g)).unwrap();
        Self {
            rng,
            account,
            devices: vec![first],
            roots: vec![root],
            log: vec![g],
            state,
            password,
            password_wraps: vec![wrap],
            now_ms: 1_000,
            snapshot_seq: 0,
        }
    }

    pub fn root(&self) -> &RootKey {
        self.roots.last().unwrap()
    }

    pub fn id(&self, i: usize) -> DeviceId {
        self.devices[i].device_id()
    }

    /// Indexes of current devices.
    pub fn current(&self) -> Vec<usize> {
        (0..self.devices.len())
            .filter(|&i| self.state.is_current(&self.id(i)))
            .collect()
    }

    pub fn pick_current(&mut self) -> usize {
        let c = self.current();
        c[self.rng.random_range(0..c.len())]
    }

    /// The body the next entry by `actor` would have.
    pub fn next_body(&self, actor: &DeviceIdentity, action: Action) -> EntryBody {
        EntryBody {
            account: self.account,
            sequence: self.state.next_sequence(),
            prev_hash: self.state.head().hash,
            epoch: self.state.epoch(),
            timestamp_ms: self.now_ms,
            actor: actor.device_id(),
            action,
        }
    }

    pub fn push(&mut self, e: SignedEntry) {
        self.state.apply(&e).unwrap();
        self.log.push(e);
        self.now_ms += 1_000;
    }

    pub fn add(&mut self, by: usize) -> usize {
        let d = DeviceIdentity::generate(&mut self.rng);
        let name = format!("device-{}", self.devices.len());
        let e = self
            .state
            .add_device(
                &self.devices[by],
                self.root(),
                record(&d, &name),
                self.now_ms,
            )
            .unwrap();
        self.devices.push(d);
        self.push(e);
        self.devices.len() - 1
    }

    pub fn recover(&mut self) -> usize {
        let d = DeviceIdentity::generate(&mut self.rng);
        let name = DeviceName::new(&format!("device-{}", self.devices.len())).unwrap();
        let e = self
            .state
            .recover(&d, name, self.root(), self.now_ms)
            .unwrap();
        self.devices.push(d);
        self.push(e);
        self.devices.len() - 1
    }

    pub fn revoke(&mut self, by: usize, target: usize) {
        let older: Vec<RootKey> = self.roots[..self.roots.len() - 1]
            .iter()
            .map(RootKey::duplicate)
            .collect();
        let wraps = RotationWraps {
            password: Some((&self.password, TINY)),
            recovery: None,
        };
        let target_id = self.id(target);
        let rotation = self
            .state
            .revoke(
                &self.devices[by],
                self.roots.last().unwrap(),
                &older,
                target_id,
                wraps,
                self.now_ms,
                &mut self.rng,
            )
            .unwrap();
        for e in rotation.entries {
            self.push(e);
        }
        self.roots.push(rotation.root);
        self.password_wraps.push(rotation.password_wrap.unwrap());
    }

    pub fn snapshot(&mut self, by: usize) {
        self.snapshot_seq += 1;
        let id: [u8; 32] = self.rng.random();
        let manifest: [u8; 32] = self.rng.random();
        let e = self
            .state
            .snapshot_head(
                &self.devices[by],
                self.root(),
                id,
                self.snapshot_seq,
                manifest,
                self.now_ms,
            )
            .unwrap();
        self.push(e);
    }

    pub fn change_password(&mut self, by: usize) {
        let wrap = KeyWrap::seal_password(
            self.roots.last().unwrap(),
            &self.account,
            &self.password,
            TINY,
            &mut self.rng,
        )
        .unwrap();
        let e = self
            .state
            .password_changed(&self.devices[by], self.root(), &wrap, self.now_ms)
            .unwrap();
        self.password_wraps.push(wrap);
        self.push(e);
    }

    /// A random history of `ops` operations; returns how many of each kind ran.
    pub fn random_history(&mut self, ops: usize) -> [usize; 5] {
        let mut counts = [0usize; 5];
        for _ in 0..ops {
            let by = self.pick_current();
            match self.rng.random_range(0..10u8) {
                0..=2 if self.current().len() < 8 => {
                    self.add(by);
                    counts[0] += 1;
                }
                3 if self.current().len() > 1 => {
                    let c = self.current();
                    let target = c[self.rng.random_range(0..c.len())];
                    let by = *c.iter().find(|&&i| i != target).unwrap();
                    self.revoke(by, target);
                    counts[1] += 1;
                }
                4 if self.current().len() < 8 => {
                    self.recover();
                    counts[2] += 1;
                }
                5 => {
                    self.change_password(by);
                    counts[3] += 1;
                }
                _ => {
                    self.snapshot(by);
                    counts[4] += 1;
                }
            }
        }
        counts
    }
}
