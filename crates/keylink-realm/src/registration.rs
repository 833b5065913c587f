//! A registration: the public description of one account's OPRF key split
//! across a realm set (the [`Descriptor`]), and the requests that hand each
//! realm its share ([`RegisterRequest`]) or move a registration to the next
//! epoch's realm-admin key ([`Handover`]). Layouts are in
//! `docs/protocol.md` §19.

use keylink_keys::realm_kek::{COMMITMENT_LEN, REALM_ID_LEN, UNLOCK_TAG_LEN};
use keylink_keys::{AccountId, Epoch, RealmAdminKey, UnlockTag, labels, verify_with};
use keylink_keys::{SignatureContext, primitives::sha256};

use crate::codec::Reader;
use crate::error::{Error, Result};
use crate::oprf::{ELEMENT_LEN, OprfKey, SCALAR_LEN, decode_element};
use crate::policy::GuessPolicy;
use crate::shamir::{MAX_REALMS, check_threshold};

/// Magic of a registration descriptor.
pub const DESCRIPTOR_MAGIC: [u8; 4] = *b"KLRD";
/// The descriptor format version this build writes and reads.
pub const DESCRIPTOR_VERSION: u8 = 1;
/// Suite byte: RFC 9497 VOPRF, ristretto255-SHA512.
pub const SUITE_RISTRETTO255_SHA512: u8 = 1;
/// Bytes of a descriptor before its slots.
pub const DESCRIPTOR_FIXED_LEN: usize = 4 + 1 + 1 + 16 + 16 + 8 + 1 + 1 + 2 + 2;
/// Bytes of one slot: realm id ‖ public share.
pub const SLOT_LEN: usize = REALM_ID_LEN + ELEMENT_LEN;
/// Longest descriptor (sixteen slots).
pub const MAX_DESCRIPTOR_LEN: usize = DESCRIPTOR_FIXED_LEN + SLOT_LEN * MAX_REALMS as usize;
/// Length of a registration id.
pub const REGISTRATION_ID_LEN: usize = 16;

/// Magic of a registration request.
pub const REGISTER_MAGIC: [u8; 4] = *b"KLRQ";
/// Magic of a hand-over request.
pub const HANDOVER_MAGIC: [u8; 4] = *b"KLRH";
/// What a hand-over signature's message starts with.
const HANDOVER_TAG: &[u8] = b"handover";
/// Version of both request formats.
pub const REQUEST_VERSION: u8 = 1;

/// One realm's place in a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The realm's id: SHA-256 of its certificate (its pinned fingerprint).
    pub realm: [u8; REALM_ID_LEN],
    /// The realm's public share `f(i) · G`.
    pub public_share: [u8; ELEMENT_LEN],
}

/// The public half of a registration, identical at every realm of the set.
/// Its [`Descriptor::commitment`] is bound into the password wrap and into
/// the wrap's key, so a device recovering with nothing but a password
/// checks every realm against something no single realm controls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    account: AccountId,
    registration: [u8; REGISTRATION_ID_LEN],
    epoch: Epoch,
    k: u8,
    policy: GuessPolicy,
    slots: Vec<Slot>,
}

impl Descriptor {
    /// Build and validate a descriptor.
    ///
    /// # Errors
    /// [`Error::BadThreshold`], [`Error::BadPolicy`], [`Error::BadElement`]
    /// (a public share that does not decode), or [`Error::Malformed`] (two
    /// slots naming the same realm).
    pub fn new(
        account: AccountId,
        registration: [u8; REGISTRATION_ID_LEN],
        epoch: Epoch,
        k: u8,
        policy: GuessPolicy,
        slots: Vec<Slot>,
    ) -> Result<Self> {
        let n = u8::try_from(slots.len()).map_err(|_| Error::BadThreshold { k, n: u8::MAX })?;
        check_threshold(k, n)?;
        GuessPolicy::from_parts(policy.attempts(), policy.per_realm(), k, n)?;
        for (i, slot) in slots.iter().enumerate() {
            decode_element(&slot.public_share, "public share")?;
            if slots[..i].iter().any(|s| s.realm == slot.realm) {
                return Err(Error::Malformed {
                    what: "two slots name the same realm",
                });
            }
        }
        Ok(Self {
            account,
            registration,
            epoch,
            k,
            policy,
            slots,
        })
    }

