//! One account with two devices, a store, and a verified log.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use keylink_account::{LogState, create_account};
use keylink_backup::{BackupOutcome, KeyRing, SnapshotWriter, backup_paths};
use keylink_keys::{AccountId, DeviceIdentity, KdfParams, Password, RootKey};
use keylink_store::MemoryStore;
use keylink_wire::account::{DeviceName, DeviceRecord};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

pub struct Account {
    pub rng: ChaCha20Rng,
    pub store: MemoryStore,
    pub account: AccountId,
    pub root: RootKey,
    pub devices: Vec<DeviceIdentity>,
    pub log: LogState,
    pub seq: Vec<u64>,
}

impl Account {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let a = DeviceIdentity::generate(&mut rng);
        let b = DeviceIdentity::generate(&mut rng);
        let pw = Password::new("backup test password").unwrap();
        let new = create_account(
            &a,
            DeviceName::new("a").unwrap(),
            &pw,
            KdfParams::insecure_for_tests(8, 1, 1),
            None,
            0,
            &mut rng,
        )
        .unwrap();
        let (account, root, mut log) = (new.account, new.root, new.log);
        let add = log
            .add_device(
                &a,
                &root,
                DeviceRecord {
                    keys: b.public_keys(),
                    name: DeviceName::new("b").unwrap(),
                },
                0,
            )
            .unwrap();
        log.apply(&add).unwrap();
        Self {
            rng,
            store: MemoryStore::new(),
            account,
            root,
            devices: vec![a, b],
            log,
            seq: vec![0, 0],
        }
    }

    pub fn keys(&self) -> KeyRing {
        let mut k = KeyRing::new();
        k.insert(self.root.duplicate());
        k
    }

    /// Back up `sources` as device `d`, and publish the head in the log.
    pub fn backup(&mut self, d: usize, sources: &[&Path]) -> BackupOutcome {
        self.seq[d] += 1;
        let mut w = SnapshotWriter::new(
            &self.store,
            self.account,
            &self.root,
            &self.devices[d],
            self.seq[d],
            None,
        );
        backup_paths(&mut w, sources, &mut self.rng).unwrap();
        let out = w.finish(0, &mut self.rng).unwrap();
        self.publish(d, &out);
        out
    }

    pub fn publish(&mut self, d: usize, out: &BackupOutcome) {
        let e = self
            .log
            .snapshot_head(
                &self.devices[d],
                &self.root,
                out.snapshot_id,
                out.sequence,
                out.manifest_hash,
                0,
            )
            .unwrap();
        self.log.apply(&e).unwrap();
    }

    pub fn restore(
        &self,
        d: usize,
        target: &Path,
    ) -> keylink_backup::Result<keylink_backup::RestoreStats> {
        keylink_backup::restore(
            &self.store,
            &self.log,
            &self.keys(),
            self.devices[d].device_id(),
            target,
        )
    }
}

/// Assert two trees are identical: kinds, bytes, permission bits, file and
/// directory mtimes, symlink targets. Returns the number of entries compared.
pub fn assert_same_tree(a: &Path, b: &Path) -> usize {
    let ma = fs::symlink_metadata(a).unwrap();
    let mb = fs::symlink_metadata(b).unwrap_or_else(|_| panic!("{} missing", b.display()));
    assert_eq!(
        ma.file_type().is_symlink(),
        mb.file_type().is_symlink(),
        "{}",
        a.display()
    );
    if ma.file_type().is_symlink() {
        assert_eq!(
            fs::read_link(a).unwrap(),
            fs::read_link(b).unwrap(),
            "{}",
            a.display()
        );
        return 1;
    }
    assert_eq!(ma.is_dir(), mb.is_dir(), "{}", a.display());
    assert_eq!(
        ma.permissions().mode() & 0o7777,
        mb.permissions().mode() & 0o7777,
        "mode of {}",
        a.display()
    );
    assert_eq!(
        (ma.mtime(), ma.mtime_nsec()),
        (mb.mtime(), mb.mtime_nsec()),
        "mtime of {}",
        a.display()
    );
    if ma.is_file() {
        assert_eq!(
            fs::read(a).unwrap(),
            fs::read(b).unwrap(),
            "content of {}",
            a.display()
        );
        return 1;
    }
    let mut names: Vec<_> = fs::read_dir(a)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut names_b: Vec<_> = fs::read_dir(b)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names_b.sort();
    assert_eq!(
        names
            .iter()
            .map(|n| n.as_bytes().to_vec())
            .collect::<Vec<_>>(),
        names_b
            .iter()
            .map(|n| n.as_bytes().to_vec())
            .collect::<Vec<_>>(),
        "entries of {}",
        a.display()
    );
    1 + names
        .iter()
        .map(|n| assert_same_tree(&a.join(n), &b.join(n)))
        .sum::<usize>()
}
