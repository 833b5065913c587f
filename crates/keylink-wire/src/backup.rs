//! Backup manifests: the plaintext of manifest roots and pages.
//!
//! Everything here is validated on decode: paths are relative and contain
//! no empty, `.` or `..` component and no NUL byte; counts are bounded; a
//! file's chunk lengths add up to its size; kinds carry only their fields.
//! These values are only ever stored encrypted (see `keylink-backup`).

use keylink_keys::DeviceId;
use prost::Message;

use crate::account::Hash;
use crate::error::WireError;
use crate::{WIRE_VERSION, Wire, decode_checked, fixed, proto};

/// Most pages in one manifest.
pub const MAX_PAGES: usize = 65_536;
/// Most entries in one page.
pub const MAX_PAGE_ENTRIES: usize = 4096;
/// Largest encoded page (8 MiB).
pub const MAX_PAGE_LEN: usize = 8 << 20;
/// Largest encoded manifest root (4 MiB: 65,536 page references).
pub const MAX_ROOT_LEN: usize = 4 << 20;
/// Longest path, in bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Largest chunk plaintext (the chunker's maximum).
pub const MAX_CHUNK_LEN: u32 = 8 << 20;

/// A relative path: '/'-separated components of raw bytes (not necessarily
/// UTF-8), none empty, `.` or `..`, and no NUL byte.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(Vec<u8>);

impl RelPath {
    /// Validate a path.
    ///
    /// # Errors
    /// [`WireError::BadPath`].
    pub fn new(bytes: Vec<u8>) -> Result<Self, WireError> {
        let ok = !bytes.is_empty()
            && bytes.len() <= MAX_PATH_LEN
            && !bytes.contains(&0)
            && bytes
                .split(|&b| b == b'/')
                .all(|c| !c.is_empty() && c != b"." && c != b"..");
        if ok {
            Ok(Self(bytes))
        } else {
            Err(WireError::BadPath)
        }
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The components.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/')
    }
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (recorded, never followed).
    Symlink,
}

/// A reference to one chunk of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    /// The chunk id (keyed hash of its plaintext).
    pub id: Hash,
    /// The device whose subkey sealed it.
    pub writer: DeviceId,
    /// Its plaintext length.
    pub length: u32,
}

/// One file, directory or symlink of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Where it goes, relative to the restore root.
    pub path: RelPath,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits (`& 0o7777`).
    pub mode: u32,
    /// Length in bytes (files; 0 otherwise).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime_s: i64,
    /// Modification time, nanoseconds.
    pub mtime_ns: u32,
    /// Files: the chunks, in order.
    pub chunks: Vec<ChunkRef>,
    /// Symlinks: the target.
    pub symlink_target: Vec<u8>,
}

/// A page of entries.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ManifestPage {
    /// The entries, in order.
    pub entries: Vec<FileEntry>,
}

/// A reference to a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRef {
    /// SHA-256 of the page object.
    pub hash: Hash,
    /// How many entries it holds.
    pub entries: u32,
}

/// The root of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRoot {
    /// The device's previous snapshot, if any.
    pub parent: Option<Hash>,
    /// When it was made (informational).
    pub created_ms: u64,
    /// The pages, in order.
    pub pages: Vec<PageRef>,
    /// Total entries.
    pub entry_count: u64,
    /// Total file bytes.
    pub total_bytes: u64,
}

impl Wire for ManifestRoot {
    fn encode(&self) -> Vec<u8> {
        proto::ManifestRoot {
            version: WIRE_VERSION,
            parent: self.parent.map(|p| p.to_vec()).unwrap_or_default(),
            created_ms: self.created_ms,
            pages: self
                .pages
                .iter()
                .map(|p| proto::PageRef {
                    hash: p.hash.to_vec(),
                    entries: p.entries,
                })
                .collect(),
            entry_count: self.entry_count,
            total_bytes: self.total_bytes,
        }
        .encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let m = decode_checked(bytes, MAX_ROOT_LEN, |m: &proto::ManifestRoot| m.version)?;
        let proto::ManifestRoot {
            version: _,
            parent,
            created_ms,
            pages,
            entry_count,
            total_bytes,
        } = m;
        if pages.len() > MAX_PAGES {
            return Err(WireError::TooMany {
                field: "pages",
                max: MAX_PAGES,
            });
        }
        let pages: Vec<PageRef> = pages
            .into_iter()
            .map(|proto::PageRef { hash, entries }| {
                if entries == 0 || entries as usize > MAX_PAGE_ENTRIES {
                    return Err(WireError::TooMany {
                        field: "page entries",
                        max: MAX_PAGE_ENTRIES,
                    });
                }
                Ok(PageRef {
                    hash: fixed("page hash", &hash)?,
                    entries,
                })
            })
            .collect::<Result<_, _>>()?;
        let sum: u64 = pages.iter().map(|p| u64::from(p.entries)).sum();
        if sum != entry_count {
            return Err(WireError::Inconsistent {
                what: "entry_count is not the sum of the pages' entries",
            });
        }
        Ok(Self {
            parent: if parent.is_empty() {
                None
            } else {
                Some(fixed("parent", &parent)?)
            },
            created_ms,
            pages,
            entry_count,
            total_bytes,
        })
    }
}

