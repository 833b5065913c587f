//! One device of one account: its state at rest, and everything it does
//! with the server (docs/protocol.md §17).
//!
//! State lives in a [`KeyStore`] under four names: `identity` (the
//! device's secret keys), `device` (server, account and names, JSON),
//! `roots` (every root key it holds, by epoch) and `head` (the newest log
//! head it verified). Each is replaced atomically; the head only moves
//! forward, and every log the server serves must contain it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keylink_account::{
    DeviceInfo, Head, HistoryAction, HistoryEvent, Joined, LogState, RotationWraps, genesis,
    open_epoch_history, open_rotation,
};
use keylink_backup::{BackupStats, KeyRing, RestoreStats, SnapshotWriter, backup_paths};
use keylink_keys::{
    AccountId, DeviceId, DeviceIdentity, Epoch, KdfParams, KeyWrap, Password, RecoveryKey, RootKey,
    labels,
};
use keylink_link::{JoinInfo, NewDevice};
use keylink_net::{AnyEndpoint as Endpoint, Fingerprint, ServerTrust};
use keylink_server::{ServerClient, account_prefix};
use keylink_wire::Wire;
use keylink_wire::account::{DeviceName, SignedEntry};
use keylink_wire::server::{FailureCode, Request, Response};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keystore::KeyStore;
use crate::link::{self, LinkOptions, Linked, ServerInfo, ShowVia};
use crate::network::Net;
use crate::realms::{RealmInfo, Realms};
use crate::remote::{RemoteStore, StagedStore};

const IDENTITY: &str = "identity";
const DEVICE: &str = "device";
const ROOTS: &str = "roots";
const HEAD: &str = "head";
/// How many times a write is retried when another device appended first.
const CAS_RETRIES: usize = 16;

/// Run CPU-heavy work (Argon2id: ~130 ms) without stalling the other
/// tasks of a multi-threaded runtime; inline on a current-thread one.
fn heavy<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// The account id a name stands for: the first 16 bytes of
/// SHA-256(`keylink/v1/account-name` ‖ name). Anyone who knows the name
/// can find the account (and fetch its log and password wrap, §15.8).
pub fn account_id_for(name: &str) -> AccountId {
    let d = keylink_keys::primitives::sha256(&[labels::ACCOUNT_NAME, name.as_bytes()]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&d[..16]);
    AccountId::from_bytes(id)
}

/// What a device remembers besides its keys.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Config {
    version: u32,
    server: SocketAddr,
    fingerprint: String,
    account: String,
    account_name: String,
    device_name: String,
    /// The account's realm set (§19), as this device pins it; empty: none
    /// known to this device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    realms: Vec<RealmEntry>,
    #[serde(default)]
    realms_needed: u8,
    #[serde(default)]
    realms_attempts: u16,
    /// The most guesses each realm (by fingerprint) said it ever counted:
    /// a smaller number later means its folder was rolled back.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    realm_totals: BTreeMap<String, u64>,
}

/// One realm in the settings file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct RealmEntry {
    addr: SocketAddr,
    fingerprint: String,
}

impl Config {
    fn set_realms(&mut self, realms: Option<&Realms>) {
        match realms {
            Some(r) => {
                self.realms = r
                    .realms
                    .iter()
                    .map(|i| RealmEntry {
                        addr: i.addr,
                        fingerprint: i.fingerprint.to_string(),
                    })
                    .collect();
                self.realms_needed = r.needed;
                self.realms_attempts = r.attempts;
            }
            None => {
                self.realms.clear();
                self.realms_needed = 0;
                self.realms_attempts = 0;
            }
        }
    }

    fn realms(&self) -> Result<Option<Realms>> {
        if self.realms.is_empty() {
            return Ok(None);
        }
        let realms = self
            .realms
            .iter()
            .map(|e| {
                Ok(RealmInfo {
                    addr: e.addr,
                    fingerprint: Fingerprint::parse(&e.fingerprint)
                        .map_err(|_| Error::Damaged("realm fingerprint"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Realms {
            realms,
            needed: self.realms_needed,
            attempts: self.realms_attempts,
        }))
    }
}

/// What a new account is made of.
pub struct NewAccount<'a> {
    /// Its name (others find the account by it).
    pub account_name: &'a str,
    /// This device's name.
    pub device_name: &'a DeviceName,
    /// The password.
    pub password: &'a Password,
    /// Argon2id's cost.
    pub params: KdfParams,
    /// Whether to make a recovery key.
    pub recovery_key: bool,
    /// The realms that guard the password wrap (§19); `None`: a version-1
    /// wrap that anyone holding it can test offline.
    pub realms: Option<Realms>,
}

/// What a password change does with the recovery key. The change starts
/// a new epoch, whose root key must be wrapped again under the recovery key
/// for it to keep working.
#[derive(Clone, Copy, Debug)]
pub enum RecoveryUpdate<'a> {
    /// Keep this one (re-entered; it must open the current recovery wrap).
    Keep(&'a RecoveryKey),
    /// Make a new one (returned, to show once); the old one stops working.
    Replace,
    /// None from now on (or the account has none).
    Drop,
}

/// Which secret opens the account on a fresh device.
pub enum Unlock<'a> {
    /// The account password. A realm-guarded wrap is opened through the
    /// storage server as its one realm.
    Password(&'a Password),
    /// The account password, through this realm set.
    PasswordThrough(&'a Password, &'a Realms),
    /// The 64-digit recovery key.
    RecoveryKey(&'a RecoveryKey),
}

/// What a backup did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// The snapshot's id (hex).
    pub snapshot: String,
    /// Its sequence in this device's chain.
    pub sequence: u64,
    /// Counts.
    pub stats: BackupStats,
}

/// One snapshot the log names (the newest of each device).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The snapshot id (hex).
    pub id: String,
    /// The device that made it.
    pub device: DeviceId,
    /// That device's name, if it is still in the account.
    pub device_name: Option<String>,
    /// Its sequence in that device's chain.
    pub sequence: u64,
    /// The epoch it was written in.
    pub epoch: Epoch,
    /// The log entry that published it.
    pub log_sequence: u64,
    /// When the publishing entry says it was made (ms since the epoch).
    pub published_ms: Option<u64>,
}

/// A device in the account, as every device shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceView {
    /// Its id.
    pub id: DeviceId,
    /// Its name.
    pub name: String,
    /// How it joined.
    pub joined: Joined,
    /// When its entry says it joined.
    pub added_ms: u64,
    /// Whether it is this device.
    pub this_device: bool,
}

/// Recovery-key status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecoveryStatus {
    /// Whether the current epoch has a recovery wrap.
    pub set: bool,
    /// The log entry that last changed it.
    pub changed_at: Option<u64>,
}

/// Everything a newly set-up device is made of.
struct Parts<'a> {
    store: Arc<dyn KeyStore>,
    identity: Arc<DeviceIdentity>,
    server: ServerInfo,
    account: AccountId,
    account_name: &'a str,
    device_name: &'a DeviceName,
    roots: BTreeMap<u64, RootKey>,
    log: LogState,
    endpoint: Endpoint,
    realms: Option<Realms>,
}

/// A device of an account.
pub struct Device {
    store: Arc<dyn KeyStore>,
    identity: Arc<DeviceIdentity>,
    config: Config,
    server: ServerInfo,
    account: AccountId,
    roots: BTreeMap<u64, RootKey>,
    head: Head,
    log: Option<LogState>,
    /// When each entry of the last verified log says it was made.
    times: BTreeMap<u64, u64>,
    endpoint: Endpoint,
    client: Option<ServerClient>,
    /// Whether `client`'s connection has proved to be this device (the
    /// server remembers it per connection).
    authenticated: bool,
    /// The account's realm set, if this device knows it.
    realms: Option<Realms>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("device", &self.identity.device_id())
            .field("account", &self.account)
            .field("server", &self.server.addr)
            .finish_non_exhaustive()
    }
}

/// A client endpoint able to reach `server`, from its network.
fn endpoint_for(server: &ServerInfo) -> Result<Endpoint> {
    server
        .net
        .get()
        .client_endpoint(server.addr)
        .map_err(|e| Error::Unreachable {
            addr: "the network".into(),
            why: e.to_string(),
        })
}

fn encode_roots(roots: &BTreeMap<u64, RootKey>) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(roots.len() * 40));
    for (e, k) in roots {
        out.extend_from_slice(&e.to_be_bytes());
        out.extend_from_slice(k.expose_secret());
    }
    out
}

fn decode_roots(bytes: &[u8]) -> Result<BTreeMap<u64, RootKey>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(40) || bytes.len() / 40 > 4096 {
        return Err(Error::Damaged("root keys"));
    }
    let mut out = BTreeMap::new();
    for rec in bytes.chunks_exact(40) {
        let (e, k) = rec.split_at(8);
        let epoch = u64::from_be_bytes(e.try_into().map_err(|_| Error::Damaged("root keys"))?);
        let mut key: [u8; 32] = k.try_into().map_err(|_| Error::Damaged("root keys"))?;
        out.insert(epoch, RootKey::from_secret_bytes(key, Epoch(epoch)));
        zeroize::Zeroize::zeroize(&mut key);
    }
    Ok(out)
}

