//! What a device does: register an account's OPRF key with a realm set,
//! and recover the password wrap's key through `k` of them.
//!
//! Both are pure: the device's I/O shell sends the requests and feeds the
//! answers in. The order of a recovery:
//!
//! 1. Read the password wrap; run Argon2id ([`StretchedPassword`]).
//! 2. [`Recovery::start`] with the wrap's registration commitment.
//! 3. Ask realms for their status (free); [`choose_realms`] picks `k` that
//!    hold the registration the wrap names, most guesses left first.
//! 4. Send each the blinded element; each counts the guess, then answers.
//!    [`Recovery::accept`] checks every answer (account, registration, slot,
//!    DLEQ proof) and keeps the valid ones; on a failure ask another realm.
//! 5. [`Recovery::finish`] combines `k` answers into the [`RealmKek`].
//! 6. Open the wrap; then send every realm its [`RealmKek::unlock_tag`] so it
//!    resets its counter.

use std::collections::BTreeMap;

use keylink_keys::realm_kek::{COMMITMENT_LEN, REALM_ID_LEN};
use keylink_keys::{AccountId, Epoch, RealmAdminKey, RealmKek, StretchedPassword};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::oprf::{Blind, ELEMENT_LEN, OprfKey, Ristretto255Sha512, Voprf};
use crate::policy::{DEFAULT_ATTEMPTS, GuessPolicy};
use crate::realm::{GuessAnswer, RealmStatus};
use crate::registration::{Descriptor, REGISTRATION_ID_LEN, RegisterRequest, Slot};
use crate::shamir::{check_threshold, combine, split};

/// A realm set as a device is configured with it: the realms' ids (their
/// pinned certificate fingerprints) in share-index order, and how many are
/// needed. Never learned from the storage server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealmSet {
    realms: Vec<[u8; REALM_ID_LEN]>,
    k: u8,
    policy: GuessPolicy,
}

impl RealmSet {
    /// A `k`-of-`realms.len()` set allowing [`DEFAULT_ATTEMPTS`] password
    /// attempts per account across it.
    ///
    /// # Errors
    /// [`Error::BadThreshold`], [`Error::Malformed`] for a realm named twice,
    /// or [`Error::BadPolicy`] if the set is too wide for the default policy.
    pub fn new(realms: Vec<[u8; REALM_ID_LEN]>, k: u8) -> Result<Self> {
        let n = u8::try_from(realms.len()).map_err(|_| Error::BadThreshold { k, n: u8::MAX })?;
        check_threshold(k, n)?;
        for (i, r) in realms.iter().enumerate() {
            if realms[..i].contains(r) {
                return Err(Error::Malformed {
                    what: "a realm is named twice in the set",
                });
            }
        }
        let policy = GuessPolicy::new(DEFAULT_ATTEMPTS, k, n)?;
        Ok(Self { realms, k, policy })
    }

    /// The same set allowing `attempts` password attempts per account.
    ///
    /// # Errors
    /// [`Error::BadPolicy`].
    pub fn with_attempts(self, attempts: u16) -> Result<Self> {
        let policy = GuessPolicy::new(attempts, self.k, self.n())?;
        Ok(Self { policy, ..self })
    }

    /// The guess policy registrations with this set get.
    pub fn policy(&self) -> GuessPolicy {
        self.policy
    }

    /// The realms, in share-index order.
    pub fn realms(&self) -> &[[u8; REALM_ID_LEN]] {
        &self.realms
    }

    /// Realms needed.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// Realms in the set.
    pub fn n(&self) -> u8 {
        // Bounded by check_threshold at construction.
        self.realms.len() as u8
    }
}

/// A fresh registration: the descriptor every realm stores, one request per
/// realm (in share-index order), and the key to wrap the root key under.
#[derive(Debug)]
pub struct NewRegistration {
    /// The public registration; its commitment goes into the wrap.
    pub descriptor: Descriptor,
    /// Request `i` goes to realm `i + 1` of the set, and only there.
    pub requests: Vec<RegisterRequest>,
    /// The wrap key.
    pub kek: RealmKek,
}

