//! keylink's account log.
//!
//! One append-only, hash-chained log per account binds three things: which
//! devices belong to the account, which root-key epoch is current (with its
//! account signing key), and the head of every device's backup chain. Every
//! entry carries two signatures over its exact body bytes: the acting
//! device's identity key, and the epoch's account signing key (derived from
//! the root key, so it proves the signer holds the root key).
//!
//! What this crate does: verifies logs ([`LogState::verify`],
//! [`LogState::apply`]), remembers and compares heads ([`Head`],
//! [`compare_heads`], [`compare_logs`]) to catch rollbacks and forks, checks
//! that a served key wrap is the current one ([`LogState::check_wrap`]), and
//! builds the entries a device signs (genesis, add, recover, revoke with
//! rotation, wrap changes, snapshot heads).
//!
//! What it does not do: no I/O, no clock (times are passed in and are only
//! informational), no storage, no network. It trusts nothing it is given:
//! not the server's order, not the server's check, not another device's.
//!
//! ```
//! use keylink_account::create_account;
//! use keylink_keys::{DeviceIdentity, KdfParams, Password};
//! use keylink_wire::account::{DeviceName, DeviceRecord};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand::rng();
//! let phone = DeviceIdentity::generate(&mut rng);
//! let password = Password::new("correct horse battery staple")?;
//! // Tiny Argon2id parameters keep the example fast; real accounts use KdfParams::DEFAULT.
//! let params = KdfParams::insecure_for_tests(8, 1, 1);
//! let new = create_account(&phone, DeviceName::new("phone")?, &password, params, None, 0, &mut rng)?;
//! let mut log = new.log;
//!
//! let laptop = DeviceIdentity::generate(&mut rng);
//! let record = DeviceRecord { keys: laptop.public_keys(), name: DeviceName::new("laptop")? };
//! let add = log.add_device(&phone, &new.root, record, 1)?;
//! log.apply(&add)?;
//! assert_eq!(log.devices().len(), 2);
//! log.check_wrap(&new.password_wrap)?; // the wrap the server serves is the one the log records
//! # Ok(()) }
//! ```

pub mod error;
pub mod head;
pub mod history;
pub mod ops;
pub mod state;

pub use error::{Error, Result};
pub use head::{Head, HeadRelation, compare_heads, compare_logs};
pub use history::{open_epoch_history, seal_epoch_history};
pub use ops::{
    NewAccount, Rotation, RotationWraps, create_account, genesis, open_rotation, sign_entry,
};
pub use state::{DeviceInfo, HistoryAction, HistoryEvent, Joined, LogState, SnapshotHeadInfo};
