//! Connections over QUIC or over plain memory, behind one set of types.
//!
//! Everything above this layer (server, client, linking) speaks through
//! [`AnyEndpoint`], [`Conn`], [`SendHalf`] and [`RecvHalf`]. Over QUIC these are
//! quinn's own; the in-memory transport ([`MemNet`]) is for simulations of
//! hundreds of thousands of devices, where QUIC and TLS handshakes would
//! cost more than the protocol under test. It keeps what the layers above
//! rely on — bidirectional streams with end-of-stream, certificate pinning
//! by fingerprint, and a per-connection channel binding — and provides no
//! secrecy: it never leaves the process.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use crate::config::{ServerTrust, connect};
use crate::error::NetError;
use crate::identity::Fingerprint;

/// Bytes a memory stream buffers before its writer waits.
const MEM_STREAM_BUFFER: usize = 256 << 10;

/// Where connections come from.
#[derive(Clone, Debug)]
pub enum AnyEndpoint {
    /// A QUIC endpoint.
    Quic(quinn::Endpoint),
    /// A place on an in-memory network.
    Memory(MemEndpoint),
}

impl From<quinn::Endpoint> for AnyEndpoint {
    fn from(e: quinn::Endpoint) -> Self {
        AnyEndpoint::Quic(e)
    }
}

impl AnyEndpoint {
    /// Connect to the server at `addr`, verifying it as `trust` says.
    ///
    /// # Errors
    /// As [`connect`]; over memory, [`NetError::FingerprintMismatch`] or
    /// [`NetError::Unreachable`].
    pub async fn connect(&self, addr: SocketAddr, trust: &ServerTrust) -> Result<Conn, NetError> {
        match self {
            AnyEndpoint::Quic(e) => connect(e, addr, trust).await.map(Conn::Quic),
            AnyEndpoint::Memory(m) => m.connect(addr, trust).map(Conn::Memory),
        }
    }

    /// The next incoming connection; `None` once the endpoint is closed.
    pub async fn accept(&self) -> Option<AnyIncoming> {
        match self {
            AnyEndpoint::Quic(e) => e.accept().await.map(|i| AnyIncoming::Quic(Box::new(i))),
            AnyEndpoint::Memory(m) => m.accept().await.map(AnyIncoming::Memory),
        }
    }

    /// The address it is reached at.
    ///
    /// # Errors
    /// If the socket has no address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            AnyEndpoint::Quic(e) => e.local_addr(),
            AnyEndpoint::Memory(m) => Ok(m.addr),
        }
    }

    /// Close every connection and refuse new ones.
    pub fn close(&self, code: u32, reason: &[u8]) {
        match self {
            AnyEndpoint::Quic(e) => e.close(code.into(), reason),
            AnyEndpoint::Memory(m) => m.close(),
        }
    }

    /// Take no new connections; those made go on.
    pub fn stop_accepting(&self) {
        match self {
            AnyEndpoint::Quic(e) => e.set_server_config(None),
            AnyEndpoint::Memory(m) => m.unregister(),
        }
    }

    /// Wait until every connection has finished closing.
    pub async fn wait_idle(&self) {
        if let AnyEndpoint::Quic(e) = self {
            e.wait_idle().await;
        }
    }
}

/// A connection attempt a server may take or refuse.
#[derive(Debug)]
pub enum AnyIncoming {
    /// Over QUIC.
    Quic(Box<quinn::Incoming>),
    /// Over memory (already connected).
    Memory(MemConn),
}

impl AnyIncoming {
    /// Take the connection (finishing the handshake).
    ///
    /// # Errors
    /// [`NetError::Connection`] if the handshake fails.
    pub async fn accept(self) -> Result<Conn, NetError> {
        match self {
            AnyIncoming::Quic(i) => (*i).await.map(Conn::Quic).map_err(NetError::Connection),
            AnyIncoming::Memory(m) => Ok(Conn::Memory(m)),
        }
    }

    /// Refuse it.
    pub fn refuse(self) {
        match self {
            AnyIncoming::Quic(i) => i.refuse(),
            AnyIncoming::Memory(m) => m.close(),
        }
    }
}

