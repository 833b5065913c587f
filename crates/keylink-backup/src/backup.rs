//! Writing a snapshot: walk, chunk, hash, deduplicate, seal, upload, then
//! seal and sign the paged manifest.
//!
//! Memory stays bounded: one chunk (at most 1 MiB) and one manifest page (at
//! most 4,096 entries) at a time, plus a bounded cache of chunk ids already
//! known to be stored. An interrupted backup resumes by running again:
//! chunks already uploaded are found and not sent twice.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::Path;

use keylink_keys::{AccountId, ChunkIdKey, DeviceId, DeviceIdentity, DeviceSubkey, RootKey};
use keylink_store::{Put, Store};
use keylink_wire::Wire;
use keylink_wire::account::Hash;
use keylink_wire::backup::{
    ChunkRef, EntryKind, FileEntry, MAX_PAGE_ENTRIES, ManifestPage, ManifestRoot, PageRef, RelPath,
};
use rand_core::CryptoRng;

use crate::chunker::chunks;
use crate::error::{Error, Result};
use crate::format::{self, ChunkContext, ManifestHeader};
use crate::keys::{chunk_key, chunk_prefix, manifest_key, page_key};

/// Most chunk ids remembered between store lookups (about 3 MiB).
const SEEN_CACHE: usize = 64 * 1024;
/// Chunks in flight between the reading and the sealing stage.
const PIPELINE_DEPTH: usize = 4;
/// Chunk references per file: one entry (about 60 bytes a reference) stays
/// under 6 MiB, so with the 2 MiB page budget below a page never exceeds
/// the 8 MiB readers accept. At 256 KiB a chunk, files up to about 24 GiB.
const MAX_FILE_CHUNKS: usize = 100_000;
/// Close a page before it passes this estimate.
const PAGE_BUDGET: usize = 2 << 20;

/// What a finished backup produced: what the device publishes as its
/// snapshot head in the account log, and what it cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupOutcome {
    /// The snapshot's id.
    pub snapshot_id: Hash,
    /// Its sequence in the device's chain.
    pub sequence: u64,
    /// The manifest hash the log must record.
    pub manifest_hash: Hash,
    /// What was done.
    pub stats: BackupStats,
}

/// Counts of one backup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupStats {
    /// Entries (files, directories, symlinks).
    pub entries: u64,
    /// Bytes of file content read.
    pub bytes_read: u64,
    /// Chunks sealed and uploaded by this backup.
    pub chunks_uploaded: u64,
    /// Chunks found already stored (by any device) and referenced.
    pub chunks_reused: u64,
    /// Bytes of sealed chunk objects uploaded.
    pub chunk_bytes_uploaded: u64,
    /// Bytes of manifest objects (root and pages) uploaded.
    pub manifest_bytes_uploaded: u64,
}

/// A snapshot being written. Add entries, then [`SnapshotWriter::finish`].
pub struct SnapshotWriter<'a, S: Store + ?Sized> {
    sink: ChunkSink<'a, S>,
    identity: &'a DeviceIdentity,
    parent: Option<Hash>,
    id_key: ChunkIdKey,
    page: ManifestPage,
    page_bytes: usize,
    pages: Vec<PageRef>,
    total_bytes: u64,
}

/// Where chunks go: deduplication and sealing (the consumer side of the
/// backup pipeline).
struct ChunkSink<'a, S: Store + ?Sized> {
    progress: Option<Progress<'a>>,
    store: &'a S,
    header: ManifestHeader,
    subkey: DeviceSubkey,
    seen: HashMap<Hash, DeviceId>,
    stats: BackupStats,
}

impl<'a, S: Store + ?Sized> SnapshotWriter<'a, S> {
    /// Start snapshot `sequence` of `identity`'s chain in `root`'s epoch.
    pub fn new(
        store: &'a S,
        account: AccountId,
        root: &RootKey,
        identity: &'a DeviceIdentity,
        sequence: u64,
        parent: Option<Hash>,
    ) -> Self {
        let device = identity.device_id();
        Self {
            sink: ChunkSink {
                progress: None,
                store,
                header: ManifestHeader {
                    account,
                    epoch: root.epoch(),
                    device,
                    sequence,
                },
                subkey: root.device_subkey(&account, &device),
                seen: HashMap::new(),
                stats: BackupStats::default(),
            },
            identity,
            parent,
            id_key: root.chunk_id_key(&account),
            page: ManifestPage::default(),
            page_bytes: 0,
            pages: Vec::new(),
            total_bytes: 0,
        }
    }

