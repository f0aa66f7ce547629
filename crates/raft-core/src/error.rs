//! The one error type of the crate.

use alloc::string::String;
use alloc::sync::Arc;

use crate::types::{Index, NodeId};

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong while driving a [`RaftNode`](crate::RaftNode).
///
/// Errors from bad input (a proposal to a follower, a malformed message) leave the node
/// unchanged: the caller may log them and keep going. A [`Error::Storage`] failure is
/// different: the node stops accepting events (see [`Error::Failed`]) because it can no
/// longer know what reached stable storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A proposal reached a node that is not the leader.
    #[error("not the leader; {}", match leader {
        Some(id) => alloc::format!("current leader is node {id}"),
        None => String::from("no leader is currently known"),
    })]
    NotLeader {
        /// The leader this node knows of, where to retry.
        leader: Option<NodeId>,
    },
    /// The [`RaftLog`](crate::RaftLog) failed, or what it holds contradicts itself.
    /// `kind` tells a failing disk from a corrupt one from a log that broke its
    /// contract; `source` is the storage's own error where it gave one (see
    /// [`Error::storage_source`]).
    #[error("log storage error while {context}: {detail}")]
    Storage {
        /// What the node was doing.
        context: &'static str,
        /// What kind of failure.
        kind: StorageErrorKind,
        /// What the storage reported.
        detail: String,
        /// The storage's own error, if it gave one.
        source: Option<StorageSource>,
    },
    /// A message or frame could not be encoded or decoded.
    #[error("message framing error while {context}: {detail}")]
    Encoding {
        /// What was being encoded or decoded.
        context: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A [`RaftConfig`](crate::RaftConfig) value is out of range.
    #[error("invalid configuration: {field} {reason}")]
    InvalidConfig {
        /// The offending setting.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// An inbound message breaks the protocol's rules (non-contiguous entries, an
    /// absurd term, a leader rewriting committed entries...). It was ignored.
    #[error("invalid message from node {from}: {reason}")]
    InvalidMessage {
        /// The sender the message names.
        from: NodeId,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A message whose reply or vote only a configured member may send came from a node
    /// outside the configuration. It was ignored.
    #[error("message from node {node}, which is not a member of the configuration")]
    UnknownNode {
        /// The sender the message names.
        node: NodeId,
    },
    /// A proposal reached a leader that is handing leadership to `target`. Retry on
    /// the new leader, or here if the transfer is abandoned.
    #[error("leadership is being transferred to node {target}")]
    TransferInProgress {
        /// The node taking over.
        target: NodeId,
    },
    /// A leadership transfer was asked for a node that cannot take over.
    #[error("cannot transfer leadership to node {target}: {reason}")]
    InvalidTransfer {
        /// The requested node.
        target: NodeId,
        /// Why not.
        reason: &'static str,
    },
    /// A membership change was asked while another is uncommitted.
    #[error("a configuration change is already in progress")]
    ConfigInProgress,
    /// A membership change that cannot apply to the current configuration.
    #[error("invalid membership change for node {node}: {reason}")]
    InvalidMembershipChange {
        /// The node the change is about.
        node: NodeId,
        /// Why not.
        reason: &'static str,
    },
    /// A [`ConfigChange`](crate::ConfigChange) that cannot apply as a whole (for a
    /// single step, see [`Error::InvalidMembershipChange`]).
    #[error("invalid configuration change: {reason}")]
    InvalidConfigChange {
        /// Why not.
        reason: &'static str,
    },
    /// A guarded [`ConfigChange`](crate::ConfigChange) named a configuration that is no
    /// longer in force: read the membership again and decide anew.
    #[error(
        "the configuration changed: the change expected the one at index {expected}, the one in force is at index {actual}"
    )]
    ConfigChanged {
        /// The configuration index the change was built against.
        expected: Index,
        /// The index of the configuration in force.
        actual: Index,
    },
    /// The log cannot do what was asked (a custom [`RaftLog`](crate::RaftLog) that
    /// keeps the default `save_snapshot`, asked to snapshot). Nothing changed.
    #[error("the log does not support {feature}")]
    Unsupported {
        /// What is missing.
        feature: &'static str,
    },
    /// A proposed command is larger than one AppendEntries may carry
    /// ([`RaftConfig::with_entry_bytes_max`](crate::RaftConfig::with_entry_bytes_max)).
    /// Nothing of the proposal was appended.
    #[error("an entry of {bytes} bytes is larger than the limit of {max} bytes")]
    EntryTooLarge {
        /// The size of the refused command.
        bytes: usize,
        /// The configured limit.
        max: usize,
    },
    /// A bounded queue or buffer of the node is full (reads waiting on the leader, an
    /// incoming snapshot). The request or message was refused and nothing changed;
    /// retry once the queue drains.
    #[error("{what} would exceed its limit of {max}")]
    LimitExceeded {
        /// What is full.
        what: &'static str,
        /// The limit.
        max: u64,
    },
    /// The log reached [`INDEX_MAX`](crate::INDEX_MAX): it takes no more entries. Only a
    /// forged or corrupt snapshot can bring a log there; nothing was appended.
    #[error("the log is full: its last index {last_index} is at the ceiling")]
    LogFull {
        /// The log's last index.
        last_index: crate::Index,
    },
    /// An earlier storage failure left the node in an unknown state; rebuild it from
    /// its log.
    #[error("the node failed earlier on a storage error and accepts no more events")]
    Failed,
}

