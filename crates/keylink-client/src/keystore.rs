//! Where a device keeps its secrets at rest.
//!
//! [`KeyStore`] is a small named-blob store; apps can back it with the
//! operating system's keychain. [`FileKeyStore`] is the default: one file
//! per name in a folder only the owner can read, each replaced atomically
//! (temporary file, fsync, rename, folder fsync), so a crash leaves either
//! the old value or the new one, never a torn file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Why the key store failed. Never holds a stored value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// The name is not one a key store accepts.
    #[error("invalid key-store entry name {0:?}")]
    BadName(String),
    /// Reading or writing failed.
    #[error("could not {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Where.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds this key store.
    #[error("another keylink command is using {path}; wait for it to finish")]
    Busy {
        /// The folder.
        path: String,
    },
    /// The folder can be read by others: refusing to keep secrets there.
    #[error(
        "{path} can be read by other users (mode {mode:o}); run `chmod 700 {path}` or choose another --home"
    )]
    TooOpen {
        /// The folder.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
}

/// Named secrets of one device.
pub trait KeyStore: Send + Sync {
    /// The value stored under `name`, if any.
    ///
    /// # Errors
    /// [`KeyStoreError`].
    fn load(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyStoreError>;

    /// Store `value` under `name`, replacing any old value atomically and
    /// durably: when this returns, the value survives a crash.
    ///
    /// # Errors
    /// [`KeyStoreError`].
    fn save(&self, name: &str, value: &[u8]) -> Result<(), KeyStoreError>;

    /// Forget `name` (no error if absent).
    ///
    /// # Errors
    /// [`KeyStoreError`].
    fn remove(&self, name: &str) -> Result<(), KeyStoreError>;
}

/// Secrets as files in one owner-only folder.
#[derive(Clone, Debug)]
pub struct FileKeyStore {
    dir: PathBuf,
    /// An exclusive lock on `dir/lock`, held while this store is open, so
    /// two processes never interleave their writes (and a head never moves
    /// backwards).
    _lock: std::sync::Arc<fs::File>,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyStoreError {
    let path = path.display().to_string();
    move |source| KeyStoreError::Io { op, path, source }
}

/// The lock file's name (not an entry).
const LOCK: &str = "lock";

fn check_name(name: &str) -> Result<(), KeyStoreError> {
    let ok = !name.is_empty()
        && name != LOCK
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(KeyStoreError::BadName(name.to_string()))
    }
}

impl FileKeyStore {
    /// Open (creating it with mode 0700 if needed) the folder `dir`. An
    /// existing folder that others can read or write is refused.
    ///
    /// # Errors
    /// [`KeyStoreError::Io`], [`KeyStoreError::TooOpen`].
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyStoreError> {
        let dir = dir.into();
        if !dir.exists() {
            fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(io("set permissions on", &dir))?;
        }
        let mode = fs::metadata(&dir)
            .map_err(io("read", &dir))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyStoreError::TooOpen {
                path: dir.display().to_string(),
                mode,
            });
        }
        let lock_path = dir.join(LOCK);
        let lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io("create", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(KeyStoreError::Busy {
                    path: dir.display().to_string(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io("lock", &lock_path)(e)),
        }
        // Leftovers of an interrupted save (no other process is saving:
        // the lock is ours).
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(".tmp-") {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok(Self {
            dir,
            _lock: std::sync::Arc::new(lock),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl KeyStore for FileKeyStore {
    fn load(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyStoreError> {
        check_name(name)?;
        let path = self.dir.join(name);
        match fs::read(&path) {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    fn save(&self, name: &str, value: &[u8]) -> Result<(), KeyStoreError> {
        check_name(name)?;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".tmp-{name}-{}", std::process::id()));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        let written = f
            .write_all(value)
            .and_then(|()| f.sync_all())
            .map_err(io("write", &tmp));
        drop(f);
        if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path).map_err(io("replace", &path)))
        {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", &self.dir))
    }

    fn remove(&self, name: &str) -> Result<(), KeyStoreError> {
        check_name(name)?;
        let path = self.dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("remove", &path)(e)),
        }
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", &self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_with_owner_only_files() {
        let dir = tempfile::tempdir().unwrap();
        let ks = FileKeyStore::open(dir.path().join("home")).unwrap();
        assert!(ks.load("identity").unwrap().is_none());
        ks.save("identity", b"one").unwrap();
        ks.save("identity", b"two").unwrap();
        assert_eq!(ks.load("identity").unwrap().unwrap().as_slice(), b"two");
        let mode = fs::metadata(ks.dir().join("identity"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = fs::metadata(ks.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        ks.remove("identity").unwrap();
        ks.remove("identity").unwrap();
        assert!(ks.load("identity").unwrap().is_none());
        assert!(matches!(
            ks.save("../x", b""),
            Err(KeyStoreError::BadName(_))
        ));
    }

    #[test]
    fn a_second_opener_is_told_the_store_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let first = FileKeyStore::open(dir.path().join("home")).unwrap();
        assert!(matches!(
            FileKeyStore::open(dir.path().join("home")),
            Err(KeyStoreError::Busy { .. })
        ));
        drop(first);
        FileKeyStore::open(dir.path().join("home")).unwrap();
    }

    #[test]
    fn a_folder_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            FileKeyStore::open(&open),
            Err(KeyStoreError::TooOpen { mode: 0o755, .. })
        ));
    }
}
