//! Reading a snapshot back: verify before trusting, then write every file
//! atomically.
//!
//! Order of checks: the account log (already verified by the caller) names
//! the snapshot head of a current device; the manifest object must hash to
//! exactly that head; its signature must verify under that device's key;
//! its header must name the same account, device, epoch and sequence; each
//! page must hash to its reference in the signed root and authenticate under
//! the page's position; each chunk must authenticate under its writer,
//! epoch and id, hash to its id, and have its recorded length; each file
//! must have its recorded length before it is renamed
//! into place. Plaintext is released only after its tag verifies.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use keylink_account::LogState;
use keylink_keys::{ChunkIdKey, DeviceId, RootKey};
use keylink_store::Store;
use keylink_wire::Wire;
use keylink_wire::backup::{
    EntryKind, FileEntry, MAX_PAGE_LEN, MAX_ROOT_LEN, ManifestPage, ManifestRoot,
};

use crate::error::{Error, Result};
use crate::format::{self, ChunkContext, ManifestHeader, SEALED_OVERHEAD};
use crate::keys::{KeyRing, chunk_key, manifest_key, page_key};

/// Chunks in flight between the fetching and the verifying stage.
const PIPELINE_DEPTH: usize = 4;

/// Prefix of the temporary files a restore writes before renaming them.
pub const TEMP_PREFIX: &str = ".keylink-restore-";

/// Counts of one restore.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RestoreStats {
    /// Files written.
    pub files: u64,
    /// Files already present with the right content (a resumed restore).
    pub files_skipped: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Bytes of file content written.
    pub bytes_written: u64,
}

/// A snapshot whose manifest root has been verified against the log.
pub struct Snapshot<'a, S: Store + ?Sized> {
    store: &'a S,
    header: ManifestHeader,
    root: ManifestRoot,
    key: &'a RootKey,
}

impl<'a, S: Store + ?Sized> Snapshot<'a, S> {
    /// Open the latest snapshot `device` published in the verified `log`.
    ///
    /// # Errors
    /// [`Error::NoSnapshot`], [`Error::UnknownDevice`], [`Error::NotLogHead`],
    /// [`Error::BadSignature`], [`Error::HeaderMismatch`],
    /// [`Error::NoKeyForEpoch`], [`Error::Tampered`], [`Error::Store`], …
    pub fn open(store: &'a S, log: &LogState, keys: &'a KeyRing, device: DeviceId) -> Result<Self> {
        let account = *log.account();
        let head = *log
            .snapshot_heads()
            .get(&device)
            .ok_or(Error::NoSnapshot { device })?;
        let writer = log
            .devices()
            .get(&device)
            .ok_or(Error::UnknownDevice { device })?;
        let key = manifest_key(
            &account,
            &device,
            head.snapshot_sequence,
            &head.manifest_hash,
        )?;
        let max = MAX_ROOT_LEN + format::MANIFEST_HEADER_LEN + SEALED_OVERHEAD + 64 + 4096;
        let object = fetch(store, &key, max, "manifest")?;
        if !keylink_keys::primitives::ct_eq(&format::manifest_hash(&object), &head.manifest_hash) {
            return Err(Error::NotLogHead);
        }
        let mut root_key = None;
        let (header, plain) = format::open_manifest(
            &writer.record.keys,
            |h| {
                let expected = ManifestHeader {
                    account,
                    epoch: head.epoch,
                    device,
                    sequence: head.snapshot_sequence,
                };
                if *h != expected || h.snapshot_id() != head.snapshot_id {
                    return Err(Error::HeaderMismatch);
                }
                let k = keys.get(h.epoch)?;
                root_key = Some(k);
                Ok(k.device_subkey(&account, &device))
            },
            &object,
        )?;
        let root = ManifestRoot::decode(&plain)?;
        let key = root_key.ok_or(Error::NoKeyForEpoch { epoch: head.epoch })?;
        Ok(Self {
            store,
            header,
            root,
            key,
        })
    }

