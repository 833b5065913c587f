//! Linking over QUIC: the I/O shell around [`keylink_link::Link`]
//! (docs/protocol.md §16).
//!
//! Four entry points, one per device and direction:
//!
//! | who shows the code | new device calls | existing device calls |
//! |---|---|---|
//! | the new device (usual) | [`show_as_new`] | [`scan_as_existing`] |
//! | the existing device | [`scan_as_new`] | [`show_as_existing`] |
//!
//! A shower picks the rendezvous: a relay channel on its server, or a
//! one-time QUIC listener of its own (direct, for a LAN). The scanner learns
//! which from the code. Frames are read by a task of their own, so waiting
//! for the person's approval never cuts a frame in half.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::network::Net;

use keylink_account::{Head, LogState, compare_heads, open_epoch_history};
use keylink_keys::{AccountId, DeviceId, DeviceIdentity, RootKey};
use keylink_link::{
    Binding, Event, JoinInfo, Link, LinkCode, LinkError, NewDevice, Rendezvous, Sas, Shower,
    ShowerSecrets, Side, Timeouts,
};
use keylink_net::{
    AnyEndpoint, Conn, Fingerprint, RecvHalf, SendHalf, ServerIdentity, ServerTrust, read_frame,
    write_frame,
};
use keylink_server::{ClientError, ServerClient};
use keylink_wire::Wire;
use keylink_wire::account::{DeviceName, DeviceRecord, SignedEntry};
use keylink_wire::link::MAX_LINK_FRAME;
use keylink_wire::server::{FailureCode, Request, Response};
use tokio::sync::mpsc;

/// The time on tokio's clock (virtual when a simulator pauses it), as the
/// state machine's `Instant`, so its deadlines and tokio's timers agree.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Where a keylink server is, and the certificate it must present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    /// Its address.
    pub addr: SocketAddr,
    /// SHA-256 of its certificate.
    pub fingerprint: Fingerprint,
    /// The network it is reached through (UDP unless a simulator says
    /// otherwise).
    pub net: Net,
}

impl ServerInfo {
    /// The server at `addr` presenting the certificate `fingerprint`,
    /// reached over UDP.
    pub fn new(addr: SocketAddr, fingerprint: Fingerprint) -> Self {
        Self {
            addr,
            fingerprint,
            net: Net::default(),
        }
    }
}

/// Knobs of a link attempt.
#[derive(Clone)]
pub struct LinkOptions {
    /// Per-step and approval timeouts.
    pub timeouts: Timeouts,
    /// How long a shown code stays valid (capped by the relay's channel).
    pub code_lifetime: Duration,
    /// Called once keys are confirmed, with the code both devices show.
    pub on_sas: Option<Arc<dyn Fn(Sas) + Send + Sync>>,
    /// The network for a direct link's listener, and for reaching the
    /// account server a scanned relay code names.
    pub net: Net,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            code_lifetime: Duration::from_secs(300),
            on_sas: None,
            net: Net::default(),
        }
    }
}

impl std::fmt::Debug for LinkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkOptions")
            .field("timeouts", &self.timeouts)
            .field("code_lifetime", &self.code_lifetime)
            .finish_non_exhaustive()
    }
}

/// A device already in the account, as linking needs it.
pub struct Existing<'a> {
    /// An authenticated connection to the account's server.
    pub server: &'a ServerClient,
    /// This device.
    pub identity: &'a DeviceIdentity,
    /// The current root key.
    pub root: &'a RootKey,
    /// This device's verified log; brought up to date in place.
    pub log: &'a mut LogState,
}

/// What the new device holds once linked. Prints without keys.
pub struct Linked {
    /// The account.
    pub account: AccountId,
    /// The current root key.
    pub root: RootKey,
    /// The root keys of earlier epochs, from the log's epoch history.
    pub older_roots: Vec<RootKey>,
    /// The log, verified from genesis, containing this device.
    pub log: LogState,
    /// The head the existing device sent (contained in `log`).
    pub head: Head,
    /// The device that approved.
    pub approver: DeviceId,
    /// The short authentication string shown.
    pub sas: Option<Sas>,
}

