//! The small value types of the protocol: identifiers, roles, log entries, hard state.

use bytes::Bytes;

use crate::membership::Membership;

/// Identifies a node. Opaque to the protocol; must be unique and stable per node.
pub type NodeId = u64;

/// A Raft term. Term 0 is "before any election".
pub type Term = u64;

/// Which life of a node's durable state a node runs as (docs/RECOVERY.md, rule 2). A
/// data directory is given one when it is created (0 for a founding member or a node
/// added by an operator, a fresh random one for a node whose state was lost); the
/// configuration names each member's, and votes, acknowledgements and read
/// confirmations count only from the named one. A node that lost its vote comes back
/// as a new incarnation, which never voted before.
pub type Incarnation = u64;

/// A 1-based log index. Index 0 is the sentinel "before the log" whose term is 0.
pub type Index = u64;

/// The highest term a node adopts or campaigns in: 2^63.
///
/// A message carrying a larger term is refused as
/// [`Error::InvalidMessage`](crate::Error::InvalidMessage), so no frame, forged or
/// corrupt, can move a node to a term after which no election is possible. A cluster
/// that held one election per millisecond would reach it in 292 million years.
pub const TERM_MAX: Term = 1 << 63;

/// How far one message may move a node's term forward: 2^32.
///
/// A message whose term is more than this above the receiver's is refused as
/// [`Error::InvalidMessage`](crate::Error::InvalidMessage). Terms grow by one per
/// election, so only a corrupt or forged frame jumps this far; with the bound, burning
/// the term space up to [`TERM_MAX`] takes billions of frames rather than one.
pub const TERM_ADVANCE_MAX: Term = 1 << 32;

/// The highest log index a node stores or accepts in a message: 2^63.
///
/// Every index a message carries is checked against it before any arithmetic, so
/// `index + 1` never overflows anywhere in the core; a proposal that would pass it is
/// refused with [`Error::LogFull`](crate::Error::LogFull).
pub const INDEX_MAX: Index = 1 << 63;

/// The role a node currently plays.
///
/// A node running a pre-vote round reports [`Role::Follower`]: a pre-vote changes no
/// durable state and does not make the node a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Role {
    /// Follows a leader (or waits for one) and answers RPCs.
    Follower,
    /// Has started an election in its current term and is collecting votes.
    Candidate,
    /// Won the election of its current term; replicates its log to the others.
    Leader,
}

/// What a [`LogEntry`] carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum EntryKind {
    /// An application command, applied through [`Action::Apply`](crate::Action::Apply).
    #[default]
    Normal,
    /// An empty entry a new leader appends to commit entries of earlier terms
    /// (Raft §5.4.2). Never handed to the application.
    Noop,
    /// A new cluster membership ([`Membership::encode`](crate::Membership::encode) in the
    /// command). It takes effect when appended; never handed to the application, which
    /// sees [`Action::MembershipChanged`](crate::Action::MembershipChanged) instead.
    Config,
}

/// A single entry in the replicated log.
///
/// `command` is a reference-counted buffer: cloning an entry (into a follower's
/// AppendEntries, into an apply action) never copies the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LogEntry {
    /// The term in which a leader created this entry.
    pub term: Term,
    /// The position of this entry in the log (1-based).
    pub index: Index,
    /// What the entry carries.
    pub kind: EntryKind,
    /// The application command (empty for a no-op).
    pub command: Bytes,
}

impl LogEntry {
    /// A [`EntryKind::Normal`] entry carrying `command`.
    ///
    /// ```
    /// use raft_core::{EntryKind, LogEntry};
    /// let entry = LogEntry::new(2, 7, b"set x = 1".to_vec());
    /// assert_eq!((entry.term, entry.index, entry.kind), (2, 7, EntryKind::Normal));
    /// ```
    pub fn new(term: Term, index: Index, command: impl Into<Bytes>) -> Self {
        Self {
            term,
            index,
            kind: EntryKind::Normal,
            command: command.into(),
        }
    }

    /// An empty [`EntryKind::Noop`] entry.
    pub fn noop(term: Term, index: Index) -> Self {
        Self {
            term,
            index,
            kind: EntryKind::Noop,
            command: Bytes::new(),
        }
    }
}

/// The state Raft must persist before answering any RPC.
///
/// `term` and `voted_for` are what safety needs; `commit_index` is recorded so a
/// restarted node knows at once how much of its log is committed (it is never
/// required for safety and may lag behind the real commit index).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub voted_for: Option<NodeId>,
    /// The highest index this node knew to be committed when it wrote this state.
    pub commit_index: Index,
}

/// What a log that lost synced entries to a damaged disk may have held before the
/// damage (docs/RECOVERY.md, rule 1): entries up to index `through`, none of a term
/// above `term`. While a node holds a mark it may have acknowledged entries it no
/// longer has, so it never campaigns and votes only for logs at least as up to date as
/// `(term, through)`.
///
/// ```
/// use raft_core::RepairMark;
/// let mark = RepairMark { through: 12, term: 3 };
/// assert!(mark.allows_vote(3, 12) && mark.allows_vote(4, 1));
/// assert!(!mark.allows_vote(3, 11) && !mark.allows_vote(2, 50));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RepairMark {
    /// The highest index the damaged log may have held (an upper bound).
    pub through: Index,
    /// An upper bound of its entries' terms: the node's term when the damage was found.
    pub term: Term,
}

impl RepairMark {
    /// Whether a candidate whose log ends at (`last_log_term`, `last_log_index`) is at
    /// least as up to date (§5.4.1) as any log the damaged one could have been: the
    /// vote the node would have given with its log intact, so Leader Completeness
    /// holds as in the paper.
    pub fn allows_vote(&self, last_log_term: Term, last_log_index: Index) -> bool {
        (last_log_term, last_log_index) >= (self.term, self.through)
    }
}

/// A point-in-time capture of the application's state machine: everything up to and
/// including `index` (whose term is `term`), under the configuration `membership`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    /// The last entry the snapshot covers.
    pub index: Index,
    /// That entry's term.
    pub term: Term,
    /// The configuration in force at `index`.
    pub membership: Membership,
    /// The application's state, opaque to Raft.
    pub data: Bytes,
}
