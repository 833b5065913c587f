//! Endpoints and TLS configuration.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{
    ClientConfig, Connection, Endpoint, IdleTimeout, ServerConfig, TransportConfig, VarInt,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::NetError;
use crate::identity::{Fingerprint, ServerIdentity};

/// The application protocol: keylink wire protocol version 1.
pub const ALPN: &[u8] = b"keylink/1";
/// The name clients ask for (certificates name `keylink-server`).
const SERVER_NAME: &str = "keylink-server";
/// Socket buffers: the kernel default (208 KiB) drops packets once about 64
/// handshakes are in flight; 4 MiB keeps a busy server's throughput.
const UDP_BUFFER: usize = 4 << 20;

/// Per-connection limits a server imposes.
#[derive(Clone, Copy, Debug)]
pub struct EndpointLimits {
    /// Concurrent bidirectional streams a peer may open.
    pub max_streams: u32,
    /// Close a connection silent for this long.
    pub idle_timeout: Duration,
    /// Send a keep-alive after this much silence.
    pub keep_alive: Duration,
}

impl Default for EndpointLimits {
    fn default() -> Self {
        Self {
            max_streams: 32,
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
        }
    }
}

/// How a client decides to trust the server.
#[derive(Clone, Debug)]
pub enum ServerTrust {
    /// The server's certificate must have this SHA-256 fingerprint (stored
    /// at `init`, printed by the server at start).
    Pinned(Fingerprint),
    /// The certificate must chain to one of these roots and name
    /// `keylink-server`.
    Ca(Arc<RootCertStore>),
    /// Accept any certificate. For tests only: no protection against a
    /// server in the middle.
    InsecureAcceptAny,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn transport(limits: &EndpointLimits) -> Result<TransportConfig, NetError> {
    let mut t = TransportConfig::default();
    t.max_concurrent_bidi_streams(VarInt::from_u32(limits.max_streams));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    t.max_idle_timeout(Some(
        IdleTimeout::try_from(limits.idle_timeout)
            .map_err(|_| NetError::Certificate("idle timeout too long".into()))?,
    ));
    t.keep_alive_interval(Some(limits.keep_alive));
    Ok(t)
}

fn udp_socket(addr: SocketAddr) -> Result<std::net::UdpSocket, NetError> {
    let io = |op| move |source| NetError::Io { op, source };
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))
        .map_err(io("create a UDP socket"))?;
    // Best effort: the kernel may cap these (net.core.rmem_max).
    let _ = socket.set_recv_buffer_size(UDP_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_BUFFER);
    socket
        .bind(&addr.into())
        .map_err(io("bind the UDP socket"))?;
    Ok(socket.into())
}

fn server_config(
    identity: &ServerIdentity,
    limits: EndpointLimits,
) -> Result<ServerConfig, NetError> {
    let (chain, key) = identity.chain_and_key();
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0; // no 0-RTT: replayable requests are not accepted
    let quic = QuicServerConfig::try_from(tls).map_err(|e| NetError::Certificate(e.to_string()))?;
    let mut config = ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(Arc::new(transport(&limits)?));
    Ok(config)
}

fn tokio_runtime() -> Result<Arc<dyn quinn::Runtime>, NetError> {
    quinn::default_runtime().ok_or(NetError::Certificate("no async runtime".into()))
}

fn start(
    server: Option<ServerConfig>,
    socket: Socket,
    rng_seed: Option<[u8; 32]>,
) -> Result<Endpoint, NetError> {
    let runtime = tokio_runtime()?;
    let mut config = quinn::EndpointConfig::default();
    config.rng_seed(rng_seed);
    let io = |source| NetError::Io {
        op: "start the QUIC endpoint",
        source,
    };
    match socket {
        Socket::Udp(udp) => Endpoint::new(config, server, udp, runtime).map_err(io),
        Socket::Abstract(s) => {
            Endpoint::new_with_abstract_socket(config, server, s, runtime).map_err(io)
        }
    }
}

/// What an endpoint sends and receives datagrams through.
#[derive(Debug)]
pub enum Socket {
    /// A bound operating-system UDP socket.
    Udp(std::net::UdpSocket),
    /// Any other datagram transport quinn can drive, such as a simulated
    /// network (which must run on tokio, whose clock quinn reads).
    Abstract(Arc<dyn quinn::AsyncUdpSocket>),
}

