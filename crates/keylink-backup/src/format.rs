//! Byte formats of backup objects: padding, chunks, manifest pages and
//! manifest roots (specified in `docs/protocol.md` §14).
//!
//! Every object starts with a version byte and is sealed with
//! XChaCha20-Poly1305 under the writing device's subkey, with a fresh random
//! 192-bit nonce and associated data that binds it to its account, epoch,
//! device and place; the plaintext is padded (Padmé) so sizes leak little.

use keylink_keys::primitives::{
    TAG_LEN, XNONCE_LEN, sha256, xchacha_open_in_place, xchacha_seal_in_place,
};
use keylink_keys::{
    AccountId, ChunkIdKey, DeviceId, DeviceIdentity, DevicePublicKeys, DeviceSubkey, Epoch,
    SIGNATURE_LEN, SignatureContext, labels,
};
use keylink_wire::account::Hash;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Format version of every backup object.
pub const OBJECT_VERSION: u8 = 1;
/// Length of the plaintext length prefix inside the padding.
const LEN_PREFIX: usize = 4;
/// Fixed bytes of a chunk or page object: version ‖ nonce ‖ … ‖ tag.
pub const SEALED_OVERHEAD: usize = 1 + XNONCE_LEN + TAG_LEN;
/// Manifest header: version ‖ account ‖ epoch ‖ device ‖ sequence.
pub const MANIFEST_HEADER_LEN: usize = 1 + 16 + 8 + 16 + 8;

/// Padmé: round `len` up so that only about log2(log2(len)) of its bits
/// remain free, which leaks O(log log len) bits of size with at most 12 %
/// overhead (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files
/// and Communication with PURBs", 2019).
pub fn padme(len: usize) -> usize {
    if len < 2 {
        return len;
    }
    let e = usize::BITS - 1 - len.leading_zeros(); // floor(log2 len)
    let s = u32::BITS - e.leading_zeros(); // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1usize << last_bits) - 1;
    len.saturating_add(mask) & !mask
}

