//! What a realm keeps for one account, and the only ways it changes.
//!
//! A realm is one identity (its certificate) with one counter store. It
//! keeps no account log: it trusts a first registration under an unused
//! account id as it comes, and from then on only requests signed by the
//! realm-admin key it recorded (§19.5). The caller (the server) owns
//! durability: every method that changes a record returns the new record,
//! and [`RealmRecord::begin_guess`]'s result must be stored — with a
//! compare-and-swap against the bytes it read — *before*
//! [`RealmRecord::evaluate`] runs, so a crash never yields an uncounted
//! guess and concurrent guesses never exceed the policy.

use core::fmt;

use keylink_keys::realm_kek::{COMMITMENT_LEN, REALM_ID_LEN, UNLOCK_TAG_LEN};
use keylink_keys::{Epoch, SignatureContext, UnlockTag, verify_with};
use rand_core::CryptoRng;

use crate::codec::Reader;
use crate::error::{Error, Result};
use crate::oprf::{ELEMENT_LEN, Evaluation, OprfKey, Ristretto255Sha512, SCALAR_LEN, Voprf};
use crate::policy::Throttle;
use crate::registration::{AdminReset, Descriptor, Handover, MAX_DESCRIPTOR_LEN, RegisterRequest};

/// Magic of a stored realm record.
pub const RECORD_MAGIC: [u8; 4] = *b"KLRR";
/// The record format version this build writes and reads.
pub const RECORD_VERSION: u8 = 1;

/// One account's registration at one realm.
pub struct RealmRecord {
    descriptor: Descriptor,
    index: u8,
    share: OprfKey,
    unlock_tag: UnlockTag,
    admin: [u8; 32],
    admin_epoch: Epoch,
    used: u16,
    total: u64,
    last_guess_ms: u64,
}

/// What a realm tells anyone who asks about an account: enough to choose
/// realms and check them, and nothing secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealmStatus {
    /// The registration the realm holds.
    pub descriptor: Descriptor,
    /// Its share index.
    pub index: u8,
    /// Guesses counted since the last successful recovery.
    pub used: u16,
    /// Guesses ever counted for this account here (never goes down).
    pub total: u64,
    /// The realm-admin key the realm holds.
    pub admin: [u8; 32],
    /// The epoch of that key.
    pub admin_epoch: Epoch,
}

impl RealmStatus {
    /// Guesses left before this realm locks the registration.
    pub fn remaining(&self) -> u16 {
        self.descriptor
            .policy()
            .per_realm()
            .saturating_sub(self.used)
    }

    /// Whether the realm refuses further guesses.
    pub fn locked(&self) -> bool {
        self.remaining() == 0
    }
}

/// Magic of a status answer.
pub const STATUS_MAGIC: [u8; 4] = *b"KLRS";
/// Magic of a guess answer.
pub const ANSWER_MAGIC: [u8; 4] = *b"KLRA";
/// Version of both answer formats.
pub const ANSWER_VERSION: u8 = 1;

impl RealmStatus {
    /// `magic ‖ version ‖ len u16 ‖ descriptor ‖ index ‖ used u16 ‖ total
    /// u64 ‖ admin[32] ‖ admin epoch u64`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let d = self.descriptor.to_bytes();
        let mut out = Vec::with_capacity(7 + d.len() + 1 + 2 + 8 + 32 + 8);
        out.extend_from_slice(&STATUS_MAGIC);
        out.push(ANSWER_VERSION);
        // Bounded by MAX_DESCRIPTOR_LEN (1076).
        out.extend_from_slice(&(d.len() as u16).to_be_bytes());
        out.extend_from_slice(&d);
        out.push(self.index);
        out.extend_from_slice(&self.used.to_be_bytes());
        out.extend_from_slice(&self.total.to_be_bytes());
        out.extend_from_slice(&self.admin);
        out.extend_from_slice(&self.admin_epoch.to_be_bytes());
        out
    }

    /// Parse a status a realm sent.
    ///
    /// # Errors
    /// The codec's errors, those of [`Descriptor::from_bytes`], and
    /// [`Error::BadIndex`] for an index outside the registration.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.header(&STATUS_MAGIC, ANSWER_VERSION, "realm status")?;
        let len = usize::from(r.u16()?);
        let descriptor =
            Descriptor::from_bytes(r.bytes(len, MAX_DESCRIPTOR_LEN, "descriptor length")?)?;
        let index = r.u8()?;
        descriptor.slot(index)?;
        let status = RealmStatus {
            descriptor,
            index,
            used: r.u16()?,
            total: r.u64()?,
            admin: r.array()?,
            admin_epoch: Epoch(r.u64()?),
        };
        r.finish()?;
        Ok(status)
    }
}