/// A connection.
#[derive(Clone, Debug)]
pub enum Conn {
    /// Over QUIC.
    Quic(quinn::Connection),
    /// Over memory.
    Memory(MemConn),
}

impl From<quinn::Connection> for Conn {
    fn from(c: quinn::Connection) -> Self {
        Conn::Quic(c)
    }
}

impl Conn {
    /// Open a bidirectional stream.
    ///
    /// # Errors
    /// [`NetError::Connection`] / [`NetError::Ended`] if the connection ended.
    pub async fn open_bi(&self) -> Result<(SendHalf, RecvHalf), NetError> {
        match self {
            Conn::Quic(c) => c
                .open_bi()
                .await
                .map(|(s, r)| (SendHalf::Quic(s), RecvHalf::Quic(r)))
                .map_err(NetError::Connection),
            Conn::Memory(m) => m.open_bi(),
        }
    }

    /// The next stream the peer opened.
    ///
    /// # Errors
    /// [`NetError::Connection`] / [`NetError::Ended`] once the connection ends.
    pub async fn accept_bi(&self) -> Result<(SendHalf, RecvHalf), NetError> {
        match self {
            Conn::Quic(c) => c
                .accept_bi()
                .await
                .map(|(s, r)| (SendHalf::Quic(s), RecvHalf::Quic(r)))
                .map_err(NetError::Connection),
            Conn::Memory(m) => m.accept_bi().await,
        }
    }

    /// The peer's address.
    pub fn remote_address(&self) -> SocketAddr {
        match self {
            Conn::Quic(c) => c.remote_address(),
            Conn::Memory(m) => m.peer,
        }
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        match self {
            Conn::Quic(c) => c.close_reason().is_some(),
            Conn::Memory(m) => m.is_closed(),
        }
    }

    /// 32 bytes bound to this connection (the TLS exporter over QUIC).
    ///
    /// # Errors
    /// [`NetError::Exporter`].
    pub fn exporter(&self, label: &[u8], context: &[u8]) -> Result<[u8; 32], NetError> {
        match self {
            Conn::Quic(c) => crate::config::exporter(c, label, context),
            Conn::Memory(m) => Ok(m.exporter(label, context)),
        }
    }

    /// The fingerprint of the certificate the peer presented (a client's
    /// view of its server).
    pub fn peer_fingerprint(&self) -> Option<Fingerprint> {
        match self {
            Conn::Quic(c) => crate::config::peer_fingerprint(c),
            Conn::Memory(m) => m.peer_fingerprint,
        }
    }

    /// Close the connection.
    pub fn close(&self, code: u32, reason: &[u8]) {
        match self {
            Conn::Quic(c) => c.close(code.into(), reason),
            Conn::Memory(m) => m.close(),
        }
    }
}

/// The sending half of a stream.
pub enum SendHalf {
    /// Over QUIC.
    Quic(quinn::SendStream),
    /// Over memory (`None` once finished).
    Memory(Option<MemStream>),
}

impl SendHalf {
    /// Write all of `bytes`.
    ///
    /// # Errors
    /// [`NetError::Write`] / [`NetError::Ended`].
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), NetError> {
        match self {
            SendHalf::Quic(s) => s.write_all(bytes).await.map_err(NetError::from),
            SendHalf::Memory(Some(s)) => {
                if *s.closed.borrow() {
                    return Err(NetError::Ended);
                }
                // A connection closed meanwhile ends the write, as QUIC's do.
                tokio::select! {
                    biased;
                    _ = s.closed.changed() => Err(NetError::Ended),
                    r = s.io.write_all(bytes) => r.map_err(|_| NetError::Ended),
                }
            }
            SendHalf::Memory(None) => Err(NetError::Ended),
        }
    }

    /// End the stream: the peer reads end-of-stream after the data.
    ///
    /// # Errors
    /// [`NetError::Ended`] if it was already finished.
    pub fn finish(&mut self) -> Result<(), NetError> {
        match self {
            SendHalf::Quic(s) => s.finish().map_err(|_| NetError::Ended),
            SendHalf::Memory(s) => s.take().map(drop).ok_or(NetError::Ended),
        }
    }

    /// Wait until the peer has read everything or stopped reading (memory
    /// streams hand data over at once).
    pub async fn stopped(&mut self) {
        if let SendHalf::Quic(s) = self {
            let _ = s.stopped().await;
        }
    }
}

