//! The realm a server hosts (docs/protocol.md §19), over real QUIC: k-of-n
//! recovery across three servers, counting under 50 concurrent guesses, a
//! crash between counting and answering, and what a realm refuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use keylink_keys::{
    AccountId, Epoch, KdfParams, KdfPolicy, Password, RealmKek, RootKey, StretchedPassword,
};
use keylink_realm::{
    GuessAnswer, NewRegistration, RealmSet, RealmStatus, Recovery, Throttle, register,
};
use keylink_server::{RealmConfig, ServerClient};
use keylink_store::{MemoryStore, ObjectKey, Put, Store, StoreError};
use keylink_wire::server::FailureCode;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use crate::support::{Harness, config, start};

fn stretch(pw: &str) -> StretchedPassword {
    StretchedPassword::derive(
        &Password::new(pw).unwrap(),
        &[3; 16],
        KdfParams::insecure_for_tests(64, 1, 1),
        KdfPolicy::insecure_accept_weak(),
    )
    .unwrap()
}

async fn realm_server(store: Arc<dyn Store>, throttle: Throttle) -> Harness {
    start(keylink_server::ServerConfig {
        realm: Some(RealmConfig { store, throttle }),
        ..config()
    })
    .await
}

fn realm_id(h: &Harness) -> [u8; 32] {
    *h.server.as_ref().unwrap().fingerprint().as_bytes()
}

/// Register `account` k-of-n with the realms of `servers`.
async fn register_at(
    servers: &[&Harness],
    k: u8,
    attempts: u16,
    password: &str,
    seed: u64,
) -> (AccountId, NewRegistration) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let account = AccountId::generate(&mut rng);
    let root = RootKey::generate(Epoch::GENESIS, &mut rng);
    let set = RealmSet::new(servers.iter().map(|h| realm_id(h)).collect(), k)
        .unwrap()
        .with_attempts(attempts)
        .unwrap();
    let reg = register(
        account,
        Epoch::GENESIS,
        &stretch(password),
        &set,
        &root.realm_admin_key(&account),
        |_| None,
        &mut rng,
    )
    .unwrap();
    for (h, req) in servers.iter().zip(&reg.requests) {
        h.client()
            .await
            .realm_register(req.to_bytes())
            .await
            .unwrap();
    }
    (account, reg)
}

/// One recovery attempt through whichever of `clients` answer, asking the
/// realms `choose_realms` picks until k answers verify.
async fn recover(
    clients: &[(Option<ServerClient>, [u8; 32])],
    account: AccountId,
    commitment: [u8; 32],
    password: &str,
    seed: u64,
) -> Result<RealmKek, keylink_realm::Error> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let stretched = stretch(password);
    let mut statuses = Vec::new();
    for (c, id) in clients {
        if let Some(c) = c
            && let Ok(bytes) = c.realm_status(&account).await
        {
            statuses.push((*id, RealmStatus::from_bytes(&bytes).unwrap()));
        }
    }
    let mut recovery = Recovery::start(account, commitment, &stretched, &mut rng)?;
    for id in keylink_realm::choose_realms(&commitment, &statuses) {
        if recovery.needed() == 0 {
            break;
        }
        let (c, _) = clients.iter().find(|(_, i)| *i == id).unwrap();
        let Some(c) = c else { continue };
        let status = &statuses.iter().find(|(i, _)| *i == id).unwrap().1;
        if let Ok(bytes) = c
            .realm_guess(&account, &commitment, recovery.blinded())
            .await
        {
            let answer = GuessAnswer::from_bytes(&bytes).unwrap();
            recovery.accept(&id, &status.descriptor, &answer)?;
        }
    }
    recovery.finish(&stretched)
}