    /// The layout of `docs/protocol.md` §19.3.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DESCRIPTOR_FIXED_LEN + SLOT_LEN * self.slots.len());
        out.extend_from_slice(&DESCRIPTOR_MAGIC);
        out.push(DESCRIPTOR_VERSION);
        out.push(SUITE_RISTRETTO255_SHA512);
        out.extend_from_slice(self.account.as_bytes());
        out.extend_from_slice(&self.registration);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.push(self.k);
        out.push(self.n());
        out.extend_from_slice(&self.policy.attempts().to_be_bytes());
        out.extend_from_slice(&self.policy.per_realm().to_be_bytes());
        for slot in &self.slots {
            out.extend_from_slice(&slot.realm);
            out.extend_from_slice(&slot.public_share);
        }
        out
    }

    /// Parse and validate a descriptor.
    ///
    /// # Errors
    /// The codec's errors, [`Error::UnsupportedSuite`], and those of
    /// [`Descriptor::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.header(&DESCRIPTOR_MAGIC, DESCRIPTOR_VERSION, "registration")?;
        let suite = r.u8()?;
        if suite != SUITE_RISTRETTO255_SHA512 {
            return Err(Error::UnsupportedSuite { got: suite });
        }
        let account = AccountId::from_bytes(r.array()?);
        let registration = r.array()?;
        let epoch = Epoch(r.u64()?);
        let k = r.u8()?;
        let n = r.u8()?;
        check_threshold(k, n)?;
        let attempts = r.u16()?;
        let per_realm = r.u16()?;
        let policy = GuessPolicy::from_parts(attempts, per_realm, k, n)?;
        let mut slots = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            slots.push(Slot {
                realm: r.array()?,
                public_share: r.array()?,
            });
        }
        r.finish()?;
        Self::new(account, registration, epoch, k, policy, slots)
    }

    /// `SHA-256("keylink/v1/realm-registration" ‖ descriptor bytes)`.
    pub fn commitment(&self) -> [u8; COMMITMENT_LEN] {
        sha256(&[labels::REALM_REGISTRATION, &self.to_bytes()])
    }

    /// The account registered.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The registration's random id.
    pub fn registration_id(&self) -> &[u8; REGISTRATION_ID_LEN] {
        &self.registration
    }

    /// The epoch whose root key the registration protects.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Realms needed to recover.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// Realms in the set.
    pub fn n(&self) -> u8 {
        // Bounded by MAX_REALMS at construction.
        self.slots.len() as u8
    }

    /// The guess policy.
    pub fn policy(&self) -> GuessPolicy {
        self.policy
    }

    /// The slots, in share-index order (slot 0 holds share 1).
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The slot of share `index` (1-based).
    ///
    /// # Errors
    /// [`Error::BadIndex`] outside `1 ..= n`.
    pub fn slot(&self, index: u8) -> Result<&Slot> {
        usize::from(index)
            .checked_sub(1)
            .and_then(|i| self.slots.get(i))
            .ok_or(Error::BadIndex { index })
    }

    /// The share index of realm `realm`, if it is in the set.
    pub fn index_of(&self, realm: &[u8; REALM_ID_LEN]) -> Option<u8> {
        self.slots
            .iter()
            .position(|s| s.realm == *realm)
            .and_then(|i| u8::try_from(i + 1).ok())
    }
}

/// What a device sends realm `index` to register (or re-register) an
/// account: the descriptor, the realm's share, its unlock tag, and the
/// realm-admin key that will authorise the next change, signed by that key
/// and — when replacing a registration — by the key the realm holds now.
#[derive(Clone)]
pub struct RegisterRequest {
    /// The registration.
    pub descriptor: Descriptor,
    /// The realm's share index.
    pub index: u8,
    share: [u8; SCALAR_LEN],
    /// The tag that unlocks this realm's counter.
    pub unlock_tag: UnlockTag,
    /// The new realm-admin public key.
    pub admin: [u8; 32],
    /// Signature by `admin` over [`RegisterRequest::signed_message`].
    pub admin_signature: [u8; 64],
    /// Signature by the realm-admin key the realm holds now, when replacing.
    pub previous_signature: Option<[u8; 64]>,
}

impl RegisterRequest {
    /// Build and sign a request.
    pub fn sign(
        descriptor: Descriptor,
        index: u8,
        share: &OprfKey,
        unlock_tag: UnlockTag,
        admin: &RealmAdminKey,
        previous: Option<&RealmAdminKey>,
    ) -> Self {
        let mut req = Self {
            descriptor,
            index,
            share: *share.to_bytes(),
            unlock_tag,
            admin: admin.public_key(),
            admin_signature: [0; 64],
            previous_signature: None,
        };
        let message = req.signed_message();
        req.admin_signature = admin.sign(&message);
        req.previous_signature = previous.map(|p| p.sign(&message));
        req
    }

