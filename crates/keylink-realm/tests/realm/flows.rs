//! Registration, recovery, unlock and hand-over, and what each refuses.

use keylink_keys::{Epoch, KeyWrap, RootKey};
use keylink_realm::{
    Error, Evaluation, GuessAnswer, Handover, RealmRecord, RealmSet, Recovery, RegisterRequest,
    Throttle, Voprf, check_not_rolled_back, choose_realms, register,
};

/// One counted guess at realm `i`, answered; the record is updated.
fn guess(
    r: &mut crate::Registered,
    i: usize,
    recovery: &Recovery,
    now_ms: u64,
) -> Result<GuessAnswer, Error> {
    let commitment = r.reg.descriptor.commitment();
    let counted = r.records[i].begin_guess(&commitment, now_ms, Throttle::DEFAULT)?;
    let mut rng = crate::rng(now_ms);
    let answer = counted.evaluate(recovery.blinded(), &mut rng)?;
    r.records[i] = counted;
    Ok(answer)
}

#[test]
fn the_right_password_through_any_two_of_three_gives_the_registered_key_and_unlocks() {
    let mut r = crate::registered(2, 3, 10, "hunter2 but longer", 10);
    let commitment = r.reg.descriptor.commitment();
    let stretched = crate::stretch("hunter2 but longer");
    let mut rng = crate::rng(11);
    for pair in [[0, 1], [1, 2], [0, 2]] {
        let mut rec = Recovery::start(r.account, commitment, &stretched, &mut rng).unwrap();
        for i in pair {
            let answer = guess(&mut r, i, &rec, 1).unwrap();
            let d = r.records[i].descriptor().clone();
            rec.accept(&r.realms[i], &d, &answer).unwrap();
        }
        let kek = rec.finish(&stretched).unwrap();
        // The unlock tag opens every realm's counter, and says how many
        // guesses were counted there since the last unlock.
        for i in 0..3 {
            let index = u8::try_from(i + 1).unwrap();
            let tag = kek.unlock_tag(&commitment, index, &r.realms[i]);
            let (next, used) = r.records[i].unlock(&commitment, &tag).unwrap();
            assert_eq!(u16::from(pair.contains(&i)), used);
            r.records[i] = next;
            assert_eq!(r.records[i].status().used, 0);
        }
    }
    // A wrong password's key differs, and its tags unlock nothing.
    let wrong = crate::stretch("hunter3 but longer");
    let mut rec = Recovery::start(r.account, commitment, &wrong, &mut rng).unwrap();
    for i in [0, 1] {
        let answer = guess(&mut r, i, &rec, 2).unwrap();
        let d = r.records[i].descriptor().clone();
        rec.accept(&r.realms[i], &d, &answer).unwrap();
    }
    let bad = rec.finish(&wrong).unwrap();
    let tag = bad.unlock_tag(&commitment, 1, &r.realms[0]);
    assert_eq!(
        r.records[0].unlock(&commitment, &tag).unwrap_err(),
        Error::BadUnlockTag
    );
    assert_eq!(r.records[0].status().used, 1);
}

#[test]
fn a_realm_with_a_bad_evaluation_is_identified_and_skipped() {
    let mut r = crate::registered(2, 3, 10, "pw pw pw pw", 20);
    let commitment = r.reg.descriptor.commitment();
    let stretched = crate::stretch("pw pw pw pw");
    let mut rng = crate::rng(21);
    let mut rec = Recovery::start(r.account, commitment, &stretched, &mut rng).unwrap();
    let d = r.reg.descriptor.clone();
    // Realm 1 answers with another key's evaluation.
    let liar = keylink_realm::OprfKey::generate(&mut rng);
    let forged = GuessAnswer {
        commitment,
        index: 1,
        evaluation: keylink_realm::Ristretto255Sha512::blind_evaluate(
            &liar,
            rec.blinded(),
            &mut rng,
        )
        .unwrap(),
        used: 0,
        total: 0,
    };
    assert_eq!(
        rec.accept(&r.realms[0], &d, &forged),
        Err(Error::ProofFailed)
    );
    // Realm 2 claims realm 3's share index; realm 3 answers for another registration.
    let a2 = guess(&mut r, 1, &rec, 1).unwrap();
    let mut claims3 = a2;
    claims3.index = 3;
    assert_eq!(
        rec.accept(&r.realms[1], &d, &claims3),
        Err(Error::WrongRealm { index: 3 })
    );
    let mut other = a2;
    other.commitment = [7; 32];
    assert_eq!(
        rec.accept(&r.realms[1], &d, &other),
        Err(Error::WrongRegistration)
    );
    // With one valid answer, the error says how many were needed.
    rec.accept(&r.realms[1], &d, &a2).unwrap();
    assert_eq!(
        rec.accept(&r.realms[1], &d, &a2),
        Err(Error::DuplicateIndex { index: 2 })
    );
    // Recovery goes on with the honest realms.
    let a3 = guess(&mut r, 2, &rec, 1).unwrap();
    rec.accept(&r.realms[2], &d, &a3).unwrap();
    let kek = rec.finish(&stretched).unwrap();
    assert!(
        kek.unlock_tag(&commitment, 1, &r.realms[0])
            .matches(&r.reg.kek.unlock_tag(&commitment, 1, &r.realms[0]))
    );
}