/// Register a fresh OPRF key for `account`'s epoch `epoch` with `set`.
///
/// Draws a new key, splits it `k`-of-`n`, evaluates the OPRF on the
/// stretched password with the whole key (which then exists only in this
/// call), and derives the wrap key and every realm's unlock tag from it.
/// `previous(i)` is the realm-admin key realm `i` holds now, if any (to
/// replace a registration).
///
/// # Errors
/// [`Error::BadPolicy`] and the OPRF's errors.
pub fn register(
    account: AccountId,
    epoch: Epoch,
    stretched: &StretchedPassword,
    set: &RealmSet,
    admin: &RealmAdminKey,
    previous: impl Fn(u8) -> Option<RealmAdminKey>,
    rng: &mut impl CryptoRng,
) -> Result<NewRegistration> {
    let policy = set.policy;
    let key = OprfKey::generate(rng);
    let shares = split(&key, set.k, set.n(), rng)?;
    let mut registration = [0u8; REGISTRATION_ID_LEN];
    rng.fill_bytes(&mut registration);
    let slots = shares
        .iter()
        .zip(&set.realms)
        .map(|(share, realm)| Slot {
            realm: *realm,
            public_share: share.key.public_key(),
        })
        .collect();
    let descriptor = Descriptor::new(account, registration, epoch, set.k, policy, slots)?;
    let commitment = descriptor.commitment();
    let input = stretched.oprf_input(&account);
    let output = Ristretto255Sha512::evaluate(&key, &input)?;
    drop(key);
    let kek = RealmKek::derive(stretched, &output, &commitment);
    let requests = shares
        .iter()
        .zip(&set.realms)
        .map(|(share, realm)| {
            RegisterRequest::sign(
                descriptor.clone(),
                share.index,
                &share.key,
                kek.unlock_tag(&commitment, share.index, realm),
                admin,
                previous(share.index).as_ref(),
            )
        })
        .collect();
    Ok(NewRegistration {
        descriptor,
        requests,
        kek,
    })
}

/// Pick the realms to send a guess to, from their statuses: only those that
/// hold the registration `commitment` names, in their own slot, and are not
/// locked; most guesses left first, then by share index. Spreading guesses
/// this way is what lets an honest person use all `⌊n·g / k⌋` attempts.
pub fn choose_realms(
    commitment: &[u8; COMMITMENT_LEN],
    statuses: &[([u8; REALM_ID_LEN], RealmStatus)],
) -> Vec<[u8; REALM_ID_LEN]> {
    let mut usable: Vec<_> = statuses
        .iter()
        .filter(|(realm, s)| {
            s.descriptor.commitment() == *commitment
                && s.descriptor.index_of(realm) == Some(s.index)
                && !s.locked()
        })
        .collect();
    usable.sort_by_key(|(_, s)| (core::cmp::Reverse(s.remaining()), s.index));
    usable.into_iter().map(|(realm, _)| *realm).collect()
}

/// One recovery attempt: a blinded stretched password and the valid realm
/// answers gathered so far. One `Recovery` is one guess at each realm asked.
pub struct Recovery {
    account: AccountId,
    commitment: [u8; COMMITMENT_LEN],
    input: Zeroizing<Vec<u8>>,
    blind: Blind,
    blinded: [u8; ELEMENT_LEN],
    descriptor: Option<Descriptor>,
    accepted: BTreeMap<u8, [u8; ELEMENT_LEN]>,
}

impl Recovery {
    /// Blind `stretched` for `account`'s registration `commitment` (read
    /// from the password wrap).
    ///
    /// # Errors
    /// The OPRF's errors.
    pub fn start(
        account: AccountId,
        commitment: [u8; COMMITMENT_LEN],
        stretched: &StretchedPassword,
        rng: &mut impl CryptoRng,
    ) -> Result<Self> {
        let input = stretched.oprf_input(&account);
        let blind = Blind::generate(rng);
        let blinded = Ristretto255Sha512::blind(&input, &blind)?;
        Ok(Self {
            account,
            commitment,
            input,
            blind,
            blinded,
            descriptor: None,
            accepted: BTreeMap::new(),
        })
    }