/// Seal `plaintext` as `0x01 ‖ nonce ‖ ct ‖ tag`, where the ciphertext
/// covers `u32 BE length ‖ plaintext ‖ zeros` padded to `padme(4 + len)`.
/// One buffer, encrypted in place.
fn seal(
    key: &DeviceSubkey,
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Result<Vec<u8>> {
    let len = u32::try_from(plaintext.len()).map_err(|_| Error::Malformed {
        what: "object too large",
    })?;
    let padded = padme(LEN_PREFIX + plaintext.len());
    let body = 1 + XNONCE_LEN;
    let mut out = Vec::with_capacity(body + padded + TAG_LEN);
    out.push(OBJECT_VERSION);
    out.resize(body, 0);
    rng.fill_bytes(out.get_mut(1..body).unwrap_or_default());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(plaintext);
    out.resize(body + padded, 0);
    let (head, msg) = out.split_at_mut(body);
    let nonce: &[u8; XNONCE_LEN] = head
        .get(1..)
        .and_then(|n| n.try_into().ok())
        .ok_or(Error::Malformed { what: "nonce" })?;
    let tag = xchacha_seal_in_place(key.expose_secret(), nonce, aad, msg)?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Open `version ‖ nonce ‖ ct ‖ tag` in place. The tag is verified before
/// anything is decrypted; then the padding is checked (length within what
/// remains, total exactly `padme(4 + len)`, every pad byte zero).
fn open(
    key: &DeviceSubkey,
    aad: &[u8],
    mut object: Vec<u8>,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>> {
    let (&version, _) = object.split_first().ok_or(Error::Malformed { what })?;
    if version != OBJECT_VERSION {
        return Err(Error::UnsupportedVersion { what, got: version });
    }
    let body = 1 + XNONCE_LEN;
    if object.len() < body + LEN_PREFIX + TAG_LEN {
        return Err(Error::Malformed { what });
    }
    let tag_at = object.len() - TAG_LEN;
    let (head, rest) = object.split_at_mut(body);
    let (msg, tag) = rest.split_at_mut(tag_at - body);
    let nonce: &[u8; XNONCE_LEN] = head
        .get(1..)
        .and_then(|n| n.try_into().ok())
        .ok_or(Error::Malformed { what })?;
    let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| Error::Malformed { what })?;
    xchacha_open_in_place(key.expose_secret(), nonce, aad, msg, tag)
        .map_err(|_| Error::Tampered { what })?;
    let (data_at, data_len) = unpad(msg, what)?;
    let mut plain = Zeroizing::new(object);
    let start = body + data_at;
    plain.copy_within(start..start + data_len, 0);
    plain.truncate(data_len);
    Ok(plain)
}

/// Check the padding of an opened message; returns where the data starts
/// and how long it is.
fn unpad(padded: &[u8], what: &'static str) -> Result<(usize, usize)> {
    let (len, rest) = padded
        .split_first_chunk::<LEN_PREFIX>()
        .ok_or(Error::Malformed { what })?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > rest.len() || padme(LEN_PREFIX + len) != padded.len() {
        return Err(Error::Malformed { what });
    }
    if rest.get(len..).unwrap_or_default().iter().any(|&b| b != 0) {
        return Err(Error::Malformed { what });
    }
    Ok((LEN_PREFIX, len))
}

/// A chunk's id: BLAKE3 in keyed mode, under the epoch's chunk-id key.
pub fn chunk_id(key: &ChunkIdKey, plaintext: &[u8]) -> Hash {
    *blake3::keyed_hash(key.expose_secret(), plaintext).as_bytes()
}

/// Where a chunk is bound: its account, epoch, writer and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkContext {
    /// The account.
    pub account: AccountId,
    /// The epoch whose keys sealed it.
    pub epoch: Epoch,
    /// The device whose subkey sealed it.
    pub writer: DeviceId,
}

impl ChunkContext {
    fn aad(&self, id: &Hash) -> Vec<u8> {
        let mut a = Vec::with_capacity(labels::CHUNK_AAD.len() + 16 + 8 + 16 + 32);
        a.extend_from_slice(labels::CHUNK_AAD);
        a.extend_from_slice(self.account.as_bytes());
        a.extend_from_slice(&self.epoch.to_be_bytes());
        a.extend_from_slice(self.writer.as_bytes());
        a.extend_from_slice(id);
        a
    }
}

/// Seal a chunk: `0x01 ‖ nonce ‖ XChaCha20-Poly1305(subkey, nonce,
/// aad = label ‖ account ‖ epoch ‖ writer ‖ chunk id, pad(plaintext))`.
///
/// # Errors
/// [`Error::Malformed`] if the chunk exceeds 4 GiB.
pub fn seal_chunk(
    subkey: &DeviceSubkey,
    ctx: &ChunkContext,
    id: &Hash,
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Result<Vec<u8>> {
    seal(subkey, &ctx.aad(id), plaintext, rng)
}

/// Open a chunk and check that its plaintext hashes to `id` and has
/// `expected_len` bytes. The plaintext is released only after the tag and
/// the id both verify.
///
/// # Errors
/// [`Error::Tampered`], [`Error::ChunkMismatch`], [`Error::Malformed`] or
/// [`Error::UnsupportedVersion`].
pub fn open_chunk(
    subkey: &DeviceSubkey,
    id_key: &ChunkIdKey,
    ctx: &ChunkContext,
    id: &Hash,
    expected_len: u32,
    object: Vec<u8>,
) -> Result<Zeroizing<Vec<u8>>> {
    let plain = open_chunk_unverified(subkey, ctx, id, object)?;
    verify_chunk(id_key, id, expected_len, &plain)?;
    Ok(plain)
}

/// Open a chunk without checking its content against its id: the AEAD has
/// authenticated it as the chunk sealed under this id, writer and epoch,
/// but only [`verify_chunk`] shows the writer hashed it honestly. The
/// restore pipeline calls both, and writes nothing before the second.
///
/// # Errors
/// [`Error::Tampered`], [`Error::Malformed`] or [`Error::UnsupportedVersion`].
pub fn open_chunk_unverified(
    subkey: &DeviceSubkey,
    ctx: &ChunkContext,
    id: &Hash,
    object: Vec<u8>,
) -> Result<Zeroizing<Vec<u8>>> {
    open(subkey, &ctx.aad(id), object, "chunk")
}

/// Check that an opened chunk hashes to its id and has its recorded length.
///
/// # Errors
/// [`Error::ChunkMismatch`].
pub fn verify_chunk(id_key: &ChunkIdKey, id: &Hash, expected_len: u32, plain: &[u8]) -> Result<()> {
    if plain.len() != expected_len as usize
        || !keylink_keys::primitives::ct_eq(&chunk_id(id_key, plain), id)
    {
        return Err(Error::ChunkMismatch);
    }
    Ok(())
}

/// The largest chunk object for a plaintext of `len` bytes (for bounded reads).
pub fn sealed_len(len: usize) -> usize {
    1 + XNONCE_LEN + padme(LEN_PREFIX + len) + TAG_LEN
}

/// Which snapshot a manifest (and its pages) belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestHeader {
    /// The account.
    pub account: AccountId,
    /// The epoch whose keys sealed it.
    pub epoch: Epoch,
    /// The device that wrote it.
    pub device: DeviceId,
    /// Its sequence in the device's chain (from 1).
    pub sequence: u64,
}

impl ManifestHeader {
    /// `version ‖ account ‖ epoch ‖ device ‖ sequence`.
    pub fn to_bytes(&self) -> [u8; MANIFEST_HEADER_LEN] {
        let mut h = [0u8; MANIFEST_HEADER_LEN];
        h[0] = OBJECT_VERSION;
        h[1..17].copy_from_slice(self.account.as_bytes());
        h[17..25].copy_from_slice(&self.epoch.to_be_bytes());
        h[25..41].copy_from_slice(self.device.as_bytes());
        h[41..49].copy_from_slice(&self.sequence.to_be_bytes());
        h
    }

    /// Parse a header (the first 49 bytes of a manifest object).
    ///
    /// # Errors
    /// [`Error::Malformed`] or [`Error::UnsupportedVersion`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = "manifest";
        let h: &[u8; MANIFEST_HEADER_LEN] = bytes
            .get(..MANIFEST_HEADER_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::Malformed { what })?;
        if h[0] != OBJECT_VERSION {
            return Err(Error::UnsupportedVersion { what, got: h[0] });
        }
        let arr = |r: std::ops::Range<usize>| h.get(r).ok_or(Error::Malformed { what });
        Ok(Self {
            account: AccountId::from_slice(arr(1..17)?)?,
            epoch: Epoch(u64::from_be_bytes(
                arr(17..25)?
                    .try_into()
                    .map_err(|_| Error::Malformed { what })?,
            )),
            device: DeviceId::from_slice(arr(25..41)?)?,
            sequence: u64::from_be_bytes(
                arr(41..49)?
                    .try_into()
                    .map_err(|_| Error::Malformed { what })?,
            ),
        })
    }

    /// The snapshot id: SHA-256(label ‖ account ‖ device ‖ sequence).
    pub fn snapshot_id(&self) -> Hash {
        sha256(&[
            labels::SNAPSHOT_ID,
            self.account.as_bytes(),
            self.device.as_bytes(),
            &self.sequence.to_be_bytes(),
        ])
    }

    fn page_aad(&self, index: u32) -> Vec<u8> {
        let h = self.to_bytes();
        let mut a = Vec::with_capacity(labels::PAGE_AAD.len() + h.len() + 4);
        a.extend_from_slice(labels::PAGE_AAD);
        a.extend_from_slice(&h);
        a.extend_from_slice(&index.to_be_bytes());
        a
    }

    fn manifest_aad(&self) -> Vec<u8> {
        let h = self.to_bytes();
        let mut a = Vec::with_capacity(labels::MANIFEST_AAD.len() + h.len());
        a.extend_from_slice(labels::MANIFEST_AAD);
        a.extend_from_slice(&h);
        a
    }
}

