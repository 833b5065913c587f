//! A simulated network under real quinn: datagrams travel through memory
//! with seeded latency, jitter (reordering), loss, duplication and
//! partitions, timed on tokio's clock (paused in a simulation, so time is
//! virtual and a run is repeatable).
//!
//! Every endpoint gets its own address, so a partition can cut one device
//! off. Every datagram's fate goes into the run's trace hash: the packet
//! schedule of a seed is part of what must repeat.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::io::{self, IoSliceMut, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use keylink_client::Network;
use keylink_keys::KdfPolicy;
use keylink_net::{
    AnyEndpoint, AsyncUdpSocket, EndpointLimits, NetError, ServerIdentity, Socket, UdpPoller,
    client_endpoint_on, server_endpoint_on,
};
use quinn::udp::{RecvMeta, Transmit};
use rand::rngs::ChaCha20Rng;
use rand::{Rng, RngExt, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How the simulated network misbehaves.
#[derive(Clone, Copy, Debug)]
pub struct NetFaults {
    /// One-way latency before jitter.
    pub latency: Duration,
    /// Extra delay, uniform in `0..jitter`; it reorders datagrams.
    pub jitter: Duration,
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram arrives twice.
    pub duplicate: f64,
}

impl NetFaults {
    /// A perfect network with `latency`.
    pub fn clean(latency: Duration) -> Self {
        Self {
            latency,
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// What happened to datagrams, by fate.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct NetCounters {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams delivered (duplicates count twice).
    pub delivered: u64,
    /// Lost to the loss rate.
    pub lost: u64,
    /// Sent twice.
    pub duplicated: u64,
    /// Due before a datagram sent earlier on the same path: delivered out
    /// of order.
    pub reordered: u64,
    /// Dropped by a partition.
    pub partitioned: u64,
    /// Addressed to no socket (a closed endpoint).
    pub unroutable: u64,
    /// Bytes sent.
    pub bytes: u64,
}

struct Datagram {
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

struct Pending {
    at: Instant,
    seq: u64,
    datagram: Datagram,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    // Earliest first in a max-heap.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

struct Inbox {
    /// Which socket owns the address now (a restarted server reuses it).
    owner: u64,
    queue: VecDeque<(SocketAddr, Vec<u8>)>,
    waker: Option<Waker>,
}

struct State {
    rng: ChaCha20Rng,
    /// Devices' randomness (keys, nonces, ids), a stream of its own.
    keys: ChaCha20Rng,
    faults: NetFaults,
    start: Instant,
    queue: BinaryHeap<Pending>,
    seq: u64,
    sockets: HashMap<SocketAddr, Inbox>,
    /// Addresses cut off, and until when.
    partitions: HashMap<IpAddr, Instant>,
    next_host: u32,
    next_owner: u64,
    /// The latest delivery time scheduled on each path.
    latest: HashMap<(SocketAddr, SocketAddr), Instant>,
    last_addr: Option<SocketAddr>,
    counters: NetCounters,
    trace: Sha256,
    /// Every datagram's line, when `KEYLINK_SIM_PACKETS` names a file (to
    /// find what differs between two runs of a seed).
    dump: Option<std::io::BufWriter<std::fs::File>>,
}

/// The network: shared by every endpoint of a run.
#[derive(Clone)]
pub struct SimNet {
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
    weak_kdf: bool,
}

impl fmt::Debug for SimNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SimNet")
    }
}

/// The address the simulated server listens on.
pub const SERVER_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 443);

impl SimNet {
    /// A network drawing its random choices from `seed`, and whose devices
    /// accept low-cost password wraps when `weak_kdf` (the simulator's
    /// labelled low-cost accounts). Starts its delivery task: call inside
    /// the run's tokio runtime.
    pub fn new(seed: [u8; 32], faults: NetFaults, weak_kdf: bool) -> Self {
        let net = Self {
            state: Arc::new(Mutex::new(State {
                rng: ChaCha20Rng::from_seed(seed),
                keys: {
                    let mut k = seed;
                    k[0] ^= 0x6b;
                    ChaCha20Rng::from_seed(Sha256::digest(k).into())
                },
                faults,
                start: Instant::now(),
                queue: BinaryHeap::new(),
                seq: 0,
                sockets: HashMap::new(),
                partitions: HashMap::new(),
                next_host: 2,
                next_owner: 0,
                latest: HashMap::new(),
                last_addr: None,
                counters: NetCounters::default(),
                trace: Sha256::new(),
                dump: std::env::var_os("KEYLINK_SIM_PACKETS")
                    .and_then(|p| std::fs::File::create(p).ok())
                    .map(std::io::BufWriter::new),
            })),
            wake: Arc::new(Notify::new()),
            weak_kdf,
        };
        tokio::spawn(deliver(net.state.clone(), net.wake.clone()));
        net
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A socket on `addr`, or on a fresh address when `None`.
    pub fn socket(&self, addr: Option<SocketAddr>) -> Arc<SimSocket> {
        let mut st = self.lock();
        let addr = addr.unwrap_or_else(|| {
            let n = st.next_host;
            st.next_host += 1;
            let [_, a, b, c] = n.to_be_bytes();
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, a, b, c)), 50_000)
        });
        st.next_owner += 1;
        let owner = st.next_owner;
        st.sockets.insert(
            addr,
            Inbox {
                owner,
                queue: VecDeque::new(),
                waker: None,
            },
        );
        st.last_addr = Some(addr);
        Arc::new(SimSocket {
            addr,
            owner,
            net: self.clone(),
        })
    }

    /// An endpoint's RNG seed, drawn from the network's seeded RNG.
    pub fn endpoint_seed(&self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.lock().rng.fill_bytes(&mut seed);
        seed
    }

    /// Cut `ip` off until `duration` from now.
    pub fn partition(&self, ip: IpAddr, duration: Duration) {
        self.lock().partitions.insert(ip, Instant::now() + duration);
    }

    /// Change how the network misbehaves from now on.
    pub fn set_faults(&self, faults: NetFaults) {
        self.lock().faults = faults;
    }

    /// The counters so far.
    pub fn counters(&self) -> NetCounters {
        self.lock().counters
    }

    /// SHA-256 over every datagram's time, path, size and fate so far.
    pub fn trace_hash(&self) -> [u8; 32] {
        self.lock().trace.clone().finalize().into()
    }

    /// The address of the socket made last.
    pub fn last_addr(&self) -> Option<SocketAddr> {
        self.lock().last_addr
    }

    /// How many sockets are open.
    pub fn sockets(&self) -> usize {
        self.lock().sockets.len()
    }

    fn send(&self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        self.send_locked(&mut self.lock(), from, to, bytes);
        self.wake.notify_one();
    }

    fn send_locked(&self, st: &mut State, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let now = Instant::now();
        st.counters.sent += 1;
        st.counters.bytes += bytes.len() as u64;
        let cut = |ip: &IpAddr| st.partitions.get(ip).is_some_and(|until| *until > now);
        let fate = if cut(&from.ip()) || cut(&to.ip()) {
            st.counters.partitioned += 1;
            0u8
        } else if st.rng.random_bool(st.faults.loss.clamp(0.0, 1.0)) {
            st.counters.lost += 1;
            1
        } else {
            let copies = if st.rng.random_bool(st.faults.duplicate.clamp(0.0, 1.0)) {
                st.counters.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..copies {
                let jitter = if st.faults.jitter.is_zero() {
                    Duration::ZERO
                } else {
                    let j = st
                        .rng
                        .random_range(0..st.faults.jitter.as_micros().max(1) as u64);
                    Duration::from_micros(j)
                };
                let at = now + st.faults.latency + jitter;
                let latest = st.latest.entry((from, to)).or_insert(at);
                if at < *latest {
                    st.counters.reordered += 1;
                } else {
                    *latest = at;
                }
                st.seq += 1;
                st.trace.update(
                    [
                        &(at - st.start).as_nanos().to_be_bytes()[..],
                        &st.seq.to_be_bytes(),
                    ]
                    .concat(),
                );
                st.queue.push(Pending {
                    at,
                    seq: st.seq,
                    datagram: Datagram {
                        from,
                        to,
                        bytes: bytes.to_vec(),
                    },
                });
            }
            1 + copies
        };
        st.trace.update(
            [
                &(now - st.start).as_nanos().to_be_bytes()[..],
                addr_bytes(&from).as_slice(),
                addr_bytes(&to).as_slice(),
                &(bytes.len() as u32).to_be_bytes(),
                &[fate],
            ]
            .concat(),
        );
        if let Some(dump) = &mut st.dump {
            let _ = writeln!(
                dump,
                "{:?} {from} {to} {} {fate}",
                now - st.start,
                bytes.len()
            );
        }
    }
}

fn addr_bytes(a: &SocketAddr) -> Vec<u8> {
    let mut v = match a.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    v.extend_from_slice(&a.port().to_be_bytes());
    v
}

/// Move due datagrams into their inboxes, in (time, sequence) order.
async fn deliver(state: Arc<Mutex<State>>, wake: Arc<Notify>) {
    loop {
        let next = {
            let mut st = state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            while st.queue.peek().is_some_and(|p| p.at <= now) {
                let Some(p) = st.queue.pop() else { break };
                let st = &mut *st;
                match st.sockets.get_mut(&p.datagram.to) {
                    Some(inbox) => {
                        st.counters.delivered += 1;
                        inbox.queue.push_back((p.datagram.from, p.datagram.bytes));
                        if let Some(w) = inbox.waker.take() {
                            w.wake();
                        }
                    }
                    None => st.counters.unroutable += 1,
                }
            }
            st.queue.peek().map(|p| p.at)
        };
        match next {
            Some(at) => {
                tokio::select! {
                    biased;
                    () = tokio::time::sleep_until(at) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

/// One endpoint's socket on the simulated network.
pub struct SimSocket {
    addr: SocketAddr,
    owner: u64,
    net: SimNet,
}

impl fmt::Debug for SimSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimSocket({})", self.addr)
    }
}

impl Drop for SimSocket {
    fn drop(&mut self) {
        let mut st = self.net.lock();
        if st
            .sockets
            .get(&self.addr)
            .is_some_and(|i| i.owner == self.owner)
        {
            st.sockets.remove(&self.addr);
        }
    }
}

#[derive(Debug)]
struct AlwaysWritable;

impl UdpPoller for AlwaysWritable {
    fn poll_writable(self: Pin<&mut Self>, _cx: &mut Context) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncUdpSocket for SimSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(AlwaysWritable)
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        // One datagram per transmit (max_transmit_segments is 1), but
        // split by segment size anyway should quinn ever batch.
        let size = transmit
            .segment_size
            .unwrap_or(transmit.contents.len())
            .max(1);
        for chunk in transmit.contents.chunks(size) {
            self.net.send(self.addr, transmit.destination, chunk);
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let mut st = self.net.lock();
        let Some(inbox) = st
            .sockets
            .get_mut(&self.addr)
            .filter(|i| i.owner == self.owner)
        else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "socket closed",
            )));
        };
        let mut n = 0;
        while n < bufs.len().min(meta.len()) {
            let Some((from, bytes)) = inbox.queue.pop_front() else {
                break;
            };
            let len = bytes.len().min(bufs[n].len());
            bufs[n][..len].copy_from_slice(&bytes[..len]);
            meta[n] = RecvMeta {
                addr: from,
                len,
                stride: len,
                ecn: None,
                dst_ip: Some(self.addr.ip()),
            };
            n += 1;
        }
        if n == 0 {
            inbox.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(n))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    fn may_fragment(&self) -> bool {
        false
    }
}

impl Network for SimNet {
    fn client_endpoint(&self, _server: SocketAddr) -> Result<AnyEndpoint, NetError> {
        let socket = self.socket(None);
        client_endpoint_on(Socket::Abstract(socket), Some(self.endpoint_seed())).map(Into::into)
    }

    fn listener(
        &self,
        identity: &ServerIdentity,
        _bind: SocketAddr,
    ) -> Result<AnyEndpoint, NetError> {
        let socket = self.socket(None);
        server_endpoint_on(
            identity,
            Socket::Abstract(socket),
            EndpointLimits::default(),
            Some(self.endpoint_seed()),
        )
        .map(Into::into)
    }

    fn in_task_transfers(&self) -> bool {
        true
    }

    fn fill_random(&self, out: &mut [u8]) {
        self.lock().keys.fill_bytes(out);
    }

    fn now_ms(&self) -> u64 {
        let start = self.lock().start;
        crate::virtual_now_ms(start)
    }

    fn kdf_policy(&self) -> KdfPolicy {
        if self.weak_kdf {
            KdfPolicy::insecure_accept_weak()
        } else {
            KdfPolicy::default()
        }
    }
}
