//! The one error type of the crate.

use alloc::string::String;

use crate::types::NodeId;

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
    /// The [`RaftLog`](crate::RaftLog) failed.
    #[error("log storage error while {context}: {detail}")]
    Storage {
        /// What the node was doing.
        context: &'static str,
        /// What the storage reported.
        detail: String,
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

impl Error {
    /// A [`Error::Storage`] from any displayable cause.
    pub fn storage(context: &'static str, source: impl core::fmt::Display) -> Self {
        Error::Storage {
            context,
            detail: alloc::format!("{source}"),
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