    /// The manifest root (page list, counts).
    pub fn root(&self) -> &ManifestRoot {
        &self.root
    }

    /// The manifest header.
    pub fn header(&self) -> &ManifestHeader {
        &self.header
    }

    /// Visit every entry, page by page (one page in memory at a time).
    ///
    /// # Errors
    /// [`Error::Tampered`] for a page that does not match its reference, and
    /// the errors of `visit`.
    pub fn for_each_entry(&self, mut visit: impl FnMut(&FileEntry) -> Result<()>) -> Result<()> {
        let account = self.header.account;
        let subkey = self.key.device_subkey(&account, &self.header.device);
        for (index, page_ref) in self.root.pages.iter().enumerate() {
            let index = u32::try_from(index).map_err(|_| Error::Malformed { what: "manifest" })?;
            let key = page_key(&account, &page_ref.hash)?;
            let object = fetch(
                self.store,
                &key,
                MAX_PAGE_LEN + SEALED_OVERHEAD + 4096,
                "manifest page",
            )?;
            if !keylink_keys::primitives::ct_eq(
                &keylink_keys::primitives::sha256(&[&object]),
                &page_ref.hash,
            ) {
                return Err(Error::Tampered {
                    what: "manifest page",
                });
            }
            let plain = format::open_page(&subkey, &self.header, index, object)?;
            let page = ManifestPage::decode(&plain)?;
            if page.entries.len() != page_ref.entries as usize {
                return Err(Error::Tampered {
                    what: "manifest page",
                });
            }
            for entry in &page.entries {
                visit(entry)?;
            }
        }
        Ok(())
    }