impl GuessAnswer {
    /// `magic ‖ version ‖ commitment[32] ‖ index ‖ element[32] ‖ proof[64] ‖
    /// used u16 ‖ total u64`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + 32 + 1 + 32 + 64 + 2 + 8);
        out.extend_from_slice(&ANSWER_MAGIC);
        out.push(ANSWER_VERSION);
        out.extend_from_slice(&self.commitment);
        out.push(self.index);
        out.extend_from_slice(&self.evaluation.element);
        out.extend_from_slice(&self.evaluation.proof);
        out.extend_from_slice(&self.used.to_be_bytes());
        out.extend_from_slice(&self.total.to_be_bytes());
        out
    }

    /// Parse an answer a realm sent (its proof is checked by
    /// [`crate::Recovery::accept`]).
    ///
    /// # Errors
    /// The codec's errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.header(&ANSWER_MAGIC, ANSWER_VERSION, "realm answer")?;
        let answer = GuessAnswer {
            commitment: r.array()?,
            index: r.u8()?,
            evaluation: Evaluation {
                element: r.array()?,
                proof: r.array()?,
            },
            used: r.u16()?,
            total: r.u64()?,
        };
        r.finish()?;
        Ok(answer)
    }
}

/// A realm's answer to a counted guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuessAnswer {
    /// The commitment of the registration evaluated under.
    pub commitment: [u8; COMMITMENT_LEN],
    /// The share index evaluated with.
    pub index: u8,
    /// The evaluation and its proof.
    pub evaluation: Evaluation,
    /// Guesses counted since the last successful recovery, this one included.
    pub used: u16,
    /// Guesses ever counted here.
    pub total: u64,
}

impl RealmRecord {
    /// Apply a registration request to what the realm holds for the account
    /// (`existing`), as realm `realm`.
    ///
    /// A first registration is accepted as it comes. Replacing one needs the
    /// held admin key's signature and an epoch no older than the held one.
    /// The same request sent again (a retry) changes nothing. The lifetime
    /// count carries over, so a device can still notice a rollback.
    ///
    /// # Errors
    /// Those of [`RegisterRequest::check`], [`Error::AlreadyRegistered`]
    /// (held, and the request carries no previous signature),
    /// [`Error::NotAuthorized`] or [`Error::StaleRegistration`].
    pub fn register(
        realm: &[u8; REALM_ID_LEN],
        existing: Option<&RealmRecord>,
        req: &RegisterRequest,
    ) -> Result<RealmRecord> {
        let share = req.check(realm)?;
        let mut total = 0;
        if let Some(old) = existing {
            if old.descriptor.account() != req.descriptor.account() {
                return Err(Error::WrongAccount);
            }
            if old.commitment() == req.descriptor.commitment() && old.admin == req.admin {
                return Ok(old.duplicate());
            }
            let Some(signature) = &req.previous_signature else {
                return Err(Error::AlreadyRegistered);
            };
            verify_with(
                &old.admin,
                SignatureContext::RealmAdmin,
                &req.signed_message(),
                signature,
            )
            .map_err(|_| Error::NotAuthorized {
                what: "the held realm-admin key did not sign this registration",
            })?;
            if req.descriptor.epoch() < old.admin_epoch {
                return Err(Error::StaleRegistration {
                    got: req.descriptor.epoch().0,
                    held: old.admin_epoch.0,
                });
            }
            total = old.total;
        }
        Ok(RealmRecord {
            descriptor: req.descriptor.clone(),
            index: req.index,
            share,
            unlock_tag: req.unlock_tag.clone(),
            admin: req.admin,
            admin_epoch: req.descriptor.epoch(),
            used: 0,
            total,
            last_guess_ms: 0,
        })
    }