    /// Record a directory.
    ///
    /// # Errors
    /// [`Error::Store`] when a full page cannot be uploaded.
    pub fn add_dir(&mut self, path: RelPath, meta: Meta, rng: &mut impl CryptoRng) -> Result<()> {
        self.push(
            FileEntry {
                path,
                kind: EntryKind::Dir,
                mode: meta.mode,
                size: 0,
                mtime_s: meta.mtime_s,
                mtime_ns: meta.mtime_ns,
                chunks: Vec::new(),
                symlink_target: Vec::new(),
            },
            rng,
        )
    }

    /// Record a symlink (its target only; it is never followed).
    ///
    /// # Errors
    /// [`Error::Malformed`] for an empty or NUL-containing target;
    /// [`Error::Store`].
    pub fn add_symlink(
        &mut self,
        path: RelPath,
        target: Vec<u8>,
        meta: Meta,
        rng: &mut impl CryptoRng,
    ) -> Result<()> {
        if target.is_empty()
            || target.contains(&0)
            || target.len() > keylink_wire::backup::MAX_PATH_LEN
        {
            return Err(Error::Malformed {
                what: "symlink target",
            });
        }
        self.push(
            FileEntry {
                path,
                kind: EntryKind::Symlink,
                mode: 0,
                size: 0,
                mtime_s: meta.mtime_s,
                mtime_ns: meta.mtime_ns,
                chunks: Vec::new(),
                symlink_target: target,
            },
            rng,
        )
    }

    /// Chunk, deduplicate, seal and upload a file's content, then record it.
    ///
    /// Two stages run at once: a second thread reads, chunks and hashes
    /// while this one deduplicates, seals and uploads; at most a few chunks
    /// are in flight between them, so memory stays bounded.
    ///
    /// # Errors
    /// [`Error::Io`] reading it; [`Error::Store`] uploading;
    /// [`Error::FileTooLarge`].
    pub fn add_file(
        &mut self,
        path: RelPath,
        reader: impl Read + Send,
        meta: Meta,
        rng: &mut impl CryptoRng,
    ) -> Result<()> {
        let mut refs = Vec::new();
        let mut size = 0u64;
        let id_key = &self.id_key;
        let seed = crate::chunker::seed(id_key);
        let sink = &mut self.sink;
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(Hash, Vec<u8>)>>(PIPELINE_DEPTH);
            scope.spawn(move || {
                for chunk in chunks(reader, seed) {
                    let item = chunk.map(|data| (format::chunk_id(id_key, &data), data));
                    let failed = item.is_err();
                    if tx.send(item).is_err() || failed {
                        break;
                    }
                }
            });
            for item in rx {
                let (id, data) = item.map_err(|e| with_path(e, &path))?;
                size += data.len() as u64;
                refs.push(sink.store(id, &data, rng)?);
                if refs.len() > MAX_FILE_CHUNKS {
                    return Err(Error::FileTooLarge {
                        path: String::from_utf8_lossy(path.as_bytes()).into_owned(),
                    });
                }
            }
            Ok(())
        })?;
        self.sink.stats.bytes_read += size;
        self.total_bytes += size;
        self.sink.report();
        self.push(
            FileEntry {
                path,
                kind: EntryKind::File,
                mode: meta.mode,
                size,
                mtime_s: meta.mtime_s,
                mtime_ns: meta.mtime_ns,
                chunks: refs,
                symlink_target: Vec::new(),
            },
            rng,
        )
    }

    /// Seal the last page and the manifest root, sign it, and upload it.
    /// The caller then publishes the outcome as a snapshot head in the log.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn finish(mut self, now_ms: u64, rng: &mut impl CryptoRng) -> Result<BackupOutcome> {
        self.flush_page(rng)?;
        let root = ManifestRoot {
            parent: self.parent,
            created_ms: now_ms,
            entry_count: self.pages.iter().map(|p| u64::from(p.entries)).sum(),
            pages: std::mem::take(&mut self.pages),
            total_bytes: self.total_bytes,
        };
        let sink = &mut self.sink;
        let header = sink.header;
        let object =
            format::seal_manifest(&sink.subkey, self.identity, &header, &root.encode(), rng)?;
        let hash = format::manifest_hash(&object);
        let key = manifest_key(&header.account, &header.device, header.sequence, &hash)?;
        sink.store.put_if_absent(&key, &object)?;
        sink.stats.manifest_bytes_uploaded += object.len() as u64;
        Ok(BackupOutcome {
            snapshot_id: header.snapshot_id(),
            sequence: header.sequence,
            manifest_hash: hash,
            stats: sink.stats,
        })
    }

    /// Report the counts after every chunk and every entry (for a progress
    /// bar; it runs on the backup's thread, so keep it quick).
    pub fn on_progress(&mut self, report: impl FnMut(&BackupStats) + Send + 'a) {
        self.sink.progress = Some(Box::new(report));
    }

    /// Counts so far.
    pub fn stats(&self) -> BackupStats {
        self.sink.stats
    }

    fn push(&mut self, entry: FileEntry, rng: &mut impl CryptoRng) -> Result<()> {
        let cost =
            entry.path.as_bytes().len() + entry.symlink_target.len() + 64 + entry.chunks.len() * 64;
        if self.page_bytes + cost > PAGE_BUDGET {
            self.flush_page(rng)?;
        }
        self.page_bytes += cost;
        self.page.entries.push(entry);
        self.sink.stats.entries += 1;
        self.sink.report();
        if self.page.entries.len() >= MAX_PAGE_ENTRIES {
            self.flush_page(rng)?;
        }
        Ok(())
    }

    fn flush_page(&mut self, rng: &mut impl CryptoRng) -> Result<()> {
        if self.page.entries.is_empty() {
            return Ok(());
        }
        let index =
            u32::try_from(self.pages.len()).map_err(|_| Error::Malformed { what: "manifest" })?;
        let page = std::mem::take(&mut self.page);
        let entries =
            u32::try_from(page.entries.len()).map_err(|_| Error::Malformed { what: "page" })?;
        let sink = &mut self.sink;
        let object = format::seal_page(&sink.subkey, &sink.header, index, &page.encode(), rng)?;
        let hash = keylink_keys::primitives::sha256(&[&object]);
        sink.store
            .put_if_absent(&page_key(&sink.header.account, &hash)?, &object)?;
        sink.stats.manifest_bytes_uploaded += object.len() as u64;
        self.pages.push(PageRef { hash, entries });
        self.page_bytes = 0;
        Ok(())
    }
}