impl std::fmt::Debug for Linked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linked")
            .field("account", &self.account)
            .field("epoch", &self.root.epoch())
            .field("head", &self.head)
            .field("approver", &self.approver)
            .finish_non_exhaustive()
    }
}

/// A code on display, waiting for the other device.
pub struct PendingShow {
    text: zeroize::Zeroizing<String>,
    secrets: ShowerSecrets,
    waiter: Waiter,
    expires: Instant,
}

enum Waiter {
    /// The relay stream; the joiner's frames arrive on it.
    Relay {
        conn: Conn,
        send: SendHalf,
        recv: RecvHalf,
    },
    /// A one-time listener.
    Direct { endpoint: AnyEndpoint },
}

impl PendingShow {
    /// The code text (`keylink-link:…`) to show as a QR code and as text.
    pub fn code_text(&self) -> &str {
        &self.text
    }

    /// The parsed code.
    pub fn code(&self) -> &LinkCode {
        self.secrets.code()
    }

    async fn accept(
        self,
        timeouts: Timeouts,
        side: Side,
    ) -> Result<(Link, Conn, SendHalf, RecvHalf), LinkError> {
        let PendingShow {
            secrets,
            waiter,
            expires,
            ..
        } = self;
        let wait = expires.saturating_duration_since(now());
        match waiter {
            Waiter::Relay { conn, send, recv } => {
                let link = Link::shower(secrets, Binding::Relay, side, expires, timeouts)?;
                Ok((link, conn, send, recv))
            }
            Waiter::Direct { endpoint } => {
                let accept = async {
                    let incoming = endpoint.accept().await.ok_or(LinkError::Closed)?;
                    let conn = incoming.accept().await.map_err(|_| LinkError::Closed)?;
                    let (send, recv) = conn.accept_bi().await.map_err(|_| LinkError::Closed)?;
                    Ok::<_, LinkError>((conn, send, recv))
                };
                let (conn, send, recv) = tokio::time::timeout(wait, accept)
                    .await
                    .map_err(|_| LinkError::Timeout)??;
                // One connection only: the listener stops accepting.
                endpoint.stop_accepting();
                let payload = secrets.code().payload().to_vec();
                let binding = Binding::Direct(
                    conn.exporter(keylink_keys::labels::LINK_EXPORTER, &payload)
                        .map_err(|_| LinkError::Closed)?,
                );
                let link = Link::shower(secrets, binding, side, expires, timeouts)?;
                Ok((link, conn, send, recv))
            }
        }
    }
}

/// How the shower makes itself reachable.
#[derive(Clone, Debug)]
pub enum ShowVia {
    /// A relay channel on this server.
    Relay(ServerInfo),
    /// A one-time QUIC listener: bound to `bind`, advertised in the code
    /// as `advertise` (the address the other device can reach).
    Direct {
        /// Local address to listen on.
        bind: SocketAddr,
        /// Address to put in the code (`bind` with a real IP if it was
        /// unspecified).
        advertise: SocketAddr,
    },
}

fn relay_err(e: impl std::fmt::Display) -> LinkError {
    LinkError::Relay(e.to_string())
}

fn net_err(e: impl std::fmt::Display) -> LinkError {
    tracing::debug!(error = %e, "link transport");
    LinkError::Closed
}

