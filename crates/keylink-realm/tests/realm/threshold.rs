//! The threshold combination equals the single-key output.

use keylink_realm::shamir::{combine, split};
use keylink_realm::{Blind, OprfKey, Ristretto255Sha512, Voprf};
use proptest::prelude::*;
use rand::seq::SliceRandom;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For every 1 ≤ k ≤ n ≤ 5: any k realms' verified evaluations combine to
    /// the output of the whole key; k − 1 of them do not.
    #[test]
    fn k_of_n_output_equals_the_single_key_output(
        n in 1u8..=5,
        k_seed in any::<u8>(),
        seed in any::<u64>(),
        input in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let k = 1 + k_seed % n;
        let mut rng = crate::rng(seed);
        let key = OprfKey::generate(&mut rng);
        let shares = split(&key, k, n, &mut rng).unwrap();
        let blind = Blind::generate(&mut rng);
        let blinded = Ristretto255Sha512::blind(&input, &blind).unwrap();
        let mut order: Vec<usize> = (0..usize::from(n)).collect();
        order.shuffle(&mut rng);
        let mut answers = Vec::new();
        for &i in order.iter().take(usize::from(k)) {
            let share = &shares[i];
            let ev = Ristretto255Sha512::blind_evaluate(&share.key, &blinded, &mut rng).unwrap();
            Ristretto255Sha512::verify(&share.key.public_key(), &input, &blind, &ev).unwrap();
            answers.push((share.index, ev.element));
        }
        let combined = combine(&answers).unwrap();
        let out = Ristretto255Sha512::unblind_finalize(&input, &blind, &combined).unwrap();
        let single = Ristretto255Sha512::evaluate(&key, &input).unwrap();
        prop_assert_eq!(out.as_slice(), single.as_slice());
        if k > 1 {
            let fewer = combine(&answers[..usize::from(k) - 1]).unwrap();
            let wrong = Ristretto255Sha512::unblind_finalize(&input, &blind, &fewer).unwrap();
            prop_assert_ne!(wrong.as_slice(), single.as_slice());
        }
    }
}

#[test]
fn repeated_or_zero_indices_are_refused() {
    let e = curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED.to_bytes();
    assert_eq!(combine(&[(1, e), (1, e)]).unwrap_err().class(), "bad_index");
    assert_eq!(combine(&[(0, e)]).unwrap_err().class(), "bad_index");
    let mut rng = crate::rng(3);
    let key = OprfKey::generate(&mut rng);
    assert_eq!(
        split(&key, 3, 2, &mut rng).unwrap_err().class(),
        "bad_threshold"
    );
    assert_eq!(
        split(&key, 0, 2, &mut rng).unwrap_err().class(),
        "bad_threshold"
    );
    assert_eq!(
        split(&key, 2, 17, &mut rng).unwrap_err().class(),
        "bad_threshold"
    );
}
