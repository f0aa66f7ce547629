//! `repair-mark`: a second copy of the repair mark, outside the segments, so that one
//! damaged record cannot take the only copy with it (a mark lost with the record that
//! held it would let a repairing node vote as if intact). Written atomically whenever
//! the mark is set; removed once a sync made the mark's clearing durable.
//!
//! ```text
//! offset size  field
//! 0      8     magic "RAFTMARK"
//! 8      8     through (u64 LE)
//! 16     8     term (u64 LE)
//! 24     4     CRC-32 of bytes 0..24
//! ```

use std::path::Path;

use raft_core::RepairMark;

use crate::dir::{Words, read_words, remove_if_present, sync_dir, write_words};
use crate::error::WalError;

/// The file's name in the log directory.
pub(crate) const FILE_NAME: &str = "repair-mark";
const MAGIC: &[u8; 8] = b"RAFTMARK";

/// What the directory's copy says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MarkFile {
    /// No file: no mark was set since the last clearing.
    Absent,
    /// A valid copy.
    Mark(RepairMark),
    /// A file that fails its checks: a mark was set, its bound is unknown.
    Damaged,
}

/// Writes `mark` (atomically; durable with `fsync`).
pub(crate) fn write(dir: &Path, mark: RepairMark, fsync: bool) -> Result<(), WalError> {
    write_words(dir, FILE_NAME, MAGIC, [mark.through, mark.term], fsync)
}

/// Reads the directory's copy.
pub(crate) fn read(dir: &Path) -> Result<MarkFile, WalError> {
    Ok(match read_words(dir, FILE_NAME, MAGIC)? {
        Words::Absent => MarkFile::Absent,
        Words::Valid([through, term]) => MarkFile::Mark(RepairMark { through, term }),
        Words::Damaged => MarkFile::Damaged,
    })
}

/// Removes the copy (the clearing is durable in the segments).
pub(crate) fn remove(dir: &Path, fsync: bool) -> Result<(), WalError> {
    if remove_if_present(&dir.join(FILE_NAME))? && fsync {
        sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    // Proves a mark round-trips, a missing file is absent, a flipped byte is damage.
    #[test]
    fn round_trip_absence_and_damage() {
        let dir = std::env::temp_dir().join(format!("raft-wal-mark-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(read(&dir).unwrap(), MarkFile::Absent);
        let mark = RepairMark {
            through: 9,
            term: 2,
        };
        write(&dir, mark, false).unwrap();
        assert_eq!(read(&dir).unwrap(), MarkFile::Mark(mark));
        let path = dir.join(FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        bytes[10] ^= 1;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&dir).unwrap(), MarkFile::Damaged);
        remove(&dir, false).unwrap();
        assert_eq!(read(&dir).unwrap(), MarkFile::Absent);
        fs::remove_dir_all(&dir).unwrap();
    }
}
