//! The local-directory store: the embedded default, needing no setup.
//!
//! An object `a/b/c` lives at `<root>/a/b/c`. A write goes to a temporary
//! file under `<root>/.tmp/`, is fsynced, and is then linked into place with
//! a no-clobber link (atomic: the name either does not exist or names the
//! complete object), after which the parent directory is fsynced. A crash at
//! any point leaves either no object or the whole object; leftover temporary
//! files are never visible as objects and are removed on open.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::{ObjectKey, Put, Store, StoreError};

/// Folder (under the root) for temporary files; keys can never name it
/// because no key segment may start with '.'.
const TMP_DIR: &str = ".tmp";

/// A store in a local directory.
#[derive(Clone, Debug)]
pub struct LocalDirStore {
    root: PathBuf,
}

impl LocalDirStore {
    /// Open (creating if needed) a store rooted at `root`, and remove
    /// temporary files a crash may have left.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the folder cannot be created or read.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp).map_err(|e| io_err("open", &root, e))?;
        for entry in fs::read_dir(&tmp).map_err(|e| io_err("open", &tmp, e))? {
            let entry = entry.map_err(|e| io_err("open", &tmp, e))?;
            // A leftover from an interrupted write: never acknowledged.
            let _ = fs::remove_file(entry.path());
        }
        Ok(Self { root })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        // Safe: every segment is [A-Za-z0-9._-]+ and never "." or "..".
        self.root.join(key.as_str())
    }
}

impl Store for LocalDirStore {
    fn put_if_absent(&self, key: &ObjectKey, value: &[u8]) -> Result<Put, StoreError> {
        let path = self.path(key);
        if path.exists() {
            return Ok(Put::AlreadyExists);
        }
        let parent = path.parent().unwrap_or(&self.root);
        create_dirs_durably(&self.root, parent).map_err(|e| io_err("put", &path, e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(self.root.join(TMP_DIR))
            .map_err(|e| io_err("put", &path, e))?;
        tmp.write_all(value).map_err(|e| io_err("put", &path, e))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| io_err("put", &path, e))?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                return Ok(Put::AlreadyExists);
            }
            Err(e) => return Err(io_err("put", &path, e.error)),
        }
        sync_dir(parent).map_err(|e| io_err("put", &path, e))?;
        Ok(Put::Created)
    }

    fn get(&self, key: &ObjectKey, max_len: usize) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    key: key.to_string(),
                });
            }
            Err(e) => return Err(io_err("get", &path, e)),
        };
        let len = file.metadata().map_err(|e| io_err("get", &path, e))?.len();
        if len > max_len as u64 {
            return Err(StoreError::TooLarge {
                key: key.to_string(),
                len,
                max: max_len,
            });
        }
        let mut out = Vec::with_capacity(len as usize);
        // Read at most max_len + 1 bytes, in case the file grew.
        file.take(max_len as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| io_err("get", &path, e))?;
        if out.len() > max_len {
            return Err(StoreError::TooLarge {
                key: key.to_string(),
                len: out.len() as u64,
                max: max_len,
            });
        }
        Ok(out)
    }

    fn exists(&self, key: &ObjectKey) -> Result<bool, StoreError> {
        let path = self.path(key);
        path.try_exists().map_err(|e| io_err("exists", &path, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, StoreError> {
        // Walk the deepest folder the prefix names, then filter by prefix.
        let dir_part = prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        if !dir_part.is_empty() && ObjectKey::new(dir_part).is_err() {
            return Ok(Vec::new());
        }
        let start = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir_part)
        };
        let mut out = Vec::new();
        walk(&self.root, &start, &mut out).map_err(|e| io_err("list", &start, e))?;
        out.retain(|k| k.as_str().starts_with(prefix));
        out.sort();
        Ok(out)
    }

    fn list_with_sizes(&self, prefix: &str) -> Result<Vec<(ObjectKey, u64)>, StoreError> {
        self.list(prefix)?
            .into_iter()
            .map(|k| {
                let path = self.path(&k);
                let len = std::fs::metadata(&path)
                    .map_err(|e| io_err("list", &path, e))?
                    .len();
                Ok((k, len))
            })
            .collect()
    }

    fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("delete", &path, e)),
        }
        sync_dir(path.parent().unwrap_or(&self.root)).map_err(|e| io_err("delete", &path, e))
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectKey>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if entry.file_name() != TMP_DIR {
                walk(root, &path, out)?;
            }
        } else if file_type.is_file() {
            let rel = path.strip_prefix(root).ok().and_then(|p| p.to_str());
            if let Some(key) = rel.and_then(|r| ObjectKey::new(r).ok()) {
                out.push(key);
            }
        }
    }
    Ok(())
}

/// Create `dir` (under `root`) and fsync each new folder's parent, so the
/// folder entries survive a crash along with the object.
fn create_dirs_durably(root: &Path, dir: &Path) -> io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.exists() && d != root {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    for m in missing.iter().rev() {
        match fs::create_dir(m) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if let Some(p) = m.parent() {
            sync_dir(p)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn io_err(op: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io {
        op,
        key: path.display().to_string(),
        source,
    }
}