async fn prepare_show(
    endpoint: &AnyEndpoint,
    shower: Shower,
    via: ShowVia,
    options: &LinkOptions,
) -> Result<PendingShow, LinkError> {
    let mut rng = options.net.rng();
    let (rendezvous, waiter, lifetime) = match via {
        ShowVia::Relay(server) => {
            let open = async {
                let conn = endpoint
                    .connect(server.addr, &ServerTrust::Pinned(server.fingerprint))
                    .await
                    .map_err(relay_err)?;
                let (mut send, mut recv) = conn.open_bi().await.map_err(relay_err)?;
                write_frame(&mut send, &Request::RelayOpen.encode())
                    .await
                    .map_err(relay_err)?;
                let frame = read_frame(&mut recv, 4096)
                    .await
                    .map_err(relay_err)?
                    .ok_or(LinkError::Relay("the server closed the stream".into()))?;
                Ok::<_, LinkError>((conn, send, recv, frame))
            };
            let (conn, send, recv, frame) = tokio::time::timeout(options.timeouts.step, open)
                .await
                .map_err(|_| LinkError::Relay("the server did not answer in time".into()))??;
            let (channel, ttl) = match Response::decode(&frame).map_err(|_| LinkError::Malformed)? {
                Response::Channel {
                    channel,
                    expires_in_ms,
                } => (channel, Duration::from_millis(expires_in_ms)),
                Response::Failure { message, .. } => return Err(LinkError::Relay(message)),
                _ => return Err(LinkError::Malformed),
            };
            (
                Rendezvous::Relay {
                    server: server.addr,
                    server_fingerprint: *server.fingerprint.as_bytes(),
                    channel,
                },
                Waiter::Relay { conn, send, recv },
                options.code_lifetime.min(ttl),
            )
        }
        ShowVia::Direct { bind, advertise } => {
            let identity = ServerIdentity::generate().map_err(net_err)?;
            let listener = options
                .net
                .get()
                .listener(&identity, bind)
                .map_err(net_err)?;
            let mut advertise = advertise;
            if advertise.port() == 0 {
                advertise.set_port(listener.local_addr().map_err(net_err)?.port());
            }
            (
                Rendezvous::Direct {
                    addr: advertise,
                    cert_fingerprint: *identity.fingerprint().as_bytes(),
                },
                Waiter::Direct { endpoint: listener },
                options.code_lifetime,
            )
        }
    };
    // Rounded up: a code never reads as expired before its channel is.
    let expires_unix =
        options.net.unix_now() + lifetime.as_secs() + u64::from(lifetime.subsec_nanos() > 0);
    let secrets = ShowerSecrets::generate(
        shower,
        rendezvous,
        u32::try_from(expires_unix).unwrap_or(u32::MAX),
        &mut rng,
    )?;
    Ok(PendingShow {
        text: secrets.code().to_text(),
        secrets,
        waiter,
        expires: now() + lifetime,
    })
}

async fn connect_to_code(
    endpoint: &AnyEndpoint,
    code: &LinkCode,
    timeouts: Timeouts,
    reuse: Option<&Conn>,
) -> Result<(Conn, SendHalf, RecvHalf, Binding), LinkError> {
    tokio::time::timeout(timeouts.step, connect_to_code_inner(endpoint, code, reuse))
        .await
        .map_err(|_| LinkError::Timeout)?
}

async fn connect_to_code_inner(
    endpoint: &AnyEndpoint,
    code: &LinkCode,
    reuse: Option<&Conn>,
) -> Result<(Conn, SendHalf, RecvHalf, Binding), LinkError> {
    match *code.rendezvous() {
        Rendezvous::Relay {
            server,
            server_fingerprint,
            channel,
        } => {
            let pin = Fingerprint::from_bytes(server_fingerprint);
            // A device already connected to the relay's server (its own
            // account server) joins over that connection.
            let conn = match reuse
                .filter(|c| c.remote_address() == server && c.peer_fingerprint() == Some(pin))
            {
                Some(c) => c.clone(),
                None => endpoint
                    .connect(server, &ServerTrust::Pinned(pin))
                    .await
                    .map_err(net_err)?,
            };
            let (mut send, mut recv) = conn.open_bi().await.map_err(net_err)?;
            write_frame(&mut send, &Request::RelayJoin { channel }.encode())
                .await
                .map_err(net_err)?;
            let frame = read_frame(&mut recv, 4096)
                .await
                .map_err(net_err)?
                .ok_or(LinkError::Closed)?;
            match Response::decode(&frame).map_err(|_| LinkError::Malformed)? {
                Response::Done { .. } => Ok((conn, send, recv, Binding::Relay)),
                Response::Failure {
                    code: FailureCode::ChannelUnavailable,
                    ..
                } => Err(LinkError::CodeSpent),
                Response::Failure { message, .. } => Err(LinkError::Relay(message)),
                _ => Err(LinkError::Malformed),
            }
        }
        Rendezvous::Direct {
            addr,
            cert_fingerprint,
        } => {
            let trust = ServerTrust::Pinned(Fingerprint::from_bytes(cert_fingerprint));
            let conn = endpoint.connect(addr, &trust).await.map_err(net_err)?;
            let (send, recv) = conn.open_bi().await.map_err(net_err)?;
            let binding = Binding::Direct(
                conn.exporter(keylink_keys::labels::LINK_EXPORTER, code.payload())
                    .map_err(net_err)?,
            );
            Ok((conn, send, recv, binding))
        }
    }
}

