//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz), shared with the
//! test that replays their saved corpora in `cargo test`. Each feeds
//! untrusted bytes to a decoder (and what follows it) and must never panic.

use keylink_wire::Wire;

/// Key wraps: parse, then try to open with a fixed password and recovery key.
pub fn key_wrap(data: &[u8]) {
    if let Ok(wrap) = keylink_keys::KeyWrap::from_bytes(data) {
        let _ = wrap.to_bytes();
        if let Ok(pw) = keylink_keys::Password::new("fuzzing password") {
            // Weak parameters only: a hostile header must not make fuzzing slow.
            if wrap.params().m_kib() <= 64 && wrap.params().t() <= 2 {
                let _ = wrap.open_password(&pw, keylink_keys::KdfPolicy::insecure_accept_weak());
            }
        }
    }
}

/// Sealed boxes.
pub fn sealed_box(data: &[u8]) {
    let _ = keylink_keys::SealedBox::from_bytes(data).map(|b| b.to_bytes());
}

/// Recovery keys as typed.
pub fn recovery_key(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = keylink_keys::RecoveryKey::parse(text);
    }
}

/// Account-log entries, and a log made of however many decode.
pub fn signed_entry(data: &[u8]) {
    let entries: Vec<_> = data
        .split(|&b| b == 0xfe)
        .filter_map(|chunk| keylink_wire::account::SignedEntry::decode(chunk).ok())
        .collect();
    let _ = keylink_account::LogState::verify(&entries);
}

/// Backup manifests: roots, pages and the object header.
pub fn manifest(data: &[u8]) {
    let _ = keylink_wire::backup::ManifestRoot::decode(data);
    let _ = keylink_wire::backup::ManifestPage::decode(data);
    let _ = keylink_backup::format::ManifestHeader::from_bytes(data);
}

/// Server requests and responses.
pub fn server_message(data: &[u8]) {
    let _ = keylink_wire::server::Request::decode(data);
    let _ = keylink_wire::server::Response::decode(data);
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by name (the file names under `fuzz/fuzz_targets/`).
pub const TARGETS: [(&str, Target); 6] = [
    ("key_wrap", key_wrap),
    ("sealed_box", sealed_box),
    ("recovery_key", recovery_key),
    ("signed_entry", signed_entry),
    ("manifest", manifest),
    ("server_message", server_message),
];