    /// Read one file's content into `out`, verifying every chunk.
    ///
    /// Two stages run at once: a second thread fetches and decrypts (each
    /// chunk's tag checked before anything is decrypted) while this one
    /// checks each chunk's id and length and only then writes it. At most a
    /// few chunks are in flight, so memory stays bounded.
    ///
    /// # Errors
    /// [`Error::Tampered`], [`Error::ChunkMismatch`], [`Error::FileMismatch`],
    /// [`Error::Store`], [`Error::Io`].
    pub fn read_file(&self, entry: &FileEntry, out: &mut impl Write) -> Result<u64> {
        let account = self.header.account;
        let epoch = self.header.epoch;
        let id_key = self.key.chunk_id_key(&account);
        let (store, key) = (self.store, self.key);
        let mut written = 0u64;
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel(PIPELINE_DEPTH);
            scope.spawn(move || {
                for c in &entry.chunks {
                    let item = (|| {
                        let object = fetch(
                            store,
                            &chunk_key(&account, &c.id, &c.writer)?,
                            format::sealed_len(c.length as usize),
                            "chunk",
                        )?;
                        let ctx = ChunkContext {
                            account,
                            epoch,
                            writer: c.writer,
                        };
                        format::open_chunk_unverified(
                            &key.device_subkey(&account, &c.writer),
                            &ctx,
                            &c.id,
                            object,
                        )
                    })();
                    let failed = item.is_err();
                    if tx.send(item).is_err() || failed {
                        break;
                    }
                }
            });
            for c in &entry.chunks {
                let plain = rx.recv().map_err(|_| Error::Malformed {
                    what: "chunk pipeline",
                })??;
                format::verify_chunk(&id_key, &c.id, c.length, &plain)?;
                out.write_all(&plain)
                    .map_err(|e| io("write", &entry_name(entry), e))?;
                written += plain.len() as u64;
            }
            Ok(())
        })?;
        if written != entry.size {
            return Err(Error::FileMismatch {
                path: entry_name(entry),
            });
        }
        Ok(written)
    }

    /// Restore every entry under `target` (created if missing). Files are
    /// written to a temporary name, verified, fsynced and renamed; a file
    /// already present with the right content is kept, so running again
    /// after an interruption resumes. Symlinks are created last and nothing
    /// is ever written through a symlink.
    ///
    /// # Errors
    /// The first verification or I/O error; files already renamed into place
    /// are complete and verified.
    pub fn restore_to(&self, target: &Path) -> Result<RestoreStats> {
        self.restore_with_progress(target, &mut |_| {})
    }

    /// [`Snapshot::restore_to`], reporting the counts after every file.
    ///
    /// # Errors
    /// As [`Snapshot::restore_to`].
    pub fn restore_with_progress(
        &self,
        target: &Path,
        progress: &mut dyn FnMut(&RestoreStats),
    ) -> Result<RestoreStats> {
        fs::create_dir_all(target).map_err(|e| io("create", &target.display().to_string(), e))?;
        let mut stats = RestoreStats::default();
        let mut swept = HashSet::new();
        let id_key = self.key.chunk_id_key(&self.header.account);
        // Pass 1: directories and files.
        self.for_each_entry(|e| match e.kind {
            EntryKind::Dir => {
                let path = prepare(target, e, &mut swept)?;
                match fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(Error::UnsafePath {
                            path: entry_name(e),
                        });
                    }
                    Err(_) => {
                        fs::create_dir(&path).map_err(|err| io("create", &entry_name(e), err))?
                    }
                }
                stats.dirs += 1;
                Ok(())
            }
            EntryKind::File => {
                let path = prepare(target, e, &mut swept)?;
                if already_restored(&path, e, &id_key)? {
                    stats.files_skipped += 1;
                } else {
                    stats.bytes_written += self.write_file(&path, e)?;
                    stats.files += 1;
                }
                progress(&stats);
                Ok(())
            }
            EntryKind::Symlink => Ok(()),
        })?;
        // Pass 2: symlinks, after every file, so nothing is written
        // through one.
        self.for_each_entry(|e| {
            if e.kind == EntryKind::Symlink {
                restore_symlink(&prepare(target, e, &mut swept)?, e)?;
                stats.symlinks += 1;
            }
            Ok(())
        })?;
        // Pass 3: directory modes and times, once nothing more is created
        // in them (creating an entry changes a directory's time).
        self.for_each_entry(|e| match e.kind {
            EntryKind::Dir => set_meta(&prepare(target, e, &mut swept)?, e),
            _ => Ok(()),
        })?;
        Ok(stats)
    }

    fn write_file(&self, path: &Path, e: &FileEntry) -> Result<u64> {
        let name = entry_name(e);
        let parent = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(parent)
            .map_err(|err| io("create", &name, err))?;
        let written = {
            let mut w = std::io::BufWriter::with_capacity(256 << 10, tmp.as_file_mut());
            let n = self.read_file(e, &mut w)?;
            w.flush().map_err(|err| io("write", &name, err))?;
            n
        };
        let file = tmp.as_file();
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(e.mode))
            .map_err(|err| io("chmod", &name, err))?;
        file.set_modified(mtime(e))
            .map_err(|err| io("set time of", &name, err))?;
        file.sync_all().map_err(|err| io("sync", &name, err))?;
        tmp.persist(path)
            .map_err(|err| io("rename", &name, err.error))?;
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|err| io("sync folder of", &name, err))?;
        Ok(written)
    }
}

/// Read an object no longer than it can legitimately be: a longer one is
/// not the object it claims to be.
fn fetch<S: Store + ?Sized>(
    store: &S,
    key: &keylink_store::ObjectKey,
    max: usize,
    what: &'static str,
) -> Result<Vec<u8>> {
    store.get(key, max).map_err(|e| match e {
        keylink_store::StoreError::TooLarge { .. } => Error::Tampered { what },
        other => Error::Store(other),
    })
}

/// Open the latest snapshot of `device` in `log` and restore it under `target`.
///
/// # Errors
/// As [`Snapshot::open`] and [`Snapshot::restore_to`].
pub fn restore<S: Store + ?Sized>(
    store: &S,
    log: &LogState,
    keys: &KeyRing,
    device: DeviceId,
    target: &Path,
) -> Result<RestoreStats> {
    Snapshot::open(store, log, keys, device)?.restore_to(target)
}

