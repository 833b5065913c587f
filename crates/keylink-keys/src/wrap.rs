//! Key wraps: the root key encrypted under a password or a recovery key.
//!
//! A wrap is a fixed 162-byte string (layout in `docs/protocol.md` and on
//! [`WRAP_LEN`]). Its 82-byte header is the associated data of the AEAD, and
//! a key-commitment tag over the header is checked in constant time before
//! decryption, so changing any header byte — the KDF parameters included —
//! makes the wrap fail to open, and a wrap cannot be made to open under two
//! different passwords.
//!
//! Argon2id parameters are bounded twice: a reader refuses a wrap whose
//! parameters are above a fixed ceiling (a hostile header must not make a
//! device allocate gigabytes) while parsing, before anything is allocated,
//! and refuses parameters below the floor (a downgrade) before running
//! Argon2id, unless the caller explicitly chose [`KdfPolicy::insecure_accept_weak`].

use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ids::{ACCOUNT_ID_LEN, AccountId, Epoch};
use crate::labels;
use crate::password::Password;
use crate::primitives::{XNONCE_LEN, ct_eq, hkdf32, sha256, xchacha_open, xchacha_seal};
use crate::realm_kek::RealmKek;
use crate::recovery::RecoveryKey;
use crate::root::{KEY_LEN, RootKey};

/// The four bytes every wrap starts with.
pub const WRAP_MAGIC: [u8; 4] = *b"KLWR";
/// The wrap format version of password wraps without realms and of
/// recovery wraps. This build writes and reads it.
pub const WRAP_VERSION: u8 = 1;
/// The wrap format version of realm-guarded password wraps (KDF id 3): the
/// version-1 header followed by the realm registration's commitment.
pub const WRAP_VERSION_REALM: u8 = 2;
/// KDF id of a realm-guarded password wrap: Argon2id, then the realms'
/// threshold OPRF, mixed by HKDF (§19).
pub const KDF_ID_PASSWORD_REALM: u8 = 3;
/// Length of a wrap's salt.
pub const WRAP_SALT_LEN: usize = 16;
/// Length of the header (the AEAD's associated data).
pub const WRAP_HEADER_LEN: usize =
    4 + 1 + 1 + ACCOUNT_ID_LEN + 8 + 4 + 4 + 4 + WRAP_SALT_LEN + XNONCE_LEN;
/// Length of the key-commitment tag.
pub const WRAP_COMMITMENT_LEN: usize = 32;
/// Length of the encrypted root key with its Poly1305 tag.
pub const WRAP_CIPHERTEXT_LEN: usize = KEY_LEN + crate::primitives::TAG_LEN;
/// Length of a whole wrap: header ‖ commitment ‖ ciphertext.
pub const WRAP_LEN: usize = WRAP_HEADER_LEN + WRAP_COMMITMENT_LEN + WRAP_CIPHERTEXT_LEN;
/// Length of a version-2 (realm) header: the version-1 header's fields,
/// then the 32-byte registration commitment.
pub const WRAP_HEADER_LEN_REALM: usize = WRAP_HEADER_LEN + 32;
/// Length of a whole version-2 (realm) wrap.
pub const WRAP_LEN_REALM: usize = WRAP_HEADER_LEN_REALM + WRAP_COMMITMENT_LEN + WRAP_CIPHERTEXT_LEN;

/// Argon2id memory floor: 19 MiB (OWASP's minimum for Argon2id).
pub const ARGON2_FLOOR_M_KIB: u32 = 19 * 1024;
/// Argon2id time floor (passes).
pub const ARGON2_FLOOR_T: u32 = 2;
/// Argon2id memory ceiling: 1 GiB.
pub const ARGON2_CEILING_M_KIB: u32 = 1024 * 1024;
/// Argon2id time ceiling (passes).
pub const ARGON2_CEILING_T: u32 = 10;
/// Argon2id parallelism ceiling (lanes).
pub const ARGON2_CEILING_P: u32 = 8;

/// What secret a wrap opens with. The byte is the format's KDF id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WrapKind {
    /// KDF id 1: Argon2id (version 0x13) over the normalised password.
    Password,
    /// KDF id 2: HKDF-SHA256 over the recovery key's 64 ASCII digits.
    Recovery,
}

