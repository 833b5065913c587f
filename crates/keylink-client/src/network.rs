//! How a device reaches the network: real UDP sockets, or whatever a
//! simulator supplies in their place.

use std::net::SocketAddr;
use std::sync::Arc;

use keylink_keys::KdfPolicy;
use keylink_net::{
    AnyEndpoint, EndpointLimits, NetError, ServerIdentity, client_endpoint, server_endpoint,
};
use rand_core::Rng;

/// Where a device's QUIC endpoints come from.
pub trait Network: Send + Sync + 'static {
    /// A client endpoint able to reach `server`.
    ///
    /// # Errors
    /// [`NetError`] if no endpoint can be opened.
    fn client_endpoint(&self, server: SocketAddr) -> Result<AnyEndpoint, NetError>;

    /// A one-time listener for a direct link, on `bind`.
    ///
    /// # Errors
    /// [`NetError`] if it cannot be bound.
    fn listener(
        &self,
        identity: &ServerIdentity,
        bind: SocketAddr,
    ) -> Result<AnyEndpoint, NetError>;

    /// Whether backup and restore run on the calling task, staging the
    /// snapshot's objects in memory, instead of streaming them from a
    /// blocking thread. A simulation on a paused clock needs this (a
    /// blocking thread stops its clock); real use does not, since staging
    /// holds a whole snapshot in memory.
    fn in_task_transfers(&self) -> bool {
        false
    }

    /// What password wraps a device accepts when it opens one. Only a
    /// simulation lowers this (its clearly labelled low-cost accounts), and
    /// it is honoured only when this crate is built with the `simulation`
    /// feature; otherwise devices keep the floor whatever this says.
    fn kdf_policy(&self) -> KdfPolicy {
        KdfPolicy::default()
    }

    /// Fill `out` with random bytes for keys, nonces and ids: the
    /// operating system's CSPRNG, unless a simulation supplies a seeded
    /// generator so that a run repeats. Honoured only with the
    /// `simulation` feature; otherwise devices use the operating system's
    /// generator whatever this does.
    fn fill_random(&self, out: &mut [u8]) {
        rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(out);
    }

    /// Milliseconds since the Unix epoch, for the times written into log
    /// entries and manifests and for a link code's expiry: the system
    /// clock, unless a simulation supplies a virtual one so that a run
    /// repeats. Honoured only with the `simulation` feature.
    fn now_ms(&self) -> u64 {
        crate::clock::now_ms()
    }
}

/// A [`Network`]'s randomness as a `CryptoRng`.
pub struct NetRng<'a>(&'a dyn Network);

impl NetRng<'_> {
    fn fill(&self, out: &mut [u8]) {
        #[cfg(feature = "simulation")]
        self.0.fill_random(out);
        #[cfg(not(feature = "simulation"))]
        {
            let _ = self.0;
            rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(out);
        }
    }
}

impl rand_core::TryRng for NetRng<'_> {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for NetRng<'_> {}

/// The operating system's UDP sockets.
#[derive(Clone, Copy, Debug, Default)]
pub struct Udp;

impl Network for Udp {
    fn client_endpoint(&self, server: SocketAddr) -> Result<AnyEndpoint, NetError> {
        let bind: SocketAddr = if server.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            ([0, 0, 0, 0], 0).into()
        };
        client_endpoint(bind).map(AnyEndpoint::from)
    }

    fn listener(
        &self,
        identity: &ServerIdentity,
        bind: SocketAddr,
    ) -> Result<AnyEndpoint, NetError> {
        server_endpoint(identity, bind, EndpointLimits::default()).map(AnyEndpoint::from)
    }
}

/// A shared handle on a [`Network`]; the default is [`Udp`].
#[derive(Clone)]
pub struct Net(Arc<dyn Network>);

impl Net {
    /// Use `network`.
    pub fn new(network: Arc<dyn Network>) -> Self {
        Self(network)
    }

    /// The network behind this handle.
    pub fn get(&self) -> &dyn Network {
        self.0.as_ref()
    }

    /// Its randomness.
    pub fn rng(&self) -> NetRng<'_> {
        NetRng(self.0.as_ref())
    }

    /// The password-wrap policy devices apply: the network's with the
    /// `simulation` feature, the default floor without it.
    pub(crate) fn kdf_policy(&self) -> KdfPolicy {
        #[cfg(feature = "simulation")]
        return self.0.kdf_policy();
        #[cfg(not(feature = "simulation"))]
        KdfPolicy::default()
    }

    /// Milliseconds since the Unix epoch: the network's clock with the
    /// `simulation` feature, the system clock without it.
    pub(crate) fn now_ms(&self) -> u64 {
        #[cfg(feature = "simulation")]
        return self.0.now_ms();
        #[cfg(not(feature = "simulation"))]
        crate::clock::now_ms()
    }

    /// Seconds since the Unix epoch, by [`Net::now_ms`].
    pub(crate) fn unix_now(&self) -> u64 {
        self.now_ms() / 1000
    }
}

static UDP: std::sync::LazyLock<Arc<dyn Network>> = std::sync::LazyLock::new(|| Arc::new(Udp));

impl Default for Net {
    fn default() -> Self {
        Self(UDP.clone())
    }
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Net")
    }
}

impl PartialEq for Net {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Net {}
