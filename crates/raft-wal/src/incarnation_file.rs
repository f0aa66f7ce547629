//! `incarnation`: which life of a node this directory holds (docs/RECOVERY.md, rule 2),
//! written once when the directory is created for a node that lost its durable state
//! ([`WalLog::create_incarnation`](crate::WalLog::create_incarnation)) and never
//! changed. A directory without the file holds incarnation 0, as every directory
//! created by [`WalLog::open`](crate::WalLog::open) does.
//!
//! ```text
//! offset size  field
//! 0      8     magic "RAFTINCN"
//! 8      8     incarnation (u64 LE, never 0)
//! 16     4     CRC-32 of bytes 0..16
//! ```

use std::path::Path;

use raft_core::Incarnation;

use crate::dir::{Words, read_words, write_words};
use crate::error::WalError;

/// The file's name in the log directory.
pub(crate) const FILE_NAME: &str = "incarnation";
const MAGIC: &[u8; 8] = b"RAFTINCN";

/// Writes `incarnation` (atomically; durable with `fsync`).
pub(crate) fn write(dir: &Path, incarnation: Incarnation, fsync: bool) -> Result<(), WalError> {
    write_words(dir, FILE_NAME, MAGIC, [incarnation], fsync)
}

/// Reads the directory's incarnation: 0 without the file, `None` if the file fails its
/// checks (or names 0, which is never written).
pub(crate) fn read(dir: &Path) -> Result<Option<Incarnation>, WalError> {
    Ok(match read_words(dir, FILE_NAME, MAGIC)? {
        Words::Absent => Some(0),
        Words::Valid([incarnation]) if incarnation != 0 => Some(incarnation),
        Words::Valid(_) | Words::Damaged => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves an incarnation round-trips, a missing file is incarnation 0 and a flipped
    // byte is damage.
    #[test]
    fn round_trip_absence_and_damage() {
        let dir = std::env::temp_dir().join(format!("raft-wal-incn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read(&dir).unwrap(), Some(0));
        write(&dir, 0xfeed, false).unwrap();
        assert_eq!(read(&dir).unwrap(), Some(0xfeed));
        let path = dir.join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 20);
        bytes[9] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&dir).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
