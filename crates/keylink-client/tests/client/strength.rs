//! The password policy follows what guards the password (§19.14): no realm
//! asks for the most, one realm operator for less, two or more for only
//! the 8-character minimum.

use keylink_client::{Error, RealmInfo, Realms, check_password_strength};
use keylink_keys::Password;
use keylink_net::Fingerprint;

fn realms(n: u8, needed: u8) -> Realms {
    Realms {
        realms: (0..n)
            .map(|i| RealmInfo {
                addr: format!("127.0.0.1:{}", 4000 + u16::from(i))
                    .parse()
                    .unwrap(),
                fingerprint: Fingerprint::from_bytes([i; 32]),
            })
            .collect(),
        needed,
        attempts: 10,
    }
}

#[test]
fn a_password_must_be_stronger_the_fewer_operators_it_takes_to_test_it() {
    let weak = Password::new("password1234").unwrap(); // zxcvbn score 1
    let fair = Password::new("qwertyuiopasdfghjklz").unwrap(); // score 3
    let strong = Password::new("correct horse battery staple").unwrap(); // score 4
    let (none, one, two) = (None, Some(realms(1, 1)), Some(realms(3, 2)));
    let ok = |p: &Password, r: &Option<Realms>| check_password_strength(p, r.as_ref(), &[]).is_ok();
    // No realm: only a password an offline guesser cannot reach.
    assert!(!ok(&weak, &none) && !ok(&fair, &none) && ok(&strong, &none));
    // One realm operator could test offline: less is enough, not a weak one.
    assert!(!ok(&weak, &one) && ok(&fair, &one) && ok(&strong, &one));
    // Two independent realms needed: only the guesses the realms count.
    assert!(ok(&weak, &two) && ok(&fair, &two));
    // The refusal says why, and what to do.
    let e = check_password_strength(&weak, none.as_ref(), &[]).unwrap_err();
    assert!(matches!(e, Error::WeakPassword(_)));
    let text = e.to_string();
    assert!(
        text.contains("could test it offline") && text.contains("nothing was changed"),
        "{text}"
    );
    // Words from the account's own names count against it.
    let named = Password::new("ada-family-laptop").unwrap();
    assert!(ok(&named, &none));
    assert!(check_password_strength(&named, none.as_ref(), &["ada-family", "laptop"]).is_err());
}