    /// The share, checked as a key.
    ///
    /// # Errors
    /// [`Error::BadKey`].
    pub fn share(&self) -> Result<OprfKey> {
        OprfKey::from_bytes(&self.share)
    }

    /// What both signatures cover: `"register" ‖ commitment ‖ index ‖ admin
    /// public key ‖ SHA-256(share ‖ unlock tag)`.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(8 + COMMITMENT_LEN + 1 + 32 + 32);
        m.extend_from_slice(b"register");
        m.extend_from_slice(&self.descriptor.commitment());
        m.push(self.index);
        m.extend_from_slice(&self.admin);
        m.extend_from_slice(&sha256(&[&self.share, self.unlock_tag.expose_secret()]));
        m
    }

    /// Check what a realm can check without its own state: the share is a
    /// key, it matches the public share of `index`, `index`'s slot is this
    /// realm's, and the new admin key signed the request.
    ///
    /// # Errors
    /// [`Error::BadIndex`], [`Error::WrongRealm`], [`Error::BadKey`],
    /// [`Error::ShareMismatch`] or [`Error::NotAuthorized`].
    pub fn check(&self, realm: &[u8; REALM_ID_LEN]) -> Result<OprfKey> {
        let slot = self.descriptor.slot(self.index)?;
        if slot.realm != *realm {
            return Err(Error::WrongRealm { index: self.index });
        }
        let share = self.share()?;
        if share.public_key() != slot.public_share {
            return Err(Error::ShareMismatch { index: self.index });
        }
        verify_with(
            &self.admin,
            SignatureContext::RealmAdmin,
            &self.signed_message(),
            &self.admin_signature,
        )
        .map_err(|_| Error::NotAuthorized {
            what: "the new realm-admin key's signature",
        })?;
        Ok(share)
    }

    /// `magic ‖ version ‖ len(descriptor) u16 ‖ descriptor ‖ index ‖ share ‖
    /// unlock tag ‖ admin ‖ admin signature ‖ has-previous u8 [‖ previous
    /// signature]`. Holds the share: send it only to its realm, over TLS.
    pub fn to_bytes(&self) -> Vec<u8> {
        let d = self.descriptor.to_bytes();
        let mut out = Vec::with_capacity(8 + d.len() + 1 + 32 + 32 + 32 + 64 + 1 + 64);
        out.extend_from_slice(&REGISTER_MAGIC);
        out.push(REQUEST_VERSION);
        // Bounded by MAX_DESCRIPTOR_LEN (1076).
        out.extend_from_slice(&(d.len() as u16).to_be_bytes());
        out.extend_from_slice(&d);
        out.push(self.index);
        out.extend_from_slice(&self.share);
        out.extend_from_slice(self.unlock_tag.expose_secret());
        out.extend_from_slice(&self.admin);
        out.extend_from_slice(&self.admin_signature);
        match &self.previous_signature {
            Some(sig) => {
                out.push(1);
                out.extend_from_slice(sig);
            }
            None => out.push(0),
        }
        out
    }

    /// Parse a request (structure only; [`RegisterRequest::check`] verifies).
    ///
    /// # Errors
    /// The codec's errors and those of [`Descriptor::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.header(&REGISTER_MAGIC, REQUEST_VERSION, "registration request")?;
        let len = usize::from(r.u16()?);
        let descriptor =
            Descriptor::from_bytes(r.bytes(len, MAX_DESCRIPTOR_LEN, "descriptor length")?)?;
        let index = r.u8()?;
        let share = r.array()?;
        let unlock_tag = UnlockTag::from_bytes(r.array::<UNLOCK_TAG_LEN>()?);
        let admin = r.array()?;
        let admin_signature = r.array()?;
        let previous_signature = match r.u8()? {
            0 => None,
            1 => Some(r.array()?),
            _ => {
                return Err(Error::Malformed {
                    what: "previous-signature flag",
                });
            }
        };
        r.finish()?;
        Ok(Self {
            descriptor,
            index,
            share,
            unlock_tag,
            admin,
            admin_signature,
            previous_signature,
        })
    }
}

impl core::fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("account", self.descriptor.account())
            .field("epoch", &self.descriptor.epoch().0)
            .field("index", &self.index)
            .field("share", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Drop for RegisterRequest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.share);
    }
}

/// Magic of an admin reset.
pub const RESET_MAGIC: [u8; 4] = *b"KLRX";
/// What an admin reset's signed message starts with.
const RESET_TAG: &[u8] = b"admin-reset";

