//! `Status`: a point-in-time view of a node for dashboards, health checks and tests.

use alloc::vec::Vec;

use crate::membership::Membership;
use crate::types::{Index, NodeId, RepairMark, Role, Term};

/// What [`RaftNode::status`](crate::RaftNode::status) reports: one consistent snapshot
/// of the node, taken between steps.
///
/// ```
/// use raft_core::{Event, RaftConfig, RaftNode, Role};
///
/// let mut node = RaftNode::new(RaftConfig::single(1));
/// while !node.is_leader() {
///     let _ = node.step(Event::Tick).unwrap();
/// }
/// let _ = node.step(Event::Propose(b"x".to_vec())).unwrap();
/// let status = node.status();
/// assert_eq!(status.role, Role::Leader);
/// assert_eq!((status.commit_index, status.last_applied), (1, 1));
/// assert!(status.peers.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Its role (a pre-candidate reports `Follower`).
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// The leader it knows of (itself when leading).
    pub leader: Option<NodeId>,
    /// The highest index known committed.
    pub commit_index: Index,
    /// The highest index handed to the application.
    pub last_applied: Index,
    /// The last index in its log.
    pub last_index: Index,
    /// The configuration in force.
    pub membership: Membership,
    /// The index of the configuration in force ([`RaftNode::config_index`](crate::RaftNode::config_index)).
    pub config_index: Index,
    /// Leader only: every other member's replication, sorted by id; empty otherwise.
    pub peers: Vec<PeerStatus>,
    /// Leader only: reads waiting for a confirmation round or for a commit index of
    /// this term.
    pub pending_reads: usize,
    /// Leader only: the node leadership is being handed to.
    pub transfer_target: Option<NodeId>,
    /// Ticks this node has seen since it started.
    pub ticks: u64,
    /// `Some` while this node repairs entries a damaged disk lost (it does not
    /// campaign, and votes only for logs at least as up to date as the mark, until a
    /// leader has sent it its log through the mark).
    pub repair: Option<RepairMark>,
    /// Leader only: bytes of proposals appended in this term and not yet committed
    /// (bounded by [`RaftConfig::with_uncommitted_bytes_max`](crate::RaftConfig::with_uncommitted_bytes_max)).
    pub uncommitted_bytes: u64,
}

impl Status {
    /// The index a repairing node must get back from a leader, if it is repairing.
    pub fn repair_through(&self) -> Option<Index> {
        self.repair.map(|mark| mark.through)
    }
}

/// How the leader replicates to one peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerReplication {
    /// The match point is unknown: one AppendEntries at a time.
    Probe,
    /// The match point is known: AppendEntries are pipelined.
    Replicate,
    /// The peer needs compacted entries: a snapshot is being sent.
    Snapshot,
}

/// The leader's view of one peer (voter or learner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStatus {
    /// The peer.
    pub id: NodeId,
    /// Whether it votes (else a learner).
    pub voter: bool,
    /// The highest index known to match the leader's log.
    pub match_index: Index,
    /// The next index the leader will send.
    pub next_index: Index,
    /// How the leader replicates to it.
    pub replication: PeerReplication,
    /// AppendEntries with entries sent and not yet acknowledged.
    pub appends_in_flight: usize,
    /// Ticks since it last answered in this term; `None` if it has not.
    pub heard_ticks_ago: Option<u64>,
}
