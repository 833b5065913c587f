//! What a keylink device does, as a library: create an account, back up
//! and restore, link devices, list them with the link history, revoke,
//! change the password, replace the recovery key, and recover on a fresh
//! device. Apps call it from any tokio runtime; progress comes through
//! callbacks, never printed.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! use keylink_client::link::ServerInfo;
//! use keylink_client::{Device, FileKeyStore};
//! use keylink_keys::{KdfParams, Password};
//! use keylink_wire::account::DeviceName;
//!
//! # let dir = tempfile::tempdir()?;
//! # // A server in this process, for the example; apps connect to one.
//! # let identity = keylink_net::ServerIdentity::generate()?;
//! # let store = Arc::new(keylink_store::MemoryStore::new());
//! # let config = keylink_server::ServerConfig {
//! #     listen: "127.0.0.1:0".parse()?,
//! #     ..Default::default()
//! # };
//! # let server = keylink_server::Server::start(&identity, store, config)?;
//! let server = ServerInfo::new(server.local_addr()?, server.fingerprint());
//! // The device's secrets live in a key store: owner-only files here, the
//! // OS keychain in an app that implements `KeyStore` over it.
//! let keys = Arc::new(FileKeyStore::open(dir.path().join("device"))?);
//! let password = Password::new("correct horse battery staple")?;
//! let (mut device, recovery_key) = Device::create(
//!     keys,
//!     server,
//!     "ada-family",
//!     &DeviceName::new("phone")?,
//!     &password,
//!     KdfParams::DEFAULT,
//!     true,
//! )
//! .await?;
//! assert!(recovery_key.is_some()); // show it to the person, once
//!
//! let folder = dir.path().join("notes");
//! std::fs::create_dir(&folder)?;
//! std::fs::write(folder.join("todo.txt"), "buy milk")?;
//! let backup = device.backup(&[folder], |_progress| {}).await?;
//! assert_eq!(backup.sequence, 1);
//!
//! let stats = device
//!     .restore(None, &dir.path().join("restored"), |_progress, _total| {})
//!     .await?;
//! assert_eq!(stats.files, 1);
//! let back = std::fs::read_to_string(dir.path().join("restored/notes/todo.txt"))?;
//! assert_eq!(back, "buy milk");
//! # Ok(())
//! # }
//! ```
//!
//! Linking: [`Device::show_link`] on the new device, then
//! [`Device::approve_link`] on an existing one with the code it shows; or
//! the other way round, [`Device::show_link_for_new`] and
//! [`Device::finish_shown_link`] on the existing device and
//! [`Device::scan_link`] on the new one (the lower-level driver is
//! [`link`]). Recovery: [`Device::recover`] with the password or the
//! recovery key.
//!
//! Devices reach their server over UDP; a simulator passes its own
//! [`Network`] in [`link::ServerInfo::net`]. What a network may lower (the
//! Argon2 floor) or replace (the random generator) takes effect only with
//! this crate's `simulation` feature, which apps never enable.

mod clock;
mod device;
mod error;
mod keystore;
pub mod link;
mod network;
mod realms;
mod remote;

pub use device::{
    BackupSummary, Device, DeviceView, NewAccount, RecoveryStatus, RecoveryUpdate, ShownForNew,
    ShownLink, SnapshotInfo, Unlock, account_id_for, set_connect_timeout,
};
pub use error::{Error, Result};
pub use keystore::{FileKeyStore, KeyStore, KeyStoreError};
pub use network::{Net, Network, Udp};

pub use realms::{RealmCheck, RealmInfo, RealmReport, Realms, check_password_strength};
pub use remote::RemoteStore;

pub use link::{
    Existing, LinkOptions, Linked, PendingShow, ServerInfo, ShowVia, finish_as_existing,
    finish_as_new, scan_as_existing, scan_as_new, show_as_existing, show_as_new,
};