#[test]
fn fewer_than_k_valid_answers_say_how_many_were_needed() {
    let mut r = crate::registered(2, 3, 10, "pw pw pw pw", 30);
    let commitment = r.reg.descriptor.commitment();
    let stretched = crate::stretch("pw pw pw pw");
    let mut rng = crate::rng(31);
    let mut rec = Recovery::start(r.account, commitment, &stretched, &mut rng).unwrap();
    let a = guess(&mut r, 0, &rec, 1).unwrap();
    rec.accept(&r.realms[0], &r.reg.descriptor, &a).unwrap();
    let e = rec.finish(&stretched).unwrap_err();
    assert_eq!(
        e,
        Error::NotEnoughRealms {
            needed: 2,
            of: 3,
            answered: 1
        }
    );
    assert_eq!(
        e.to_string(),
        "2 of 3 realms are needed, 1 answered with a valid evaluation"
    );
}

#[test]
fn an_answer_for_another_account_is_refused() {
    let mut a = crate::registered(1, 1, 10, "pw pw pw pw", 40);
    let b = crate::registered(1, 1, 10, "pw pw pw pw", 41);
    let stretched = crate::stretch("pw pw pw pw");
    let mut rng = crate::rng(42);
    let rec = Recovery::start(
        a.account,
        a.reg.descriptor.commitment(),
        &stretched,
        &mut rng,
    )
    .unwrap();
    let answer = guess(&mut a, 0, &rec, 1).unwrap();
    let mut rec = rec;
    assert_eq!(
        rec.accept(&a.realms[0], &b.reg.descriptor, &answer),
        Err(Error::WrongAccount)
    );
}

#[test]
fn a_realm_counts_up_to_its_limit_then_refuses_and_spaces_guesses_in_time() {
    let mut r = crate::registered(1, 1, 5, "pw pw pw pw", 50);
    let commitment = r.reg.descriptor.commitment();
    let mut now = 1_000_000;
    for n in 1..=5u16 {
        let counted = r.records[0]
            .begin_guess(&commitment, now, Throttle::DEFAULT)
            .unwrap();
        assert_eq!(counted.status().used, n);
        r.records[0] = counted;
        if (3..5).contains(&n) {
            // After three free guesses, the next must wait 20 minutes.
            let e = r.records[0]
                .begin_guess(&commitment, now + 1000, Throttle::DEFAULT)
                .unwrap_err();
            assert_eq!(
                e,
                Error::TooSoon {
                    wait_s: 20 * 60 - 1
                }
            );
            now += 20 * 60 * 1000;
        }
    }
    let e = r.records[0]
        .begin_guess(&commitment, now + 10_000_000, Throttle::DEFAULT)
        .unwrap_err();
    assert_eq!(e, Error::Locked { wrong_guesses: 5 });
    assert!(r.records[0].status().locked());
    // A guess about another registration counts nothing.
    assert_eq!(
        r.records[0]
            .begin_guess(&[1; 32], now, Throttle::NONE)
            .unwrap_err(),
        Error::WrongRegistration
    );
}

