//! What keylink's key hierarchy does, end to end, on this machine:
//! `cargo run --release -p keylink-keys --example demo`.
//!
//! Creates an account's root key, wraps it under a password (Argon2id at
//! the production default) and under a fresh recovery key, then opens both
//! wraps again, timing Argon2id. Randomness comes from the OS CSPRNG.
//! Secrets are never printed except the recovery key, which a real app shows
//! its user exactly once.

use std::process::ExitCode;
use std::time::Instant;

use keylink_keys::{
    AccountId, DeviceIdentity, Epoch, KdfParams, KdfPolicy, KeyWrap, Password, RecoveryKey,
    RootKey, SealedBox,
};
use rand::rngs::SysRng;
use rand_core::UnwrapErr;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keylink demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), keylink_keys::Error> {
    // The OS CSPRNG; a failure to read it is fatal for a key generator.
    let mut rng = UnwrapErr(SysRng);
    let account = AccountId::generate(&mut rng);
    let root = RootKey::generate(Epoch::GENESIS, &mut rng);
    let device = DeviceIdentity::generate(&mut rng);
    println!("account {account}");
    println!(
        "device  {} (Ed25519 + X25519, generated on this device)",
        device.device_id()
    );
    println!("root key for epoch {}: {root:?}", root.epoch());

    let password = Password::new("correct horse battery staple")?;
    let params = KdfParams::DEFAULT;
    let started = Instant::now();
    let wrap = KeyWrap::seal_password(&root, &account, &password, params, &mut rng)?;
    let seal_ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "password wrap: {} bytes, Argon2id m={} MiB t={} p={}, sealed in {seal_ms:.0} ms",
        wrap.to_bytes().len(),
        params.m_kib() / 1024,
        params.t(),
        params.p()
    );

    let recovery = RecoveryKey::generate(&mut rng);
    let rwrap = KeyWrap::seal_recovery(&root, &account, &recovery, &mut rng)?;
    println!(
        "recovery key (shown once): {}",
        recovery.to_display().as_str()
    );

    let started = Instant::now();
    let opened =
        KeyWrap::from_bytes(&wrap.to_bytes())?.open_password(&password, KdfPolicy::default())?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let same = opened.expose_secret() == root.expose_secret();
    println!("unwrapped with the password in {open_ms:.0} ms: same root key = {same}");

    let wrong = Password::new("correct horse battery stapler")?;
    match wrap.open_password(&wrong, KdfPolicy::default()) {
        Err(e) => println!("a wrong password is refused: {e}"),
        Ok(_) => return Err(keylink_keys::Error::WrongSecretOrTampered),
    }

    let typed = RecoveryKey::parse(&recovery.to_display())?;
    let opened = KeyWrap::from_bytes(&rwrap.to_bytes())?.open_recovery(&typed)?;
    let same = opened.expose_secret() == root.expose_secret();
    println!("unwrapped with the recovery key: same root key = {same}");

    let sealed = SealedBox::seal_root_key(&root, &device.public_keys(), &account, &mut rng)?;
    let opened = sealed.open_root_key(&device, &account, root.epoch())?;
    let same = opened.expose_secret() == root.expose_secret();
    println!(
        "root key sealed to the device with HPKE ({} bytes) and opened: same root key = {same}",
        sealed.to_bytes().len()
    );
    Ok(())
}