impl WrapKind {
    /// The KDF id byte.
    pub const fn kdf_id(self) -> u8 {
        match self {
            WrapKind::Password => 1,
            WrapKind::Recovery => 2,
        }
    }

    fn from_kdf_id(id: u8) -> Result<Self> {
        match id {
            1 => Ok(WrapKind::Password),
            2 => Ok(WrapKind::Recovery),
            got => Err(Error::UnsupportedKdf { got }),
        }
    }

    const fn name(self) -> &'static str {
        match self {
            WrapKind::Password => "password",
            WrapKind::Recovery => "recovery key",
        }
    }
}

/// Argon2id cost parameters, as stored in a password wrap. Built only
/// through [`KdfParams::new`] (floor and ceiling enforced) or the explicitly
/// insecure [`KdfParams::insecure_for_tests`]. Two values are equal when
/// their stored parameters are (how they were built does not count).
#[derive(Clone, Copy, Debug)]
pub struct KdfParams {
    m_kib: u32,
    t: u32,
    p: u32,
    /// Set only by [`KdfParams::insecure_for_tests`]: sealing skips the floor.
    insecure: bool,
}

impl KdfParams {
    /// Production default: m = 64 MiB, t = 3, p = 1.
    pub const DEFAULT: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
        insecure: false,
    };
    /// The parameters a recovery wrap stores (HKDF has none).
    const NONE: KdfParams = KdfParams {
        m_kib: 0,
        t: 0,
        p: 0,
        insecure: false,
    };

    /// Parameters between the floor and the ceiling.
    ///
    /// # Errors
    /// [`Error::ParamsBelowFloor`] or [`Error::ParamsAboveCeiling`].
    pub fn new(m_kib: u32, t: u32, p: u32) -> Result<Self> {
        let params = KdfParams {
            m_kib,
            t,
            p,
            insecure: false,
        };
        params.check_ceiling()?;
        params.check_floor()?;
        Ok(params)
    }

    /// Parameters below the floor, for tests and the simulator's low-cost
    /// accounts only: a wrap written with them can be opened only under
    /// [`KdfPolicy::insecure_accept_weak`]. Argon2id's own minimums
    /// (t ≥ 1, p ≥ 1, m ≥ 8·p KiB) still apply when it runs.
    pub const fn insecure_for_tests(m_kib: u32, t: u32, p: u32) -> Self {
        KdfParams {
            m_kib,
            t,
            p,
            insecure: true,
        }
    }

    /// Whether these were made by [`KdfParams::insecure_for_tests`].
    pub const fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// Memory cost in KiB.
    pub const fn m_kib(&self) -> u32 {
        self.m_kib
    }

    /// Time cost: passes over memory.
    pub const fn t(&self) -> u32 {
        self.t
    }

    /// Parallelism: lanes.
    pub const fn p(&self) -> u32 {
        self.p
    }

    fn check_ceiling(&self) -> Result<()> {
        if self.m_kib > ARGON2_CEILING_M_KIB
            || self.t > ARGON2_CEILING_T
            || self.p > ARGON2_CEILING_P
        {
            return Err(Error::ParamsAboveCeiling {
                m_kib: self.m_kib,
                t: self.t,
                p: self.p,
            });
        }
        Ok(())
    }

    fn check_floor(&self) -> Result<()> {
        if self.m_kib < ARGON2_FLOOR_M_KIB || self.t < ARGON2_FLOOR_T || self.p < 1 {
            return Err(Error::ParamsBelowFloor {
                m_kib: self.m_kib,
                t: self.t,
                p: self.p,
            });
        }
        Ok(())
    }
}

impl PartialEq for KdfParams {
    fn eq(&self, other: &Self) -> bool {
        (self.m_kib, self.t, self.p) == (other.m_kib, other.t, other.p)
    }
}

impl Eq for KdfParams {}

/// What a reader accepts when it opens a password wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KdfPolicy {
    accept_below_floor: bool,
}

impl KdfPolicy {
    /// Accept parameters below the floor (never above the ceiling). For tests
    /// and the simulator's clearly labelled low-cost accounts only.
    pub const fn insecure_accept_weak() -> Self {
        KdfPolicy {
            accept_below_floor: true,
        }
    }
}