    /// The blinded element to send.
    pub fn blinded(&self) -> &[u8; ELEMENT_LEN] {
        &self.blinded
    }

    /// Check realm `realm`'s answer, given the registration it reported
    /// (from its status), and keep it if valid. A rejected answer leaves the
    /// recovery as it was: ask another realm.
    ///
    /// # Errors
    /// [`Error::WrongAccount`], [`Error::WrongRegistration`],
    /// [`Error::WrongRealm`], [`Error::DuplicateIndex`], [`Error::BadElement`]
    /// or [`Error::ProofFailed`].
    pub fn accept(
        &mut self,
        realm: &[u8; REALM_ID_LEN],
        descriptor: &Descriptor,
        answer: &GuessAnswer,
    ) -> Result<()> {
        if descriptor.account() != &self.account {
            return Err(Error::WrongAccount);
        }
        if descriptor.commitment() != self.commitment || answer.commitment != self.commitment {
            return Err(Error::WrongRegistration);
        }
        let slot = descriptor.slot(answer.index)?;
        if slot.realm != *realm {
            return Err(Error::WrongRealm {
                index: answer.index,
            });
        }
        if self.accepted.contains_key(&answer.index) {
            return Err(Error::DuplicateIndex {
                index: answer.index,
            });
        }
        Ristretto255Sha512::verify(
            &slot.public_share,
            &self.input,
            &self.blind,
            &answer.evaluation,
        )?;
        self.accepted
            .insert(answer.index, answer.evaluation.element);
        self.descriptor.get_or_insert_with(|| descriptor.clone());
        Ok(())
    }

    /// Valid answers still needed (`k` minus those accepted; `k` unknown
    /// until the first valid answer, when this says 1).
    pub fn needed(&self) -> usize {
        match &self.descriptor {
            Some(d) => usize::from(d.k()).saturating_sub(self.accepted.len()),
            None => 1,
        }
    }

    /// Combine `k` valid answers into the wrap key.
    ///
    /// # Errors
    /// [`Error::NotEnoughRealms`] with fewer than `k` valid answers.
    pub fn finish(self, stretched: &StretchedPassword) -> Result<RealmKek> {
        let Some(descriptor) = &self.descriptor else {
            return Err(Error::NotEnoughRealms {
                needed: 1,
                of: 1,
                answered: 0,
            });
        };
        let k = usize::from(descriptor.k());
        if self.accepted.len() < k {
            return Err(Error::NotEnoughRealms {
                needed: descriptor.k(),
                of: descriptor.n(),
                // At most 16, bounded by the slots.
                answered: self.accepted.len() as u8,
            });
        }
        let chosen: Vec<(u8, [u8; ELEMENT_LEN])> = self
            .accepted
            .iter()
            .take(k)
            .map(|(i, e)| (*i, *e))
            .collect();
        let combined = combine(&chosen)?;
        let output = Ristretto255Sha512::unblind_finalize(&self.input, &self.blind, &combined)?;
        Ok(RealmKek::derive(stretched, &output, &self.commitment))
    }
}

impl core::fmt::Debug for Recovery {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Recovery")
            .field("account", &self.account)
            .field("accepted", &self.accepted.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Check a realm's reported lifetime guess count against the last one this
/// device saw: a count that went down means the realm's folder was restored
/// from an old copy, which hands an attacker the guesses made since.
///
/// # Errors
/// [`Error::RolledBack`].
pub fn check_not_rolled_back(index: u8, seen: u64, reported: u64) -> Result<()> {
    if reported < seen {
        return Err(Error::RolledBack {
            index,
            seen,
            reported,
        });
    }
    Ok(())
}
