//! The guess bound: attempts per account across the realm set.

use keylink_realm::{Error, GuessPolicy, Recovery, Throttle};
use proptest::prelude::*;
use rand::RngExt;

#[test]
fn every_policy_bounds_the_attempts_across_the_set_and_is_the_largest_that_does() {
    for n in 1u8..=16 {
        for k in 1..=n {
            for attempts in 1u16..=100 {
                let Ok(p) = GuessPolicy::new(attempts, k, n) else {
                    // Refused only when a realm could not allow one guess.
                    assert!(
                        u32::from(n) / u32::from(k) > u32::from(attempts),
                        "{attempts} {k}/{n}"
                    );
                    continue;
                };
                let bound = p.bound(k, n);
                assert!(bound <= u32::from(attempts), "{attempts} {k}/{n}");
                let one_more = u32::from(n) * (u32::from(p.per_realm()) + 1) / u32::from(k);
                assert!(
                    one_more > u32::from(attempts),
                    "{attempts} {k}/{n} not maximal"
                );
            }
        }
    }
    let p = GuessPolicy::new(10, 2, 3).unwrap();
    assert_eq!((p.per_realm(), p.bound(2, 3)), (7, 10));
    assert_eq!(GuessPolicy::new(10, 1, 1).unwrap().bound(1, 1), 10);
}

/// Guess against real realm records with a strategy: each step, `pick`
/// chooses `k` distinct realms; a guess counts as made when all `k`
/// evaluated. Returns the guesses made before the set refused.
fn attack(
    k: u8,
    n: u8,
    attempts: u16,
    seed: u64,
    mut pick: impl FnMut(&[u16]) -> Vec<usize>,
) -> u32 {
    let mut r = crate::registered(k, n, attempts, "right password", seed);
    let commitment = r.reg.descriptor.commitment();
    let wrong = crate::stretch("a wrong guess");
    let mut rng = crate::rng(seed);
    let mut made = 0;
    for _ in 0..1000 {
        let remaining: Vec<u16> = r.records.iter().map(|x| x.status().remaining()).collect();
        let chosen = pick(&remaining);
        let mut recovery = Recovery::start(r.account, commitment, &wrong, &mut rng).unwrap();
        let mut answered = 0;
        for i in chosen {
            match r.records[i].begin_guess(&commitment, 0, Throttle::NONE) {
                Ok(counted) => {
                    let answer = counted.evaluate(recovery.blinded(), &mut rng).unwrap();
                    recovery
                        .accept(&r.realms[i], counted.descriptor(), &answer)
                        .unwrap();
                    r.records[i] = counted;
                    answered += 1;
                }
                Err(Error::Locked { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        if answered < k {
            assert_eq!(
                recovery.finish(&wrong).unwrap_err().class(),
                "not_enough_realms"
            );
            if remaining.iter().filter(|&&x| x > 0).count() < usize::from(k) {
                break;
            }
            continue;
        }
        recovery.finish(&wrong).unwrap();
        made += 1;
    }
    made
}

fn most_remaining(k: u8) -> impl FnMut(&[u16]) -> Vec<usize> {
    move |remaining: &[u16]| {
        let mut idx: Vec<usize> = (0..remaining.len()).collect();
        idx.sort_by_key(|&i| (core::cmp::Reverse(remaining[i]), i));
        idx.truncate(usize::from(k));
        idx
    }
}

#[test]
fn two_of_three_with_ten_attempts_allows_exactly_ten_guesses_across_the_set() {
    // Spreading guesses the best way possible gets exactly the stated policy…
    assert_eq!(attack(2, 3, 10, 1, most_remaining(2)), 10);
    // …and 1-of-1 and 3-of-5 likewise never more than stated.
    assert_eq!(attack(1, 1, 10, 2, most_remaining(1)), 10);
    assert!(attack(3, 5, 10, 3, most_remaining(3)) <= 10);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever realms an attacker asks in whatever order, the guesses that
    /// reach k realms never exceed the stated attempts.
    #[test]
    fn no_strategy_gets_more_guesses_than_the_policy_states(
        n in 1u8..=5, k_seed in any::<u8>(), attempts in 1u16..=12, seed in any::<u64>(),
    ) {
        let k = 1 + k_seed % n;
        prop_assume!(GuessPolicy::new(attempts, k, n).is_ok());
        let mut rng = crate::rng(seed ^ 0x5eed);
        let made = attack(k, n, attempts, seed, |remaining| {
            // A random set of at least k realms, locked ones included.
            let mut idx: Vec<usize> = (0..remaining.len()).collect();
            idx.sort_by_key(|_| rng.random::<u32>());
            let take = rng.random_range(usize::from(k)..=remaining.len());
            idx.truncate(take);
            idx
        });
        prop_assert!(made <= u32::from(attempts), "{made} > {attempts}");
    }
}