/// A parsed key wrap. Holds no secret: everything in it is ciphertext or
/// public metadata, and it can be stored anywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyWrap {
    kind: WrapKind,
    account: AccountId,
    epoch: Epoch,
    params: KdfParams,
    salt: [u8; WRAP_SALT_LEN],
    nonce: [u8; XNONCE_LEN],
    /// The realm registration's commitment, for a realm-guarded password wrap.
    realm: Option<[u8; 32]>,
    commitment: [u8; WRAP_COMMITMENT_LEN],
    ciphertext: [u8; WRAP_CIPHERTEXT_LEN],
}

impl KeyWrap {
    /// Wrap `root` under a realm-guarded key (§19): `kek` came from
    /// Argon2id over the password with `salt` and `params`, and the realms'
    /// OPRF for the registration `registration` (its commitment). Fresh nonce.
    ///
    /// # Errors
    /// [`Error::ParamsAboveCeiling`] or [`Error::ParamsBelowFloor`].
    pub fn seal_realm(
        root: &RootKey,
        account: &AccountId,
        params: KdfParams,
        salt: [u8; WRAP_SALT_LEN],
        registration: [u8; 32],
        kek: &RealmKek,
        rng: &mut impl CryptoRng,
    ) -> Result<Self> {
        let mut nonce = [0u8; XNONCE_LEN];
        rng.fill_bytes(&mut nonce);
        Self::insecure_seal_realm_with(root, account, params, salt, registration, kek, nonce)
    }

    /// [`KeyWrap::seal_realm`] with a caller-chosen nonce, for the test
    /// vectors. Insecure if a nonce is ever reused under one key.
    ///
    /// # Errors
    /// As [`KeyWrap::seal_realm`].
    pub fn insecure_seal_realm_with(
        root: &RootKey,
        account: &AccountId,
        params: KdfParams,
        salt: [u8; WRAP_SALT_LEN],
        registration: [u8; 32],
        kek: &RealmKek,
        nonce: [u8; XNONCE_LEN],
    ) -> Result<Self> {
        params.check_ceiling()?;
        if !params.insecure {
            params.check_floor()?;
        }
        Self::seal_under(
            WrapKind::Password,
            Some(registration),
            root,
            account,
            params,
            salt,
            nonce,
            kek.expose_secret(),
        )
    }

    /// Open a realm-guarded password wrap with the key the realms helped
    /// derive. Run [`StretchedPassword::derive`](crate::StretchedPassword::derive)
    /// with this wrap's [`KeyWrap::salt`] and [`KeyWrap::params`] first.
    ///
    /// # Errors
    /// [`Error::WrongWrapKind`], [`Error::RealmMismatch`] (a wrap without
    /// realms), or [`Error::WrongSecretOrTampered`].
    pub fn open_realm(&self, kek: &RealmKek) -> Result<RootKey> {
        self.expect_kind(WrapKind::Password)?;
        if self.realm.is_none() {
            return Err(Error::RealmMismatch {
                needs: "does not use realms",
            });
        }
        self.open_under_kek(kek.expose_secret())
    }

    /// The realm registration a realm-guarded password wrap names: what the
    /// device checks every realm's registration against.
    pub fn realm_registration(&self) -> Option<&[u8; 32]> {
        self.realm.as_ref()
    }

    /// The Argon2id salt.
    pub fn salt(&self) -> &[u8; WRAP_SALT_LEN] {
        &self.salt
    }

    /// Wrap `root` under a password with fresh salt and nonce.
    ///
    /// # Errors
    /// [`Error::ParamsAboveCeiling`], or [`Error::Kdf`] if Argon2id refuses
    /// the parameters (below its own minimums).
    pub fn seal_password(
        root: &RootKey,
        account: &AccountId,
        password: &Password,
        params: KdfParams,
        rng: &mut impl CryptoRng,
    ) -> Result<Self> {
        let (salt, nonce) = fresh_salt_and_nonce(rng);
        Self::insecure_seal_password_with(root, account, password, params, salt, nonce)
    }

    /// Wrap `root` under a recovery key with fresh salt and nonce.
    ///
    /// # Errors
    /// None in practice; the AEAD's length limit is far above a key.
    pub fn seal_recovery(
        root: &RootKey,
        account: &AccountId,
        key: &RecoveryKey,
        rng: &mut impl CryptoRng,
    ) -> Result<Self> {
        let (salt, nonce) = fresh_salt_and_nonce(rng);
        Self::insecure_seal_recovery_with(root, account, key, salt, nonce)
    }