/// What kind of storage failure an [`Error::Storage`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// Reading or writing failed (an I/O error, a full disk): the data may be fine;
    /// retrying after the cause is fixed may work.
    Io,
    /// What storage holds is damaged or contradicts itself (a checksum, a hard state
    /// past the log, a missing entry): repair or rebuild the node's data.
    Corrupt,
    /// A read or write broke the [`RaftLog`](crate::RaftLog) contract (a gap or an
    /// overlap refused, entries claimed but not returned): a bug in the log or in
    /// whoever drives it.
    Contract,
    /// Anything else, or a storage that did not say.
    Other,
}

/// The error a [`RaftLog`](crate::RaftLog) reported, kept inside [`Error::Storage`]
/// so a caller can inspect it (`downcast_ref`) instead of parsing text.
///
/// Two sources compare equal when they display the same text.
#[derive(Clone)]
pub struct StorageSource(Arc<dyn core::error::Error + Send + Sync + 'static>);

impl StorageSource {
    /// Wraps a storage error.
    pub fn new(error: impl core::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// The storage's error, to `downcast_ref` to its own type.
    pub fn get(&self) -> &(dyn core::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl core::fmt::Debug for StorageSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&*self.0, f)
    }
}

impl core::fmt::Display for StorageSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&*self.0, f)
    }
}

impl core::error::Error for StorageSource {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for StorageSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || alloc::format!("{}", self.0) == alloc::format!("{}", other.0)
    }
}

impl Eq for StorageSource {}

impl Error {
    /// A [`Error::Storage`] of kind [`StorageErrorKind::Other`] from any displayable
    /// cause, with no source kept.
    pub fn storage(context: &'static str, cause: impl core::fmt::Display) -> Self {
        Self::storage_of_kind(context, StorageErrorKind::Other, cause)
    }

    /// A [`Error::Storage`] of the given kind from any displayable cause, with no
    /// source kept.
    pub fn storage_of_kind(
        context: &'static str,
        kind: StorageErrorKind,
        cause: impl core::fmt::Display,
    ) -> Self {
        Error::Storage {
            context,
            kind,
            detail: alloc::format!("{cause}"),
            source: None,
        }
    }

    /// A [`Error::Storage`] that keeps the storage's own error as its source.
    ///
    /// ```
    /// use raft_core::{Error, StorageErrorKind};
    ///
    /// #[derive(Debug)]
    /// struct DiskError;
    /// impl core::fmt::Display for DiskError {
    ///     fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
    ///         f.write_str("sector 7 unreadable")
    ///     }
    /// }
    /// impl std::error::Error for DiskError {}
    ///
    /// let error = Error::from_storage("syncing", StorageErrorKind::Io, DiskError);
    /// assert_eq!(error.storage_kind(), Some(StorageErrorKind::Io));
    /// assert!(error.storage_source().unwrap().downcast_ref::<DiskError>().is_some());
    /// ```
    pub fn from_storage(
        context: &'static str,
        kind: StorageErrorKind,
        source: impl core::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Storage {
            context,
            kind,
            detail: alloc::format!("{source}"),
            source: Some(StorageSource::new(source)),
        }
    }

    /// The kind of a [`Error::Storage`]; `None` for every other variant.
    pub fn storage_kind(&self) -> Option<StorageErrorKind> {
        match self {
            Error::Storage { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The storage's own error inside a [`Error::Storage`], if it gave one.
    pub fn storage_source(&self) -> Option<&(dyn core::error::Error + Send + Sync + 'static)> {
        match self {
            Error::Storage {
                source: Some(source),
                ..
            } => Some(source.get()),
            _ => None,
        }
    }

    /// A [`Error::Encoding`] from any displayable cause.
    pub fn encoding(context: &'static str, source: impl core::fmt::Display) -> Self {
        Error::Encoding {
            context,
            detail: alloc::format!("{source}"),
        }
    }

    /// Whether retrying the same request later (possibly elsewhere) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::NotLeader { .. }
                | Error::TransferInProgress { .. }
                | Error::LimitExceeded { .. }
        )
    }

    /// Whether the node that returned it can no longer be driven.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Storage { .. } | Error::Failed)
    }
}
