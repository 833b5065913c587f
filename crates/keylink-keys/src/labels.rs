//! Every HKDF label, signature context and domain-separation string keylink
//! uses, in one place.
//!
//! Each is ASCII, starts with `keylink/v1/`, names one purpose, and is never
//! reused for another. A label changes only with a new format version, never
//! in place. `docs/protocol.md` lists the same strings.

/// HKDF info prefix for a device's subkey; the 16-byte device id follows.
pub const DEVICE_SUBKEY: &[u8] = b"keylink/v1/device-subkey";
/// HKDF info for the chunk-id key (keyed hash of plaintext chunks).
pub const CHUNK_ID_KEY: &[u8] = b"keylink/v1/chunk-id-key";
/// HKDF info for the Ed25519 seed of the epoch's account signing key.
pub const ACCOUNT_SIGNING_SEED: &[u8] = b"keylink/v1/account-signing-seed";
/// HKDF info for the key that encrypts older epochs' root keys.
pub const EPOCH_HISTORY_KEY: &[u8] = b"keylink/v1/epoch-history-key";

/// HKDF info turning a recovery key into its key-encryption key.
pub const RECOVERY_KEK: &[u8] = b"keylink/v1/recovery-kek";
/// HKDF info for the AEAD key of a key wrap, from the KEK.
pub const WRAP_KEY: &[u8] = b"keylink/v1/wrap-key";
/// HKDF info prefix for a key wrap's commitment tag; the wrap header follows.
pub const WRAP_COMMITMENT: &[u8] = b"keylink/v1/wrap-commitment";

/// Hash prefix of a device id: SHA-256(prefix ‖ Ed25519 public ‖ X25519 public).
pub const DEVICE_ID: &[u8] = b"keylink/v1/device-id";

/// Hash prefix of an account-log entry: SHA-256(prefix ‖ body bytes).
pub const LOG_ENTRY_HASH: &[u8] = b"keylink/v1/log-entry";
/// Associated-data prefix of an encrypted epoch history.
pub const EPOCH_HISTORY_AAD: &[u8] = b"keylink/v1/aad/epoch-history";

/// Associated-data prefix of a sealed backup chunk.
pub const CHUNK_AAD: &[u8] = b"keylink/v1/aad/chunk";
/// Associated-data prefix of a sealed manifest root.
pub const MANIFEST_AAD: &[u8] = b"keylink/v1/aad/manifest";
/// Associated-data prefix of a sealed manifest page.
pub const PAGE_AAD: &[u8] = b"keylink/v1/aad/page";
/// Hash prefix of a manifest object: what the account log's snapshot head names.
pub const MANIFEST_HASH: &[u8] = b"keylink/v1/manifest-hash";
/// Hash prefix of a snapshot id: SHA-256(prefix ‖ account ‖ device ‖ sequence).
pub const SNAPSHOT_ID: &[u8] = b"keylink/v1/snapshot-id";

/// BLAKE3 derive-key context of the chunker's gear-table seed, from the
/// chunk-id key: cut points depend on a secret, so the sizes of stored
/// objects do not reveal where a known file would be cut.
pub const CHUNKER_SEED: &[u8] = b"keylink/v1/chunker-seed";

/// TLS exporter label binding a device's server authentication to its
/// QUIC connection.
pub const SERVER_AUTH_EXPORTER: &[u8] = b"keylink/v1/exporter/server-auth";

/// Hash prefix of an account id derived from an account name: the first
/// 16 bytes of SHA-256(prefix ‖ name).
pub const ACCOUNT_NAME: &[u8] = b"keylink/v1/account-name";
/// Hash prefix of a link code's checksum: the first 4 bytes of
/// SHA-256(prefix ‖ payload) end the code.
pub const LINK_CODE_CHECKSUM: &[u8] = b"keylink/v1/link/code-checksum";
/// Hash prefix of a link's transcript hash.
pub const LINK_TRANSCRIPT: &[u8] = b"keylink/v1/link/transcript";
/// HKDF info prefix of the scanner's key-confirmation key; the transcript hash follows.
pub const LINK_CONFIRM_SCANNER: &[u8] = b"keylink/v1/link/confirm-scanner";
/// HKDF info prefix of the shower's key-confirmation key.
pub const LINK_CONFIRM_SHOWER: &[u8] = b"keylink/v1/link/confirm-shower";
/// HKDF info prefix of the key sealing what the scanner sends.
pub const LINK_SEAL_SCANNER: &[u8] = b"keylink/v1/link/seal-scanner";
/// HKDF info prefix of the key sealing what the shower sends.
pub const LINK_SEAL_SHOWER: &[u8] = b"keylink/v1/link/seal-shower";
/// HKDF info prefix of the short authentication string.
pub const LINK_SAS: &[u8] = b"keylink/v1/link/sas";
/// Associated-data prefix of a sealed link frame.
pub const LINK_AAD: &[u8] = b"keylink/v1/aad/link";
/// TLS exporter label binding a direct link to its QUIC connection.
pub const LINK_EXPORTER: &[u8] = b"keylink/v1/exporter/link";

