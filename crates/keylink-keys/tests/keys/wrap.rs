//! Password and recovery wraps: round trips, tamper detection, parameter bounds.

use keylink_keys::wrap::{WRAP_HEADER_LEN, WRAP_LEN};
use keylink_keys::{
    AccountId, Epoch, Error, KdfParams, KdfPolicy, KeyWrap, Password, RecoveryKey, RootKey,
};
use proptest::prelude::*;

use crate::rng;

const TINY: KdfParams = KdfParams::insecure_for_tests(8, 1, 1);
const WEAK_OK: KdfPolicy = KdfPolicy::insecure_accept_weak();

fn password_wrap(seed: u64, password: &Password) -> (RootKey, KeyWrap) {
    let mut r = rng(seed);
    let account = AccountId::generate(&mut r);
    let root = RootKey::generate(Epoch(seed % 5), &mut r);
    let wrap = KeyWrap::seal_password(&root, &account, password, TINY, &mut r).unwrap();
    (root, wrap)
}

/// Passwords of 8–40 arbitrary non-control characters.
fn any_password() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        any::<char>().prop_filter("no controls", |c| !c.is_control()),
        8..40,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn password_wrap_round_trips(typed in any_password(), seed in any::<u64>()) {
        let Ok(password) = Password::new(&typed) else {
            // NFC can shorten some strings below the minimum; that is the
            // normaliser's business and tested there.
            return Ok(());
        };
        let (root, wrap) = password_wrap(seed, &password);
        let bytes = wrap.to_bytes();
        prop_assert_eq!(bytes.len(), WRAP_LEN);
        let back = KeyWrap::from_bytes(&bytes).unwrap().open_password(&password, WEAK_OK).unwrap();
        prop_assert_eq!(back.expose_secret(), root.expose_secret());
        prop_assert_eq!(back.epoch(), root.epoch());
    }

    #[test]
    fn recovery_wrap_round_trips(seed in any::<u64>()) {
        let mut r = rng(seed);
        let account = AccountId::generate(&mut r);
        let root = RootKey::generate(Epoch(1), &mut r);
        let key = RecoveryKey::generate(&mut r);
        let wrap = KeyWrap::seal_recovery(&root, &account, &key, &mut r).unwrap();
        let typed = RecoveryKey::parse(&key.to_display()).unwrap();
        let back = KeyWrap::from_bytes(&wrap.to_bytes()).unwrap().open_recovery(&typed).unwrap();
        prop_assert_eq!(back.expose_secret(), root.expose_secret());
    }

    #[test]
    fn any_single_byte_change_fails(at in 0..WRAP_LEN, mask in 1u8..=255, seed in any::<u64>()) {
        let password = Password::new("property test password").unwrap();
        let (_, wrap) = password_wrap(seed, &password);
        let mut bytes = wrap.to_bytes();
        bytes[at] ^= mask;
        let opened = KeyWrap::from_bytes(&bytes).and_then(|w| w.open_password(&password, WEAK_OK));
        prop_assert!(opened.is_err(), "change at {} opened", at);
    }
}

/// Every offset, not just sampled ones: a change anywhere fails, and a
/// change in the authenticated part fails as "wrong secret or tampered"
/// unless the parser already refuses the header.
#[test]
fn every_offset_is_protected() {
    let password = Password::new("every offset matters").unwrap();
    let (_, wrap) = password_wrap(7, &password);
    let bytes = wrap.to_bytes();
    for at in 0..WRAP_LEN {
        for mask in [0x01, 0x80] {
            let mut t = bytes.clone();
            t[at] ^= mask;
            let err = KeyWrap::from_bytes(&t)
                .and_then(|w| w.open_password(&password, WEAK_OK))
                .err()
                .unwrap_or_else(|| panic!("change at {at} opened"));
            if at >= WRAP_HEADER_LEN {
                assert_eq!(err, Error::WrongSecretOrTampered, "offset {at}");
            }
        }
    }
}

#[test]
fn wrong_password_and_tampering_look_the_same() {
    let password = Password::new("the right password").unwrap();
    let (_, wrap) = password_wrap(1, &password);
    let wrong = wrap
        .open_password(&Password::new("the wrong password").unwrap(), WEAK_OK)
        .unwrap_err();
    let mut t = wrap.to_bytes();
    t[120] ^= 1;
    let tampered = KeyWrap::from_bytes(&t)
        .unwrap()
        .open_password(&password, WEAK_OK)
        .unwrap_err();
    assert_eq!(wrong, tampered);
    assert_eq!(wrong.class(), "wrong_secret_or_tampered");
}