/// The receiving half of a stream.
pub enum RecvHalf {
    /// Over QUIC.
    Quic(quinn::RecvStream),
    /// Over memory (`None` once stopped).
    Memory(Option<MemStream>),
}

impl RecvHalf {
    /// Fill `buf`. `Ok(n)` with `n < buf.len()` when the stream ended after
    /// `n` bytes.
    ///
    /// # Errors
    /// [`NetError::Read`] / [`NetError::Ended`].
    pub async fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        match self {
            RecvHalf::Quic(r) => match r.read_exact(buf).await {
                Ok(()) => Ok(buf.len()),
                Err(quinn::ReadExactError::FinishedEarly(n)) => Ok(n),
                Err(e) => Err(e.into()),
            },
            RecvHalf::Memory(Some(r)) => {
                let mut got = 0;
                while got < buf.len() {
                    if *r.closed.borrow() {
                        return Err(NetError::Ended);
                    }
                    let n = tokio::select! {
                        biased;
                        _ = r.closed.changed() => return Err(NetError::Ended),
                        n = r.io.read(&mut buf[got..]) => n.map_err(|_| NetError::Ended)?,
                    };
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                Ok(got)
            }
            RecvHalf::Memory(None) => Err(NetError::Ended),
        }
    }

    /// Stop reading; the peer's writes fail.
    pub fn stop(&mut self, code: u32) {
        match self {
            RecvHalf::Quic(r) => {
                let _ = r.stop(code.into());
            }
            RecvHalf::Memory(r) => drop(r.take()),
        }
    }
}

// Streams print without their buffers (which may hold frames in flight).
impl std::fmt::Debug for SendHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendHalf::Quic(s) => write!(f, "SendHalf::Quic({:?})", s.id()),
            SendHalf::Memory(s) => write!(f, "SendHalf::Memory(open: {})", s.is_some()),
        }
    }
}

impl std::fmt::Debug for RecvHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecvHalf::Quic(r) => write!(f, "RecvHalf::Quic({:?})", r.id()),
            RecvHalf::Memory(r) => write!(f, "RecvHalf::Memory(open: {})", r.is_some()),
        }
    }
}

/// Connections waiting for a memory server to take them.
const MEM_BACKLOG: usize = 65_536;
/// Streams a memory connection's peer may have opened and not yet taken
/// (QUIC's own limit on concurrent streams plays this part there).
const MEM_STREAMS: usize = 256;

/// An in-memory network: servers register an address, clients connect to
/// it. Cheap to clone.
#[derive(Clone, Default)]
pub struct MemNet {
    inner: Arc<Mutex<MemNetInner>>,
}

impl std::fmt::Debug for MemNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemNet")
    }
}

#[derive(Default)]
struct MemNetInner {
    servers: HashMap<SocketAddr, (Fingerprint, mpsc::Sender<MemConn>)>,
    next_host: u32,
    /// Makes each connection's binding value.
    seed: [u8; 32],
    connections: u64,
}

impl MemNet {
    /// A network whose connection bindings derive from `seed` (a
    /// simulation's, so that a run repeats).
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            inner: Arc::new(Mutex::new(MemNetInner {
                seed,
                next_host: 2,
                ..MemNetInner::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemNetInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh_addr(&self) -> SocketAddr {
        let mut n = self.lock();
        let [_, a, b, c] = n.next_host.to_be_bytes();
        n.next_host += 1;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, a, b, c)), 50_000)
    }

    /// A client endpoint at a fresh address.
    pub fn client(&self) -> AnyEndpoint {
        AnyEndpoint::Memory(MemEndpoint {
            net: self.clone(),
            addr: self.fresh_addr(),
            server: None,
        })
    }