#[tokio::test]
async fn two_of_three_realms_recover_and_one_is_not_enough() {
    let hs = [
        realm_server(Arc::new(MemoryStore::new()), Throttle::NONE).await,
        realm_server(Arc::new(MemoryStore::new()), Throttle::NONE).await,
        realm_server(Arc::new(MemoryStore::new()), Throttle::NONE).await,
    ];
    let (account, reg) = register_at(&[&hs[0], &hs[1], &hs[2]], 2, 10, "the password", 1).await;
    let commitment = reg.descriptor.commitment();
    let tag =
        |kek: &RealmKek, i: usize| kek.unlock_tag(&commitment, (i + 1) as u8, &realm_id(&hs[i]));
    let mut clients = Vec::new();
    for h in &hs {
        clients.push((Some(h.client().await), realm_id(h)));
    }
    let kek = recover(&clients, account, commitment, "the password", 2)
        .await
        .unwrap();
    assert!(tag(&kek, 0).matches(&tag(&reg.kek, 0)));
    // Unlock every realm: each says how many guesses it had counted.
    let mut counted = 0;
    for (i, (c, _)) in clients.iter().enumerate() {
        counted += c
            .as_ref()
            .unwrap()
            .realm_unlock(&account, &commitment, &tag(&kek, i))
            .await
            .unwrap();
    }
    assert_eq!(counted, 2, "one guess at each of two realms");
    // One realm down: the other two still recover.
    clients[0].0 = None;
    let kek = recover(&clients, account, commitment, "the password", 3)
        .await
        .unwrap();
    assert!(tag(&kek, 1).matches(&tag(&reg.kek, 1)));
    // Two down: the error says how many were needed.
    clients[1].0 = None;
    let e = recover(&clients, account, commitment, "the password", 4)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "2 of 3 realms are needed, 1 answered with a valid evaluation"
    );
    // A wrong tag resets nothing.
    let c = clients[2].0.as_ref().unwrap();
    let wrong = RealmKek::derive(&stretch("not it at all"), &[0; 64], &commitment);
    let e = c
        .realm_unlock(&account, &commitment, &tag(&wrong, 2))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(FailureCode::Forbidden));
    for h in hs {
        h.server
            .unwrap()
            .shutdown(std::time::Duration::from_millis(100))
            .await;
    }
}

#[tokio::test]
async fn fifty_concurrent_wrong_guesses_are_counted_up_to_the_policy_and_no_further() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let h = realm_server(store.clone(), Throttle::NONE).await;
    let (account, reg) = register_at(&[&h], 1, 10, "the password", 5).await;
    let commitment = reg.descriptor.commitment();
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let blinded = *Recovery::start(account, commitment, &stretch("a wrong password"), &mut rng)
        .unwrap()
        .blinded();
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(Arc::new(h.client().await));
    }
    let mut tasks = Vec::new();
    for i in 0..50 {
        let c = clients[i % clients.len()].clone();
        tasks.push(tokio::spawn(async move {
            c.realm_guess(&account, &commitment, &blinded).await
        }));
    }
    let (mut evaluated, mut locked, mut other) = (0, 0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => evaluated += 1,
            Err(e) if e.code() == Some(FailureCode::RealmLocked) => locked += 1,
            Err(e) => other.push(e.to_string()),
        }
    }
    // A busy compare-and-swap may send a few away unevaluated; none beyond the policy is answered.
    assert_eq!(evaluated, 10, "locked {locked}, other {other:?}");
    assert_eq!(locked + other.len(), 40);
    let status =
        RealmStatus::from_bytes(&clients[0].realm_status(&account).await.unwrap()).unwrap();
    assert_eq!((status.used, status.total, status.locked()), (10, 10, true));
    h.server
        .unwrap()
        .shutdown(std::time::Duration::from_millis(100))
        .await;
}

/// A realm store that stores a record and then fails, as a process killed
/// right after its write would: the count is durable, the answer never sent.
struct CrashAfterWrite {
    inner: MemoryStore,
    armed: AtomicBool,
}

