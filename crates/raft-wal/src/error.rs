//! The WAL's error type.

use std::path::PathBuf;

/// What can go wrong opening or writing a [`WalLog`](crate::WalLog).
///
/// I/O failures ([`WalError::Io`]) are kept apart from detected corruption
/// ([`WalError::Corrupt`]), which names the segment file and byte offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// An operating-system call failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Acknowledged data is damaged or missing. Never repaired silently.
    #[error("corrupt write-ahead log: {segment} at byte {offset}: {reason}")]
    Corrupt {
        /// The segment file (or the directory, for a missing segment).
        segment: PathBuf,
        /// Byte offset of the first damaged record within the segment.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Another process (or another `WalLog` in this one) holds the directory's lock.
    #[error("write-ahead log directory {path} is locked by another user")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// The directory holds files that are not a raft-wal log.
    #[error("{path} is not a raft-wal directory: {reason}")]
    NotAWalDirectory {
        /// The directory.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// The directory holds a raft-wal log of a format version this code cannot read.
    #[error("{path} holds raft-wal format {found}, this code reads formats 1 to {supported}")]
    UnsupportedVersion {
        /// The directory.
        path: PathBuf,
        /// The version found.
        found: String,
        /// The newest version this code reads (it reads every one from 1 on).
        supported: u8,
    },
    /// The directory belongs to another node or cluster ([`WalLog::claim`](crate::WalLog::claim)):
    /// a node started on it would carry that node's term and vote.
    #[error(
        "{path} belongs to {owner}, not to {claimant}: refusing it (a node started on another \
         node's data could vote twice in one term)"
    )]
    WrongOwner {
        /// The directory.
        path: PathBuf,
        /// Whom the directory names.
        owner: String,
        /// Who claimed it.
        claimant: String,
    },
    /// A [`WalOptions`](crate::WalOptions) value is out of range.
    #[error("invalid wal option: {0}")]
    InvalidOption(String),
    /// A write that breaks the log's rules (a gap, an overlap, truncating compacted
    /// entries...). Nothing was written.
    #[error("invalid log operation: {0}")]
    InvalidOperation(String),
    /// An earlier write or sync failed; what reached the disk is unknown, so the log
    /// refuses further writes. Reopen it.
    #[error("the write-ahead log failed earlier and must be reopened")]
    Failed,
}

/// Every rule-2 refusal's reason names the rule with these words.
pub(crate) const RULE_2: &str = "docs/RECOVERY.md, rule 2";

impl WalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WalError::Io {
            path: path.into(),
            source,
        }
    }
}

impl WalError {
    /// Whether this is a refusal under rule 2 of docs/RECOVERY.md: the directory cannot
    /// say which terms the node voted in (its `vote` or `incarnation` file is damaged
    /// or missing, or damage may have hidden them), so the node must not run on it as
    /// itself. The way back needs no operator judgement: set the directory aside and
    /// start the node on an empty one with
    /// [`WalLog::create_incarnation`](crate::WalLog::create_incarnation), as a new
    /// incarnation the cluster re-adds.
    pub fn is_lost_vote(&self) -> bool {
        matches!(self, WalError::Corrupt { reason, .. } if reason.contains(RULE_2))
    }

    /// How raft-core classifies this error: a failing disk, a damaged one, a refused
    /// operation, or something else (a lock, an option).
    pub fn storage_kind(&self) -> raft_core::StorageErrorKind {
        use raft_core::StorageErrorKind;
        match self {
            WalError::Io { .. } | WalError::Failed => StorageErrorKind::Io,
            WalError::Corrupt { .. }
            | WalError::NotAWalDirectory { .. }
            | WalError::UnsupportedVersion { .. } => StorageErrorKind::Corrupt,
            WalError::InvalidOperation(_) => StorageErrorKind::Contract,
            WalError::Locked { .. } | WalError::InvalidOption(_) | WalError::WrongOwner { .. } => {
                StorageErrorKind::Other
            }
        }
    }
}

/// Keeps the `WalError` as the source: `error.storage_source()` downcasts back to it.
impl From<WalError> for raft_core::Error {
    fn from(error: WalError) -> Self {
        let kind = error.storage_kind();
        raft_core::Error::from_storage("using the write-ahead log", kind, error)
    }
}
