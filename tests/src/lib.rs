//! Shared helpers for keylink's cross-crate tests: the known-answer vector
//! file format and deterministic test bytes.
//!
//! A vector file holds one scenario:
//!
//! ```json
//! { "name": "...", "kind": "password_wrap", "inputs": { "password": "...", "salt": "00ff..." },
//!   "expected": { "wrap": "..." }, "comment": "..." }
//! ```
//!
//! with either `expected` (hex strings, or UTF-8 where the field says so) or
//! `expected_error` (the error's class, see `Error::class`).

pub mod account_eval;
pub mod backup_eval;
pub mod fuzz;
pub mod keys_eval;
pub mod link_eval;
pub mod realm_eval;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One known-answer scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// Unique name; also the file stem.
    pub name: String,
    /// Which operation it exercises.
    pub kind: String,
    /// Inputs by name: hex, UTF-8 text, or numbers.
    pub inputs: BTreeMap<String, serde_json::Value>,
    /// Expected outputs by name (absent for error cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<BTreeMap<String, serde_json::Value>>,
    /// Expected error class (absent for success cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_error: Option<String>,
    /// What the scenario shows.
    pub comment: String,
}

/// Why a vector could not be read or used.
#[derive(Debug)]
pub enum VectorError {
    /// The file could not be read.
    Io(PathBuf, std::io::Error),
    /// The file is not a vector.
    Json(PathBuf, serde_json::Error),
    /// A field is missing or has the wrong form.
    Field(String),
}

impl std::fmt::Display for VectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VectorError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            VectorError::Json(p, e) => write!(f, "{}: {e}", p.display()),
            VectorError::Field(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for VectorError {}

impl Vector {
    /// An input as bytes from hex.
    pub fn hex(&self, field: &str) -> Result<Vec<u8>, VectorError> {
        let s = self.text(field)?;
        hex::decode(s).map_err(|e| VectorError::Field(format!("{}: {field}: {e}", self.name)))
    }

    /// An input as a fixed-size array from hex.
    pub fn hex_array<const N: usize>(&self, field: &str) -> Result<[u8; N], VectorError> {
        let v = self.hex(field)?;
        v.as_slice().try_into().map_err(|_| {
            VectorError::Field(format!(
                "{}: {field}: want {N} bytes, got {}",
                self.name,
                v.len()
            ))
        })
    }

    /// An input that is a list of hex strings.
    pub fn hex_list(&self, field: &str) -> Result<Vec<Vec<u8>>, VectorError> {
        let bad = || {
            VectorError::Field(format!(
                "{}: input {field} must be a list of hex strings",
                self.name
            ))
        };
        self.inputs
            .get(field)
            .and_then(|v| v.as_array())
            .ok_or_else(bad)?
            .iter()
            .map(|x| x.as_str().and_then(|s| hex::decode(s).ok()).ok_or_else(bad))
            .collect()
    }

    /// Whether an input is present.
    pub fn has(&self, field: &str) -> bool {
        self.inputs.contains_key(field)
    }

    /// An input as text.
    pub fn text(&self, field: &str) -> Result<&str, VectorError> {
        self.inputs
            .get(field)
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                VectorError::Field(format!(
                    "{}: input {field} missing or not a string",
                    self.name
                ))
            })
    }

    /// An input as an unsigned integer.
    pub fn num(&self, field: &str) -> Result<u64, VectorError> {
        self.inputs
            .get(field)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| {
                VectorError::Field(format!(
                    "{}: input {field} missing or not a number",
                    self.name
                ))
            })
    }

    /// An expected output as text.
    pub fn expect(&self, field: &str) -> Result<&str, VectorError> {
        self.expected
            .as_ref()
            .and_then(|e| e.get(field))
            .and_then(|v| v.as_str())
            .ok_or_else(|| VectorError::Field(format!("{}: expected {field} missing", self.name)))
    }
}

/// Every `*.json` vector in `dir`, sorted by file name.
///
/// # Errors
/// If the folder or a file cannot be read or parsed.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Vector)>, VectorError> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| VectorError::Io(dir.to_path_buf(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).map_err(|e| VectorError::Io(p.clone(), e))?;
            let v: Vector =
                serde_json::from_str(&text).map_err(|e| VectorError::Json(p.clone(), e))?;
            Ok((p, v))
        })
        .collect()
}

/// The folder holding the vectors of `area` (`keys`, `account`, …).
pub fn vectors_dir(area: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(area)
}

/// Deterministic test bytes: SHA-256(`tag` ‖ counter) blocks, truncated to
/// `len`. Anyone can regenerate them from the tag alone.
pub fn det_bytes(tag: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 0;
    while out.len() < len {
        out.extend_from_slice(&keylink_keys::primitives::sha256(&[
            tag.as_bytes(),
            &counter.to_be_bytes(),
        ]));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// [`det_bytes`] as a fixed-size array.
pub fn det_array<const N: usize>(tag: &str) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&det_bytes(tag, N));
    a
}