/// Seal page `index` of a manifest: `0x01 ‖ nonce ‖ ct`, aad = label ‖
/// header ‖ index.
///
/// # Errors
/// [`Error::Malformed`] if the page exceeds 4 GiB.
pub fn seal_page(
    subkey: &DeviceSubkey,
    header: &ManifestHeader,
    index: u32,
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Result<Vec<u8>> {
    seal(subkey, &header.page_aad(index), plaintext, rng)
}

/// Open page `index`.
///
/// # Errors
/// [`Error::Tampered`], [`Error::Malformed`], [`Error::UnsupportedVersion`].
pub fn open_page(
    subkey: &DeviceSubkey,
    header: &ManifestHeader,
    index: u32,
    object: Vec<u8>,
) -> Result<Zeroizing<Vec<u8>>> {
    open(subkey, &header.page_aad(index), object, "manifest page")
}

/// Seal and sign a manifest root: `header ‖ nonce ‖ ct ‖ signature`, the
/// signature by the device's identity key (context manifest) over all bytes
/// before it.
///
/// # Errors
/// [`Error::Malformed`] if the root exceeds 4 GiB.
pub fn seal_manifest(
    subkey: &DeviceSubkey,
    identity: &DeviceIdentity,
    header: &ManifestHeader,
    root_plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Result<Vec<u8>> {
    let sealed = seal(subkey, &header.manifest_aad(), root_plaintext, rng)?;
    // `seal` wrote version ‖ nonce ‖ ct; the header replaces the version byte.
    let mut out = Vec::with_capacity(MANIFEST_HEADER_LEN + sealed.len() + SIGNATURE_LEN);
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(sealed.get(1..).unwrap_or_default());
    let sig = identity.sign(SignatureContext::Manifest, &out);
    out.extend_from_slice(&sig);
    Ok(out)
}

/// The hash the account log's snapshot head records for a manifest object.
pub fn manifest_hash(object: &[u8]) -> Hash {
    sha256(&[labels::MANIFEST_HASH, object])
}

/// Verify a manifest object's signature with the writer's public keys, then
/// open it. Returns its header and root plaintext.
///
/// # Errors
/// [`Error::Malformed`], [`Error::UnsupportedVersion`],
/// [`Error::BadSignature`] or [`Error::Tampered`].
pub fn open_manifest(
    writer: &DevicePublicKeys,
    subkey_for: impl FnOnce(&ManifestHeader) -> Result<DeviceSubkey>,
    object: &[u8],
) -> Result<(ManifestHeader, Zeroizing<Vec<u8>>)> {
    let what = "manifest";
    let header = ManifestHeader::from_bytes(object)?;
    let min = MANIFEST_HEADER_LEN + XNONCE_LEN + TAG_LEN + SIGNATURE_LEN;
    if object.len() < min {
        return Err(Error::Malformed { what });
    }
    let (signed, sig) = object.split_at(object.len() - SIGNATURE_LEN);
    writer
        .verify(SignatureContext::Manifest, signed, sig)
        .map_err(|_| Error::BadSignature {
            device: header.device,
        })?;
    if writer.device_id() != header.device {
        return Err(Error::BadSignature {
            device: header.device,
        });
    }
    let subkey = subkey_for(&header)?;
    // Rebuild `version ‖ nonce ‖ ct` for the shared opener.
    let mut sealed = Vec::with_capacity(signed.len() - MANIFEST_HEADER_LEN + 1);
    sealed.push(OBJECT_VERSION);
    sealed.extend_from_slice(signed.get(MANIFEST_HEADER_LEN..).unwrap_or_default());
    let plain = open(&subkey, &header.manifest_aad(), sealed, what)?;
    Ok((header, plain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_known_values_and_overhead_bound() {
        // Worked values from the Padmé definition.
        assert_eq!(padme(0), 0);
        assert_eq!(padme(1), 1);
        assert_eq!(padme(9), 10);
        assert_eq!(padme(100), 104);
        assert_eq!(padme(1000), 1024);
        assert_eq!(padme(1_000_000), 1_015_808);
        for len in (2..2_000_000).step_by(997) {
            let p = padme(len);
            assert!(p >= len);
            assert!((p - len) * 100 <= len * 12, "overhead above 12% at {len}");
            assert_eq!(padme(p), p, "padding is idempotent at {len}");
        }
    }

    #[test]
    fn unpad_rejects_non_zero_padding_and_wrong_totals() {
        // padme(4 + 5) = 10: length, data, one zero byte.
        let good = [0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o', 0];
        assert_eq!(unpad(&good, "t").unwrap(), (4, 5));
        let mut bad = good;
        bad[9] = 1;
        assert!(unpad(&bad, "t").is_err(), "non-zero padding");
        let mut long = good.to_vec();
        long.push(0);
        assert!(unpad(&long, "t").is_err(), "wrong total");
        assert!(
            unpad(&[0, 0, 0, 200, 1], "t").is_err(),
            "length beyond what remains"
        );
    }

    #[test]
    fn seal_then_open_round_trips_and_binds_the_aad() {
        let mut rng = rand::rng();
        let root = keylink_keys::RootKey::generate(Epoch(0), &mut rng);
        let account = AccountId::generate(&mut rng);
        let key = root.device_subkey(&account, &DeviceId::from_bytes([1; 16]));
        for len in [0usize, 1, 5, 1000, 70_000] {
            let data = vec![0xa5u8; len];
            let obj = seal(&key, b"aad", &data, &mut rng).unwrap();
            assert_eq!(
                obj.len(),
                1 + XNONCE_LEN + padme(LEN_PREFIX + len) + TAG_LEN
            );
            assert_eq!(&*open(&key, b"aad", obj.clone(), "t").unwrap(), &data[..]);
            assert_eq!(
                open(&key, b"other", obj, "t").unwrap_err().class(),
                "tampered"
            );
        }
    }
}