impl Wire for ManifestPage {
    fn encode(&self) -> Vec<u8> {
        proto::ManifestPage {
            version: WIRE_VERSION,
            entries: self.entries.iter().map(entry_to_proto).collect(),
        }
        .encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let m = decode_checked(bytes, MAX_PAGE_LEN, |m: &proto::ManifestPage| m.version)?;
        let proto::ManifestPage {
            version: _,
            entries,
        } = m;
        if entries.len() > MAX_PAGE_ENTRIES {
            return Err(WireError::TooMany {
                field: "entries",
                max: MAX_PAGE_ENTRIES,
            });
        }
        Ok(Self {
            entries: entries
                .into_iter()
                .map(entry_from_proto)
                .collect::<Result<_, _>>()?,
        })
    }
}

fn entry_to_proto(e: &FileEntry) -> proto::FileEntry {
    proto::FileEntry {
        path: e.path.as_bytes().to_vec(),
        kind: match e.kind {
            EntryKind::File => 1,
            EntryKind::Dir => 2,
            EntryKind::Symlink => 3,
        },
        mode: e.mode,
        size: e.size,
        mtime_s: e.mtime_s,
        mtime_ns: e.mtime_ns,
        chunks: e
            .chunks
            .iter()
            .map(|c| proto::ChunkRef {
                id: c.id.to_vec(),
                writer: c.writer.as_bytes().to_vec(),
                length: c.length,
            })
            .collect(),
        symlink_target: e.symlink_target.clone(),
    }
}

fn entry_from_proto(p: proto::FileEntry) -> Result<FileEntry, WireError> {
    let proto::FileEntry {
        path,
        kind,
        mode,
        size,
        mtime_s,
        mtime_ns,
        chunks,
        symlink_target,
    } = p;
    let kind = match kind {
        1 => EntryKind::File,
        2 => EntryKind::Dir,
        3 => EntryKind::Symlink,
        _ => {
            return Err(WireError::Inconsistent {
                what: "unknown entry kind",
            });
        }
    };
    let chunks: Vec<ChunkRef> = chunks
        .into_iter()
        .map(|proto::ChunkRef { id, writer, length }| {
            if length == 0 || length > MAX_CHUNK_LEN {
                return Err(WireError::Inconsistent {
                    what: "chunk length out of range",
                });
            }
            Ok(ChunkRef {
                id: fixed("chunk id", &id)?,
                writer: DeviceId::from_bytes(fixed("writer", &writer)?),
                length,
            })
        })
        .collect::<Result<_, _>>()?;
    let sum: u64 = chunks.iter().map(|c| u64::from(c.length)).sum();
    let consistent = match kind {
        EntryKind::File => sum == size && symlink_target.is_empty(),
        EntryKind::Dir => chunks.is_empty() && size == 0 && symlink_target.is_empty(),
        EntryKind::Symlink => {
            chunks.is_empty()
                && size == 0
                && !symlink_target.is_empty()
                && symlink_target.len() <= MAX_PATH_LEN
                && !symlink_target.contains(&0)
        }
    };
    if !consistent || mtime_ns >= 1_000_000_000 || mode > 0o7777 {
        return Err(WireError::Inconsistent {
            what: "entry fields do not fit its kind",
        });
    }
    Ok(FileEntry {
        path: RelPath::new(path)?,
        kind,
        mode,
        size,
        mtime_s,
        mtime_ns,
        chunks,
        symlink_target,
    })
}