#[test]
fn registrations_need_the_held_admin_key_and_a_handover_shuts_out_the_old_one() {
    let r = crate::registered(1, 1, 10, "pw pw pw pw", 60);
    let mut rng = crate::rng(61);
    let set = RealmSet::new(r.realms.clone(), 1).unwrap();
    let held = &r.records[0];
    let stretched = crate::stretch("new pw new pw");
    let next_root = RootKey::generate(Epoch(1), &mut rng);
    let next_admin = next_root.realm_admin_key(&r.account);

    // Someone else (a squatter, or anyone without the root key) cannot replace it.
    let squat = register(
        r.account,
        Epoch(1),
        &stretched,
        &set,
        &next_admin,
        |_| None,
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        RealmRecord::register(&r.realms[0], Some(held), &squat.requests[0]).unwrap_err(),
        Error::AlreadyRegistered
    );
    let forged = register(
        r.account,
        Epoch(1),
        &stretched,
        &set,
        &next_admin,
        |_| Some(next_root.realm_admin_key(&r.account)),
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        RealmRecord::register(&r.realms[0], Some(held), &forged.requests[0])
            .unwrap_err()
            .class(),
        "not_authorized"
    );
    // A request sent to a realm whose slot it is not.
    assert_eq!(
        RealmRecord::register(&[0xee; 32], None, &squat.requests[0]).unwrap_err(),
        Error::WrongRealm { index: 1 }
    );

    // The holder of the current root key hands the registration over to epoch 1.
    let h = Handover::sign(
        r.account,
        held.commitment(),
        Epoch(1),
        &next_admin,
        &r.root.realm_admin_key(&r.account),
    );
    let moved = held
        .handover(&Handover::from_bytes(&h.to_bytes()).unwrap())
        .unwrap();
    assert_eq!(moved.status().admin, next_admin.public_key());
    // The old key (a revoked device still has it) can no longer re-register…
    let old = register(
        r.account,
        Epoch(1),
        &stretched,
        &set,
        &r.root.realm_admin_key(&r.account),
        |_| Some(r.root.realm_admin_key(&r.account)),
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        RealmRecord::register(&r.realms[0], Some(&moved), &old.requests[0])
            .unwrap_err()
            .class(),
        "not_authorized"
    );
    // …nor hand over again.
    let back = Handover::sign(
        r.account,
        held.commitment(),
        Epoch(2),
        &r.root.realm_admin_key(&r.account),
        &r.root.realm_admin_key(&r.account),
    );
    assert_eq!(moved.handover(&back).unwrap_err().class(), "not_authorized");
    // The current one re-registers; the lifetime count carries over.
    let counted = moved
        .begin_guess(&held.commitment(), 0, Throttle::NONE)
        .unwrap();
    let epoch2 = RootKey::generate(Epoch(2), &mut rng);
    let renewed = register(
        r.account,
        Epoch(2),
        &stretched,
        &set,
        &epoch2.realm_admin_key(&r.account),
        |_| Some(next_root.realm_admin_key(&r.account)),
        &mut rng,
    )
    .unwrap();
    let wire = RegisterRequest::from_bytes(&renewed.requests[0].to_bytes()).unwrap();
    let fresh = RealmRecord::register(&r.realms[0], Some(&counted), &wire).unwrap();
    assert_eq!((fresh.status().used, fresh.status().total), (0, 1));
    // An older epoch's registration is refused once a newer one is held.
    let stale = register(
        r.account,
        Epoch(1),
        &stretched,
        &set,
        &next_admin,
        |_| Some(epoch2.realm_admin_key(&r.account)),
        &mut rng,
    )
    .unwrap();
    assert_eq!(
        RealmRecord::register(&r.realms[0], Some(&fresh), &stale.requests[0]).unwrap_err(),
        Error::StaleRegistration { got: 1, held: 2 }
    );
    // Sending the same registration again changes nothing.
    let again = RealmRecord::register(&r.realms[0], Some(&fresh), &wire).unwrap();
    assert_eq!(again.to_bytes(), fresh.to_bytes());
}