/// A progress callback.
type Progress<'a> = Box<dyn FnMut(&BackupStats) + Send + 'a>;

impl<S: Store + ?Sized> ChunkSink<'_, S> {
    fn report(&mut self) {
        if let Some(p) = self.progress.as_mut() {
            p(&self.stats);
        }
    }

    /// Reference chunk `id`, uploading it sealed unless some device already did.
    fn store(&mut self, id: Hash, data: &[u8], rng: &mut impl CryptoRng) -> Result<ChunkRef> {
        let length = u32::try_from(data.len()).map_err(|_| Error::Malformed { what: "chunk" })?;
        let account = self.header.account;
        let known = match self.seen.get(&id) {
            Some(w) => Some(*w),
            None => self.stored_writer(&id)?,
        };
        let writer = match known {
            Some(writer) => {
                self.stats.chunks_reused += 1;
                writer
            }
            None => {
                let me = self.header.device;
                let ctx = ChunkContext {
                    account,
                    epoch: self.header.epoch,
                    writer: me,
                };
                let object = format::seal_chunk(&self.subkey, &ctx, &id, data, rng)?;
                if self
                    .store
                    .put_if_absent(&chunk_key(&account, &id, &me)?, &object)?
                    == Put::Created
                {
                    self.stats.chunks_uploaded += 1;
                    self.stats.chunk_bytes_uploaded += object.len() as u64;
                }
                me
            }
        };
        if self.seen.len() >= SEEN_CACHE {
            self.seen.clear();
        }
        self.seen.insert(id, writer);
        Ok(ChunkRef { id, writer, length })
    }

    /// A writer whose sealed copy of chunk `id` is already stored, if any.
    fn stored_writer(&self, id: &Hash) -> Result<Option<DeviceId>> {
        let prefix = chunk_prefix(&self.header.account, id);
        for key in self.store.list(&prefix)? {
            let writer_hex = key.as_str().get(prefix.len()..).unwrap_or_default();
            if let Some(writer) = parse_device_hex(writer_hex) {
                return Ok(Some(writer));
            }
        }
        Ok(None)
    }
}

/// Metadata recorded for an entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits.
    pub mode: u32,
    /// Modification time, seconds.
    pub mtime_s: i64,
    /// Modification time, nanoseconds.
    pub mtime_ns: u32,
}

impl Meta {
    /// From a file's metadata (never following symlinks).
    pub fn of(m: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            mode: m.mode() & 0o7777,
            mtime_s: m.mtime(),
            mtime_ns: u32::try_from(m.mtime_nsec()).unwrap_or(0),
        }
    }
}