    /// A server endpoint listening at `addr` and presenting a certificate
    /// with `fingerprint` (replacing any server there before).
    pub fn listen(&self, addr: SocketAddr, fingerprint: Fingerprint) -> AnyEndpoint {
        let (tx, rx) = mpsc::channel(MEM_BACKLOG);
        self.lock().servers.insert(addr, (fingerprint, tx.clone()));
        AnyEndpoint::Memory(MemEndpoint {
            net: self.clone(),
            addr,
            server: Some(Arc::new(MemListener {
                own: tx,
                incoming: tokio::sync::Mutex::new(rx),
                accepted: Mutex::new(Vec::new()),
                closed: tokio::sync::watch::channel(false).0,
            })),
        })
    }

    /// A listener at a fresh address (a device's direct-link listener).
    pub fn listen_anywhere(&self, fingerprint: Fingerprint) -> AnyEndpoint {
        let addr = self.fresh_addr();
        self.listen(addr, fingerprint)
    }
}

/// A server's side of a [`MemEndpoint`].
struct MemListener {
    /// Its own registration (an address may since belong to another).
    own: mpsc::Sender<MemConn>,
    incoming: tokio::sync::Mutex<mpsc::Receiver<MemConn>>,
    /// Connections taken, closed with the endpoint.
    accepted: Mutex<Vec<MemConn>>,
    closed: tokio::sync::watch::Sender<bool>,
}

/// A client or server place on a [`MemNet`].
#[derive(Clone)]
pub struct MemEndpoint {
    net: MemNet,
    addr: SocketAddr,
    server: Option<Arc<MemListener>>,
}

impl std::fmt::Debug for MemEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemEndpoint({})", self.addr)
    }
}

impl MemEndpoint {
    fn connect(&self, addr: SocketAddr, trust: &ServerTrust) -> Result<MemConn, NetError> {
        let mut net = self.net.lock();
        let (fingerprint, tx) = net
            .servers
            .get(&addr)
            .filter(|(_, tx)| !tx.is_closed())
            .cloned()
            .ok_or(NetError::Unreachable)?;
        match trust {
            ServerTrust::Pinned(pin) if *pin != fingerprint => {
                return Err(NetError::FingerprintMismatch);
            }
            ServerTrust::Pinned(_) | ServerTrust::InsecureAcceptAny => {}
            ServerTrust::Ca(_) => return Err(NetError::Unreachable),
        }
        net.connections += 1;
        let mut h = Sha256::new();
        h.update(b"keylink-net/memory-binding");
        h.update(net.seed);
        h.update(net.connections.to_be_bytes());
        let binding: [u8; 32] = h.finalize().into();
        drop(net);
        let (client, server) = MemConn::pair(self.addr, addr, binding, fingerprint);
        tx.try_send(server).map_err(|_| NetError::Unreachable)?;
        Ok(client)
    }

    async fn accept(&self) -> Option<MemConn> {
        let l = self.server.as_ref()?;
        let mut closed = l.closed.subscribe();
        if *closed.borrow() {
            return None;
        }
        let mut incoming = l.incoming.lock().await;
        let conn = tokio::select! {
            biased;
            _ = closed.changed() => None,
            c = incoming.recv() => c,
        }?;
        let mut accepted = l.accepted.lock().unwrap_or_else(PoisonError::into_inner);
        accepted.retain(|c| !c.is_closed());
        accepted.push(conn.clone());
        Some(conn)
    }

    /// Stop being reachable at the address (if it is still this
    /// endpoint's); connections made go on.
    fn unregister(&self) {
        let Some(l) = &self.server else { return };
        let mut net = self.net.lock();
        if net
            .servers
            .get(&self.addr)
            .is_some_and(|(_, tx)| tx.same_channel(&l.own))
        {
            net.servers.remove(&self.addr);
        }
    }