/// A server endpoint on `addr`.
///
/// # Errors
/// [`NetError::Io`] binding the socket; [`NetError::Tls`].
pub fn server_endpoint(
    identity: &ServerIdentity,
    addr: SocketAddr,
    limits: EndpointLimits,
) -> Result<Endpoint, NetError> {
    server_endpoint_on(identity, Socket::Udp(udp_socket(addr)?), limits, None)
}

/// A server endpoint on `socket`. `rng_seed` fixes the endpoint's own
/// random choices (connection ids, tokens) for a reproducible simulation;
/// `None` draws them from the operating system. TLS draws its randomness
/// from the operating system either way.
///
/// # Errors
/// [`NetError::Io`], [`NetError::Tls`].
pub fn server_endpoint_on(
    identity: &ServerIdentity,
    socket: Socket,
    limits: EndpointLimits,
    rng_seed: Option<[u8; 32]>,
) -> Result<Endpoint, NetError> {
    start(Some(server_config(identity, limits)?), socket, rng_seed)
}

/// A client endpoint bound to an ephemeral port on `bind` (e.g. `0.0.0.0:0`).
///
/// # Errors
/// [`NetError::Io`].
pub fn client_endpoint(bind: SocketAddr) -> Result<Endpoint, NetError> {
    client_endpoint_on(Socket::Udp(udp_socket(bind)?), None)
}

/// A client endpoint on `socket`; `rng_seed` as for [`server_endpoint_on`].
///
/// # Errors
/// [`NetError::Io`].
pub fn client_endpoint_on(
    socket: Socket,
    rng_seed: Option<[u8; 32]>,
) -> Result<Endpoint, NetError> {
    start(None, socket, rng_seed)
}

/// Connect to a server, verifying it as `trust` says.
///
/// # Errors
/// [`NetError::FingerprintMismatch`] when the pin does not match;
/// [`NetError::Connection`], [`NetError::Connect`], [`NetError::Tls`].
pub async fn connect(
    endpoint: &Endpoint,
    addr: SocketAddr,
    trust: &ServerTrust,
) -> Result<Connection, NetError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut tls = match trust {
        ServerTrust::Ca(roots) => builder
            .with_root_certificates(roots.clone())
            .with_no_client_auth(),
        ServerTrust::Pinned(fp) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pin: Some(*fp),
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        ServerTrust::InsecureAcceptAny => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                pin: None,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.enable_early_data = false;
    let quic = QuicClientConfig::try_from(tls).map_err(|e| NetError::Certificate(e.to_string()))?;
    let mut config = ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport(&EndpointLimits::default())?));
    let connecting = endpoint.connect_with(config, addr, SERVER_NAME)?;
    connecting.await.map_err(|e| match &e {
        quinn::ConnectionError::TransportError(t) if t.reason.contains("fingerprint") => {
            NetError::FingerprintMismatch
        }
        _ => NetError::Connection(e),
    })
}

/// 32 bytes of keying material bound to this connection's TLS session
/// (RFC 5705/8446 exporter), for a protocol that must not be relayed onto
/// another connection.
///
/// # Errors
/// [`NetError::Exporter`].
pub fn exporter(conn: &Connection, label: &[u8], context: &[u8]) -> Result<[u8; 32], NetError> {
    let mut out = [0u8; 32];
    conn.export_keying_material(&mut out, label, context)
        .map_err(|_| NetError::Exporter)?;
    Ok(out)
}

/// The fingerprint of the certificate the peer presented on `conn`, if
/// it presented one (a client connection always sees the server's).
pub fn peer_fingerprint(conn: &Connection) -> Option<Fingerprint> {
    let chain = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    chain.first().map(|c| Fingerprint::of(c))
}

/// Checks the certificate's fingerprint (unless `pin` is `None`, the
/// insecure test mode), then always the handshake signatures with the
/// certificate's key.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Option<Fingerprint>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pin {
            Some(pin) if !pin.matches(end_entity) => Err(rustls::Error::General(
                "server certificate fingerprint mismatch".into(),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