    /// [`KeyWrap::seal_password`] with a caller-chosen salt and nonce, so the
    /// test vectors are reproducible. Insecure if a salt or nonce is ever
    /// reused: production code calls `seal_password`.
    ///
    /// # Errors
    /// As [`KeyWrap::seal_password`].
    pub fn insecure_seal_password_with(
        root: &RootKey,
        account: &AccountId,
        password: &Password,
        params: KdfParams,
        salt: [u8; WRAP_SALT_LEN],
        nonce: [u8; XNONCE_LEN],
    ) -> Result<Self> {
        params.check_ceiling()?;
        if !params.insecure {
            // Parameters read from a weak wrap are not a way around the floor.
            params.check_floor()?;
        }
        let kek = argon2id(password, &salt, params)?;
        Self::seal_under(
            WrapKind::Password,
            None,
            root,
            account,
            params,
            salt,
            nonce,
            &kek,
        )
    }

    /// [`KeyWrap::seal_recovery`] with a caller-chosen salt and nonce, for
    /// the test vectors. Insecure if a salt or nonce is ever reused.
    ///
    /// # Errors
    /// As [`KeyWrap::seal_recovery`].
    pub fn insecure_seal_recovery_with(
        root: &RootKey,
        account: &AccountId,
        key: &RecoveryKey,
        salt: [u8; WRAP_SALT_LEN],
        nonce: [u8; XNONCE_LEN],
    ) -> Result<Self> {
        let kek = recovery_kek(key, &salt);
        Self::seal_under(
            WrapKind::Recovery,
            None,
            root,
            account,
            KdfParams::NONE,
            salt,
            nonce,
            &kek,
        )
    }

    /// Open a password wrap.
    ///
    /// The key that comes out is the key this wrap holds, which is not
    /// necessarily the account's current one: a server can serve an
    /// outdated wrap. Callers check the wrap's [`KeyWrap::hash`] against the
    /// account log before opening it (which also spares the device a hostile
    /// header's Argon2id cost) and the opened key with
    /// [`RootKey::matches_account_key`].
    ///
    /// Checks, in order: the wrap is a password wrap; its parameters are not
    /// above the ceiling and, unless `policy` says otherwise, not below the
    /// floor; only then runs Argon2id; then the commitment (constant time);
    /// then the AEAD.
    ///
    /// # Errors
    /// [`Error::WrongWrapKind`], [`Error::ParamsAboveCeiling`],
    /// [`Error::ParamsBelowFloor`], or [`Error::WrongSecretOrTampered`].
    pub fn open_password(&self, password: &Password, policy: KdfPolicy) -> Result<RootKey> {
        self.expect_kind(WrapKind::Password)?;
        if self.realm.is_some() {
            return Err(Error::RealmMismatch {
                needs: "needs the realms",
            });
        }
        self.params.check_ceiling()?;
        if !policy.accept_below_floor {
            self.params.check_floor()?;
        }
        let kek =
            argon2id(password, &self.salt, self.params).map_err(|_| Error::ParamsBelowFloor {
                m_kib: self.params.m_kib,
                t: self.params.t,
                p: self.params.p,
            })?;
        self.open_under_kek(&kek)
    }

    /// Open a recovery-key wrap.
    ///
    /// # Errors
    /// [`Error::WrongWrapKind`] or [`Error::WrongSecretOrTampered`].
    pub fn open_recovery(&self, key: &RecoveryKey) -> Result<RootKey> {
        self.expect_kind(WrapKind::Recovery)?;
        let kek = recovery_kek(key, &self.salt);
        self.open_under_kek(&kek)
    }

