//! keylink's backups.
//!
//! What it does: splits files into content-defined chunks, names each by a
//! keyed hash of its plaintext (so the server cannot confirm a guessed
//! file), stores each chunk once per account no matter how many snapshots or
//! devices share it, seals it under the writing device's subkey with a fresh
//! random nonce and associated data binding account, epoch, writer and id,
//! pads it (Padmé), and records everything in a paged manifest that is
//! sealed and signed by the device. Restoring checks the manifest against
//! the account log's snapshot head, every signature, tag, id, length and
//! file length, and writes each file under a temporary name before an
//! atomic rename.
//!
//! What it does not do: it does not talk to a server or publish snapshot
//! heads (the client appends the [`BackupOutcome`] to the account log), and
//! it has no clock (times are passed in). Randomness is passed in.
//!
//! Trust assumptions: the store is hostile — anything read from it is
//! verified before use; the account log given to restore was verified by
//! the caller.
//!
//! ```
//! use keylink_backup::{KeyRing, Meta, SnapshotWriter};
//! use keylink_keys::{AccountId, DeviceIdentity, Epoch, RootKey};
//! use keylink_store::MemoryStore;
//! use keylink_wire::backup::RelPath;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand::rng();
//! let store = MemoryStore::new();
//! let account = AccountId::generate(&mut rng);
//! let root = RootKey::generate(Epoch(0), &mut rng);
//! let phone = DeviceIdentity::generate(&mut rng);
//! let mut snap = SnapshotWriter::new(&store, account, &root, &phone, 1, None);
//! snap.add_file(RelPath::new(b"notes.txt".to_vec())?, &b"hello"[..], Meta::default(), &mut rng)?;
//! let outcome = snap.finish(0, &mut rng)?;
//! assert_eq!(outcome.stats.chunks_uploaded, 1);
//! // The client now appends a SnapshotHead(outcome) to the account log.
//! # let _ = KeyRing::new();
//! # Ok(()) }
//! ```

pub mod backup;
pub mod chunker;
pub mod error;
pub mod format;
pub mod keys;
pub mod restore;

pub use backup::{BackupOutcome, BackupStats, Meta, SnapshotWriter, backup_paths};
pub use error::{Error, Result};
pub use keys::KeyRing;
pub use restore::{RestoreStats, Snapshot, restore};