/// Back up `sources` (files or folders): each becomes a top-level entry named
/// by its last component; folders are walked in name order; symlinks are
/// recorded, never followed; other kinds of file (sockets, devices) are
/// skipped.
///
/// # Errors
/// [`Error::Io`] naming the path that could not be read; [`Error::Store`].
pub fn backup_paths<S: Store + ?Sized>(
    writer: &mut SnapshotWriter<'_, S>,
    sources: &[&Path],
    rng: &mut impl CryptoRng,
) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    for src in sources {
        let name = src.file_name().ok_or_else(|| Error::Io {
            op: "back up",
            path: src.display().to_string(),
            source: std::io::Error::other("a source must name a file or folder"),
        })?;
        let rel = RelPath::new(name.as_bytes().to_vec())?;
        walk(writer, src, rel, rng)?;
    }
    Ok(())
}

fn walk<S: Store + ?Sized>(
    writer: &mut SnapshotWriter<'_, S>,
    path: &Path,
    rel: RelPath,
    rng: &mut impl CryptoRng,
) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let io = |op, e| Error::Io {
        op,
        path: path.display().to_string(),
        source: e,
    };
    let meta = fs::symlink_metadata(path).map_err(|e| io("stat", e))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(path).map_err(|e| io("read link", e))?;
        writer.add_symlink(
            rel,
            target.as_os_str().as_bytes().to_vec(),
            Meta::of(&meta),
            rng,
        )
    } else if ft.is_file() {
        let file = fs::File::open(path).map_err(|e| io("open", e))?;
        writer
            .add_file(rel, file, Meta::of(&meta), rng)
            .map_err(|e| match e {
                Error::Io { op, source, .. } => Error::Io {
                    op,
                    path: path.display().to_string(),
                    source,
                },
                other => other,
            })
    } else if ft.is_dir() {
        writer.add_dir(rel.clone(), Meta::of(&meta), rng)?;
        let mut names: Vec<_> = fs::read_dir(path)
            .map_err(|e| io("list", e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| io("list", e))?;
        names.sort();
        for name in names {
            let mut child = rel.as_bytes().to_vec();
            child.push(b'/');
            child.extend_from_slice(name.as_bytes());
            walk(writer, &path.join(&name), RelPath::new(child)?, rng)?;
        }
        Ok(())
    } else {
        Ok(())
    }
}

fn with_path(e: Error, path: &RelPath) -> Error {
    match e {
        Error::Io { op, source, .. } => Error::Io {
            op,
            path: String::from_utf8_lossy(path.as_bytes()).into_owned(),
            source,
        },
        other => other,
    }
}

fn parse_device_hex(s: &str) -> Option<DeviceId> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(DeviceId::from_bytes(out))
}

#[cfg(test)]
mod tests {
    use keylink_keys::{AccountId, DeviceIdentity, Epoch, RootKey};
    use keylink_store::MemoryStore;
    use keylink_wire::backup::MAX_PAGE_LEN;

    use super::*;

    /// Pages never exceed what readers accept, even when the largest
    /// allowed file entry follows a nearly full page.
    #[test]
    fn pages_stay_under_the_reader_limit() {
        let mut rng = rand::rng();
        let store = MemoryStore::new();
        let account = AccountId::generate(&mut rng);
        let root = RootKey::generate(Epoch(0), &mut rng);
        let me = DeviceIdentity::generate(&mut rng);
        let mut w = SnapshotWriter::new(&store, account, &root, &me, 1, None);
        let big = |i: u32| FileEntry {
            path: RelPath::new(format!("big-{i}").into_bytes()).unwrap(),
            kind: EntryKind::File,
            mode: 0o644,
            size: u64::from(MAX_FILE_CHUNKS as u32),
            mtime_s: 0,
            mtime_ns: 0,
            chunks: vec![
                ChunkRef {
                    id: [0xab; 32],
                    writer: me.device_id(),
                    length: 1
                };
                MAX_FILE_CHUNKS
            ],
            symlink_target: Vec::new(),
        };
        for i in 0..3000u32 {
            let small = FileEntry {
                path: RelPath::new(format!("small-{i}").into_bytes()).unwrap(),
                chunks: vec![],
                size: 0,
                ..big(i)
            };
            w.push(small, &mut rng).unwrap();
        }
        w.push(big(1), &mut rng).unwrap();
        w.push(big(2), &mut rng).unwrap();
        w.finish(0, &mut rng).unwrap();
        let pages = store
            .list(&format!("{}pages/", crate::keys::account_prefix(&account)))
            .unwrap();
        assert!(pages.len() >= 3);
        for p in pages {
            let len = store.get(&p, usize::MAX).unwrap().len();
            assert!(len <= MAX_PAGE_LEN, "page of {len} bytes");
        }
    }
}