/// New device, usual direction: open a rendezvous and make the code to
/// show. Then [`PendingShow::code_text`] goes on screen and
/// [`finish_as_new`] waits for the existing device.
///
/// # Errors
/// [`LinkError::Closed`] if the server cannot be reached.
pub async fn show_as_new(
    endpoint: &AnyEndpoint,
    via: ShowVia,
    options: &LinkOptions,
) -> Result<PendingShow, LinkError> {
    prepare_show(endpoint, Shower::NewDevice, via, options).await
}

/// New device: wait for the existing device to scan `shown`, run the
/// link, verify against the log on `server`, call `store` with the result
/// (the key store's write; the link fails if it does), and acknowledge.
///
/// # Errors
/// [`LinkError`], in words for the person.
pub async fn finish_as_new<S>(
    endpoint: &AnyEndpoint,
    shown: PendingShow,
    server: ServerInfo,
    device: NewDevice,
    options: &LinkOptions,
    store: S,
) -> Result<Linked, LinkError>
where
    S: FnOnce(&Linked) -> Result<(), String>,
{
    let identity = device.identity.clone();
    let known = device.known_head;
    let rendezvous = *shown.code().rendezvous();
    let (link, conn, send, recv) = shown.accept(options.timeouts, Side::New(device)).await?;
    let server_conn = ServerConnection::new(endpoint, server, &conn, &rendezvous);
    let me = NewSide {
        server: server_conn,
        identity,
        known,
    };
    run_new(link, (send, recv), me, options, store).await
}

/// New device, reverse direction: scan the code an existing device shows.
/// With a relay code, the account's server is the relay's; with a direct
/// code, `server` names it.
///
/// # Errors
/// [`LinkError`].
pub async fn scan_as_new<S>(
    endpoint: &AnyEndpoint,
    code_text: &str,
    server: Option<ServerInfo>,
    device: NewDevice,
    options: &LinkOptions,
    store: S,
) -> Result<Linked, LinkError>
where
    S: FnOnce(&Linked) -> Result<(), String>,
{
    let code = LinkCode::parse(code_text)?;
    code.check_fresh(options.net.unix_now())?;
    let server = match (*code.rendezvous(), server) {
        (_, Some(s)) => s,
        (
            Rendezvous::Relay {
                server,
                server_fingerprint,
                ..
            },
            None,
        ) => ServerInfo {
            addr: server,
            fingerprint: Fingerprint::from_bytes(server_fingerprint),
            net: options.net.clone(),
        },
        (Rendezvous::Direct { .. }, None) => return Err(LinkError::NeedsServer),
    };
    keylink_link::check_scanner_role(&code, true)?;
    let identity = device.identity.clone();
    let known = device.known_head;
    let (conn, send, recv, binding) =
        connect_to_code(endpoint, &code, options.timeouts, None).await?;
    let mut rng = options.net.rng();
    let link = Link::scanner(
        &code,
        binding,
        Side::New(device),
        now(),
        options.timeouts,
        &mut rng,
    )?;
    let server_conn = ServerConnection::new(endpoint, server, &conn, code.rendezvous());
    let me = NewSide {
        server: server_conn,
        identity,
        known,
    };
    run_new(link, (send, recv), me, options, store).await
}

