//! Sealed boxes and device identities.

use keylink_keys::{
    AccountId, DeviceIdentity, DevicePublicKeys, Epoch, Error, RootKey, SealPurpose, SealedBox,
    SignatureContext, verify_with,
};

use crate::rng;

#[test]
fn root_key_reaches_only_its_recipient() {
    let mut r = rng(1);
    let account = AccountId::generate(&mut r);
    let alice = DeviceIdentity::generate(&mut r);
    let bob = DeviceIdentity::generate(&mut r);
    let root = RootKey::generate(Epoch(3), &mut r);
    let sealed = SealedBox::seal_root_key(&root, &alice.public_keys(), &account, &mut r).unwrap();
    let bytes = sealed.to_bytes();
    assert_eq!(bytes.len(), 1 + 32 + 32 + 16);
    let parsed = SealedBox::from_bytes(&bytes).unwrap();
    let opened = parsed.open_root_key(&alice, &account, Epoch(3)).unwrap();
    assert_eq!(opened.expose_secret(), root.expose_secret());
    assert_eq!(
        parsed.open_root_key(&bob, &account, Epoch(3)).unwrap_err(),
        Error::SealedBoxOpen
    );
    assert_eq!(
        parsed
            .open_root_key(&alice, &account, Epoch(4))
            .unwrap_err(),
        Error::SealedBoxOpen
    );
    assert_eq!(
        parsed
            .open(SealPurpose::EpochHistory, &alice, &account, Epoch(3))
            .unwrap_err(),
        Error::SealedBoxOpen
    );
}

#[test]
fn oversize_sealed_boxes_are_refused_before_copying() {
    let huge = vec![1u8; 2 << 20];
    assert_eq!(
        SealedBox::from_bytes(&huge).unwrap_err().class(),
        "malformed"
    );
}

#[test]
fn signatures_are_bound_to_their_context() {
    let device = DeviceIdentity::generate(&mut rng(2));
    let keys = device.public_keys();
    for signed_as in SignatureContext::ALL {
        let sig = device.sign(signed_as, b"message");
        for checked_as in SignatureContext::ALL {
            let result = keys.verify(checked_as, b"message", &sig);
            assert_eq!(
                result.is_ok(),
                signed_as == checked_as,
                "{signed_as:?} vs {checked_as:?}"
            );
        }
    }
}

#[test]
fn account_signing_key_is_derived_and_verifiable() {
    let mut r = rng(3);
    let account = AccountId::generate(&mut r);
    let root = RootKey::generate(Epoch(0), &mut r);
    let k1 = root.account_signing_key(&account);
    let k2 = root.duplicate().account_signing_key(&account);
    assert_eq!(
        k1.public_key(),
        k2.public_key(),
        "derivation is deterministic"
    );
    let sig = k1.sign(SignatureContext::AccountLogAccount, b"entry");
    verify_with(
        &k1.public_key(),
        SignatureContext::AccountLogAccount,
        b"entry",
        &sig,
    )
    .unwrap();
    let other = RootKey::generate(Epoch(0), &mut r).account_signing_key(&account);
    assert_ne!(other.public_key(), k1.public_key());
}

#[test]
fn derived_keys_differ_by_purpose_device_and_account() {
    let mut r = rng(4);
    let account = AccountId::generate(&mut r);
    let other_account = AccountId::generate(&mut r);
    let root = RootKey::generate(Epoch(0), &mut r);
    let d1 = DeviceIdentity::generate(&mut r).device_id();
    let d2 = DeviceIdentity::generate(&mut r).device_id();
    let all = [
        *root.device_subkey(&account, &d1).expose_secret(),
        *root.device_subkey(&account, &d2).expose_secret(),
        *root.device_subkey(&other_account, &d1).expose_secret(),
        *root.chunk_id_key(&account).expose_secret(),
        *root.epoch_history_key(&account).expose_secret(),
        *root.expose_secret(),
    ];
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            assert_ne!(all[i], all[j], "keys {i} and {j} collide");
        }
    }
}

#[test]
fn device_ids_name_both_keys() {
    let mut r = rng(5);
    let a = DeviceIdentity::generate(&mut r).public_keys();
    let b = DeviceIdentity::generate(&mut r).public_keys();
    let mixed = DevicePublicKeys::from_bytes(*a.signing_key(), *b.agreement_key()).unwrap();
    assert_ne!(mixed.device_id(), a.device_id());
    assert_ne!(mixed.device_id(), b.device_id());
    // A device id is 16 bytes and cannot be parsed from a 32-byte key.
    assert_eq!(a.device_id().as_bytes().len(), 16);
    assert!(keylink_keys::DeviceId::from_slice(a.signing_key()).is_err());
}
