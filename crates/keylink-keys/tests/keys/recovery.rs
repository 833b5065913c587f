//! Recovery keys: display/parse round trip, and every single-digit typo and
//! adjacent swap caught.

use keylink_keys::recovery::{RECOVERY_GROUP_LEN, RECOVERY_TOTAL_DIGITS};
use keylink_keys::{Error, RecoveryKey};
use proptest::prelude::*;

use crate::rng;

fn digits_of(display: &str) -> Vec<u8> {
    display.bytes().filter(u8::is_ascii_digit).collect()
}

fn text_of(digits: &[u8]) -> String {
    digits
        .chunks(RECOVERY_GROUP_LEN)
        .map(|g| String::from_utf8(g.to_vec()).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn display_parse_round_trip(seed in any::<u64>()) {
        let key = RecoveryKey::generate(&mut rng(seed));
        let shown = key.to_display();
        let back = RecoveryKey::parse(&shown).unwrap();
        prop_assert_eq!(*back.expose_secret_ascii(), *key.expose_secret_ascii());
        // Dashes and no separators parse to the same key.
        let dashed = RecoveryKey::parse(&shown.replace(' ', "-")).unwrap();
        prop_assert_eq!(*dashed.expose_secret_ascii(), *key.expose_secret_ascii());
        let bare = RecoveryKey::parse(&shown.replace(' ', "")).unwrap();
        prop_assert_eq!(*bare.expose_secret_ascii(), *key.expose_secret_ascii());
    }

    /// Every one of the 68 × 9 single-digit changes and every adjacent swap
    /// of different digits is refused, and a located group is never wrong.
    #[test]
    fn every_typo_is_caught_and_never_mislocated(seed in any::<u64>()) {
        let key = RecoveryKey::generate(&mut rng(seed));
        let good = digits_of(&key.to_display());
        prop_assert_eq!(good.len(), RECOVERY_TOTAL_DIGITS);
        for i in 0..RECOVERY_TOTAL_DIGITS {
            for d in b'0'..=b'9' {
                if d == good[i] {
                    continue;
                }
                let mut t = good.clone();
                t[i] = d;
                match RecoveryKey::parse(&text_of(&t)) {
                    Err(Error::RecoveryChecksum { group }) => {
                        prop_assert!(group.is_none() || group == Some(i / 4 + 1),
                            "typo at {} reported in group {:?}", i, group);
                    }
                    other => prop_assert!(false, "typo at {} gave {:?}", i, other.map(|_| ())),
                }
            }
        }
        for i in 0..RECOVERY_TOTAL_DIGITS - 1 {
            if good[i] == good[i + 1] {
                continue;
            }
            let mut t = good.clone();
            t.swap(i, i + 1);
            match RecoveryKey::parse(&text_of(&t)) {
                Err(Error::RecoveryChecksum { group }) => {
                    prop_assert!(group.is_none() || group == Some(i / 4 + 1) || group == Some((i + 1) / 4 + 1));
                }
                other => prop_assert!(false, "swap at {} gave {:?}", i, other.map(|_| ())),
            }
        }
    }
}

/// Every single-digit typo is located to its group (the reason for the
/// modulus 9929; the property above asserts a located group is never wrong).
#[test]
fn typo_location_rate() {
    let (mut located, mut total) = (0u32, 0u32);
    for seed in 0..20 {
        let key = RecoveryKey::generate(&mut rng(seed));
        let good = digits_of(&key.to_display());
        for i in 0..RECOVERY_TOTAL_DIGITS {
            let mut t = good.clone();
            t[i] = if t[i] == b'9' { b'0' } else { t[i] + 1 };
            total += 1;
            if let Err(Error::RecoveryChecksum { group: Some(_) }) =
                RecoveryKey::parse(&text_of(&t))
            {
                located += 1;
            }
        }
    }
    println!("recovery typo located to its group: {located}/{total}");
    // 9929 was chosen so that every single-digit typo is located.
    assert_eq!(located, total, "a single-digit typo was not located");
}

#[test]
fn group_rules() {
    let key = RecoveryKey::generate(&mut rng(9));
    let shown = key.to_display().to_string();
    // A dropped digit in group 2 is reported as that group's length.
    let mut dropped: Vec<char> = shown.chars().collect();
    dropped.remove(6);
    let dropped: String = dropped.into_iter().collect();
    assert_eq!(
        RecoveryKey::parse(&dropped).unwrap_err(),
        Error::RecoveryGroupLength { group: 2, len: 3 }
    );
    assert_eq!(
        RecoveryKey::parse("12345").unwrap_err(),
        Error::RecoveryLength { digits: 5 }
    );
    assert_eq!(
        RecoveryKey::parse(&shown.replacen(' ', "x", 1)).unwrap_err(),
        Error::RecoveryCharacter { position: 5 }
    );
    assert_eq!(
        RecoveryKey::parse(&"1".repeat(1000)).unwrap_err().class(),
        "recovery_length"
    );
}