#[test]
fn records_round_trip_and_a_record_whose_share_does_not_fit_is_refused() {
    let r = crate::registered(2, 3, 10, "pw pw pw pw", 70);
    for rec in &r.records {
        let bytes = rec.to_bytes();
        assert_eq!(RealmRecord::from_bytes(&bytes).unwrap().to_bytes(), bytes);
    }
    // Realm 1's record with realm 2's share: the share does not match slot 1.
    let mut mixed = r.records[0].to_bytes().to_vec();
    let d_len = usize::from(u16::from_be_bytes([mixed[5], mixed[6]]));
    let share_at = 7 + d_len + 1;
    let other = r.records[1].to_bytes();
    mixed[share_at..share_at + 32].copy_from_slice(&other[share_at..share_at + 32]);
    assert_eq!(
        RealmRecord::from_bytes(&mixed).unwrap_err(),
        Error::ShareMismatch { index: 1 }
    );
    // Truncated, trailing and unknown-version records.
    let good = r.records[0].to_bytes();
    assert_eq!(
        RealmRecord::from_bytes(&good[..good.len() - 1])
            .unwrap_err()
            .class(),
        "truncated"
    );
    let mut long = good.to_vec();
    long.push(0);
    assert_eq!(
        RealmRecord::from_bytes(&long).unwrap_err().class(),
        "trailing_bytes"
    );
    let mut v2 = good.to_vec();
    v2[4] = 2;
    assert_eq!(
        RealmRecord::from_bytes(&v2).unwrap_err(),
        Error::UnsupportedVersion { got: 2 }
    );
}

#[test]
fn realms_are_chosen_by_guesses_left_and_locked_or_foreign_ones_are_left_out() {
    let mut r = crate::registered(2, 3, 10, "pw pw pw pw", 80);
    let commitment = r.reg.descriptor.commitment();
    r.records[0] = r.records[0]
        .begin_guess(&commitment, 0, Throttle::NONE)
        .unwrap();
    let statuses: Vec<_> = r
        .realms
        .iter()
        .zip(&r.records)
        .map(|(id, rec)| (*id, rec.status()))
        .collect();
    assert_eq!(
        choose_realms(&commitment, &statuses),
        vec![r.realms[1], r.realms[2], r.realms[0]]
    );
    // A realm reporting its status under another realm's id is left out.
    let swapped = vec![
        (r.realms[0], statuses[1].1.clone()),
        (r.realms[2], statuses[2].1.clone()),
    ];
    assert_eq!(choose_realms(&commitment, &swapped), vec![r.realms[2]]);
    assert!(choose_realms(&[0; 32], &statuses).is_empty());
}

#[test]
fn a_counter_that_went_backwards_is_reported_as_a_rollback() {
    assert!(check_not_rolled_back(2, 5, 5).is_ok());
    assert!(check_not_rolled_back(2, 5, 9).is_ok());
    assert_eq!(
        check_not_rolled_back(2, 5, 3).unwrap_err(),
        Error::RolledBack {
            index: 2,
            seen: 5,
            reported: 3
        }
    );
}

#[test]
fn secrets_print_redacted() {
    let r = crate::registered(1, 1, 10, "pw pw pw pw", 90);
    let dbg = format!("{:?} {:?} {:?}", r.records[0], r.reg.requests[0], r.reg.kek);
    assert!(dbg.contains("[redacted]"));
    let share = hex::encode(r.records[0].share().to_bytes().as_slice());
    assert!(!dbg.contains(&share));
    assert_eq!(format!("{:?}", r.reg.kek), "RealmKek([redacted])");
    let mut rng = crate::rng(91);
    let key = keylink_realm::OprfKey::generate(&mut rng);
    assert_eq!(format!("{key:?}"), "OprfKey([redacted])");
    let blind = keylink_realm::Blind::generate(&mut rng);
    assert_eq!(format!("{blind:?}"), "Blind([redacted])");
    let shares = keylink_realm::shamir::split(&key, 2, 3, &mut rng).unwrap();
    let shown = format!("{shares:?} {:?}", r.reg);
    for s in &shares {
        assert!(!shown.contains(&hex::encode(s.key.to_bytes().as_slice())));
    }
    assert!(!shown.contains(&hex::encode(key.to_bytes().as_slice())));
    let e = Evaluation {
        element: [1; 32],
        proof: [2; 64],
    };
    assert_eq!(format!("{e:?}"), "Evaluation { .. }");
    let _ = KeyWrap::from_bytes(&[]).unwrap_err();
}

