//! Snapshot files: `snapshot-{index:020}.snap`, written whole and atomically
//! (temporary file, fsync, rename, directory fsync), so a crash leaves the old file or
//! the new one, never half of one.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "RSNP"
//! 4       1     format version (1)
//! 5       3     reserved, zero
//! 8       8     index (u64 LE)
//! 16      8     term (u64 LE)
//! 24      4     membership length m (u32 LE)
//! 28      m     membership (raft_core::Membership::encode)
//! 28+m    8     data length d (u64 LE)
//! 36+m    d     data
//! 36+m+d  4     CRC-32 (IEEE) of every byte before it (u32 LE)
//! ```

use std::path::{Path, PathBuf};

use bytes::Bytes;
use raft_core::{Index, Membership, Snapshot};

use crate::dir::write_atomically;
use crate::error::WalError;
use crate::mmap::map_sealed;

const MAGIC: [u8; 4] = *b"RSNP";

pub(crate) fn file_name(index: Index) -> String {
    format!("snapshot-{index:020}.snap")
}

pub(crate) fn parse_name(name: &str) -> Option<Index> {
    let digits = name.strip_prefix("snapshot-")?.strip_suffix(".snap")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// Writes `snapshot` to its file atomically. `fsync` as in `WalOptions`.
pub(crate) fn write(dir: &Path, snapshot: &Snapshot, fsync: bool) -> Result<PathBuf, WalError> {
    let membership = snapshot.membership.encode();
    let mut out = Vec::with_capacity(40 + membership.len() + snapshot.data.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[1, 0, 0, 0]);
    out.extend_from_slice(&snapshot.index.to_le_bytes());
    out.extend_from_slice(&snapshot.term.to_le_bytes());
    out.extend_from_slice(&(membership.len() as u32).to_le_bytes());
    out.extend_from_slice(&membership);
    out.extend_from_slice(&(snapshot.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&snapshot.data);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    let name = file_name(snapshot.index);
    write_atomically(dir, &name, &out, fsync)?;
    Ok(dir.join(name))
}

/// Reads and checks a snapshot file; the data is a zero-copy slice of its mapping.
pub(crate) fn read(path: &Path) -> Result<Snapshot, WalError> {
    let corrupt = |offset: usize, reason: &str| WalError::Corrupt {
        segment: path.to_path_buf(),
        offset: offset as u64,
        reason: reason.to_owned(),
    };
    let bytes = map_sealed(path)?;
    if bytes.len() < 40 {
        return Err(corrupt(0, "snapshot file is shorter than its fixed fields"));
    }
    let body = bytes.len() - 4;
    let stored = u32::from_le_bytes([
        bytes[body],
        bytes[body + 1],
        bytes[body + 2],
        bytes[body + 3],
    ]);
    if crc32fast::hash(&bytes[..body]) != stored {
        return Err(corrupt(body, "snapshot checksum mismatch"));
    }
    if bytes[..4] != MAGIC || bytes[4] != 1 {
        return Err(corrupt(0, "not a raft-wal snapshot of format 1"));
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let (index, term) = (word(8), word(16));
    let membership_length = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes")) as usize;
    let data_at = 28usize
        .checked_add(membership_length)
        .filter(|&at| at + 8 <= body);
    let Some(data_at) = data_at else {
        return Err(corrupt(24, "membership length out of range"));
    };
    let Some(membership) = Membership::decode(&bytes[28..data_at]) else {
        return Err(corrupt(28, "membership does not decode"));
    };
    let data_length = word(data_at) as usize;
    if data_at + 8 + data_length != body {
        return Err(corrupt(data_at, "data length does not match the file"));
    }
    let data: Bytes = bytes.slice(data_at + 8..body);
    Ok(Snapshot {
        index,
        term,
        membership,
        data,
    })
}
