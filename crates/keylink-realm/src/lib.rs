//! Guess-limited password recovery: a threshold OPRF across realms that
//! count guesses.
//!
//! A password wrap alone can be tested offline by whoever holds it (the
//! storage operator, a bucket thief, anyone who knows the account name). A
//! realm-guarded wrap cannot: its key mixes Argon2id's output with the
//! output of an OPRF (RFC 9497 VOPRF, ristretto255-SHA512) whose key is
//! Shamir-split `k`-of-`n` across independently run realms. Each realm
//! counts a guess durably before it answers, proves its answer against the
//! public share it registered (DLEQ), and resets its counter only for a
//! client that shows the unlock tag derived from the opened wrap's key.
//! Without `k` realms a password cannot be tested at all; with them every
//! test is counted; and even `k` colluding realms pay one Argon2id per
//! guess. The protocol is `docs/protocol.md` §19.
//!
//! What this crate does: the OPRF behind the [`Voprf`] trait
//! ([`Ristretto255Sha512`]), Shamir splitting and recombination in the
//! exponent ([`shamir`]), guess policies ([`GuessPolicy`], [`Throttle`]),
//! the public registration ([`Descriptor`]) and the signed requests that
//! carry shares and admin keys ([`RegisterRequest`], [`Handover`]), the
//! realm's record and every way it may change ([`RealmRecord`]), and the
//! device's side ([`register`], [`Recovery`]).
//!
//! What it does not do: no I/O, no clock, no randomness of its own. The
//! server stores realm records (with compare-and-swap, counting before it
//! evaluates) and carries the messages; the client decides which realms to
//! ask. Time is a parameter (`now_ms`) and randomness a
//! [`rand_core::CryptoRng`].
//!
//! Trust assumptions: fewer than `k` realms collude; the device's realm set
//! (ids = pinned certificate fingerprints) is configured, never learned from
//! the storage server.
//!
//! ```
//! use keylink_keys::{AccountId, Epoch, KdfParams, KdfPolicy, Password, RootKey, StretchedPassword};
//! use keylink_realm::{RealmRecord, RealmSet, Recovery, Throttle, register};
//! # fn main() -> Result<(), keylink_realm::Error> {
//! let mut rng = rand::rng(); // in production: the OS CSPRNG
//! let account = AccountId::generate(&mut rng);
//! let root = RootKey::generate(Epoch::GENESIS, &mut rng);
//! let realms = [[1u8; 32], [2u8; 32], [3u8; 32]]; // certificate fingerprints
//! let set = RealmSet::new(realms.to_vec(), 2)?;
//!
//! // Tiny Argon2id parameters keep the example fast.
//! let params = KdfParams::insecure_for_tests(64, 1, 1);
//! let weak = KdfPolicy::insecure_accept_weak();
//! let password = Password::new("correct horse battery staple")?;
//! let stretched = StretchedPassword::derive(&password, &[7; 16], params, weak)?;
//! let admin = root.realm_admin_key(&account);
//! let reg = register(account, Epoch::GENESIS, &stretched, &set, &admin, |_| None, &mut rng)?;
//!
//! // Each realm stores its record.
//! let records: Vec<RealmRecord> = reg.requests.iter().zip(&realms)
//!     .map(|(req, realm)| RealmRecord::register(realm, None, req))
//!     .collect::<Result<_, _>>()?;
//!
//! // Recovery through realms 1 and 3.
//! let commitment = reg.descriptor.commitment();
//! let mut recovery = Recovery::start(account, commitment, &stretched, &mut rng)?;
//! for i in [0, 2] {
//!     let counted = records[i].begin_guess(&commitment, 0, Throttle::NONE)?;
//!     let answer = counted.evaluate(recovery.blinded(), &mut rng)?;
//!     recovery.accept(&realms[i], counted.descriptor(), &answer)?;
//! }
//! let kek = recovery.finish(&stretched)?;
//! assert_eq!(
//!     kek.unlock_tag(&commitment, 1, &realms[0]).expose_secret(),
//!     reg.kek.unlock_tag(&commitment, 1, &realms[0]).expose_secret(),
//! );
//! # Ok(()) }
//! ```

pub mod client;
mod codec;
pub mod error;
pub mod oprf;
pub mod policy;
pub mod realm;
pub mod registration;
pub mod shamir;

pub use client::{
    NewRegistration, RealmSet, Recovery, check_not_rolled_back, choose_realms, register,
};
pub use error::{Error, Result};
pub use oprf::{Blind, Evaluation, OprfKey, Ristretto255Sha512, Voprf};
pub use policy::{DEFAULT_ATTEMPTS, GuessPolicy, Throttle};
pub use realm::{GuessAnswer, RealmRecord, RealmStatus};
pub use registration::{AdminReset, Descriptor, Handover, RegisterRequest, Slot};
