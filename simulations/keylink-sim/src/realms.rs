//! The realms of a simulated run (docs/protocol.md §19, §18.8): three
//! keylink servers that host only a realm, each with its own store, on the
//! simulated network. The third is malicious when attacks are on: now and
//! then it answers a guess with an evaluation under another key, lies that
//! no guess was counted, or has its folder rolled back to an older copy.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use keylink_client::link::ServerInfo;
use keylink_keys::{AccountId, DeviceId};
use keylink_net::ServerIdentity;
use keylink_realm::{GuessAnswer, RealmRecord, RealmStatus};
use keylink_server::adversary::{Adversary, Answer};
use keylink_store::{MemoryStore, Store};
use keylink_wire::server::{Request, Response};
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

/// Where realm `i` listens on the simulated network.
pub fn realm_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1 + i as u8)), 443)
}

/// Realms in a run.
pub const REALMS: usize = 3;

/// A realm as the run knows it.
pub struct SimRealm {
    /// How devices reach it.
    pub info: ServerInfo,
    /// Its records (read by checks, rolled back by attacks).
    pub store: Arc<MemoryStore>,
    /// Whether it misbehaves.
    pub malicious: bool,
}

impl SimRealm {
    /// Lifetime guesses counted for `account`, and its newest generation
    /// (from the realm's store, bypassing the realm).
    pub fn counted(&self, account: &AccountId) -> Option<(u64, RealmRecord)> {
        let prefix = format!("r/{}/", hex::encode(account.as_bytes()));
        let key = self.store.list(&prefix).ok()?.pop()?;
        let bytes = self.store.get(&key, 4096).ok()?;
        let record = RealmRecord::from_bytes(&bytes).ok()?;
        Some((record.status().total, record))
    }

    /// Roll the account's record back one generation, as restoring an
    /// older copy of the realm's folder would. Whether it did.
    pub fn roll_back(&self, account: &AccountId) -> bool {
        let prefix = format!("r/{}/", hex::encode(account.as_bytes()));
        let Ok(mut keys) = self.store.list(&prefix) else {
            return false;
        };
        if keys.len() < 2 {
            return false;
        }
        keys.pop()
            .is_some_and(|newest| self.store.delete(&newest).is_ok())
    }
}

/// A realm identity fixed by the seed: its fingerprint is the realm id in
/// every registration, so a run repeats byte for byte only if it repeats.
pub fn realm_identity(seed: u64, i: usize) -> Result<ServerIdentity, String> {
    let secret = crate::seed32(seed, &format!("realm {i} key"));
    // PKCS#8 v1 for an Ed25519 private key (RFC 8410): a fixed prefix, then the 32 bytes.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&secret);
    let key = rcgen::KeyPair::try_from(der.as_slice()).map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::new(vec![format!("keylink-realm-{i}")])
        .map_err(|e| e.to_string())?;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x52, i as u8]));
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    ServerIdentity::from_der(cert.der().to_vec(), key.serialize_der()).map_err(|e| e.to_string())
}

/// How often the malicious realm misbehaves, per answer.
const LIE_RATE: f64 = 0.15;

/// The malicious realm's operator.
#[derive(Debug)]
pub struct RealmAdversary {
    rng: Mutex<ChaCha20Rng>,
    /// Evaluations answered under another key.
    pub bad_evaluations: std::sync::atomic::AtomicU64,
    /// Statuses that said no guess was counted.
    pub counter_lies: std::sync::atomic::AtomicU64,
}

impl RealmAdversary {
    /// One seeded by `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            rng: Mutex::new(ChaCha20Rng::from_seed(seed)),
            bad_evaluations: Default::default(),
            counter_lies: Default::default(),
        }
    }

    fn roll(&self) -> bool {
        self.rng
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .random_bool(LIE_RATE)
    }
}

impl Adversary for RealmAdversary {
    fn answer(
        &self,
        _who: Option<(AccountId, DeviceId)>,
        _request: &Request,
        answer: Answer,
    ) -> Answer {
        use std::sync::atomic::Ordering::Relaxed;
        match answer {
            Ok(Response::RealmEvaluation { answer }) if self.roll() => {
                let Ok(mut a) = GuessAnswer::from_bytes(&answer) else {
                    return Ok(Response::RealmEvaluation { answer });
                };
                // A valid element, but not this realm's share times the
                // blinded one: its proof cannot verify.
                a.evaluation.element =
                    curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED.to_bytes();
                self.bad_evaluations.fetch_add(1, Relaxed);
                Ok(Response::RealmEvaluation {
                    answer: a.to_bytes(),
                })
            }
            Ok(Response::RealmState { status }) if self.roll() => {
                let Ok(mut s) = RealmStatus::from_bytes(&status) else {
                    return Ok(Response::RealmState { status });
                };
                s.used = 0;
                self.counter_lies.fetch_add(1, Relaxed);
                Ok(Response::RealmState {
                    status: s.to_bytes(),
                })
            }
            other => other,
        }
    }
}
