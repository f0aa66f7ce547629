//! What goes into and comes out of [`RaftNode::step`](crate::RaftNode::step).

use alloc::vec::Vec;

use bytes::Bytes;

use crate::config_change::ConfigChange;
use crate::membership::{Membership, MembershipChange};
use crate::message::Message;
use crate::types::{Index, NodeId, Term};

/// An input handed to [`RaftNode::step`](crate::RaftNode::step).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// One logical tick: drives election timeouts, heartbeats and check-quorum.
    Tick,
    /// A message from a peer.
    Message(Message),
    /// One client command; the leader appends it as one entry. Converting the `Vec`
    /// into the entry's shared buffer does not copy it.
    Propose(Vec<u8>),
    /// Several client commands appended as one batch: one log append, one sync and
    /// one AppendEntries per follower for the lot.
    ProposeBatch(Vec<Bytes>),
    /// Leader only: hand leadership to the voter `target` (Raft thesis §3.10). The
    /// leader stops taking proposals, brings the target up to date, then tells it to
    /// campaign at once (`TimeoutNow`). If the target has not taken over within the
    /// minimum election timeout, the transfer is abandoned and proposals resume.
    TransferLeadership(NodeId),
    /// Leader only: a linearizable read (ReadIndex, Raft thesis §6.4). The leader
    /// records its commit index, confirms it still leads with one round of messages to
    /// a quorum (or, with lease reads on and the lease valid, at once), then returns
    /// [`Action::ReadReady`] carrying `context`. A new leader answers only once it
    /// knows its commit index is current.
    ReadIndex(Bytes),
    /// Leader only: one single-server membership change. It is appended as a
    /// configuration entry and takes effect at once; at most one may be uncommitted,
    /// and a leader first commits an entry of its own term (it appends a no-op if
    /// needed and holds the change until then).
    ChangeMembership(MembershipChange),
    /// Leader only: a membership change of any size (Raft thesis §4.3; see
    /// [`ConfigChange`]). A change of voters appends the joint configuration
    /// `C_old,new`, which needs a majority of both the old and the new voters for every
    /// decision, and then (once it commits) `C_new`. Refused while another change is
    /// uncommitted or a joint configuration is in force (except
    /// [`ConfigChange::leave_joint`]), or when its guard names a configuration no longer
    /// in force. Like [`Event::ChangeMembership`], a leader first commits an entry of
    /// its own term and holds the change until then.
    ChangeConfig(ConfigChange),
    /// The driver has handed to the network the messages that came before
    /// [`Action::SyncLog`]: the node now syncs its log and counts the leader's own
    /// copy of the new entries (see
    /// [`RaftConfig::with_deferred_leader_sync`](crate::RaftConfig::with_deferred_leader_sync)).
    /// Harmless at any other time.
    SyncLog,
    /// The application has captured its state machine through `index` (which it has
    /// applied) as `data`. The node records the snapshot in its log and compacts the
    /// entries it covers; a follower that later needs them is sent the snapshot.
    /// Ignored unless `index` is above the current snapshot and at most the last
    /// applied index.
    Snapshot {
        /// The last applied index the data covers.
        index: Index,
        /// The state machine's serialized state.
        data: Bytes,
    },
}

impl From<Message> for Event {
    fn from(message: Message) -> Self {
        Event::Message(message)
    }
}

/// An instruction [`RaftNode::step`](crate::RaftNode::step) returns for the caller to
/// carry out, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Deliver `message` to node `to` (for example through a
    /// [`RaftTransport`](crate::RaftTransport)). Everything it depends on is already
    /// durable.
    Send {
        /// The recipient.
        to: NodeId,
        /// The message.
        message: Message,
    },
    /// Apply a committed command to the state machine. Indices strictly increase and
    /// each comes once per node lifetime; no-op entries are skipped, so indices may
    /// jump.
    Apply {
        /// The entry's index.
        index: Index,
        /// The entry's term.
        term: Term,
        /// The command, sharing the log's buffer.
        command: Bytes,
    },
    /// A read asked with [`Event::ReadIndex`] may run: it is linearizable once the
    /// state machine has applied `index`.
    ReadReady {
        /// Apply up to here, then read.
        index: Index,
        /// The caller's context from the request.
        context: Bytes,
    },
    /// A read asked with [`Event::ReadIndex`] was dropped because this node stopped
    /// leading before confirming it; retry on the new leader.
    ReadDropped {
        /// The caller's context from the request.
        context: Bytes,
    },
    /// The configuration this node follows changed (a configuration entry was appended,
    /// or truncated away).
    MembershipChanged {
        /// The new membership.
        membership: Membership,
    },
    /// A change accepted by [`Event::ChangeMembership`] and held until the leader had
    /// committed an entry of its own term was abandoned: the node stopped leading
    /// first, or the change no longer applied once it could go in (a learner to
    /// promote fell behind, say). Nothing was appended; ask the current leader again.
    MembershipChangeDropped {
        /// The change.
        change: MembershipChange,
    },
    /// This node had lost entries to a damaged disk ([`RaftLog::repair_mark`](crate::RaftLog::repair_mark))
    /// and a leader has now sent it its log through `through`: it votes again. Log it;
    /// nothing else to do.
    Repaired {
        /// The repair mark that was cleared.
        through: Index,
    },
    /// A configuration that leaves this node out has committed (through `index`): it
    /// was removed from the cluster. It no longer campaigns or counts toward any
    /// quorum; the driver may shut it down. Reported once, when this node learns the
    /// commit; a node that is down or cut off when its removal commits may not learn
    /// it (it stays quiet anyway).
    Removed {
        /// The commit index at which this node learned of its removal.
        index: Index,
    },
    /// A change accepted by [`Event::ChangeConfig`] and held until the leader had
    /// committed an entry of its own term was abandoned, as with
    /// [`Action::MembershipChangeDropped`]. Nothing was appended.
    ConfigChangeDropped {
        /// The change.
        change: ConfigChange,
    },
    /// Only with
    /// [`RaftConfig::with_deferred_leader_sync`](crate::RaftConfig::with_deferred_leader_sync):
    /// the leader's new entries are not synced yet. Carry out the sends before this
    /// action, then step [`Event::SyncLog`] (for example once the remaining actions of
    /// this step are done). Until then the leader does not count its own copy.
    SyncLog,
    /// Replace the state machine with this snapshot (installed from the leader, or
    /// found in the log at start-up): it holds everything through `index`; applies
    /// continue after it.
    RestoreSnapshot {
        /// The last entry the snapshot covers.
        index: Index,
        /// That entry's term.
        term: Term,
        /// The state machine's serialized state.
        data: Bytes,
    },
}