/// HPKE `info` for a root key sealed to a device.
pub const SEAL_ROOT_KEY: &[u8] = b"keylink/v1/seal/root-key";
/// HPKE `info` for an epoch-history bundle sealed to a device.
pub const SEAL_EPOCH_HISTORY: &[u8] = b"keylink/v1/seal/epoch-history";

/// Signature context: an account-log entry, signed by the acting device.
pub const SIG_LOG_DEVICE: &[u8] = b"keylink/v1/sig/account-log/device";
/// Signature context: an account-log entry, signed by the epoch's account key.
pub const SIG_LOG_ACCOUNT: &[u8] = b"keylink/v1/sig/account-log/account";
/// Signature context: a backup snapshot manifest.
pub const SIG_MANIFEST: &[u8] = b"keylink/v1/sig/manifest";
/// Signature context: a message of the linking handshake.
pub const SIG_LINK: &[u8] = b"keylink/v1/sig/link";
/// Signature context: a device's answer to a server's authentication challenge.
pub const SIG_SERVER_AUTH: &[u8] = b"keylink/v1/sig/server-auth";
/// Signature context: a request to a realm, signed by the account's realm-admin key.
pub const SIG_REALM_ADMIN: &[u8] = b"keylink/v1/sig/realm-admin";

/// HKDF info for the Ed25519 seed of the epoch's realm-admin key, which
/// authenticates registrations and hand-overs at the realms (§19).
pub const REALM_ADMIN_SEED: &[u8] = b"keylink/v1/realm-admin-seed";
/// HKDF info for the key-encryption key of a realm-guarded password wrap,
/// from Argon2id's output ‖ the threshold OPRF's output.
pub const REALM_KEK: &[u8] = b"keylink/v1/realm-kek";
/// HKDF info prefix of the tag that unlocks (resets) one realm's guess
/// counter; the share index and the realm id follow.
pub const REALM_UNLOCK_TAG: &[u8] = b"keylink/v1/realm-unlock-tag";
/// Hash prefix of a realm registration: its commitment is
/// SHA-256(prefix ‖ registration bytes).
pub const REALM_REGISTRATION: &[u8] = b"keylink/v1/realm-registration";
/// OPRF input prefix: the OPRF is evaluated on prefix ‖ account id ‖
/// Argon2id output, never on the password itself.
pub const REALM_OPRF_INPUT: &[u8] = b"keylink/v1/realm-oprf-input";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_prefixed_and_prefix_free() {
        let all = [
            DEVICE_SUBKEY,
            CHUNK_ID_KEY,
            ACCOUNT_SIGNING_SEED,
            EPOCH_HISTORY_KEY,
            RECOVERY_KEK,
            WRAP_KEY,
            WRAP_COMMITMENT,
            DEVICE_ID,
            LOG_ENTRY_HASH,
            EPOCH_HISTORY_AAD,
            CHUNK_AAD,
            MANIFEST_AAD,
            PAGE_AAD,
            MANIFEST_HASH,
            SNAPSHOT_ID,
            SERVER_AUTH_EXPORTER,
            CHUNKER_SEED,
            SEAL_ROOT_KEY,
            SEAL_EPOCH_HISTORY,
            SIG_LOG_DEVICE,
            SIG_LOG_ACCOUNT,
            SIG_MANIFEST,
            SIG_LINK,
            SIG_SERVER_AUTH,
            SIG_REALM_ADMIN,
            REALM_ADMIN_SEED,
            REALM_KEK,
            REALM_UNLOCK_TAG,
            REALM_REGISTRATION,
            REALM_OPRF_INPUT,
            LINK_CODE_CHECKSUM,
            LINK_TRANSCRIPT,
            LINK_CONFIRM_SCANNER,
            LINK_CONFIRM_SHOWER,
            LINK_SEAL_SCANNER,
            LINK_SEAL_SHOWER,
            LINK_SAS,
            LINK_AAD,
            LINK_EXPORTER,
            ACCOUNT_NAME,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a.starts_with(b"keylink/v1/"));
            assert!(a.iter().all(|b| b.is_ascii_graphic()));
            for (j, b) in all.iter().enumerate() {
                if i != j {
                    // No label is a prefix of another, so `label ‖ data`
                    // can never be read as another label's input.
                    assert!(!b.starts_with(a), "{:?} prefixes {:?}", a, b);
                }
            }
        }
    }
}