    /// Count a guess against `commitment` at `now_ms`. Store the returned
    /// record durably before calling [`RealmRecord::evaluate`] on it.
    ///
    /// # Errors
    /// [`Error::WrongRegistration`] (the client asks about another
    /// registration: nothing is counted), [`Error::Locked`] or
    /// [`Error::TooSoon`].
    pub fn begin_guess(
        &self,
        commitment: &[u8; COMMITMENT_LEN],
        now_ms: u64,
        throttle: Throttle,
    ) -> Result<RealmRecord> {
        if self.commitment() != *commitment {
            return Err(Error::WrongRegistration);
        }
        if self.used >= self.descriptor.policy().per_realm() {
            return Err(Error::Locked {
                wrong_guesses: u32::from(self.used),
            });
        }
        if self.used >= throttle.free {
            let next = self.last_guess_ms.saturating_add(throttle.interval_ms);
            if now_ms < next {
                return Err(Error::TooSoon {
                    wait_s: (next - now_ms).div_ceil(1000),
                });
            }
        }
        let mut next = self.duplicate();
        next.used += 1;
        next.total = next.total.saturating_add(1);
        next.last_guess_ms = now_ms;
        Ok(next)
    }

    /// Evaluate a blinded element with this realm's share. Call only on a
    /// record returned by [`RealmRecord::begin_guess`] and already stored.
    ///
    /// # Errors
    /// [`Error::BadElement`] for a blinded element that does not decode.
    pub fn evaluate(
        &self,
        blinded: &[u8; ELEMENT_LEN],
        rng: &mut impl CryptoRng,
    ) -> Result<GuessAnswer> {
        Ok(GuessAnswer {
            commitment: self.commitment(),
            index: self.index,
            evaluation: Ristretto255Sha512::blind_evaluate(&self.share, blinded, rng)?,
            used: self.used,
            total: self.total,
        })
    }

    /// Reset the guess counter for the password holder, who proves it with
    /// the unlock tag (compared in constant time). Returns the new record and
    /// how many guesses had been counted since the last reset.
    ///
    /// # Errors
    /// [`Error::WrongRegistration`] or [`Error::BadUnlockTag`].
    pub fn unlock(
        &self,
        commitment: &[u8; COMMITMENT_LEN],
        tag: &UnlockTag,
    ) -> Result<(RealmRecord, u16)> {
        if self.commitment() != *commitment {
            return Err(Error::WrongRegistration);
        }
        if !self.unlock_tag.matches(tag) {
            return Err(Error::BadUnlockTag);
        }
        let mut next = self.duplicate();
        next.used = 0;
        Ok((next, self.used))
    }

    /// Clear the guess counter on the held admin key's word (a current
    /// device answering a lock). Returns the new record and the guesses
    /// that had been counted.
    ///
    /// # Errors
    /// [`Error::WrongAccount`], [`Error::WrongRegistration`],
    /// [`Error::NotAuthorized`], or [`Error::StaleRegistration`] when the
    /// count has moved since the device read it (read the status again).
    pub fn admin_reset(&self, r: &AdminReset) -> Result<(RealmRecord, u16)> {
        if self.descriptor.account() != &r.account {
            return Err(Error::WrongAccount);
        }
        if self.commitment() != r.commitment {
            return Err(Error::WrongRegistration);
        }
        verify_with(
            &self.admin,
            SignatureContext::RealmAdmin,
            &r.signed_message(),
            &r.signature,
        )
        .map_err(|_| Error::NotAuthorized {
            what: "the held realm-admin key did not sign this reset",
        })?;
        if r.total != self.total {
            return Err(Error::StaleRegistration {
                got: r.total,
                held: self.total,
            });
        }
        let mut next = self.duplicate();
        next.used = 0;
        Ok((next, self.used))
    }

    /// Move the registration to a new realm-admin key.
    ///
    /// # Errors
    /// [`Error::WrongAccount`], [`Error::WrongRegistration`],
    /// [`Error::NotAuthorized`] or [`Error::StaleRegistration`].
    pub fn handover(&self, h: &Handover) -> Result<RealmRecord> {
        if self.descriptor.account() != &h.account {
            return Err(Error::WrongAccount);
        }
        if self.commitment() != h.commitment {
            return Err(Error::WrongRegistration);
        }
        if h.admin == self.admin && h.epoch == self.admin_epoch {
            return Ok(self.duplicate());
        }
        verify_with(
            &self.admin,
            SignatureContext::RealmAdmin,
            &h.signed_message(),
            &h.signature,
        )
        .map_err(|_| Error::NotAuthorized {
            what: "the held realm-admin key did not sign this hand-over",
        })?;
        if h.epoch <= self.admin_epoch {
            return Err(Error::StaleRegistration {
                got: h.epoch.0,
                held: self.admin_epoch.0,
            });
        }
        let mut next = self.duplicate();
        next.admin = h.admin;
        next.admin_epoch = h.epoch;
        Ok(next)
    }