    /// Parse a wrap. Structure only: nothing secret is needed and nothing is
    /// decrypted. Parameters above the ceiling are refused here, so a hostile
    /// header is rejected before anything is allocated for it.
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::BadMagic`], [`Error::UnsupportedVersion`],
    /// [`Error::TrailingBytes`], [`Error::UnsupportedKdf`],
    /// [`Error::Malformed`] or [`Error::ParamsAboveCeiling`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let magic: [u8; 4] = r.array()?;
        if magic != WRAP_MAGIC {
            return Err(Error::BadMagic);
        }
        let version = r.u8()?;
        let len = match version {
            WRAP_VERSION => WRAP_LEN,
            WRAP_VERSION_REALM => WRAP_LEN_REALM,
            got => return Err(Error::UnsupportedVersion { got }),
        };
        if bytes.len() < len {
            return Err(Error::Truncated {
                needed: len,
                got: bytes.len(),
            });
        }
        if bytes.len() > len {
            return Err(Error::TrailingBytes {
                extra: bytes.len() - len,
            });
        }
        let kdf_id = r.u8()?;
        // Version 1 knows KDF ids 1 and 2; version 2 knows only 3.
        let kind = match (version, kdf_id) {
            (WRAP_VERSION_REALM, KDF_ID_PASSWORD_REALM) => WrapKind::Password,
            (WRAP_VERSION, 1 | 2) => WrapKind::from_kdf_id(kdf_id)?,
            (_, got) => return Err(Error::UnsupportedKdf { got }),
        };
        let account = AccountId::from_bytes(r.array()?);
        let epoch = Epoch(u64::from_be_bytes(r.array()?));
        let params = KdfParams {
            m_kib: u32::from_be_bytes(r.array()?),
            t: u32::from_be_bytes(r.array()?),
            p: u32::from_be_bytes(r.array()?),
            insecure: false,
        };
        match kind {
            WrapKind::Password => params.check_ceiling()?,
            WrapKind::Recovery if params != KdfParams::NONE => {
                return Err(Error::Malformed {
                    what: "recovery wrap with Argon2id parameters",
                });
            }
            WrapKind::Recovery => {}
        }
        let salt = r.array()?;
        let nonce = r.array()?;
        let realm = match version {
            WRAP_VERSION_REALM => Some(r.array()?),
            _ => None,
        };
        Ok(Self {
            kind,
            account,
            epoch,
            params,
            salt,
            nonce,
            realm,
            commitment: r.array()?,
            ciphertext: r.array()?,
        })
    }

    /// The wrap's bytes: header ‖ commitment ‖ ciphertext.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(WRAP_LEN_REALM);
        out.extend_from_slice(&self.header());
        out.extend_from_slice(&self.commitment);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// SHA-256 of the wrap's bytes: what the account log records, so a
    /// server serving an outdated wrap is detected.
    pub fn hash(&self) -> [u8; 32] {
        sha256(&[&self.to_bytes()])
    }

    /// Which secret opens this wrap.
    pub fn kind(&self) -> WrapKind {
        self.kind
    }

    /// The account the wrapped key belongs to.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The epoch of the wrapped key.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The stored Argon2id parameters (all zero for a recovery wrap).
    pub fn params(&self) -> KdfParams {
        self.params
    }

    #[allow(clippy::too_many_arguments)]
    fn seal_under(
        kind: WrapKind,
        realm: Option<[u8; 32]>,
        root: &RootKey,
        account: &AccountId,
        params: KdfParams,
        salt: [u8; WRAP_SALT_LEN],
        nonce: [u8; XNONCE_LEN],
        kek: &[u8; 32],
    ) -> Result<Self> {
        let mut wrap = Self {
            kind,
            account: *account,
            epoch: root.epoch(),
            params,
            salt,
            nonce,
            realm,
            commitment: [0; WRAP_COMMITMENT_LEN],
            ciphertext: [0; WRAP_CIPHERTEXT_LEN],
        };
        let header = wrap.header();
        wrap.commitment = *hkdf32(kek, &[], &[labels::WRAP_COMMITMENT, &header]);
        let key = hkdf32(kek, &[], &[labels::WRAP_KEY]);
        let ct = xchacha_seal(&key, &nonce, &header, root.expose_secret())?;
        wrap.ciphertext = ct.as_slice().try_into().map_err(|_| Error::Malformed {
            what: "wrap ciphertext length",
        })?;
        Ok(wrap)
    }

    fn open_under_kek(&self, kek: &[u8; 32]) -> Result<RootKey> {
        let header = self.header();
        let expected = hkdf32(kek, &[], &[labels::WRAP_COMMITMENT, &header]);
        if !ct_eq(expected.as_slice(), &self.commitment) {
            return Err(Error::WrongSecretOrTampered);
        }
        let key = hkdf32(kek, &[], &[labels::WRAP_KEY]);
        let plain = xchacha_open(&key, &self.nonce, &header, &self.ciphertext)?;
        let bytes: [u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| Error::WrongSecretOrTampered)?;
        Ok(RootKey::from_secret_bytes(bytes, self.epoch))
    }

    fn expect_kind(&self, expected: WrapKind) -> Result<()> {
        if self.kind != expected {
            return Err(Error::WrongWrapKind {
                expected: expected.name(),
                got: self.kind.name(),
            });
        }
        Ok(())
    }

    /// Version 1: magic ‖ version ‖ KDF id ‖ account ‖ epoch ‖ m ‖ t ‖ p ‖
    /// salt ‖ nonce. Version 2 (realm): the same with version 2 and KDF id
    /// 3, then the registration commitment.
    fn header(&self) -> Vec<u8> {
        let (version, kdf_id) = match self.realm {
            Some(_) => (WRAP_VERSION_REALM, KDF_ID_PASSWORD_REALM),
            None => (WRAP_VERSION, self.kind.kdf_id()),
        };
        let mut h = Vec::with_capacity(WRAP_HEADER_LEN_REALM);
        let parts: [&[u8]; 9] = [
            &WRAP_MAGIC,
            &[version, kdf_id],
            self.account.as_bytes(),
            &self.epoch.to_be_bytes(),
            &self.params.m_kib.to_be_bytes(),
            &self.params.t.to_be_bytes(),
            &self.params.p.to_be_bytes(),
            &self.salt,
            &self.nonce,
        ];
        for part in parts {
            h.extend_from_slice(part);
        }
        if let Some(realm) = &self.realm {
            h.extend_from_slice(realm);
        }
        h
    }
}

impl core::fmt::Debug for KeyWrap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyWrap")
            .field("kind", &self.kind)
            .field("account", &self.account)
            .field("epoch", &self.epoch.0)
            .field("params", &self.params)
            .field("realms", &self.realm.is_some())
            .finish_non_exhaustive()
    }
}

fn fresh_salt_and_nonce(rng: &mut impl CryptoRng) -> ([u8; WRAP_SALT_LEN], [u8; XNONCE_LEN]) {
    let mut salt = [0u8; WRAP_SALT_LEN];
    let mut nonce = [0u8; XNONCE_LEN];
    rng.fill_bytes(&mut salt);
    rng.fill_bytes(&mut nonce);
    (salt, nonce)
}

/// Argon2id with the reader's checks: above the ceiling is refused, and
/// below the floor unless `policy` accepts it.
pub(crate) fn argon2id_checked(
    password: &Password,
    salt: &[u8],
    params: KdfParams,
    policy: KdfPolicy,
) -> Result<Zeroizing<[u8; 32]>> {
    params.check_ceiling()?;
    if !policy.accept_below_floor {
        params.check_floor()?;
    }
    argon2id(password, salt, params).map_err(|_| Error::ParamsBelowFloor {
        m_kib: params.m_kib,
        t: params.t,
        p: params.p,
    })
}

fn argon2id(password: &Password, salt: &[u8], params: KdfParams) -> Result<Zeroizing<[u8; 32]>> {
    let p = Params::new(params.m_kib, params.t, params.p, Some(32)).map_err(|_| Error::Kdf)?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
        .hash_password_into(password.expose_secret(), salt, out.as_mut_slice())
        .map_err(|_| Error::Kdf)?;
    Ok(out)
}

fn recovery_kek(key: &RecoveryKey, salt: &[u8]) -> Zeroizing<[u8; 32]> {
    hkdf32(
        key.expose_secret_ascii().as_slice(),
        salt,
        &[labels::RECOVERY_KEK],
    )
}

/// A cursor over untrusted bytes that checks every read against what remains.
struct Reader<'a> {
    rest: &'a [u8],
    total: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            total: bytes.len(),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let Some((head, rest)) = self.rest.split_first_chunk::<N>() else {
            return Err(Error::Truncated {
                needed: self.total - self.rest.len() + N,
                got: self.total,
            });
        };
        self.rest = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
}
