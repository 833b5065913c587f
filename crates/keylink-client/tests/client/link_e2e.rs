//! Must-show 1: A has an account and a backup; B links (through the relay,
//! directly, and both again with the existing device showing the code),
//! restores A's backup byte for byte, and both list the same devices.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use keylink_client::link::{
    LinkOptions, Linked, ShowVia, finish_as_existing, finish_as_new, scan_as_existing, scan_as_new,
    show_as_existing, show_as_new,
};
use keylink_keys::DeviceIdentity;
use keylink_link::{LinkError, Sas};

use crate::support::*;

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Relay,
    Direct,
}

fn via(w: &World, mode: Mode) -> ShowVia {
    match mode {
        Mode::Relay => ShowVia::Relay(w.info.clone()),
        Mode::Direct => {
            let lo: SocketAddr = "127.0.0.1:0".parse().unwrap();
            ShowVia::Direct {
                bind: lo,
                advertise: lo,
            }
        }
    }
}

pub struct Pair {
    pub existing: Result<keylink_keys::DeviceId, LinkError>,
    pub new: Result<Linked, LinkError>,
    pub identity: Arc<DeviceIdentity>,
    pub sas: Vec<Sas>,
}

/// Link a new device to `a`: `reverse` makes the existing device show the
/// code; `approve` is the person's answer; `store` the new device's key
/// store.
pub async fn link(
    w: &World,
    a: &mut Member,
    mode: Mode,
    reverse: bool,
    seed: u64,
    approve: bool,
    store: impl FnOnce(&Linked) -> Result<(), String>,
) -> Pair {
    let (identity, device) = new_device(seed, "laptop");
    link_device(w, a, mode, reverse, identity, device, approve, store).await
}

#[allow(clippy::too_many_arguments)]
pub async fn link_device(
    w: &World,
    a: &mut Member,
    mode: Mode,
    reverse: bool,
    identity: Arc<DeviceIdentity>,
    device: keylink_link::NewDevice,
    approve: bool,
    store: impl FnOnce(&Linked) -> Result<(), String>,
) -> Pair {
    let sas = Arc::new(Mutex::new(Vec::new()));
    let seen = sas.clone();
    let opts = LinkOptions {
        on_sas: Some(Arc::new(move |s| seen.lock().unwrap().push(s))),
        ..options()
    };
    let ep_b = endpoint();
    let answer = move |_info| async move { approve };
    let (existing, new) = if !reverse {
        let shown = show_as_new(&ep_b, via(w, mode), &opts).await.unwrap();
        let code = shown.code_text().to_string();
        let a_ep = a.endpoint.clone();
        tokio::join!(
            scan_as_existing(&a_ep, &code, a.existing(), &opts, answer),
            finish_as_new(&ep_b, shown, w.info.clone(), device, &opts, store),
        )
    } else {
        let shown = show_as_existing(&a.endpoint, via(w, mode), &opts)
            .await
            .unwrap();
        let code = shown.code_text().to_string();
        let server = matches!(mode, Mode::Direct).then_some(w.info.clone());
        tokio::join!(
            finish_as_existing(shown, a.existing(), &opts, answer),
            scan_as_new(&ep_b, &code, server, device, &opts, store),
        )
    };
    let sas = sas.lock().unwrap().clone();
    Pair {
        existing,
        new,
        identity,
        sas,
    }
}

async fn link_then_restore(mode: Mode, reverse: bool) {
    let w = world().await;
    let mut a = create(&w.info, 1).await;
    let src = tempfile::tempdir().unwrap();
    tree(&src.path().join("data"), 2);
    backup(&mut a, &src.path().join("data")).await;

    let p = link(&w, &mut a, mode, reverse, 3, true, |_| Ok(())).await;
    let what = format!("{mode:?} reverse={reverse}");
    assert_eq!(
        p.existing.as_ref().ok(),
        Some(&p.identity.device_id()),
        "{what}: {:?}",
        p.existing
    );
    let linked = p.new.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(linked.root.expose_secret(), a.root.expose_secret());
    assert_eq!(linked.approver, a.identity.device_id());
    assert_eq!(p.sas.len(), 2, "{what}: both devices showed a SAS");
    assert_eq!(p.sas[0], p.sas[1], "{what}: the SAS differs");

    // B restores A's backup, byte for byte.
    let out = tempfile::tempdir().unwrap();
    restore(
        &w.info,
        &linked,
        &p.identity,
        a.identity.device_id(),
        out.path(),
    )
    .await;
    let n = same_tree(&src.path().join("data"), &out.path().join("data"));
    assert!(n >= 10, "{what}: {n} entries compared");

    // Both show the same devices and the same link history.
    refresh(&mut a).await;
    let b_view = server_log(&w.info, &a).await;
    assert_eq!(a.log.devices(), linked.log.devices(), "{what}");
    assert_eq!(a.log.devices(), b_view.devices(), "{what}");
    assert_eq!(a.log.devices().len(), 2);
    assert_eq!(a.log.history(), linked.log.history());
    let joined = a.log.devices()[&p.identity.device_id()].joined;
    assert_eq!(
        joined,
        keylink_account::Joined::Linked {
            by: a.identity.device_id()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_new_device_shows() {
    link_then_restore(Mode::Relay, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_new_device_shows() {
    link_then_restore(Mode::Direct, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_existing_device_shows() {
    link_then_restore(Mode::Relay, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_existing_device_shows() {
    link_then_restore(Mode::Direct, true).await;
}