    /// What the realm tells anyone about this registration.
    pub fn status(&self) -> RealmStatus {
        RealmStatus {
            descriptor: self.descriptor.clone(),
            index: self.index,
            used: self.used,
            total: self.total,
            admin: self.admin,
            admin_epoch: self.admin_epoch,
        }
    }

    /// The registration's commitment.
    pub fn commitment(&self) -> [u8; COMMITMENT_LEN] {
        self.descriptor.commitment()
    }

    /// The registration.
    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// The share index.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// This realm's share. A realm's own secret: it leaves the realm only
    /// in its backups (and in the offline-attacker test, which must show
    /// what stolen realm folders give a thief).
    pub fn share(&self) -> &OprfKey {
        &self.share
    }

    /// `magic ‖ version ‖ len u16 ‖ descriptor ‖ index ‖ share ‖ unlock tag ‖
    /// admin ‖ admin epoch u64 ‖ used u16 ‖ total u64 ‖ last guess ms u64`.
    /// Holds the share and the tag: the realm's folder only.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let d = self.descriptor.to_bytes();
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(
            7 + d.len() + 1 + SCALAR_LEN + UNLOCK_TAG_LEN + 32 + 8 + 2 + 8 + 8,
        ));
        out.extend_from_slice(&RECORD_MAGIC);
        out.push(RECORD_VERSION);
        // Bounded by MAX_DESCRIPTOR_LEN (1076).
        out.extend_from_slice(&(d.len() as u16).to_be_bytes());
        out.extend_from_slice(&d);
        out.push(self.index);
        out.extend_from_slice(self.share.to_bytes().as_slice());
        out.extend_from_slice(self.unlock_tag.expose_secret());
        out.extend_from_slice(&self.admin);
        out.extend_from_slice(&self.admin_epoch.to_be_bytes());
        out.extend_from_slice(&self.used.to_be_bytes());
        out.extend_from_slice(&self.total.to_be_bytes());
        out.extend_from_slice(&self.last_guess_ms.to_be_bytes());
        out
    }

    /// Parse a stored record.
    ///
    /// # Errors
    /// The codec's errors, and [`Error::BadKey`], [`Error::BadIndex`] or
    /// [`Error::ShareMismatch`] for a record whose share does not fit its
    /// registration.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        r.header(&RECORD_MAGIC, RECORD_VERSION, "realm record")?;
        let len = usize::from(r.u16()?);
        let descriptor =
            Descriptor::from_bytes(r.bytes(len, MAX_DESCRIPTOR_LEN, "descriptor length")?)?;
        let index = r.u8()?;
        let share = OprfKey::from_bytes(&zeroize::Zeroizing::new(r.array()?))?;
        if share.public_key() != descriptor.slot(index)?.public_share {
            return Err(Error::ShareMismatch { index });
        }
        let record = RealmRecord {
            descriptor,
            index,
            share,
            unlock_tag: UnlockTag::from_bytes(r.array()?),
            admin: r.array()?,
            admin_epoch: Epoch(r.u64()?),
            used: r.u16()?,
            total: r.u64()?,
            last_guess_ms: r.u64()?,
        };
        r.finish()?;
        Ok(record)
    }

    fn duplicate(&self) -> RealmRecord {
        RealmRecord {
            descriptor: self.descriptor.clone(),
            index: self.index,
            share: self.share.duplicate(),
            unlock_tag: self.unlock_tag.clone(),
            admin: self.admin,
            admin_epoch: self.admin_epoch,
            used: self.used,
            total: self.total,
            last_guess_ms: self.last_guess_ms,
        }
    }
}

impl fmt::Debug for RealmRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealmRecord")
            .field("account", self.descriptor.account())
            .field("index", &self.index)
            .field("used", &self.used)
            .field("total", &self.total)
            .field("share", &"[redacted]")
            .finish_non_exhaustive()
    }
}