/// The local path of an entry, after checking that every folder on the way
/// is a real folder inside `target` (never a symlink), creating missing
/// ones, and removing temporary files an interrupted restore left there.
fn prepare(target: &Path, e: &FileEntry, swept: &mut HashSet<PathBuf>) -> Result<PathBuf> {
    let comps: Vec<&[u8]> = e.path.components().collect();
    let (last, parents) = comps.split_last().ok_or(Error::UnsafePath {
        path: entry_name(e),
    })?;
    let mut dir = target.to_path_buf();
    sweep(&dir, swept);
    for c in parents {
        dir.push(OsStr::from_bytes(c));
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::UnsafePath {
                    path: entry_name(e),
                });
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(&dir).map_err(|err| io("create", &entry_name(e), err))?;
            }
            Err(err) => return Err(io("stat", &entry_name(e), err)),
        }
        sweep(&dir, swept);
    }
    let path = dir.join(OsStr::from_bytes(last));
    let is_dir = fs::symlink_metadata(&path)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    if is_dir && e.kind != EntryKind::Dir {
        return Err(Error::UnsafePath {
            path: entry_name(e),
        });
    }
    Ok(path)
}

/// Remove leftovers of an interrupted restore from `dir`, once per run.
fn sweep(dir: &Path, swept: &mut HashSet<PathBuf>) {
    if !swept.insert(dir.to_path_buf()) {
        return;
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .as_bytes()
                .starts_with(TEMP_PREFIX.as_bytes())
            {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Whether `path` already holds exactly this file's content (resume): same
/// length, and the same chunks (content-defined chunking is deterministic,
/// so the same content gives the same ids).
fn already_restored(path: &Path, e: &FileEntry, id_key: &ChunkIdKey) -> Result<bool> {
    let Ok(m) = fs::symlink_metadata(path) else {
        return Ok(false);
    };
    if !m.is_file() || m.len() != e.size {
        return Ok(false);
    }
    let file = fs::File::open(path).map_err(|err| io("open", &entry_name(e), err))?;
    let mut expected = e.chunks.iter();
    for chunk in crate::chunker::chunks(file, crate::chunker::seed(id_key)) {
        let data = chunk?;
        let matches = expected
            .next()
            .is_some_and(|c| format::verify_chunk(id_key, &c.id, c.length, &data).is_ok());
        if !matches {
            return Ok(false);
        }
    }
    Ok(expected.next().is_none())
}

fn restore_symlink(path: &Path, e: &FileEntry) -> Result<()> {
    let target = OsStr::from_bytes(&e.symlink_target);
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            if fs::read_link(path)
                .map(|t| t.as_os_str() == target)
                .unwrap_or(false)
            {
                return Ok(());
            }
            fs::remove_file(path).map_err(|err| io("replace", &entry_name(e), err))?;
        }
        Ok(m) if m.is_file() => {
            fs::remove_file(path).map_err(|err| io("replace", &entry_name(e), err))?
        }
        Ok(_) => {
            return Err(Error::UnsafePath {
                path: entry_name(e),
            });
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, path)
        .map_err(|err| io("create symlink", &entry_name(e), err))
}

fn set_meta(path: &Path, e: &FileEntry) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(e.mode))
        .map_err(|err| io("chmod", &entry_name(e), err))?;
    fs::File::open(path)
        .and_then(|f| f.set_modified(mtime(e)))
        .map_err(|err| io("set time of", &entry_name(e), err))
}

fn mtime(e: &FileEntry) -> SystemTime {
    let nanos = Duration::new(e.mtime_s.unsigned_abs(), e.mtime_ns);
    if e.mtime_s >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(nanos)
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(Duration::from_secs(e.mtime_s.unsigned_abs()))
            .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(e.mtime_ns))))
    }
    .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn entry_name(e: &FileEntry) -> String {
    String::from_utf8_lossy(e.path.as_bytes()).into_owned()
}

fn io(op: &'static str, path: &str, source: std::io::Error) -> Error {
    Error::Io {
        op,
        path: path.to_string(),
        source,
    }
}
