//! `vote`: the node's term and vote (WAL format 2), kept outside the segments so that
//! no damage to a segment, and no crash in the middle of a segment write, can hide
//! them. Replaced atomically (temporary file, fsync, rename, directory fsync) before
//! the batch that first carries a new term or vote is written, so the file always
//! holds the newest term and vote the node ever acted on: a node sends nothing that
//! depends on them before the sync that made them durable returns.
//!
//! ```text
//! offset size  field
//! 0      8     magic "RAFTVOTE"
//! 8      8     term (u64 LE)
//! 16     8     voted flag (u64 LE: 0 none, 1 voted)
//! 24     8     voted_for (u64 LE, 0 when none)
//! 32     4     CRC-32 of bytes 0..32
//! ```

use std::path::Path;

use raft_core::{HardState, NodeId, Term};

use crate::dir::{Words, read_words, write_words};
use crate::error::WalError;

/// The file's name in the log directory.
pub(crate) const FILE_NAME: &str = "vote";
const MAGIC: &[u8; 8] = b"RAFTVOTE";

/// A term and the vote cast in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Vote {
    pub(crate) term: Term,
    pub(crate) voted_for: Option<NodeId>,
}

impl Vote {
    /// The term and vote of `state`.
    pub(crate) fn of(state: &HardState) -> Self {
        Self {
            term: state.term,
            voted_for: state.voted_for,
        }
    }

    /// Whether `other` is something this node could only have written after `self`:
    /// a later term, or a vote in a term where `self` has none. (Within a term a vote
    /// is never changed or taken back.)
    pub(crate) fn is_behind(&self, other: &Self) -> bool {
        other.term > self.term
            || (other.term == self.term
                && other.voted_for.is_some()
                && other.voted_for != self.voted_for)
    }
}

/// What the directory's file says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VoteFile {
    /// No file.
    Absent,
    /// A valid file.
    Vote(Vote),
    /// A file that fails its checks: the newest term and vote are unknown.
    Damaged,
}

/// Writes `vote` (atomically; durable with `fsync`).
pub(crate) fn write(dir: &Path, vote: Vote, fsync: bool) -> Result<(), WalError> {
    let words = [
        vote.term,
        u64::from(vote.voted_for.is_some()),
        vote.voted_for.unwrap_or(0),
    ];
    write_words(dir, FILE_NAME, MAGIC, words, fsync)
}

/// Reads the directory's file.
pub(crate) fn read(dir: &Path) -> Result<VoteFile, WalError> {
    Ok(match read_words(dir, FILE_NAME, MAGIC)? {
        Words::Absent => VoteFile::Absent,
        Words::Valid([term, 0, _]) => VoteFile::Vote(Vote {
            term,
            voted_for: None,
        }),
        Words::Valid([term, 1, voted_for]) => VoteFile::Vote(Vote {
            term,
            voted_for: Some(voted_for),
        }),
        Words::Valid(_) | Words::Damaged => VoteFile::Damaged,
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    // Proves a vote round-trips, a missing file is absent, any flipped bit is damage,
    // and the encoding is frozen (docs/PROTOCOL.md).
    #[test]
    fn round_trip_absence_damage_and_golden_bytes() {
        let dir = std::env::temp_dir().join(format!("raft-wal-vote-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(read(&dir).unwrap(), VoteFile::Absent);
        let vote = Vote {
            term: 7,
            voted_for: Some(3),
        };
        write(&dir, vote, false).unwrap();
        assert_eq!(read(&dir).unwrap(), VoteFile::Vote(vote));
        let path = dir.join(FILE_NAME);
        let bytes = fs::read(&path).unwrap();
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(
            hex,
            "52414654564f5445070000000000000001000000000000000300000000000000d7d9080f"
        );
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            fs::write(&path, &damaged).unwrap();
            assert_eq!(read(&dir).unwrap(), VoteFile::Damaged, "bit {bit}");
        }
        write(&dir, Vote::default(), false).unwrap();
        assert_eq!(read(&dir).unwrap(), VoteFile::Vote(Vote::default()));
        fs::remove_dir_all(&dir).unwrap();
    }

    // Proves the order of votes: a later term, or a first vote in the same term.
    #[test]
    fn votes_only_move_forward() {
        let none = |term| Vote {
            term,
            voted_for: None,
        };
        let for_ = |term, id| Vote {
            term,
            voted_for: Some(id),
        };
        assert!(none(2).is_behind(&none(3)));
        assert!(none(2).is_behind(&for_(2, 1)));
        assert!(for_(2, 1).is_behind(&for_(2, 2)));
        assert!(!for_(2, 1).is_behind(&for_(2, 1)));
        assert!(!for_(2, 1).is_behind(&none(2)));
        assert!(!for_(3, 1).is_behind(&for_(2, 2)));
    }
}