    fn close(&self) {
        let Some(l) = &self.server else { return };
        self.unregister();
        l.closed.send_replace(true);
        for c in l
            .accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            c.close();
        }
    }
}

type StreamPair = (DuplexStream, DuplexStream);

/// One direction of a memory stream, and its connection's closed signal:
/// closing the connection ends its streams, as with QUIC.
pub struct MemStream {
    io: DuplexStream,
    closed: tokio::sync::watch::Receiver<bool>,
}

/// One side of an in-memory connection.
#[derive(Clone)]
pub struct MemConn {
    peer: SocketAddr,
    peer_fingerprint: Option<Fingerprint>,
    binding: [u8; 32],
    /// Streams this side opens, for the peer.
    to_peer: mpsc::Sender<StreamPair>,
    /// Streams the peer opened.
    from_peer: Arc<tokio::sync::Mutex<mpsc::Receiver<StreamPair>>>,
    /// Set by either side's close; both watch it.
    closed: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for MemConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MemConn(peer {}, closed: {})",
            self.peer,
            self.is_closed()
        )
    }
}

impl MemConn {
    fn pair(
        client: SocketAddr,
        server: SocketAddr,
        binding: [u8; 32],
        fingerprint: Fingerprint,
    ) -> (Self, Self) {
        let (c_tx, c_rx) = mpsc::channel(MEM_STREAMS);
        let (s_tx, s_rx) = mpsc::channel(MEM_STREAMS);
        let closed = Arc::new(tokio::sync::watch::channel(false).0);
        (
            MemConn {
                peer: server,
                peer_fingerprint: Some(fingerprint),
                binding,
                to_peer: c_tx,
                from_peer: Arc::new(tokio::sync::Mutex::new(s_rx)),
                closed: closed.clone(),
            },
            MemConn {
                peer: client,
                peer_fingerprint: None,
                binding,
                to_peer: s_tx,
                from_peer: Arc::new(tokio::sync::Mutex::new(c_rx)),
                closed,
            },
        )
    }

    fn is_closed(&self) -> bool {
        *self.closed.borrow() || self.to_peer.is_closed()
    }

    fn close(&self) {
        self.closed.send_replace(true);
    }

    fn open_bi(&self) -> Result<(SendHalf, RecvHalf), NetError> {
        if self.is_closed() {
            return Err(NetError::Ended);
        }
        // One pipe each way: dropping a writer is the end of its stream.
        let (my_w, their_r) = tokio::io::duplex(MEM_STREAM_BUFFER);
        let (their_w, my_r) = tokio::io::duplex(MEM_STREAM_BUFFER);
        self.to_peer
            .try_send((their_w, their_r))
            .map_err(|_| NetError::Ended)?;
        Ok(self.halves(my_w, my_r))
    }

    async fn accept_bi(&self) -> Result<(SendHalf, RecvHalf), NetError> {
        let mut closed = self.closed.subscribe();
        let mut from_peer = self.from_peer.lock().await;
        // Streams already opened are delivered even if the connection has
        // since closed, as QUIC delivers what arrived.
        if let Ok((w, r)) = from_peer.try_recv() {
            return Ok(self.halves(w, r));
        }
        if *closed.borrow_and_update() {
            return Err(NetError::Ended);
        }
        let (w, r) = tokio::select! {
            biased;
            s = from_peer.recv() => s.ok_or(NetError::Ended)?,
            _ = closed.changed() => return Err(NetError::Ended),
        };
        Ok(self.halves(w, r))
    }

    fn halves(&self, w: DuplexStream, r: DuplexStream) -> (SendHalf, RecvHalf) {
        (
            SendHalf::Memory(Some(MemStream {
                io: w,
                closed: self.closed.subscribe(),
            })),
            RecvHalf::Memory(Some(MemStream {
                io: r,
                closed: self.closed.subscribe(),
            })),
        )
    }

    fn exporter(&self, label: &[u8], context: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"keylink-net/memory-exporter");
        h.update(self.binding);
        h.update((label.len() as u64).to_be_bytes());
        h.update(label);
        h.update(context);
        h.finalize().into()
    }
}