/// Load this store's identity, or make and save one (so a link that fails
/// half-way is retried with the same device).
fn identity_in(store: &dyn KeyStore, net: &Net) -> Result<Arc<DeviceIdentity>> {
    if let Some(b) = store.load(IDENTITY)? {
        let (s, a) = b.split_at_checked(32).ok_or(Error::Damaged("identity"))?;
        let s: [u8; 32] = s.try_into().map_err(|_| Error::Damaged("identity"))?;
        let a: [u8; 32] = a.try_into().map_err(|_| Error::Damaged("identity"))?;
        return Ok(Arc::new(DeviceIdentity::from_secret_bytes(&s, &a)));
    }
    let id = DeviceIdentity::generate(&mut net.rng());
    let (s, a) = id.expose_secret_bytes();
    let mut bytes = Zeroizing::new([0u8; 64]);
    bytes[..32].copy_from_slice(&s);
    bytes[32..].copy_from_slice(&a);
    store.save(IDENTITY, bytes.as_ref())?;
    Ok(Arc::new(id))
}

/// How long connecting to a server may take, in milliseconds.
static CONNECT_TIMEOUT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(10_000);

/// Set how long connecting to a server may take before it counts as
/// unreachable (10 seconds by default), for this process.
pub fn set_connect_timeout(timeout: std::time::Duration) {
    let ms = u64::try_from(timeout.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    CONNECT_TIMEOUT_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) async fn connect_to(endpoint: &Endpoint, server: &ServerInfo) -> Result<ServerClient> {
    let ms = CONNECT_TIMEOUT_MS.load(std::sync::atomic::Ordering::Relaxed);
    let limit = std::time::Duration::from_millis(ms);
    tokio::time::timeout(
        limit,
        ServerClient::connect_any(
            endpoint,
            server.addr,
            &ServerTrust::Pinned(server.fingerprint),
        ),
    )
    .await
    .map_err(|_| Error::Unreachable {
        addr: server.addr.to_string(),
        why: format!("no answer within {} s", limit.as_secs_f64()),
    })?
    .map_err(|e| Error::from_server(&server.addr, e))
}

async fn fetch_entries(
    client: &ServerClient,
    server: &ServerInfo,
    account: &AccountId,
) -> Result<Vec<SignedEntry>> {
    let raw = client
        .fetch_log(account, 0)
        .await
        .map_err(|e| Error::from_server(&server.addr, e))?;
    raw.iter()
        .map(|b| SignedEntry::decode(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::BadLog(e.to_string()))
}

impl Device {
    /// Open the device set up in `store`.
    ///
    /// # Errors
    /// [`Error::NotInitialized`], [`Error::Damaged`], [`Error::KeyStore`].
    pub fn open(store: Arc<dyn KeyStore>) -> Result<Self> {
        Self::open_on(store, Net::default())
    }

    /// Open the device set up in `store`, reaching its server through `net`.
    ///
    /// # Errors
    /// As [`Device::open`].
    pub fn open_on(store: Arc<dyn KeyStore>, net: Net) -> Result<Self> {
        let Some(cfg) = store.load(DEVICE)? else {
            return Err(Error::NotInitialized);
        };
        let config: Config =
            serde_json::from_slice(&cfg).map_err(|_| Error::Damaged("device settings"))?;
        if config.version != 1 {
            return Err(Error::Damaged("device settings version"));
        }
        let identity = identity_in(store.as_ref(), &net)?;
        let roots = decode_roots(
            &store
                .load(ROOTS)?
                .ok_or(Error::Damaged("root keys missing"))?,
        )?;
        let head = Head::from_bytes(&store.load(HEAD)?.ok_or(Error::Damaged("head missing"))?)
            .map_err(|_| Error::Damaged("head"))?;
        let fingerprint =
            Fingerprint::parse(&config.fingerprint).map_err(|_| Error::Damaged("fingerprint"))?;
        let server = ServerInfo {
            addr: config.server,
            fingerprint,
            net,
        };
        let endpoint = endpoint_for(&server)?;
        let account =
            AccountId::from_bytes(hex_array(&config.account).ok_or(Error::Damaged("account id"))?);
        let realms = config.realms()?;
        Ok(Self {
            server,
            account,
            store,
            identity,
            config,
            roots,
            head,
            log: None,
            times: BTreeMap::new(),
            endpoint,
            client: None,
            authenticated: false,
            realms,
        })
    }

    /// Save a newly set-up device's state and return it.
    fn fresh(parts: Parts<'_>) -> Result<Self> {
        let Parts {
            store,
            identity,
            server,
            account,
            account_name,
            device_name,
            roots,
            log,
            endpoint,
            realms,
        } = parts;
        let mut config = Config {
            version: 1,
            server: server.addr,
            fingerprint: server.fingerprint.to_string(),
            account: hex(account.as_bytes()),
            account_name: account_name.to_string(),
            device_name: device_name.as_str().to_string(),
            realms: Vec::new(),
            realms_needed: 0,
            realms_attempts: 0,
            realm_totals: BTreeMap::new(),
        };
        config.set_realms(realms.as_ref());
        let head = log.head();
        // Keys and head first, the settings last: a store without
        // settings is "not set up", whatever else it holds.
        store.save(ROOTS, &encode_roots(&roots))?;
        store.save(HEAD, &head.to_bytes())?;
        let json = serde_json::to_vec_pretty(&config).map_err(|_| Error::Internal("settings"))?;
        store.save(DEVICE, &json)?;
        Ok(Self {
            store,
            identity,
            config,
            server,
            account,
            roots,
            head,
            log: Some(log),
            times: BTreeMap::new(),
            endpoint,
            client: None,
            authenticated: false,
            realms,
        })
    }

    /// Save, attach the connection, and authenticate as the new device.
    async fn set_up(parts: Parts<'_>, client: ServerClient) -> Result<Self> {
        let mut device = Self::fresh(parts)?;
        device.client = Some(client);
        device.authenticate().await?;
        Ok(device)
    }

    fn refuse_if_set_up(store: &dyn KeyStore) -> Result<()> {
        if store.load(DEVICE)?.is_some() {
            return Err(Error::AlreadyInitialized);
        }
        Ok(())
    }

    /// Create an account named `account_name` on `server`, with this store
    /// as its first device and a password wrap without realms (anyone
    /// holding it can test passwords offline at Argon2id's cost; see
    /// [`Device::create_account`] for one the realms guard). Returns the
    /// recovery key when asked for one: show it to the person once; it is
    /// not kept anywhere.
    ///
    /// # Errors
    /// [`Error::AlreadyInitialized`], [`Error::AccountExists`], network errors.
    pub async fn create(
        store: Arc<dyn KeyStore>,
        server: ServerInfo,
        account_name: &str,
        device_name: &DeviceName,
        password: &Password,
        params: KdfParams,
        with_recovery_key: bool,
    ) -> Result<(Self, Option<RecoveryKey>)> {
        let new = NewAccount {
            account_name,
            device_name,
            password,
            params,
            recovery_key: with_recovery_key,
            realms: None,
        };
        Self::create_account(store, server, new).await
    }

    /// Create an account as `new` says. With realms, the OPRF key is
    /// registered with them first (at least `k` must store it), and the
    /// password wrap is a version-2 wrap that cannot be tested without them.
    ///
    /// # Errors
    /// As [`Device::create`], and [`Error::Realm`] when fewer than `k`
    /// realms stored the registration (the account is not created).
    pub async fn create_account(
        store: Arc<dyn KeyStore>,
        server: ServerInfo,
        new: NewAccount<'_>,
    ) -> Result<(Self, Option<RecoveryKey>)> {
        let NewAccount {
            account_name,
            device_name,
            password,
            params,
            recovery_key: with_recovery_key,
            realms,
        } = new;
        Self::refuse_if_set_up(store.as_ref())?;
        crate::realms::check_password_strength(
            password,
            realms.as_ref(),
            &[account_name, device_name.as_str()],
        )?;
        let identity = identity_in(store.as_ref(), &server.net)?;
        let account = account_id_for(account_name);
        let net = server.net.clone();
        let mut rng = net.rng();
        let root = RootKey::generate(Epoch::GENESIS, &mut rng);
        let endpoint = endpoint_for(&server)?;
        let client = connect_to(&endpoint, &server).await?;
        let password_wrap = match &realms {
            None => heavy(|| KeyWrap::seal_password(&root, &account, password, params, &mut rng))
                .map_err(|e| Error::BadSecret(e.to_string()))?,
            Some(realms) => {
                // Registering at the realms claims the account id there:
                // not for a name the storage server already has.
                match fetch_entries(&client, &server, &account).await {
                    Ok(entries) if !entries.is_empty() => {
                        return Err(Error::AccountExists(account_name.to_string()));
                    }
                    _ => {}
                }
                let mut salt = [0u8; keylink_keys::wrap::WRAP_SALT_LEN];
                rand_core::Rng::fill_bytes(&mut rng, &mut salt);
                let stretched = heavy(|| {
                    keylink_keys::StretchedPassword::derive_for_sealing(password, &salt, params)
                })
                .map_err(|e| Error::BadSecret(e.to_string()))?;
                let (reg, _skipped) = crate::realms::register_all(
                    &endpoint,
                    &net,
                    realms,
                    account,
                    &root,
                    &[],
                    &stretched,
                )
                .await?;
                KeyWrap::seal_realm(
                    &root,
                    &account,
                    params,
                    salt,
                    reg.descriptor.commitment(),
                    &reg.kek,
                    &mut rng,
                )
                .map_err(|e| Error::BadSecret(e.to_string()))?
            }
        };
        let recovery = with_recovery_key.then(|| RecoveryKey::generate(&mut rng));
        let recovery_wrap = match &recovery {
            Some(k) => Some(
                KeyWrap::seal_recovery(&root, &account, k, &mut rng)
                    .map_err(|e| Error::BadSecret(e.to_string()))?,
            ),
            None => None,
        };
        let g = genesis(
            account,
            &identity,
            device_name.clone(),
            &root,
            &password_wrap,
            recovery_wrap.as_ref(),
            net.now_ms(),
        );
        let log = LogState::verify(std::slice::from_ref(&g))
            .map_err(|_| Error::Internal("genesis does not verify"))?;
        match client
            .request(&Request::CreateAccount {
                genesis: g.encode(),
                password_wrap: password_wrap.to_bytes(),
                recovery_wrap: recovery_wrap.as_ref().map(KeyWrap::to_bytes),
            })
            .await
        {
            Ok(_) => {}
            Err(e) if e.code() == Some(FailureCode::Conflict) => {
                return Err(Error::AccountExists(account_name.to_string()));
            }
            Err(e) => return Err(Error::from_server(&server.addr, e)),
        }
        let mut roots = BTreeMap::new();
        roots.insert(0, root);
        let parts = Parts {
            store,
            identity,
            server,
            account,
            account_name,
            device_name,
            roots,
            log,
            endpoint,
            realms,
        };
        Ok((Self::set_up(parts, client).await?, recovery))
    }

    /// Set this store up as a new device of `account_name` by opening the
    /// account's key with the password or the recovery key.
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`], [`Error::WrongPassword`],
    /// [`Error::WrongRecoveryKey`], [`Error::NoWrap`], network errors.
    pub async fn recover(
        store: Arc<dyn KeyStore>,
        server: ServerInfo,
        account_name: &str,
        device_name: &DeviceName,
        unlock: Unlock<'_>,
    ) -> Result<Self> {
        Self::refuse_if_set_up(store.as_ref())?;
        let account = account_id_for(account_name);
        let endpoint = endpoint_for(&server)?;
        let client = connect_to(&endpoint, &server).await?;
        let mut log = match fetch_entries(&client, &server, &account).await {
            Ok(entries) if entries.is_empty() => {
                return Err(Error::NoSuchAccount(account_name.to_string()));
            }
            Ok(entries) => LogState::verify(&entries).map_err(|e| Error::BadLog(e.to_string()))?,
            Err(Error::Refused {
                code: FailureCode::NotFound,
                ..
            }) => return Err(Error::NoSuchAccount(account_name.to_string())),
            Err(e) => return Err(e),
        };
        let (password_wrap, recovery_wrap) = match client
            .request(&Request::GetWraps { account })
            .await
            .map_err(|e| Error::from_server(&server.addr, e))?
        {
            Response::Wraps {
                password_wrap,
                recovery_wrap,
            } => (password_wrap, recovery_wrap),
            _ => return Err(Error::Internal("unexpected answer to GetWraps")),
        };
        let mut realms_used = None;
        let root = match unlock {
            Unlock::Password(p) | Unlock::PasswordThrough(p, _) => {
                if log.password_wrap_hash().is_none() {
                    return Err(Error::NoWrap(
                        "the account's password is not set since its last revocation; recover with the recovery key or link from a device",
                    ));
                }
                let wrap = served_wrap(&log, &password_wrap, keylink_keys::WrapKind::Password)?;
                match wrap.realm_registration() {
                    None => heavy(|| wrap.open_password(p, server.net.kdf_policy()))
                        .map_err(|_| Error::WrongPassword)?,
                    Some(commitment) => {
                        let realms = match unlock {
                            Unlock::PasswordThrough(_, r) => r.clone(),
                            _ => crate::realms::Realms::the_server(&server),
                        };
                        let root = Self::open_through_realms(
                            &endpoint,
                            &server,
                            &realms,
                            account,
                            &wrap,
                            *commitment,
                            p,
                        )
                        .await?;
                        realms_used = Some(realms);
                        root
                    }
                }
            }
            Unlock::RecoveryKey(k) => {
                let Some(bytes) = recovery_wrap.filter(|_| log.recovery_wrap_hash().is_some())
                else {
                    return Err(Error::NoWrap(
                        "the account has no recovery key set; recover with the password or link from a device",
                    ));
                };
                let wrap = served_wrap(&log, &bytes, keylink_keys::WrapKind::Recovery)?;
                wrap.open_recovery(k).map_err(|_| Error::WrongRecoveryKey)?
            }
        };
        let identity = identity_in(store.as_ref(), &server.net)?;
        let mut roots = older_roots(&root, &account, &log)?;
        let epoch = root.epoch().0;
        // Join the log: a Recover entry by this device, on top of the head.
        // An earlier attempt from this home may have got as far as the log
        // and no further (the process died, or the answer was lost): then
        // the device is already current, and the set-up is only finished.
        let mut joined = false;
        for _ in 0..CAS_RETRIES {
            if log.is_current(&identity.device_id()) {
                joined = true;
                break;
            }
            let entry = log
                .recover(&identity, device_name.clone(), &root, server.net.now_ms())
                .map_err(|e| Error::BadLog(e.to_string()))?;
            match client
                .append(&account, log.next_sequence(), vec![entry.encode()])
                .await
            {
                Ok(()) => {
                    log.apply(&entry)
                        .map_err(|e| Error::BadLog(e.to_string()))?;
                    joined = true;
                    break;
                }
                Err(e) => {
                    let conflict = e.code() == Some(FailureCode::Conflict);
                    // Fetch again: another device wrote first, or our own
                    // entry landed and only the answer was lost (then the
                    // loop's first check finishes the set-up).
                    let Ok(entries) = fetch_entries(&client, &server, &account).await else {
                        return Err(Error::from_server(&server.addr, e));
                    };
                    let head = log.head();
                    log = LogState::verify_from_trusted(&entries, Some(&head))
                        .map_err(|e| Error::BadLog(e.to_string()))?;
                    if !conflict && !log.is_current(&identity.device_id()) {
                        return Err(Error::from_server(&server.addr, e));
                    }
                    if log.epoch().0 != epoch {
                        return Err(Error::Busy);
                    }
                }
            }
        }
        if !joined {
            return Err(Error::Busy);
        }
        roots.insert(epoch, root);
        let parts = Parts {
            store,
            identity,
            server,
            account,
            account_name,
            device_name,
            roots,
            log,
            endpoint,
            realms: realms_used,
        };
        Self::set_up(parts, client).await
    }

    /// Open a realm-guarded password wrap: Argon2id, then `k` realms (each
    /// counts a guess), then the wrap; on success every realm reached is
    /// told so it resets its counter.
    #[allow(clippy::too_many_arguments)]
    async fn open_through_realms(
        endpoint: &Endpoint,
        server: &ServerInfo,
        realms: &Realms,
        account: AccountId,
        wrap: &KeyWrap,
        commitment: [u8; 32],
        password: &Password,
    ) -> Result<RootKey> {
        let stretched = heavy(|| {
            keylink_keys::StretchedPassword::derive(
                password,
                wrap.salt(),
                wrap.params(),
                server.net.kdf_policy(),
            )
        })
        .map_err(|e| Error::BadSecret(e.to_string()))?;
        let (kek, reached, _report) = crate::realms::recover_kek(
            endpoint,
            &server.net,
            realms,
            account,
            commitment,
            &stretched,
        )
        .await?;
        let root = wrap.open_realm(&kek).map_err(|_| Error::WrongPassword)?;
        crate::realms::unlock_all(&reached, account, commitment, &kek).await;
        Ok(root)
    }

    /// New device: show a link code (through the server's relay, or
    /// directly). The identity is saved first, so a retry after a failure
    /// links the same device.
    ///
    /// # Errors
    /// [`Error::AlreadyInitialized`], network errors.
    pub async fn show_link(
        store: Arc<dyn KeyStore>,
        server: ServerInfo,
        via: ShowVia,
        options: &LinkOptions,
    ) -> Result<ShownLink> {
        Self::refuse_if_set_up(store.as_ref())?;
        let identity = identity_in(store.as_ref(), &server.net)?;
        let endpoint = endpoint_for(&server)?;
        let shown = link::show_as_new(&endpoint, via, options).await?;
        Ok(ShownLink {
            store,
            identity,
            server,
            endpoint,
            shown,
        })
    }

    /// The server and account this device belongs to.
    pub fn server(&self) -> ServerInfo {
        self.server.clone()
    }

    /// The account's id.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The account's name.
    pub fn account_name(&self) -> &str {
        &self.config.account_name
    }

    /// This device's id.
    pub fn device_id(&self) -> DeviceId {
        self.identity.device_id()
    }

    /// This device's name.
    pub fn device_name(&self) -> &str {
        &self.config.device_name
    }

    async fn client(&mut self) -> Result<ServerClient> {
        if let Some(c) = &self.client {
            if !c.connection().is_closed() {
                return Ok(c.clone());
            }
            // The connection ended (the server restarted, the network
            // changed, it idled out): connect again, and prove who we are
            // on the new connection.
            self.client = None;
            self.authenticated = false;
        }
        let c = connect_to(&self.endpoint, &self.server).await?;
        self.client = Some(c.clone());
        self.authenticated = false;
        Ok(c)
    }

    /// Prove to the server that this connection is this device, once per
    /// connection.
    async fn authenticate(&mut self) -> Result<()> {
        // First the connection (a new one resets `authenticated`), then the
        // flag: a stale flag must not skip the proof on a fresh connection.
        let c = self.client().await?;
        if self.authenticated {
            return Ok(());
        }
        c.authenticate(&self.account, &self.identity)
            .await
            .map_err(|e| Error::from_server(&self.server.addr, e))?;
        self.authenticated = true;
        Ok(())
    }

    /// Fetch the log, verify it from genesis against the remembered head,
    /// take any new root key sealed to this device, and remember the new
    /// head. Refuses to go on if this device was revoked.
    ///
    /// # Errors
    /// [`Error::BadLog`] (rollback, fork, bad entry), [`Error::Revoked`],
    /// network errors.
    pub async fn sync(&mut self) -> Result<&LogState> {
        let c = self.client().await?;
        let entries = fetch_entries(&c, &self.server, &self.account).await?;
        let log = LogState::verify_from_trusted(&entries, Some(&self.head))
            .map_err(|e| Error::BadLog(e.to_string()))?;
        if log.account() != &self.account {
            return Err(Error::BadLog("another account's log".into()));
        }
        let me = self.identity.device_id();
        let newest = self.roots.keys().next_back().copied().unwrap_or(0);
        if log.epoch().0 > newest && log.is_current(&me) {
            // The last rotation seals the current key to this device; its
            // epoch history holds every older one.
            let first_of_epoch = entries
                .iter()
                .find(|e| e.body().epoch == log.epoch())
                .ok_or(Error::BadLog("no entry of the current epoch".into()))?;
            let root = open_rotation(&log, first_of_epoch, &self.identity)
                .map_err(|e| Error::BadLog(format!("the new key does not open: {e}")))?;
            let older = older_roots(&root, &self.account, &log)?;
            for (e, k) in older {
                self.roots.entry(e).or_insert(k);
            }
            self.roots.insert(root.epoch().0, root);
            self.store.save(ROOTS, &encode_roots(&self.roots))?;
        }
        let head = log.head();
        if head != self.head {
            self.store.save(HEAD, &head.to_bytes())?;
            self.head = head;
        }
        let revoked = !log.is_current(&me);
        self.times = entries
            .iter()
            .map(|e| (e.body().sequence, e.body().timestamp_ms))
            .collect();
        self.log = Some(log);
        if revoked {
            return Err(Error::Revoked);
        }
        self.log.as_ref().ok_or(Error::Internal("no log"))
    }

    fn current_root(&self) -> Result<&RootKey> {
        let log = self.log.as_ref().ok_or(Error::Internal("no log"))?;
        self.roots
            .get(&log.epoch().0)
            .ok_or(Error::Damaged("the current root key is missing"))
    }

    fn keyring(&self) -> KeyRing {
        let mut k = KeyRing::new();
        for r in self.roots.values() {
            k.insert(r.duplicate());
        }
        k
    }

    /// Append `make(log)` by compare-and-swap, rebuilding it on top of
    /// whatever another device appended first.
    async fn append_with(
        &mut self,
        mut make: impl FnMut(&LogState, &RootKey) -> Result<Vec<SignedEntry>>,
    ) -> Result<()> {
        for _ in 0..CAS_RETRIES {
            self.sync().await?;
            let log = self.log.as_ref().ok_or(Error::Internal("no log"))?;
            if log.rotation_pending() {
                return Err(rotation_pending(log));
            }
            let entries = make(log, self.current_root()?)?;
            // What this device sends must hold in its own log: never count
            // on the server to refuse it (a dishonest one acknowledges
            // anything).
            let mut after = log.clone();
            if let Some(e) = entries.iter().find_map(|e| after.apply(e).err()) {
                return Err(Error::BadLog(format!(
                    "this device made a log entry its own log refuses: {e}"
                )));
            }
            let next = log.next_sequence();
            let c = self.client().await?;
            let result = c
                .append(
                    &self.account,
                    next,
                    entries.iter().map(Wire::encode).collect(),
                )
                .await;
            match result {
                Ok(()) => {
                    self.appended(&entries);
                    return Ok(());
                }
                Err(e) if e.code() == Some(FailureCode::Conflict) => continue,
                Err(e) => {
                    // The answer may be what was lost: look before saying
                    // the change did not happen.
                    if self.landed(&entries).await {
                        return Ok(());
                    }
                    return Err(Error::from_server(&self.server.addr, e));
                }
            }
        }
        Err(Error::Busy)
    }

    /// After a successful append: take the entries into the local log and
    /// remember the new head. No second fetch: the next operation syncs
    /// anyway, and a failure then does not undo what was written.
    fn appended(&mut self, entries: &[SignedEntry]) {
        if let Some(log) = self.log.as_mut() {
            let mut next = log.clone();
            if entries.iter().all(|e| next.apply(e).is_ok()) {
                let head = next.head();
                if self.store.save(HEAD, &head.to_bytes()).is_ok() {
                    self.head = head;
                }
                *log = next;
            }
        }
    }

    /// Whether `entries` are in the server's log (after an unclear error).
    async fn landed(&mut self, entries: &[SignedEntry]) -> bool {
        let Some(last) = entries.last() else {
            return false;
        };
        if self.sync().await.is_err() {
            return false;
        }
        self.log.as_ref().is_some_and(|log| {
            log.hash_at(last.body().sequence)
                .is_some_and(|h| *h == last.hash())
        })
    }

    /// Back up `paths` (files or folders) as a new snapshot of this device
    /// and publish it in the log. `progress` sees the counts as it goes.
    ///
    /// # Errors
    /// [`Error::Revoked`], [`Error::Backup`], network errors.
    pub async fn backup(
        &mut self,
        paths: &[PathBuf],
        progress: impl FnMut(&BackupStats) + Send + 'static,
    ) -> Result<BackupSummary> {
        self.sync().await?;
        self.authenticate().await?;
        let log = self.log.as_ref().ok_or(Error::Internal("no log"))?;
        let me = self.identity.device_id();
        let previous = log.snapshot_heads().get(&me).copied();
        let sequence = previous.map_or(1, |h| h.snapshot_sequence + 1);
        let parent = previous.map(|h| h.snapshot_id);
        let root = self.current_root()?.duplicate();
        let client = self.client().await?;
        let identity = self.identity.clone();
        let account = self.account;
        let paths = paths.to_vec();
        let net = self.server.net.clone();
        let write = move |store: &dyn keylink_store::Store| {
            let mut rng = net.rng();
            let mut w = SnapshotWriter::new(store, account, &root, &identity, sequence, parent);
            w.on_progress(progress);
            let sources: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            backup_paths(&mut w, &sources, &mut rng)?;
            w.finish(net.now_ms(), &mut rng)
        };
        let out = if self.server.net.get().in_task_transfers() {
            let staged = StagedStore::listing(&client, &account_prefix(&account))
                .await
                .map_err(|e| Error::from_server(&self.server.addr, e))?;
            let out = write(&staged)?;
            staged
                .upload(&client)
                .await
                .map_err(|e| Error::from_server(&self.server.addr, e))?;
            out
        } else {
            let store = RemoteStore::new(client, tokio::runtime::Handle::current());
            tokio::task::spawn_blocking(move || write(&store))
                .await
                .map_err(|_| Error::Internal("backup task"))??
        };
        let epoch = self.current_root()?.epoch();
        let identity = self.identity.clone();
        let now = self.server.net.now_ms();
        self.append_with(|log, root| {
            if log.epoch() != epoch {
                return Err(Error::Busy);
            }
            let e = log
                .snapshot_head(
                    &identity,
                    root,
                    out.snapshot_id,
                    out.sequence,
                    out.manifest_hash,
                    now,
                )
                .map_err(|e| Error::BadLog(e.to_string()))?;
            Ok(vec![e])
        })
        .await?;
        Ok(BackupSummary {
            snapshot: hex(&out.snapshot_id),
            sequence: out.sequence,
            stats: out.stats,
        })
    }

    /// The newest snapshot of each device, newest first.
    ///
    /// # Errors
    /// As [`Device::sync`].
    pub async fn snapshots(&mut self) -> Result<Vec<SnapshotInfo>> {
        self.sync().await?;
        let log = self.log.as_ref().ok_or(Error::Internal("no log"))?;
        let times = &self.times;
        let mut out: Vec<SnapshotInfo> = log
            .snapshot_heads()
            .iter()
            .map(|(d, h)| SnapshotInfo {
                id: hex(&h.snapshot_id),
                device: *d,
                device_name: log
                    .devices()
                    .get(d)
                    .map(|i| i.record.name.as_str().to_string()),
                sequence: h.snapshot_sequence,
                epoch: h.epoch,
                log_sequence: h.log_sequence,
                published_ms: times.get(&h.log_sequence).copied(),
            })
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.log_sequence));
        Ok(out)
    }

    /// Restore a snapshot into `target`: `which` is a snapshot id prefix or
    /// a device name; by default this device's newest snapshot, or else
    /// the newest of any device.
    ///
    /// # Errors
    /// [`Error::NoSnapshot`], [`Error::Backup`] (verification or disk),
    /// network errors.
    pub async fn restore(
        &mut self,
        which: Option<&str>,
        target: &Path,
        mut progress: impl FnMut(&RestoreStats, u64) + Send + 'static,
    ) -> Result<RestoreStats> {
        let list = self.snapshots().await?;
        let me = self.identity.device_id();
        let chosen = match which {
            Some(w) => {
                let w = w.to_lowercase();
                let hits: Vec<&SnapshotInfo> = list
                    .iter()
                    .filter(|s| {
                        (w.len() >= 4 && s.id.starts_with(&w))
                            || s.device_name
                                .as_deref()
                                .is_some_and(|n| n.to_lowercase() == w)
                    })
                    .collect();
                match hits.as_slice() {
                    [one] => (*one).clone(),
                    [] => {
                        return Err(Error::NoSnapshot(format!(
                            "no snapshot matches {w:?}; `keylink snapshots` lists them"
                        )));
                    }
                    _ => {
                        return Err(Error::NoSnapshot(format!(
                            "{w:?} matches several snapshots; give more of the id"
                        )));
                    }
                }
            }
            None => list
                .iter()
                .filter(|s| s.device_name.is_some())
                .find(|s| s.device == me)
                .or_else(|| list.iter().find(|s| s.device_name.is_some()))
                .cloned()
                .ok_or(Error::NoSnapshot(
                    "the account has no backup yet; run `keylink backup` first".into(),
                ))?,
        };
        self.authenticate().await?;
        let client = self.client().await?;
        let log = self.log.clone().ok_or(Error::Internal("no log"))?;
        let keys = self.keyring();
        let target = target.to_path_buf();
        let device = chosen.device;
        let mut read = move |store: &dyn keylink_store::Store| {
            let snap = keylink_backup::Snapshot::open(store, &log, &keys, device)?;
            let total = snap.root().total_bytes;
            snap.restore_with_progress(&target, &mut |s| progress(s, total))
        };
        if self.server.net.get().in_task_transfers() {
            let staged = StagedStore::fetched(&client, &self.account)
                .await
                .map_err(|e| Error::from_server(&self.server.addr, e))?;
            read(&staged).map_err(Error::Backup)
        } else {
            let store = RemoteStore::new(client, tokio::runtime::Handle::current());
            tokio::task::spawn_blocking(move || read(&store))
                .await
                .map_err(|_| Error::Internal("restore task"))?
                .map_err(Error::Backup)
        }
    }

    /// The account's current devices, and the history every device shows.
    ///
    /// # Errors
    /// As [`Device::sync`].
    pub async fn devices(&mut self) -> Result<(Vec<DeviceView>, Vec<HistoryEvent>)> {
        let me = self.identity.device_id();
        let log = self.sync().await?;
        let devices = log
            .devices()
            .iter()
            .map(|(id, info): (&DeviceId, &DeviceInfo)| DeviceView {
                id: *id,
                name: info.record.name.as_str().to_string(),
                joined: info.joined,
                added_ms: info.added_ms,
                this_device: *id == me,
            })
            .collect();
        Ok((devices, log.history().to_vec()))
    }

    /// The device `who` names: a device name, or a prefix (4 or more hex
    /// digits) of its id.
    ///
    /// # Errors
    /// [`Error::Device`] when nothing or several match.
    pub fn resolve_device(&self, who: &str) -> Result<DeviceId> {
        let log = self.log.as_ref().ok_or(Error::Internal("no log"))?;
        let w = who.to_lowercase();
        let hits: Vec<DeviceId> = log
            .devices()
            .iter()
            .filter(|(id, info)| {
                info.record.name.as_str().to_lowercase() == w
                    || (w.len() >= 4 && id.to_string().starts_with(&w))
            })
            .map(|(id, _)| *id)
            .collect();
        // A device whose removal waits for its rotation can be named too,
        // to finish revoking it.
        let pending = pending_removal(log).filter(|(id, name)| {
            name.as_deref().is_some_and(|n| n.to_lowercase() == w)
                || (w.len() >= 4 && id.to_string().starts_with(&w))
        });
        match (hits.as_slice(), pending) {
            ([], Some((id, _))) => Ok(id),
            ([one], _) => Ok(*one),
            ([], None) => Err(Error::Device(format!(
                "no current device is named {who:?} or has an id starting with it; `keylink devices` lists them"
            ))),
            _ => Err(Error::Device(format!(
                "{who:?} names several devices; give a longer id prefix"
            ))),
        }
    }

    /// Revoke `target`: remove it and rotate to a new root key sealed to
    /// every remaining device. The new key is wrapped under `password`
    /// and, if given, `recovery` (the same or a new recovery key); without
    /// one, that way of recovering stays unusable until it is set again.
    ///
    /// # Errors
    /// [`Error::Device`] (revoking this device itself), log errors, network
    /// errors.
    pub async fn revoke(
        &mut self,
        target: DeviceId,
        password: Option<(&Password, KdfParams)>,
        recovery: Option<&RecoveryKey>,
    ) -> Result<()> {
        if target == self.identity.device_id() {
            return Err(Error::Device(
                "a device cannot revoke itself; revoke it from another device".into(),
            ));
        }
        self.rotate_with(Some(target), password, recovery).await
    }

    /// Start a new epoch — removing `target` first, if given — with a fresh
    /// root key sealed to every remaining device, wrapped under `password`
    /// and `recovery` when given.
    async fn rotate_with(
        &mut self,
        target: Option<DeviceId>,
        password: Option<(&Password, KdfParams)>,
        recovery: Option<&RecoveryKey>,
    ) -> Result<()> {
        let identity = self.identity.clone();
        let net = self.server.net.clone();
        let mut rng = net.rng();
        for _ in 0..CAS_RETRIES {
            self.sync().await?;
            let log = self.log.clone().ok_or(Error::Internal("no log"))?;
            let root = self.current_root()?.duplicate();
            let older: Vec<RootKey> = self
                .roots
                .values()
                .filter(|k| k.epoch() < root.epoch())
                .map(RootKey::duplicate)
                .collect();
            let already_removed = target.is_some_and(|t| log.revoked_at(&t).is_some());
            if already_removed && !log.rotation_pending() {
                // An earlier attempt landed whole (its answer was lost).
                return Ok(());
            }
            // Through realms, the new epoch's registration needs the new
            // root key: rotate first, then set the password (below).
            let wraps = RotationWraps {
                password: password.filter(|_| self.realms.is_none()),
                recovery,
            };
            let rotation = heavy(|| match target {
                Some(target) if !already_removed => log.revoke(
                    &identity,
                    &root,
                    &older,
                    target,
                    wraps,
                    net.now_ms(),
                    &mut rng,
                ),
                // The removal landed and its rotation did not (a server
                // that failed part-way): finish it. Or a rotation alone.
                _ => log.rotate(&identity, &root, &older, wraps, net.now_ms(), &mut rng),
            })
            .map_err(|e| Error::Device(format!("cannot rotate the account key: {e}")))?;
            // The new wraps first: a crash after this leaves wraps nobody
            // uses, never a log naming a wrap the server does not have.
            for w in [&rotation.password_wrap, &rotation.recovery_wrap]
                .into_iter()
                .flatten()
            {
                self.put_wrap(w).await?;
            }
            let c = self.client().await?;
            match c
                .append(
                    &self.account,
                    log.next_sequence(),
                    rotation.entries.iter().map(Wire::encode).collect(),
                )
                .await
            {
                Ok(()) => {
                    self.sync().await?;
                    if let (Some((p, params)), Some(_)) = (password, &self.realms) {
                        self.set_password(p, params).await.map_err(|e| {
                            Error::Device(format!(
                                "the device was revoked and the account key rotated, but the password could not be set through the realms ({e}); run `keylink password change` to set it"
                            ))
                        })?;
                    }
                    return Ok(());
                }
                Err(e) if e.code() == Some(FailureCode::Conflict) => continue,
                Err(e) => return Err(Error::from_server(&self.server.addr, e)),
            }
        }
        Err(Error::Busy)
    }

    /// The account's current wrap of `kind`, fetched and checked against
    /// the log this device just verified; `None` when the log records none
    /// (pending after a rotation, or never set).
    async fn current_wrap(&mut self, kind: keylink_keys::WrapKind) -> Result<Option<KeyWrap>> {
        self.sync().await?;
        let c = self.client().await?;
        let (password_wrap, recovery_wrap) = match c
            .request(&Request::GetWraps {
                account: self.account,
            })
            .await
            .map_err(|e| Error::from_server(&self.server.addr, e))?
        {
            Response::Wraps {
                password_wrap,
                recovery_wrap,
            } => (password_wrap, recovery_wrap),
            _ => return Err(Error::Internal("unexpected answer to GetWraps")),
        };
        let log = self.log.as_ref().ok_or(Error::Internal("no log"))?;
        let (recorded, bytes) = match kind {
            keylink_keys::WrapKind::Password => {
                (log.password_wrap_hash().is_some(), Some(password_wrap))
            }
            _ => (log.recovery_wrap_hash().is_some(), recovery_wrap),
        };
        let Some(bytes) = bytes.filter(|_| recorded) else {
            return Ok(None);
        };
        served_wrap(log, &bytes, kind).map(Some)
    }

    /// Check that `password` opens the account's current password wrap
    /// (one Argon2id run): before revoking or changing what protects the
    /// account, so a typo or someone at an unlocked device cannot.
    ///
    /// # Errors
    /// [`Error::WrongPassword`], [`Error::NoWrap`], log and network errors.
    pub async fn check_password(&mut self, password: &Password) -> Result<()> {
        let wrap = self
            .current_wrap(keylink_keys::WrapKind::Password)
            .await?
            .ok_or(Error::NoWrap("the account has no password set"))?;
        let root = match wrap.realm_registration() {
            None => heavy(|| wrap.open_password(password, self.server.net.kdf_policy()))
                .map_err(|_| Error::WrongPassword)?,
            Some(commitment) => {
                // Through the realms: a counted guess, reset once it opens.
                let realms = self.known_realms()?;
                Self::open_through_realms(
                    &self.endpoint,
                    &self.server,
                    &realms,
                    self.account,
                    &wrap,
                    *commitment,
                    password,
                )
                .await?
            }
        };
        if !keylink_keys::primitives::ct_eq(
            root.expose_secret(),
            self.current_root()?.expose_secret(),
        ) {
            return Err(Error::BadLog("the password wrap holds another key".into()));
        }
        Ok(())
    }

    /// Replace the password wrap; `current` must open the current one.
    ///
    /// # Errors
    /// [`Error::WrongPassword`], log and network errors.
    pub async fn change_password(
        &mut self,
        current: &Password,
        new: &Password,
        params: KdfParams,
        recovery: RecoveryUpdate<'_>,
    ) -> Result<Option<RecoveryKey>> {
        crate::realms::check_password_strength(
            new,
            self.realms.as_ref(),
            &[&self.config.account_name, &self.config.device_name],
        )?;
        let log = self.sync().await?;
        let pending = log.password_wrap_hash().is_none();
        let has_recovery = log.recovery_wrap_hash().is_some();
        if !pending {
            self.check_password(current).await?;
        }
        // With no password wrap (a rotation left it pending), holding a
        // current device is the authority: there is no password to check.
        let fresh = match recovery {
            RecoveryUpdate::Keep(k) => {
                if !has_recovery {
                    return Err(Error::NoWrap(
                        "the account has no recovery key set to keep; replace it instead",
                    ));
                }
                self.check_recovery_key(k).await?;
                None
            }
            RecoveryUpdate::Replace => Some(RecoveryKey::generate(&mut self.server.net.rng())),
            RecoveryUpdate::Drop => None,
        };
        let keep = match recovery {
            RecoveryUpdate::Keep(k) => Some(k),
            _ => fresh.as_ref(),
        };
        // A new epoch: whoever kept an old wrap and learns the old password
        // opens only what came before the change.
        let through_realms = self.realms.is_some();
        let wraps = (!through_realms).then_some((new, params));
        self.rotate_with(None, wraps, keep).await?;
        if through_realms {
            self.set_password(new, params).await.map_err(|e| {
                Error::Device(format!(
                    "the account key was rotated, but the new password could not be set through the realms ({e}); run `keylink password change` again"
                ))
            })?;
        }
        Ok(fresh)
    }

    /// Check that `key` opens the account's current recovery wrap.
    async fn check_recovery_key(&mut self, key: &RecoveryKey) -> Result<()> {
        let wrap = self
            .current_wrap(keylink_keys::WrapKind::Recovery)
            .await?
            .ok_or(Error::NoWrap("the account has no recovery key set"))?;
        let root = wrap
            .open_recovery(key)
            .map_err(|_| Error::WrongRecoveryKey)?;
        if !keylink_keys::primitives::ct_eq(
            root.expose_secret(),
            self.current_root()?.expose_secret(),
        ) {
            return Err(Error::BadLog("the recovery wrap holds another key".into()));
        }
        Ok(())
    }

    /// Wrap the current root key under `password` — through the realms
    /// this device knows, or without realms when it knows none — and record
    /// the wrap. The caller has established the person's authority (the
    /// current password, or a rotation this device just made).
    async fn set_password(&mut self, password: &Password, params: KdfParams) -> Result<()> {
        let root = self.current_root()?.duplicate();
        let wrap = self.seal_password_wrap(&root, password, params).await?;
        self.put_wrap(&wrap).await?;
        let identity = self.identity.clone();
        let now = self.server.net.now_ms();
        self.append_with(|log, root| {
            if root.epoch() != wrap.epoch() {
                return Err(Error::Busy);
            }
            Ok(vec![
                log.password_changed(&identity, root, &wrap, now)
                    .map_err(|e| Error::BadLog(e.to_string()))?,
            ])
        })
        .await
    }

    /// Make a new recovery key, wrap the root key under it and record it;
    /// the old one stops working. `password` must open the current
    /// password wrap. Returns the new key, to show once: once the log
    /// records it, it is returned even if catching up afterwards fails.
    ///
    /// # Errors
    /// [`Error::WrongPassword`], log and network errors.
    pub async fn rotate_recovery_key(&mut self, password: &Password) -> Result<RecoveryKey> {
        self.check_password(password).await?;
        let root = self.current_root()?.duplicate();
        let key = RecoveryKey::generate(&mut self.server.net.rng());
        let wrap = KeyWrap::seal_recovery(&root, &self.account, &key, &mut self.server.net.rng())
            .map_err(|e| Error::BadSecret(e.to_string()))?;
        self.put_wrap(&wrap).await?;
        let identity = self.identity.clone();
        let now = self.server.net.now_ms();
        self.append_with(|log, root| {
            if root.epoch() != wrap.epoch() {
                return Err(Error::Busy);
            }
            Ok(vec![
                log.recovery_key_changed(&identity, root, &wrap, now)
                    .map_err(|e| Error::BadLog(e.to_string()))?,
            ])
        })
        .await?;
        Ok(key)
    }

    /// Whether a recovery key is set, and since which log entry.
    ///
    /// # Errors
    /// As [`Device::sync`].
    pub async fn recovery_status(&mut self) -> Result<RecoveryStatus> {
        let log = self.sync().await?;
        let changed_at = log
            .history()
            .iter()
            .rev()
            .find(|h| {
                matches!(
                    h.what,
                    HistoryAction::RecoveryKeyChanged
                        | HistoryAction::Created(_)
                        | HistoryAction::Rotated(_)
                )
            })
            .map(|h| h.sequence);
        Ok(RecoveryStatus {
            set: log.recovery_wrap_hash().is_some(),
            changed_at,
        })
    }

    /// The account's realm set, as this device knows it.
    pub fn realms(&self) -> Option<&Realms> {
        self.realms.as_ref()
    }

    /// Pin the account's realm set on this device (a device that joined by
    /// linking learns it this way: from the app, or `--realm`).
    ///
    /// # Errors
    /// [`Error::KeyStore`].
    pub fn set_realms(&mut self, realms: Option<Realms>) -> Result<()> {
        if let Some(r) = &realms {
            r.set()?;
        }
        self.config.set_realms(realms.as_ref());
        let json =
            serde_json::to_vec_pretty(&self.config).map_err(|_| Error::Internal("settings"))?;
        self.store.save(DEVICE, &json)?;
        self.realms = realms;
        Ok(())
    }

    /// Ask every realm about the account's current registration, and clear
    /// any lock a guesser left (a current device holds the realm-admin
    /// key). Empty when the password wrap uses no realms.
    ///
    /// # Errors
    /// [`Error::Realm`] if this device does not know the realm set; log and
    /// network errors.
    pub async fn check_realms(&mut self) -> Result<Vec<crate::realms::RealmCheck>> {
        let Some(wrap) = self.current_wrap(keylink_keys::WrapKind::Password).await? else {
            return Ok(Vec::new());
        };
        let Some(commitment) = wrap.realm_registration().copied() else {
            return Ok(Vec::new());
        };
        let realms = self.realms.clone().ok_or_else(|| {
            Error::Realm(
                "this device does not know the account's realms; tell it with `keylink realms set --realm ADDR=FINGERPRINT`".into(),
            )
        })?;
        let roots: Vec<&RootKey> = self.roots.values().collect();
        let checks = crate::realms::check_and_clear(
            &self.endpoint,
            &self.server.net,
            &realms,
            self.account,
            commitment,
            &roots,
            &self.config.realm_totals,
        )
        .await;
        // Remember the highest count each realm reported.
        for (info, check) in realms.realms.iter().zip(&checks) {
            let seen = self
                .config
                .realm_totals
                .entry(info.fingerprint.to_string())
                .or_insert(0);
            *seen = (*seen).max(check.total);
        }
        let json =
            serde_json::to_vec_pretty(&self.config).map_err(|_| Error::Internal("settings"))?;
        self.store.save(DEVICE, &json)?;
        Ok(checks)
    }

    fn known_realms(&self) -> Result<Realms> {
        self.realms.clone().ok_or_else(|| {
            Error::Realm(
                "the account's password is guarded by realms this device does not know; give them with `keylink realms set --realm ADDR=FINGERPRINT`".into(),
            )
        })
    }

    /// A password wrap of `root`: registered with this device's realms
    /// (replacing what each holds, with the realm-admin key of whichever
    /// root key of this device it names), or without realms when this
    /// device knows none.
    async fn seal_password_wrap(
        &self,
        root: &RootKey,
        password: &Password,
        params: KdfParams,
    ) -> Result<KeyWrap> {
        let net = self.server.net.clone();
        let Some(realms) = &self.realms else {
            return heavy(|| {
                KeyWrap::seal_password(root, &self.account, password, params, &mut net.rng())
            })
            .map_err(|e| Error::BadSecret(e.to_string()));
        };
        let mut salt = [0u8; keylink_keys::wrap::WRAP_SALT_LEN];
        rand_core::Rng::fill_bytes(&mut net.rng(), &mut salt);
        let stretched =
            heavy(|| keylink_keys::StretchedPassword::derive_for_sealing(password, &salt, params))
                .map_err(|e| Error::BadSecret(e.to_string()))?;
        let roots: Vec<&RootKey> = self.roots.values().collect();
        let (reg, _skipped) = crate::realms::register_all(
            &self.endpoint,
            &net,
            realms,
            self.account,
            root,
            &roots,
            &stretched,
        )
        .await?;
        KeyWrap::seal_realm(
            root,
            &self.account,
            params,
            salt,
            reg.descriptor.commitment(),
            &reg.kek,
            &mut net.rng(),
        )
        .map_err(|e| Error::BadSecret(e.to_string()))
    }

    async fn put_wrap(&mut self, wrap: &KeyWrap) -> Result<()> {
        self.authenticate().await?;
        let c = self.client().await?;
        c.request(&Request::PutWrap {
            wrap: wrap.to_bytes(),
        })
        .await
        .map_err(|e| Error::from_server(&self.server.addr, e))?;
        Ok(())
    }

    /// Existing device: link the new device showing `code`, asking
    /// `approve` (with what asks to join) before anything changes.
    ///
    /// # Errors
    /// [`Error::Link`] (in words for the person), network errors.
    pub async fn approve_link<F, Fut>(
        &mut self,
        code: &str,
        options: &LinkOptions,
        approve: F,
    ) -> Result<DeviceId>
    where
        F: FnOnce(JoinInfo) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.link_existing(Approach::Scan(code), options, approve)
            .await
    }

    /// The existing device's side of a link, either way round.
    async fn link_existing<F, Fut>(
        &mut self,
        approach: Approach<'_>,
        options: &LinkOptions,
        approve: F,
    ) -> Result<DeviceId>
    where
        F: FnOnce(JoinInfo) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.sync().await?;
        self.authenticate().await?;
        let client = self.client().await?;
        let root = self.current_root()?.duplicate();
        let mut log = self.log.clone().ok_or(Error::Internal("no log"))?;
        let me = link::Existing {
            server: &client,
            identity: &self.identity,
            root: &root,
            log: &mut log,
        };
        let result = match approach {
            Approach::Scan(code) => {
                link::scan_as_existing(&self.endpoint, code, me, options, approve).await
            }
            Approach::Shown(shown) => link::finish_as_existing(*shown, me, options, approve).await,
        };
        // Whatever happened, the log may have moved: remember it.
        let _ = self.sync().await;
        Ok(result?)
    }
}

impl Device {
    /// Existing device, reverse direction: make a code for a new device to
    /// scan (with [`Device::scan_link`]). Then
    /// [`Device::finish_shown_link`].
    ///
    /// # Errors
    /// [`Error::Link`] if the server cannot be reached.
    pub async fn show_link_for_new(
        &mut self,
        via: ShowVia,
        options: &LinkOptions,
    ) -> Result<ShownForNew> {
        self.sync().await?;
        Ok(ShownForNew {
            shown: link::show_as_existing(&self.endpoint, via, options).await?,
            by: self.identity.device_id(),
        })
    }

    /// Existing device: wait for the new device to scan `shown`, then link
    /// it as [`Device::approve_link`] does, asking `approve` first.
    ///
    /// # Errors
    /// As [`Device::approve_link`].
    pub async fn finish_shown_link<F, Fut>(
        &mut self,
        shown: ShownForNew,
        options: &LinkOptions,
        approve: F,
    ) -> Result<DeviceId>
    where
        F: FnOnce(JoinInfo) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        // The code names no account: only the device that made it may
        // finish it, or the new device would join another account.
        if shown.by != self.identity.device_id() {
            return Err(Error::Device(
                "this code was shown by another device; finish it there".into(),
            ));
        }
        let shown = shown.shown;
        self.link_existing(Approach::Shown(Box::new(shown)), options, approve)
            .await
    }

    /// New device, reverse direction: scan the code an existing device of
    /// the account on `server` shows, and set this store up as the new
    /// device once it approves.
    ///
    /// # Errors
    /// [`Error::AlreadyInitialized`], [`Error::Link`], [`Error::KeyStore`].
    pub async fn scan_link(
        store: Arc<dyn KeyStore>,
        server: ServerInfo,
        code: &str,
        account_name: Option<&str>,
        device_name: &DeviceName,
        options: &LinkOptions,
    ) -> Result<Device> {
        Self::refuse_if_set_up(store.as_ref())?;
        let identity = identity_in(store.as_ref(), &server.net)?;
        let endpoint = endpoint_for(&server)?;
        let device = joining(store.as_ref(), &identity, device_name)?;
        let saved = std::sync::Mutex::new(None);
        let save = saver(
            &store,
            &identity,
            &server,
            &endpoint,
            account_name,
            device_name,
            &saved,
        );
        link::scan_as_new(&endpoint, code, Some(server.clone()), device, options, save).await?;
        saved
            .into_inner()
            .ok()
            .flatten()
            .ok_or(Error::Internal("linked but not saved"))
    }
}

/// A code an existing device shows for a new device to scan
/// ([`Device::show_link_for_new`]).
pub struct ShownForNew {
    shown: link::PendingShow,
    by: DeviceId,
}

impl ShownForNew {
    /// The code text to show (and to render as a QR code).
    pub fn code_text(&self) -> &str {
        self.shown.code_text()
    }
}

/// How the existing device meets the new one.
enum Approach<'a> {
    /// It scans the code the new device shows.
    Scan(&'a str),
    /// It showed a code; the new device scans it.
    Shown(Box<link::PendingShow>),
}

/// What a new device says of itself when it joins: its identity, name, and
/// the head it trusted before (a retry after a failure).
fn joining(
    store: &dyn KeyStore,
    identity: &Arc<DeviceIdentity>,
    device_name: &DeviceName,
) -> Result<NewDevice> {
    let known_head = match store.load(HEAD)? {
        Some(h) => Some(Head::from_bytes(&h).map_err(|_| Error::Damaged("head"))?),
        None => None,
    };
    Ok(NewDevice {
        identity: identity.clone(),
        name: device_name.clone(),
        known_head,
    })
}

/// The new device's key-store write at the end of a link: save the keys,
/// log and settings, keeping the set-up device in `saved`.
fn saver<'a>(
    store: &'a Arc<dyn KeyStore>,
    identity: &'a Arc<DeviceIdentity>,
    server: &'a ServerInfo,
    endpoint: &'a Endpoint,
    account_name: Option<&'a str>,
    device_name: &'a DeviceName,
    saved: &'a std::sync::Mutex<Option<Device>>,
) -> impl FnOnce(&Linked) -> std::result::Result<(), String> + 'a {
    move |l: &Linked| {
        let mut roots = BTreeMap::new();
        for k in &l.older_roots {
            roots.insert(k.epoch().0, k.duplicate());
        }
        roots.insert(l.root.epoch().0, l.root.duplicate());
        let id_hex = hex(l.account.as_bytes());
        let r = Device::fresh(Parts {
            store: store.clone(),
            identity: identity.clone(),
            server: server.clone(),
            account: l.account,
            account_name: account_name.unwrap_or(&id_hex),
            device_name,
            roots,
            log: l.log.clone(),
            endpoint: endpoint.clone(),
            // Linking does not carry the realm set: an app configures it,
            // the command line takes it with --realm.
            realms: None,
        })
        .map_err(|e| e.to_string());
        let ok = r.is_ok();
        if let Ok(mut slot) = saved.lock() {
            *slot = r.ok();
        }
        if ok {
            Ok(())
        } else {
            Err("could not save the account's keys on this device".into())
        }
    }
}

/// A new device's code on display.
pub struct ShownLink {
    store: Arc<dyn KeyStore>,
    identity: Arc<DeviceIdentity>,
    server: ServerInfo,
    endpoint: Endpoint,
    shown: link::PendingShow,
}

impl ShownLink {
    /// The code text to show (and to render as a QR code).
    pub fn code_text(&self) -> &str {
        self.shown.code_text()
    }

    /// Wait for an existing device to scan the code and approve; then save
    /// the account's keys and settings, and return the set-up device.
    ///
    /// # Errors
    /// [`Error::Link`], [`Error::KeyStore`].
    pub async fn finish(
        self,
        account_name: Option<&str>,
        device_name: &DeviceName,
        options: &LinkOptions,
    ) -> Result<Device> {
        let ShownLink {
            store,
            identity,
            server,
            endpoint,
            shown,
        } = self;
        let device = joining(store.as_ref(), &identity, device_name)?;
        let saved = std::sync::Mutex::new(None);
        let save = saver(
            &store,
            &identity,
            &server,
            &endpoint,
            account_name,
            device_name,
            &saved,
        );
        let linked =
            link::finish_as_new(&endpoint, shown, server.clone(), device, options, save).await?;
        let _ = linked;
        let device = saved
            .into_inner()
            .ok()
            .flatten()
            .ok_or(Error::Internal("linked but not saved"))?;
        Ok(device)
    }
}

fn older_roots(
    root: &RootKey,
    account: &AccountId,
    log: &LogState,
) -> Result<BTreeMap<u64, RootKey>> {
    check_root(root, account, log)?;
    let mut out = BTreeMap::new();
    if !log.epoch_history().is_empty() {
        for k in open_epoch_history(root, account, log.epoch_history())
            .map_err(|e| Error::BadLog(format!("epoch history: {e}")))?
        {
            // Each older key must be the one the log records for its epoch.
            check_root(&k, account, log)?;
            out.insert(k.epoch().0, k);
        }
    }
    if (0..root.epoch().0).any(|e| !out.contains_key(&e)) {
        return Err(Error::BadLog("the epoch history misses an epoch".into()));
    }
    Ok(out)
}

/// `root` must be the key whose account key the log records for its epoch.
/// Parse a wrap the server served as the current one of `kind` and check
/// it against the verified log, saying what is wrong with it — another
/// kind, another account, another epoch, or simply not the recorded one —
/// rather than letting it fail to open as a wrong password would.
fn served_wrap(log: &LogState, bytes: &[u8], kind: keylink_keys::WrapKind) -> Result<KeyWrap> {
    let name = |k: keylink_keys::WrapKind| match k {
        keylink_keys::WrapKind::Password => "password",
        _ => "recovery",
    };
    let what = name(kind);
    let wrap =
        KeyWrap::from_bytes(bytes).map_err(|e| Error::BadLog(format!("{what} wrap: {e}")))?;
    if wrap.kind() != kind {
        return Err(Error::BadLog(format!(
            "the server served the {} wrap as the {what} wrap; nothing was changed",
            name(wrap.kind())
        )));
    }
    if wrap.account() != log.account() {
        return Err(Error::BadLog(format!(
            "the server served another account's {what} wrap; nothing was changed"
        )));
    }
    if wrap.epoch() != log.epoch() {
        return Err(Error::BadLog(format!(
            "this {what} wrap belongs to epoch {}, the log is at {}: the server served an outdated wrap; nothing was changed",
            wrap.epoch().0,
            log.epoch().0
        )));
    }
    log.check_wrap(&wrap)
        .map_err(|e| Error::BadLog(format!("{what} wrap: {e}")))?;
    Ok(wrap)
}

fn check_root(root: &RootKey, account: &AccountId, log: &LogState) -> Result<()> {
    let expected = log.account_key(root.epoch()).ok_or(Error::BadLog(
        "a key for an epoch the log does not have".into(),
    ))?;
    if !root.matches_account_key(account, &expected) {
        return Err(Error::BadLog(format!(
            "the key of epoch {} is not the one the log records",
            root.epoch().0
        )));
    }
    Ok(())
}

/// The device whose removal waits for its rotation, with the name it had.
fn pending_removal(log: &LogState) -> Option<(DeviceId, Option<String>)> {
    use keylink_account::HistoryAction;
    if !log.rotation_pending() {
        return None;
    }
    let id = log.history().iter().rev().find_map(|h| match h.what {
        HistoryAction::Revoked(id) => Some(id),
        _ => None,
    })?;
    let name = log.history().iter().find_map(|h| match &h.what {
        HistoryAction::Created(r) | HistoryAction::Linked(r) | HistoryAction::Recovered(r)
            if r.keys.device_id() == id =>
        {
            Some(r.name.as_str().to_string())
        }
        _ => None,
    });
    Some((id, name))
}

/// Why nothing can be appended while a removal waits for its rotation.
fn rotation_pending(log: &LogState) -> Error {
    let who = match pending_removal(log) {
        Some((id, Some(name))) => format!("{name:?} ({id})"),
        Some((id, None)) => id.to_string(),
        None => "the removed device".to_string(),
    };
    Error::Device(format!(
        "revoking {who} stopped part-way (the server failed after the removal and before the key rotation); \
         nothing else can change until it is finished: revoke {who} again, then retry"
    ))
}

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    hex::decode(s).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    // Test code: a failed unwrap is a failed test.
    #![allow(clippy::unwrap_used)]

    use keylink_account::create_account;
    use keylink_keys::{DeviceIdentity, KdfParams, Password, RecoveryKey, WrapKind};
    use keylink_wire::account::DeviceName;
    use rand::SeedableRng;

    use super::served_wrap;

    /// A dishonest server's swapped or stale wraps are reported as what
    /// they are, never as a wrong password.
    #[test]
    fn a_swapped_or_foreign_wrap_is_named_not_taken_for_a_wrong_password() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(7);
        let device = DeviceIdentity::generate(&mut rng);
        let pw = Password::new("a password for this test").unwrap();
        let rk = RecoveryKey::generate(&mut rng);
        let params = KdfParams::insecure_for_tests(64, 1, 1);
        let name = DeviceName::new("phone").unwrap();
        let a = create_account(&device, name.clone(), &pw, params, Some(&rk), 1, &mut rng).unwrap();
        let other = create_account(&device, name, &pw, params, None, 1, &mut rng).unwrap();
        let recovery = a.recovery_wrap.as_ref().unwrap().to_bytes();
        let text = |bytes: &[u8], kind| served_wrap(&a.log, bytes, kind).unwrap_err().to_string();
        assert!(
            text(&recovery, WrapKind::Password)
                .contains("served the recovery wrap as the password wrap")
        );
        assert!(
            text(&other.password_wrap.to_bytes(), WrapKind::Password)
                .contains("another account's password wrap")
        );
        // A wrap of the right account and kind for a newer epoch than the log's.
        let newer = keylink_keys::RootKey::generate(keylink_keys::Epoch(3), &mut rng);
        let stale = keylink_keys::KeyWrap::seal_password(&newer, &a.account, &pw, params, &mut rng)
            .unwrap()
            .to_bytes();
        assert!(text(&stale, WrapKind::Password).contains("belongs to epoch 3, the log is at 0"));
        // The recorded wraps pass.
        served_wrap(&a.log, &a.password_wrap.to_bytes(), WrapKind::Password).unwrap();
        served_wrap(&a.log, &recovery, WrapKind::Recovery).unwrap();
    }
}