impl Store for CrashAfterWrite {
    fn put_if_absent(&self, key: &ObjectKey, value: &[u8]) -> Result<Put, StoreError> {
        let put = self.inner.put_if_absent(key, value)?;
        if self.armed.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Io {
                op: "write",
                key: key.as_str().to_string(),
                source: std::io::Error::other("killed after the write"),
            });
        }
        Ok(put)
    }
    fn get(&self, key: &ObjectKey, max_len: usize) -> Result<Vec<u8>, StoreError> {
        self.inner.get(key, max_len)
    }
    fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        self.inner.exists(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        self.inner.list(prefix)
    }
    fn list_with_sizes(&self, prefix: &str) -> Result<Vec<(ObjectKey, u64)>, StoreError> {
        self.inner.list_with_sizes(prefix)
    }
    fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
}

#[tokio::test]
async fn a_realm_killed_between_counting_and_answering_has_spent_the_guess() {
    let store = Arc::new(CrashAfterWrite {
        inner: MemoryStore::new(),
        armed: AtomicBool::new(false),
    });
    let h = realm_server(store.clone(), Throttle::NONE).await;
    let (account, reg) = register_at(&[&h], 1, 10, "the password", 7).await;
    let commitment = reg.descriptor.commitment();
    let c = h.client().await;
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let blinded = *Recovery::start(account, commitment, &stretch("the password"), &mut rng)
        .unwrap()
        .blinded();
    store.armed.store(true, Ordering::SeqCst);
    let e = c
        .realm_guess(&account, &commitment, &blinded)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(FailureCode::Internal), "{e}");
    let status = RealmStatus::from_bytes(&c.realm_status(&account).await.unwrap()).unwrap();
    assert_eq!(
        status.used, 1,
        "the guess was counted though no answer left the realm"
    );
    c.realm_guess(&account, &commitment, &blinded)
        .await
        .unwrap();
    let status = RealmStatus::from_bytes(&c.realm_status(&account).await.unwrap()).unwrap();
    assert_eq!((status.used, status.total), (2, 2));
    h.server
        .unwrap()
        .shutdown(std::time::Duration::from_millis(100))
        .await;
}

#[tokio::test]
async fn a_realm_refuses_squatters_unknown_accounts_and_fast_guessers() {
    let h = realm_server(
        Arc::new(MemoryStore::new()),
        Throttle {
            free: 1,
            interval_ms: 3_600_000,
        },
    )
    .await;
    let (account, reg) = register_at(&[&h], 1, 10, "the password", 9).await;
    let c = h.client().await;
    // The same registration again is a no-op retry.
    c.realm_register(reg.requests[0].to_bytes()).await.unwrap();
    // Another registration for the same account id without the admin key.
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let other_root = RootKey::generate(Epoch(1), &mut rng);
    let set = RealmSet::new(vec![realm_id(&h)], 1).unwrap();
    let squat = register(
        account,
        Epoch(1),
        &stretch("x y z w v"),
        &set,
        &other_root.realm_admin_key(&account),
        |_| None,
        &mut rng,
    )
    .unwrap();
    let e = c
        .realm_register(squat.requests[0].to_bytes())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(FailureCode::Forbidden));
    assert!(e.to_string().contains("choose another account name"), "{e}");
    // An account the realm never saw.
    let e = c
        .realm_status(&AccountId::generate(&mut rng))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(FailureCode::NotFound));
    // A guess about another registration is refused and not counted.
    let commitment = reg.descriptor.commitment();
    let e = c
        .realm_guess(&account, &[9; 32], &[0xe2; 32])
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(FailureCode::RealmWrongRegistration));
    // One free guess, then the realm's time limit.
    let blinded = *Recovery::start(account, commitment, &stretch("the password"), &mut rng)
        .unwrap()
        .blinded();
    c.realm_guess(&account, &commitment, &blinded)
        .await
        .unwrap();
    let e = c
        .realm_guess(&account, &commitment, &blinded)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(FailureCode::RateLimited));
    assert!(e.to_string().contains("try again in"), "{e}");
    // A server without a realm says so.
    let plain = start(config()).await;
    let e = plain
        .client()
        .await
        .realm_status(&account)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(FailureCode::NotFound));
    assert!(e.to_string().contains("runs no realm"), "{e}");
}