/// Clears a realm's guess counter on the word of the realm-admin key: what
/// a current device sends when a realm reports the registration locked, so
/// an attacker who burned the guesses disables password-only recovery
/// only until a current device comes online. It names the lifetime count
/// the device read, so it cannot be replayed once the count has moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminReset {
    /// The account.
    pub account: AccountId,
    /// The registration.
    pub commitment: [u8; COMMITMENT_LEN],
    /// The realm's lifetime guess count, as the device read it.
    pub total: u64,
    /// Signature by the admin key the realm holds.
    pub signature: [u8; 64],
}

impl AdminReset {
    /// Sign a reset with the held admin key.
    pub fn sign(
        account: AccountId,
        commitment: [u8; COMMITMENT_LEN],
        total: u64,
        admin: &RealmAdminKey,
    ) -> Self {
        let mut r = Self {
            account,
            commitment,
            total,
            signature: [0; 64],
        };
        r.signature = admin.sign(&r.signed_message());
        r
    }

    /// `"admin-reset" ‖ account ‖ commitment ‖ total u64`.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(RESET_TAG.len() + 16 + COMMITMENT_LEN + 8);
        m.extend_from_slice(RESET_TAG);
        m.extend_from_slice(self.account.as_bytes());
        m.extend_from_slice(&self.commitment);
        m.extend_from_slice(&self.total.to_be_bytes());
        m
    }

    /// `magic ‖ version ‖ signed fields (without the tag) ‖ signature`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + 16 + COMMITMENT_LEN + 8 + 64);
        out.extend_from_slice(&RESET_MAGIC);
        out.push(REQUEST_VERSION);
        out.extend_from_slice(&self.signed_message()[RESET_TAG.len()..]);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parse a reset.
    ///
    /// # Errors
    /// The codec's errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.header(&RESET_MAGIC, REQUEST_VERSION, "admin reset")?;
        let reset = Self {
            account: AccountId::from_bytes(r.array()?),
            commitment: r.array()?,
            total: r.u64()?,
            signature: r.array()?,
        };
        r.finish()?;
        Ok(reset)
    }
}

/// Moves a registration to a new realm-admin key without changing the
/// OPRF key: what a revocation sends every realm, so the revoked device's
/// copy of the old root key no longer authorises anything there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    /// The account.
    pub account: AccountId,
    /// The registration it applies to.
    pub commitment: [u8; COMMITMENT_LEN],
    /// The epoch of the new admin key.
    pub epoch: Epoch,
    /// The new realm-admin public key.
    pub admin: [u8; 32],
    /// Signature by the admin key the realm holds now.
    pub signature: [u8; 64],
}

impl Handover {
    /// Sign a hand-over from `previous` to `next`.
    pub fn sign(
        account: AccountId,
        commitment: [u8; COMMITMENT_LEN],
        epoch: Epoch,
        next: &RealmAdminKey,
        previous: &RealmAdminKey,
    ) -> Self {
        let mut h = Self {
            account,
            commitment,
            epoch,
            admin: next.public_key(),
            signature: [0; 64],
        };
        h.signature = previous.sign(&h.signed_message());
        h
    }

    /// `"handover" ‖ account ‖ commitment ‖ epoch u64 ‖ new admin`.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(8 + 16 + COMMITMENT_LEN + 8 + 32);
        m.extend_from_slice(HANDOVER_TAG);
        m.extend_from_slice(self.account.as_bytes());
        m.extend_from_slice(&self.commitment);
        m.extend_from_slice(&self.epoch.to_be_bytes());
        m.extend_from_slice(&self.admin);
        m
    }

    /// `magic ‖ version ‖ signed message fields ‖ signature`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + 16 + COMMITMENT_LEN + 8 + 32 + 64);
        out.extend_from_slice(&HANDOVER_MAGIC);
        out.push(REQUEST_VERSION);
        // The signed fields, in the same order, without the "handover" tag.
        out.extend_from_slice(&self.signed_message()[HANDOVER_TAG.len()..]);
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parse a hand-over.
    ///
    /// # Errors
    /// The codec's errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.header(&HANDOVER_MAGIC, REQUEST_VERSION, "hand-over")?;
        let h = Self {
            account: AccountId::from_bytes(r.array()?),
            commitment: r.array()?,
            epoch: Epoch(r.u64()?),
            admin: r.array()?,
            signature: r.array()?,
        };
        r.finish()?;
        Ok(h)
    }
}