/// What running a folder of vectors found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Files read.
    pub files: usize,
    /// Success cases whose outputs matched.
    pub valid: usize,
    /// Error cases that failed with their expected class.
    pub invalid: usize,
    /// Every mismatch, one line each.
    pub failures: Vec<String>,
}

/// Run every vector in `tests/vectors/<area>/` through `evaluate` and compare
/// with what the file expects.
///
/// # Errors
/// If the folder cannot be read.
pub fn check_dir(
    area: &str,
    evaluate: fn(&Vector) -> Result<keys_eval::Outcome, VectorError>,
) -> Result<Checked, VectorError> {
    let vectors = load_dir(&vectors_dir(area))?;
    let mut c = Checked {
        files: vectors.len(),
        ..Checked::default()
    };
    for (path, v) in &vectors {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if stem != v.name {
            c.failures.push(format!(
                "{}: file name and vector name differ",
                path.display()
            ));
        }
        if v.comment.is_empty() {
            c.failures.push(format!("{}: no comment", v.name));
        }
        let outcome = match evaluate(v) {
            Ok(o) => o,
            Err(e) => {
                c.failures.push(format!("{}: unusable vector: {e}", v.name));
                continue;
            }
        };
        match (&v.expected, &v.expected_error, outcome) {
            (Some(expected), None, Ok(got)) => {
                if expected.is_empty() {
                    c.failures.push(format!("{}: empty expected", v.name));
                } else if *expected != got {
                    c.failures
                        .push(format!("{}: expected {expected:?}, got {got:?}", v.name));
                } else {
                    c.valid += 1;
                }
            }
            (None, Some(class), Err(got)) => {
                if *class != got {
                    c.failures
                        .push(format!("{}: expected error {class}, got {got}", v.name));
                } else {
                    c.invalid += 1;
                }
            }
            (Some(_), Some(_), _) | (None, None, _) => {
                c.failures.push(format!(
                    "{}: needs exactly one of expected / expected_error",
                    v.name
                ));
            }
            (_, _, got) => c
                .failures
                .push(format!("{}: wrong outcome {got:?}", v.name)),
        }
    }
    Ok(c)
}

/// Check a folder of vectors, print its counts, and fail the calling test on
/// any mismatch or if there are fewer files or error cases than required.
/// A test helper: failing by panic is its purpose.
#[allow(clippy::panic)]
pub fn assert_vectors(
    area: &str,
    evaluate: fn(&Vector) -> Result<keys_eval::Outcome, VectorError>,
    min_files: usize,
    min_invalid: usize,
) {
    let c = match check_dir(area, evaluate) {
        Ok(c) => c,
        Err(e) => panic!("{area} vectors do not load: {e}"),
    };
    println!(
        "{area} vectors: {} files, {} valid and {} invalid cases checked",
        c.files, c.valid, c.invalid
    );
    assert!(
        c.failures.is_empty(),
        "{} failures:\n{}",
        c.failures.len(),
        c.failures.join("\n")
    );
    assert!(
        c.files >= min_files,
        "at least {min_files} {area} vectors are required"
    );
    assert!(
        c.invalid >= min_invalid,
        "at least {min_invalid} invalid {area} vectors are required"
    );
    assert_eq!(c.valid + c.invalid, c.files);
}

/// A generator that hands out fixed bytes, then zeros: lets a vector state
/// the nonce a seal draws. Never for anything but test vectors.
pub struct FixedRng {
    bytes: Vec<u8>,
    at: usize,
}

impl FixedRng {
    /// Hand out `bytes` in order.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self { bytes, at: 0 }
    }
}

impl rand_core::TryRng for FixedRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for d in dst {
            *d = self.bytes.get(self.at).copied().unwrap_or(0);
            self.at = self.at.saturating_add(1);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for FixedRng {}

/// Assert that two folder trees hold the same paths, kinds (folder or
/// file) and file bytes; return how many entries were compared.
///
/// # Panics
/// When they differ, or a folder cannot be read (a test helper).
#[allow(clippy::unwrap_used, clippy::panic)]
pub fn same_tree(a: &Path, b: &Path) -> usize {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Option<Vec<u8>>)>) {
        let mut es: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        es.sort_by_key(|e| e.file_name());
        for e in es {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.push((rel, None));
                walk(root, &p, out);
            } else {
                out.push((rel, Some(fs::read(&p).unwrap())));
            }
        }
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    walk(a, a, &mut x);
    walk(b, b, &mut y);
    assert_eq!(
        x.iter().map(|e| &e.0).collect::<Vec<_>>(),
        y.iter().map(|e| &e.0).collect::<Vec<_>>(),
        "the trees hold different paths"
    );
    for (p, q) in x.iter().zip(&y) {
        assert!(p.1 == q.1, "{} differs", p.0);
    }
    x.len()
}