/// Must-show 5: a header asking for m = 4 GiB is refused by the parser,
/// which runs no KDF and allocates nothing for it; it never reaches Argon2id.
#[test]
fn four_gib_header_is_refused_before_allocation() {
    let password = Password::new("four gibibytes please").unwrap();
    let (_, wrap) = password_wrap(2, &password);
    let mut bytes = wrap.to_bytes();
    bytes[30..34].copy_from_slice(&(4u32 * 1024 * 1024).to_be_bytes());
    let err = KeyWrap::from_bytes(&bytes).unwrap_err();
    assert_eq!(err.class(), "params_above_ceiling");
    assert_eq!(
        err,
        Error::ParamsAboveCeiling {
            m_kib: 4 * 1024 * 1024,
            t: 1,
            p: 1
        }
    );
    // And no constructor makes such parameters for writing.
    assert!(KdfParams::new(4 * 1024 * 1024, 3, 1).is_err());
}

#[test]
fn floor_and_ceiling_bounds_are_exact() {
    assert!(KdfParams::new(19 * 1024, 2, 1).is_ok());
    assert_eq!(
        KdfParams::new(19 * 1024 - 1, 2, 1).unwrap_err().class(),
        "params_below_floor"
    );
    assert_eq!(
        KdfParams::new(19 * 1024, 1, 1).unwrap_err().class(),
        "params_below_floor"
    );
    assert_eq!(
        KdfParams::new(19 * 1024, 2, 0).unwrap_err().class(),
        "params_below_floor"
    );
    assert!(KdfParams::new(1024 * 1024, 10, 8).is_ok());
    assert_eq!(
        KdfParams::new(1024 * 1024 + 1, 3, 1).unwrap_err().class(),
        "params_above_ceiling"
    );
    assert_eq!(
        KdfParams::new(65536, 11, 1).unwrap_err().class(),
        "params_above_ceiling"
    );
    assert_eq!(
        KdfParams::new(65536, 3, 9).unwrap_err().class(),
        "params_above_ceiling"
    );
    assert_eq!(KdfParams::new(65536, 3, 1).unwrap(), KdfParams::DEFAULT);
}

#[test]
fn weak_wraps_open_only_under_the_insecure_policy() {
    let password = Password::new("weak params here").unwrap();
    let (_, wrap) = password_wrap(3, &password);
    assert_eq!(
        wrap.open_password(&password, KdfPolicy::default())
            .unwrap_err()
            .class(),
        "params_below_floor"
    );
    assert!(wrap.open_password(&password, WEAK_OK).is_ok());
}

#[test]
fn wrap_kinds_are_not_interchangeable() {
    let mut r = rng(4);
    let account = AccountId::generate(&mut r);
    let root = RootKey::generate(Epoch(0), &mut r);
    let key = RecoveryKey::generate(&mut r);
    let rwrap = KeyWrap::seal_recovery(&root, &account, &key, &mut r).unwrap();
    let password = Password::new("not a recovery key").unwrap();
    assert_eq!(
        rwrap.open_password(&password, WEAK_OK).unwrap_err().class(),
        "wrong_wrap_kind"
    );
    let (_, pwrap) = password_wrap(4, &password);
    assert_eq!(
        pwrap.open_recovery(&key).unwrap_err().class(),
        "wrong_wrap_kind"
    );
}

#[test]
fn unknown_version_and_trailing_bytes_are_their_own_errors() {
    let password = Password::new("versions matter").unwrap();
    let (_, wrap) = password_wrap(5, &password);
    let mut v3 = wrap.to_bytes();
    v3[4] = 3;
    assert_eq!(
        KeyWrap::from_bytes(&v3).unwrap_err(),
        Error::UnsupportedVersion { got: 3 }
    );
    // Version 2 is the realm wrap: a version-1 wrap relabelled as one is short.
    let mut v2 = wrap.to_bytes();
    v2[4] = 2;
    assert_eq!(KeyWrap::from_bytes(&v2).unwrap_err().class(), "truncated");
    let mut long = wrap.to_bytes();
    long.extend_from_slice(b"xyz");
    assert_eq!(
        KeyWrap::from_bytes(&long).unwrap_err(),
        Error::TrailingBytes { extra: 3 }
    );
    for len in 0..WRAP_LEN {
        let err = KeyWrap::from_bytes(&wrap.to_bytes()[..len]).unwrap_err();
        assert_eq!(err.class(), "truncated", "length {len}");
    }
}

/// Parameters read back from a weak wrap do not carry the "insecure" mark:
/// sealing with them is refused, so the floor cannot be bypassed that way.
#[test]
fn weak_params_from_a_parsed_wrap_cannot_seal() {
    let password = Password::new("parsed params").unwrap();
    let (root, wrap) = password_wrap(6, &password);
    let parsed = KeyWrap::from_bytes(&wrap.to_bytes()).unwrap();
    assert_eq!(parsed.params(), TINY);
    let mut r = rng(6);
    let err = KeyWrap::seal_password(&root, wrap.account(), &password, parsed.params(), &mut r)
        .unwrap_err();
    assert_eq!(err.class(), "params_below_floor");
}
