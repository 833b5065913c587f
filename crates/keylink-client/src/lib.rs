//! What a keylink device does, as a library.
//!
//! What it does now: links devices ([`link`]) over QUIC — through the
//! server's relay or directly on a LAN, in both directions — by driving
//! keylink-link's state machine through keylink-net, appending to the
//! account log through the server and verifying what the other device sent
//! against the log.
//!
//! What it does not do yet: keep a device's state at rest, back up and
//! restore, revoke or recover (the client issue). Callers hold the
//! identity, root key and verified log themselves and pass them in.

mod device;
mod error;
mod keystore;
pub mod link;
mod remote;

pub use device::{
    BackupSummary, Device, DeviceView, RecoveryStatus, ShownLink, SnapshotInfo, Unlock,
    account_id_for, set_connect_timeout,
};
pub use error::{Error, Result};
pub use keystore::{FileKeyStore, KeyStore, KeyStoreError};

pub use remote::RemoteStore;

pub use link::{
    Existing, LinkOptions, Linked, PendingShow, ServerInfo, ShowVia, finish_as_existing,
    finish_as_new, scan_as_existing, scan_as_new, show_as_existing, show_as_new,
};