/// Existing device, reverse direction: make a code for the new device to
/// scan. Then [`finish_as_existing`].
///
/// # Errors
/// [`LinkError::Closed`] if the server cannot be reached.
pub async fn show_as_existing(
    endpoint: &AnyEndpoint,
    via: ShowVia,
    options: &LinkOptions,
) -> Result<PendingShow, LinkError> {
    prepare_show(endpoint, Shower::ExistingDevice, via, options).await
}

/// Existing device: wait for the new device to scan `shown`, then as
/// [`scan_as_existing`].
///
/// # Errors
/// [`LinkError`].
pub async fn finish_as_existing<F, Fut>(
    shown: PendingShow,
    me: Existing<'_>,
    options: &LinkOptions,
    approve: F,
) -> Result<DeviceId, LinkError>
where
    F: FnOnce(JoinInfo) -> Fut,
    Fut: Future<Output = bool>,
{
    let side = Side::Existing {
        device: me.identity.device_id(),
    };
    let (link, _conn, send, recv) = shown.accept(options.timeouts, side).await?;
    run_existing(link, send, recv, me, options, approve).await
}

/// Existing device, usual direction: scan the new device's code, show the
/// person what asks to join (`approve` answers), add it to the log and hand
/// over the root key.
///
/// # Errors
/// [`LinkError`]; [`LinkError::NotAcknowledged`] is the one failure after
/// which the log holds the new device.
pub async fn scan_as_existing<F, Fut>(
    endpoint: &AnyEndpoint,
    code_text: &str,
    me: Existing<'_>,
    options: &LinkOptions,
    approve: F,
) -> Result<DeviceId, LinkError>
where
    F: FnOnce(JoinInfo) -> Fut,
    Fut: Future<Output = bool>,
{
    let code = LinkCode::parse(code_text)?;
    code.check_fresh(options.net.unix_now())?;
    keylink_link::check_scanner_role(&code, false)?;
    let reuse = me.server.connection().clone();
    let (_conn, send, recv, binding) =
        connect_to_code(endpoint, &code, options.timeouts, Some(&reuse)).await?;
    let mut rng = options.net.rng();
    let link = Link::scanner(
        &code,
        binding,
        Side::Existing {
            device: me.identity.device_id(),
        },
        now(),
        options.timeouts,
        &mut rng,
    )?;
    run_existing(link, send, recv, me, options, approve).await
}

/// The new device's way to its account server: the relay connection when
/// the relay is that server, a new connection otherwise.
struct ServerConnection {
    existing: Option<Conn>,
    server: ServerInfo,
    endpoint: AnyEndpoint,
}

impl ServerConnection {
    fn new(
        endpoint: &AnyEndpoint,
        server: ServerInfo,
        link_conn: &Conn,
        rendezvous: &Rendezvous,
    ) -> Self {
        // The relay connection was verified against the code's pin; when
        // that pin is the account server's, the connection is reused.
        let same = matches!(rendezvous, Rendezvous::Relay { server: a, server_fingerprint: f, .. }
            if *a == server.addr && f == server.fingerprint.as_bytes());
        Self {
            existing: same.then(|| link_conn.clone()),
            server,
            endpoint: endpoint.clone(),
        }
    }

    async fn client(&self) -> Result<ServerClient, ClientError> {
        match &self.existing {
            Some(c) => Ok(ServerClient::from_conn(c.clone())),
            None => {
                ServerClient::connect_any(
                    &self.endpoint,
                    self.server.addr,
                    &ServerTrust::Pinned(self.server.fingerprint),
                )
                .await
            }
        }
    }
}

