//! No secret type's `Debug` prints key bytes (must-show 6). Each expected
//! string is pinned exactly, so a change to a `Debug` impl shows up here.

use keylink_keys::{AccountId, DeviceIdentity, Epoch, Error, Password, RecoveryKey, RootKey};

use crate::rng;

fn assert_hides(debug: &str, secret: &[u8]) {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!debug.contains(&hex), "{debug} contains the secret in hex");
    assert!(
        !debug.contains(&format!("{secret:?}")),
        "{debug} contains the secret bytes"
    );
    assert!(
        debug.contains("[redacted]"),
        "{debug} does not say [redacted]"
    );
}

#[test]
fn root_key_debug_is_redacted() {
    let root = RootKey::generate(Epoch(2), &mut rng(1));
    let d = format!("{root:?}");
    assert_eq!(d, "RootKey { epoch: 2, bytes: \"[redacted]\" }");
    assert_hides(&d, root.expose_secret());
    assert_hides(&format!("{root:#?}"), root.expose_secret());
}

#[test]
fn derived_keys_debug_is_redacted() {
    let mut r = rng(2);
    let account = AccountId::generate(&mut r);
    let root = RootKey::generate(Epoch(0), &mut r);
    let device = DeviceIdentity::generate(&mut r);
    let sub = root.device_subkey(&account, &device.device_id());
    assert_eq!(format!("{sub:?}"), "DeviceSubkey([redacted])");
    assert_hides(&format!("{sub:?}"), sub.expose_secret());
    let chunk = root.chunk_id_key(&account);
    assert_eq!(format!("{chunk:?}"), "ChunkIdKey([redacted])");
    assert_hides(&format!("{chunk:?}"), chunk.expose_secret());
    let hist = root.epoch_history_key(&account);
    assert_eq!(format!("{hist:?}"), "EpochHistoryKey([redacted])");
    assert_hides(&format!("{hist:?}"), hist.expose_secret());
    let signing = root.account_signing_key(&account);
    let d = format!("{signing:?}");
    assert!(d.starts_with("AccountSigningKey(public: "));
    assert_hides(&d, root.expose_secret());
}

#[test]
fn device_identity_debug_is_redacted() {
    let device = DeviceIdentity::generate(&mut rng(3));
    let d = format!("{device:?}");
    assert_eq!(
        d,
        format!("DeviceIdentity({}, secret: [redacted])", device.device_id())
    );
    let (seed, agreement) = device.expose_secret_bytes();
    assert_hides(&d, &seed);
    assert_hides(&d, &agreement);
}

#[test]
fn password_debug_and_errors_are_redacted() {
    let typed = "hunter2 hunter2 hunter2";
    let password = Password::new(typed).unwrap();
    let d = format!("{password:?}");
    assert_eq!(d, "Password([redacted])");
    assert!(!d.contains("hunter2"));
    let err = Password::new("hunter2\n").unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"));
}

#[test]
fn recovery_key_debug_and_errors_are_redacted() {
    let key = RecoveryKey::generate(&mut rng(4));
    let d = format!("{key:?}");
    assert_eq!(d, "RecoveryKey([redacted])");
    let shown = key.to_display();
    let first_group = &shown[..4];
    assert!(!d.contains(first_group));
    // A typo's error names the group, never the digits.
    let mut t: Vec<char> = shown.chars().collect();
    t[0] = if t[0] == '1' { '2' } else { '1' };
    let err = RecoveryKey::parse(&t.into_iter().collect::<String>()).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, Error::RecoveryChecksum { .. }));
    for group in shown.split(' ') {
        assert!(!text.contains(group), "{text} contains a digit group");
    }
}

#[test]
fn realm_key_schedule_debug_is_redacted() {
    use keylink_keys::{KdfParams, KdfPolicy, RealmKek, StretchedPassword, UnlockTag};
    let mut r = rng(9);
    let account = AccountId::generate(&mut r);
    let root = RootKey::generate(Epoch(0), &mut r);
    let stretched = StretchedPassword::derive(
        &Password::new("realm redaction test").unwrap(),
        &[1; 16],
        KdfParams::insecure_for_tests(64, 1, 1),
        KdfPolicy::insecure_accept_weak(),
    )
    .unwrap();
    assert_eq!(format!("{stretched:?}"), "StretchedPassword([redacted])");
    let kek = RealmKek::derive(&stretched, &[2; 64], &[3; 32]);
    assert_eq!(format!("{kek:?}"), "RealmKek([redacted])");
    let tag = kek.unlock_tag(&[3; 32], 1, &[4; 32]);
    assert_eq!(format!("{tag:?}"), "UnlockTag([redacted])");
    assert_hides(&format!("{tag:?}"), tag.expose_secret());
    let same = UnlockTag::from_bytes(*tag.expose_secret());
    assert!(same.matches(&tag));
    let admin = root.realm_admin_key(&account);
    let d = format!("{admin:?}");
    let public: String = admin
        .public_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        d,
        format!("RealmAdminKey(public: {public}, secret: [redacted])")
    );
}