#[test]
fn a_realm_wrap_opens_only_with_the_password_and_k_realms() {
    use keylink_keys::{KdfParams, KdfPolicy, Password, StretchedPassword, wrap::WRAP_LEN_REALM};
    let mut rng = crate::rng(100);
    let params = KdfParams::insecure_for_tests(64, 1, 1);
    let weak = KdfPolicy::insecure_accept_weak();
    let salt = [5u8; 16];
    let password = Password::new("a realm-guarded password").unwrap();
    let stretched = StretchedPassword::derive(&password, &salt, params, weak).unwrap();
    let account = keylink_keys::AccountId::generate(&mut rng);
    let root = RootKey::generate(Epoch::GENESIS, &mut rng);
    let realms = crate::realm_ids(3);
    let set = RealmSet::new(realms.clone(), 2).unwrap();
    let reg = register(
        account,
        Epoch::GENESIS,
        &stretched,
        &set,
        &root.realm_admin_key(&account),
        |_| None,
        &mut rng,
    )
    .unwrap();
    let commitment = reg.descriptor.commitment();
    let wrap = KeyWrap::seal_realm(
        &root, &account, params, salt, commitment, &reg.kek, &mut rng,
    )
    .unwrap();
    let bytes = wrap.to_bytes();
    assert_eq!(bytes.len(), WRAP_LEN_REALM);
    let parsed = KeyWrap::from_bytes(&bytes).unwrap();
    assert_eq!(parsed.realm_registration(), Some(&commitment));
    // The password alone is not a way in, and says why.
    assert_eq!(
        parsed.open_password(&password, weak).unwrap_err().class(),
        "realm_mismatch"
    );
    let records: Vec<RealmRecord> = reg
        .requests
        .iter()
        .zip(&realms)
        .map(|(q, id)| RealmRecord::register(id, None, q).unwrap())
        .collect();

    let recover = |pw: &str, rng: &mut rand::rngs::ChaCha20Rng| {
        let s = StretchedPassword::derive(
            &Password::new(pw).unwrap(),
            parsed.salt(),
            parsed.params(),
            weak,
        )
        .unwrap();
        let mut rec =
            Recovery::start(account, *parsed.realm_registration().unwrap(), &s, rng).unwrap();
        for i in [0, 2] {
            let counted = records[i]
                .begin_guess(&commitment, 0, Throttle::NONE)
                .unwrap();
            let answer = counted.evaluate(rec.blinded(), rng).unwrap();
            rec.accept(&realms[i], counted.descriptor(), &answer)
                .unwrap();
        }
        rec.finish(&s).unwrap()
    };
    let opened = parsed
        .open_realm(&recover("a realm-guarded password", &mut rng))
        .unwrap();
    assert_eq!(opened.expose_secret(), root.expose_secret());
    assert_eq!(
        parsed
            .open_realm(&recover("a realm-guarded passwore", &mut rng))
            .unwrap_err()
            .class(),
        "wrong_secret_or_tampered"
    );
    // Any change to the commitment in the header makes the wrap fail to open.
    let mut altered = bytes.clone();
    altered[90] ^= 1;
    let altered = KeyWrap::from_bytes(&altered).unwrap();
    assert_eq!(
        altered
            .open_realm(&recover("a realm-guarded password", &mut rng))
            .unwrap_err()
            .class(),
        "wrong_secret_or_tampered"
    );
}

#[test]
fn a_locked_registration_is_cleared_by_the_current_admin_key_only_and_once() {
    use keylink_realm::AdminReset;
    let mut r = crate::registered(1, 1, 2, "pw pw pw pw", 110);
    let commitment = r.reg.descriptor.commitment();
    for _ in 0..2 {
        r.records[0] = r.records[0]
            .begin_guess(&commitment, 0, Throttle::NONE)
            .unwrap();
    }
    assert!(r.records[0].status().locked());
    let admin = r.root.realm_admin_key(&r.account);
    let total = r.records[0].status().total;
    // Someone without the root key cannot clear it.
    let mut rng = crate::rng(111);
    let stranger = RootKey::generate(Epoch(0), &mut rng).realm_admin_key(&r.account);
    let forged = AdminReset::sign(r.account, commitment, total, &stranger);
    assert_eq!(
        r.records[0].admin_reset(&forged).unwrap_err().class(),
        "not_authorized"
    );
    // The current device can, and the realm says how many were counted.
    let reset =
        AdminReset::from_bytes(&AdminReset::sign(r.account, commitment, total, &admin).to_bytes())
            .unwrap();
    let (cleared, counted) = r.records[0].admin_reset(&reset).unwrap();
    assert_eq!((counted, cleared.status().used), (2, 0));
    // Once the count has moved, the same reset is refused (no replay).
    let moved = cleared.begin_guess(&commitment, 0, Throttle::NONE).unwrap();
    assert_eq!(
        moved.admin_reset(&reset).unwrap_err().class(),
        "stale_registration"
    );
}