/// Frames from the other device, read by their own task.
struct Inbox {
    rx: mpsc::Receiver<Option<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Inbox {
    fn spawn(mut recv: RecvHalf) -> Self {
        let (tx, rx) = mpsc::channel(8);
        let task = tokio::spawn(async move {
            loop {
                match read_frame(&mut recv, MAX_LINK_FRAME).await {
                    Ok(Some(f)) => {
                        if tx.send(Some(f)).await.is_err() {
                            return;
                        }
                    }
                    _ => {
                        let _ = tx.send(None).await;
                        return;
                    }
                }
            }
        });
        Self { rx, task }
    }

    /// Wait for the next frame or the link's deadline; feed the machine.
    async fn pump(&mut self, link: &mut Link) {
        let deadline = link.poll_timeout();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        // Biased (frames first, then the deadline) rather than random, so a
        // simulation on a virtual clock repeats exactly.
        tokio::select! {
            biased;
            f = self.rx.recv() => match f {
                Some(Some(frame)) => link.handle_frame(&frame, now()),
                _ => link.handle_closed(),
            },
            () = sleep => link.handle_timeout(now()),
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn flush(link: &mut Link, send: &mut SendHalf) {
    while let Some(frame) = link.poll_transmit() {
        if write_frame(send, &frame).await.is_err() {
            link.handle_closed();
        }
    }
}

/// End our side and wait (briefly) until the other end has read all of
/// it, so dropping the connection afterwards loses no frame — an abort
/// included.
///
/// The wait runs on a task of its own: the caller has its answer at once,
/// and the stream (so the connection) lives until the peer has read it.
fn finish(mut send: SendHalf) {
    let _ = send.finish();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
    });
}

#[allow(clippy::too_many_arguments)]
/// What the new device's side of a link needs besides the stream.
struct NewSide {
    server: ServerConnection,
    identity: Arc<DeviceIdentity>,
    known: Option<Head>,
}

async fn run_new<S>(
    mut link: Link,
    (mut send, recv): (SendHalf, RecvHalf),
    me: NewSide,
    options: &LinkOptions,
    store: S,
) -> Result<Linked, LinkError>
where
    S: FnOnce(&Linked) -> Result<(), String>,
{
    let NewSide {
        server,
        identity,
        known,
    } = me;
    let mut inbox = Inbox::spawn(recv);
    let mut store = Some(store);
    let mut linked: Option<Linked> = None;
    let mut sas = None;
    loop {
        flush(&mut link, &mut send).await;
        let Some(event) = link.poll_event() else {
            inbox.pump(&mut link).await;
            continue;
        };
        match event {
            Event::Confirmed { sas: s } => {
                sas = Some(s);
                if let Some(cb) = &options.on_sas {
                    cb(s);
                }
            }
            Event::Welcome(welcome) => {
                let checked = tokio::time::timeout(
                    options.timeouts.step,
                    verify_welcome(&server, &identity, known, welcome, sas),
                )
                .await
                .unwrap_or(Err(LinkError::Timeout));
                match checked.and_then(|l| match store.take() {
                    Some(f) => f(&l).map(|()| l).map_err(LinkError::StoreFailed),
                    None => Err(LinkError::StoreFailed("stored twice".into())),
                }) {
                    Ok(l) => {
                        link.key_stored(l.log.head());
                        linked = Some(l);
                    }
                    Err(e) => link.welcome_rejected(e),
                }
            }
            Event::Linked { .. } => {
                flush(&mut link, &mut send).await;
                // The acknowledgement is the last frame: wait until the
                // other end has it, since the app may exit right after.
                let _ = send.finish();
                let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
                return linked.ok_or(LinkError::Closed);
            }
            Event::Failed(e) => {
                flush(&mut link, &mut send).await;
                finish(send);
                return Err(e);
            }
            Event::ApprovalRequested(_) | Event::AddDevice { .. } => {
                link.cancel();
            }
        }
    }
}

async fn verify_welcome(
    server: &ServerConnection,
    identity: &DeviceIdentity,
    known: Option<Head>,
    welcome: keylink_wire::link::Welcome,
    sas: Option<Sas>,
) -> Result<Linked, LinkError> {
    let head = Head::from_bytes(&welcome.head).map_err(|_| LinkError::Malformed)?;
    let unreachable = |e: ClientError| {
        tracing::info!(error = %e, "fetching the log after a welcome");
        LinkError::VerificationFailed("the account's server could not be reached")
    };
    // Reading the log needs no authentication (§15.6); that the log lists
    // this device is checked below, on the verified log itself.
    let client = server.client().await.map_err(unreachable)?;
    let raw = client
        .fetch_log(&welcome.account, 0)
        .await
        .map_err(unreachable)?;
    let entries = raw
        .iter()
        .map(|b| SignedEntry::decode(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| LinkError::VerificationFailed("the log from the server is malformed"))?;
    let log = LogState::verify(&entries)
        .map_err(|_| LinkError::VerificationFailed("the log from the server does not verify"))?;
    if log.account() != &welcome.account {
        return Err(LinkError::VerificationFailed(
            "the log is another account's",
        ));
    }
    match compare_heads(&log, &head) {
        Ok(keylink_account::HeadRelation::Same | keylink_account::HeadRelation::Ahead) => {}
        Ok(keylink_account::HeadRelation::Behind) => {
            return Err(LinkError::VerificationFailed(
                "the server's log is older than the other device's",
            ));
        }
        Err(_) => return Err(LinkError::Fork),
    }
    if let Some(k) = known {
        // A head this device trusted before must be in the log: an older
        // log is a rollback, a different entry a fork.
        log.check_contains(&k).map_err(|_| LinkError::Fork)?;
    }
    if !log.is_current(&identity.device_id()) {
        return Err(LinkError::VerificationFailed(
            "the log does not list this device",
        ));
    }
    if !log.is_current(&welcome.approver) {
        return Err(LinkError::VerificationFailed(
            "the approving device is not in the account",
        ));
    }
    let account_key = log
        .account_key(log.epoch())
        .ok_or(LinkError::VerificationFailed("the log has no account key"))?;
    if welcome.root.epoch() != log.epoch()
        || !welcome
            .root
            .matches_account_key(&welcome.account, &account_key)
    {
        return Err(LinkError::VerificationFailed(
            "the key sent is not the account's current key",
        ));
    }
    let older_roots = if log.epoch_history().is_empty() {
        Vec::new()
    } else {
        open_epoch_history(&welcome.root, &welcome.account, log.epoch_history())
            .map_err(|_| LinkError::VerificationFailed("the epoch history does not open"))?
    };
    // Every older key must be the one the log records for its epoch, and
    // none may be missing.
    for k in &older_roots {
        let ok = log
            .account_key(k.epoch())
            .is_some_and(|a| k.matches_account_key(&welcome.account, &a));
        if !ok {
            return Err(LinkError::VerificationFailed(
                "an older key in the epoch history is not the log's",
            ));
        }
    }
    if older_roots.len() as u64 != welcome.root.epoch().0 {
        return Err(LinkError::VerificationFailed(
            "the epoch history misses an epoch",
        ));
    }
    Ok(Linked {
        account: welcome.account,
        root: welcome.root,
        older_roots,
        log,
        head,
        approver: welcome.approver,
        sas,
    })
}

async fn run_existing<F, Fut>(
    mut link: Link,
    mut send: SendHalf,
    recv: RecvHalf,
    me: Existing<'_>,
    options: &LinkOptions,
    approve: F,
) -> Result<DeviceId, LinkError>
where
    F: FnOnce(JoinInfo) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut inbox = Inbox::spawn(recv);
    let mut approve = Some(approve);
    loop {
        flush(&mut link, &mut send).await;
        let Some(event) = link.poll_event() else {
            inbox.pump(&mut link).await;
            continue;
        };
        match event {
            Event::Confirmed { sas } => {
                if let Some(cb) = &options.on_sas {
                    cb(sas);
                }
            }
            Event::ApprovalRequested(info) => {
                let Some(f) = approve.take() else {
                    link.decline();
                    continue;
                };
                // The person decides while frames keep arriving (an abort
                // from the new device ends the wait).
                let decision = f(info);
                tokio::pin!(decision);
                let answer = loop {
                    // The person's answer first; biased so a run repeats.
                    tokio::select! {
                        biased;
                        a = &mut decision => break Some(a),
                        () = inbox.pump(&mut link) => {
                            if link.is_finished() {
                                break None;
                            }
                        }
                    }
                };
                match answer {
                    Some(true) => link.approve(now()),
                    Some(false) => link.decline(),
                    None => {}
                }
            }
            Event::AddDevice { record, known_head } => {
                let added = tokio::time::timeout(
                    options.timeouts.step,
                    append_device(&me, &record, known_head, options.net.now_ms()),
                )
                .await
                .unwrap_or(Err(Refusal::Failed(
                    "the server did not answer in time".into(),
                )));
                match added {
                    Ok(log) => {
                        *me.log = log;
                        link.device_added(me.log, me.root, now());
                    }
                    Err(Refusal::Fork) => link.refuse_add(LinkError::Fork),
                    Err(Refusal::Failed(why)) => link.append_failed(why),
                }
            }
            Event::Linked { device, .. } => {
                flush(&mut link, &mut send).await;
                finish(send);
                return Ok(device);
            }
            Event::Failed(e) => {
                flush(&mut link, &mut send).await;
                finish(send);
                return Err(e);
            }
            Event::Welcome(_) => link.cancel(),
        }
    }
}

/// Why the new device was not added.
enum Refusal {
    /// The log does not hold the head the new device trusts.
    Fork,
    /// Anything else, in words.
    Failed(String),
}

async fn refresh(me: &Existing<'_>, log: &mut LogState) -> Result<(), String> {
    let account = *log.account();
    let fresh = me
        .server
        .fetch_log(&account, log.next_sequence())
        .await
        .map_err(|e| e.to_string())?;
    for bytes in &fresh {
        let entry = SignedEntry::decode(bytes).map_err(|e| e.to_string())?;
        log.apply(&entry)
            .map_err(|e| format!("the server's log does not verify: {e}"))?;
    }
    Ok(())
}

/// Append `AddDevice(record)` by compare-and-swap on top of the head this
/// device knows, fetching only when another device got there first. A
/// device already current (the retry after a crash) is confirmed against
/// a fresh log and not appended again. The new device's known head is
/// checked before anything is appended.
async fn append_device(
    me: &Existing<'_>,
    record: &DeviceRecord,
    known_head: Option<Head>,
    now_ms: u64,
) -> Result<LogState, Refusal> {
    let mut log = me.log.clone();
    let account = *log.account();
    let device = record.keys.device_id();
    let mut fresh = false;
    for _ in 0..16 {
        if !fresh && log.is_current(&device) {
            // Trust "already added" only from the server's current log.
            refresh(me, &mut log).await.map_err(Refusal::Failed)?;
            fresh = true;
        }
        if let Some(k) = &known_head {
            match compare_heads(&log, k) {
                Ok(keylink_account::HeadRelation::Same | keylink_account::HeadRelation::Ahead) => {}
                Ok(keylink_account::HeadRelation::Behind) if !fresh => {
                    refresh(me, &mut log).await.map_err(Refusal::Failed)?;
                    fresh = true;
                    continue;
                }
                Ok(keylink_account::HeadRelation::Behind) | Err(_) => return Err(Refusal::Fork),
            }
        }
        if log.is_current(&device) {
            return Ok(log);
        }
        let entry = log
            .add_device(me.identity, me.root, record.clone(), now_ms)
            .map_err(|e| Refusal::Failed(e.to_string()))?;
        // The entry must hold in this device's own log before it is sent:
        // a dishonest server would acknowledge anything.
        let mut after = log.clone();
        after
            .apply(&entry)
            .map_err(|e| Refusal::Failed(e.to_string()))?;
        match me
            .server
            .append(&account, log.next_sequence(), vec![entry.encode()])
            .await
        {
            Ok(()) => return Ok(after),
            Err(e) if e.code() == Some(FailureCode::Conflict) => {
                refresh(me, &mut log).await.map_err(Refusal::Failed)?;
                fresh = true;
            }
            Err(e) => {
                // The append may have happened before the answer was lost:
                // look before saying it did not.
                if refresh(me, &mut log).await.is_ok() && log.is_current(&device) {
                    return Ok(log);
                }
                return Err(Refusal::Failed(e.to_string()));
            }
        }
    }
    Err(Refusal::Failed(
        "the account log kept changing; try again".into(),
    ))
}

/// A device name, validated (re-exported for callers building a
/// [`NewDevice`]).
pub fn device_name(name: &str) -> Result<DeviceName, keylink_wire::WireError> {
    DeviceName::new(name)
}
