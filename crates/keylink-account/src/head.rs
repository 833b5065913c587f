//! Heads: what a device remembers of the newest log it verified, and how two
//! devices compare what they have seen.

use keylink_wire::account::Hash;

use crate::error::{Error, Result};
use crate::state::LogState;

/// The remembered-head format version.
pub const HEAD_VERSION: u8 = 1;
/// Encoded length: version ‖ sequence (u64 BE) ‖ hash.
pub const HEAD_LEN: usize = 1 + 8 + 32;

/// The newest entry of a verified log: its sequence and hash. A device
/// persists the highest head it has verified and refuses any log that does
/// not contain it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The entry's sequence number.
    pub sequence: u64,
    /// The entry's hash.
    pub hash: Hash,
}

impl Head {
    /// `0x01 ‖ sequence (u64 BE) ‖ hash`: 41 bytes, for the device's store.
    pub fn to_bytes(&self) -> [u8; HEAD_LEN] {
        let mut b = [0u8; HEAD_LEN];
        b[0] = HEAD_VERSION;
        b[1..9].copy_from_slice(&self.sequence.to_be_bytes());
        b[9..].copy_from_slice(&self.hash);
        b
    }

    /// Parse what [`Head::to_bytes`] wrote.
    ///
    /// # Errors
    /// [`Error::MalformedHead`] on any other length or version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let b: &[u8; HEAD_LEN] = bytes.try_into().map_err(|_| Error::MalformedHead)?;
        let (version, rest) = b.split_first().ok_or(Error::MalformedHead)?;
        if *version != HEAD_VERSION {
            return Err(Error::MalformedHead);
        }
        let (seq, hash) = rest.split_at(8);
        Ok(Self {
            sequence: u64::from_be_bytes(seq.try_into().map_err(|_| Error::MalformedHead)?),
            hash: hash.try_into().map_err(|_| Error::MalformedHead)?,
        })
    }
}

/// How two devices' logs relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadRelation {
    /// Both have seen exactly the same log.
    Same,
    /// This device's log extends the other's: the other is behind.
    Ahead,
    /// The other's head is beyond this log: fetch and verify before trusting
    /// it (it may still turn out to be a fork).
    Behind,
}

/// Compare this device's verified log with another device's head (as two
/// devices do when they link). A fork — the other head names an entry this
/// log has with a different hash — is an error: someone showed the two
/// devices different histories.
///
/// # Errors
/// [`Error::Fork`].
pub fn compare_heads(mine: &LogState, theirs: &Head) -> Result<HeadRelation> {
    let my_head = mine.head();
    if theirs.sequence > my_head.sequence {
        return Ok(HeadRelation::Behind);
    }
    mine.check_contains(theirs)?;
    Ok(if theirs.sequence == my_head.sequence {
        HeadRelation::Same
    } else {
        HeadRelation::Ahead
    })
}

/// Compare two verified logs of one account: the shorter must be a prefix
/// of the longer.
///
/// # Errors
/// [`Error::Fork`] naming the first entry where they differ.
pub fn compare_logs(a: &LogState, b: &LogState) -> Result<HeadRelation> {
    let (ha, hb) = (a.head(), b.head());
    let common = ha.sequence.min(hb.sequence);
    for seq in 0..=common {
        if a.hash_at(seq) != b.hash_at(seq) {
            return Err(Error::Fork { sequence: seq });
        }
    }
    Ok(match ha.sequence.cmp(&hb.sequence) {
        std::cmp::Ordering::Equal => HeadRelation::Same,
        std::cmp::Ordering::Greater => HeadRelation::Ahead,
        std::cmp::Ordering::Less => HeadRelation::Behind,
    })
}
