//! The consensus state machine: the node, its step loop and its durability barrier.
//! Each protocol area lives in a file of its own under `node/`.

mod confchange;
mod election;
mod follower;
mod leader;
mod persist;
mod propose;
mod reads;
mod receive;
mod restore;
mod snapshot;
mod tick;
mod transfer;
mod validate;

use confchange::ChangeRequest;

use crate::arena::CommandArena;

use alloc::vec::Vec;

use bytes::Bytes;

use crate::config::RaftConfig;
use crate::config_change::ConfigChange;
use crate::config_log::ConfigLog;
use crate::error::{Error, Result, StorageErrorKind};
use crate::event::{Action, Event};
use crate::instrument::{debug, info};
use crate::log::RaftLog;
use crate::membership::{Membership, MembershipChange};
use crate::memory_log::MemoryLog;
use crate::message::{
    AppendEntries, AppendEntriesReply, InstallSnapshot, InstallSnapshotReply, Message, PreVote,
    PreVoteReply, ReadConfirm, ReadConfirmReply, ReadIndexReply, ReadIndexRequest, RequestVote,
    RequestVoteReply, TimeoutNow,
};
use crate::mutants::Mutant;
use crate::progress::{Progress, ReplicationState};
use crate::quorum::{Quorum, VoteResult};
use crate::read_only::ReadOnly;
use crate::snapshot_receiver::{Chunk, SnapshotReceiver};
use crate::status::{PeerReplication, PeerStatus, Status};
use crate::sync_state::SyncState;
use crate::timers::Timers;
use crate::types::{
    EntryKind, HardState, INDEX_MAX, Incarnation, Index, LogEntry, NodeId, RepairMark, Role,
    Snapshot, TERM_ADVANCE_MAX, TERM_MAX, Term,
};
use crate::uncommitted::Uncommitted;

/// The internal role: [`Role`] plus the pre-vote stage, which users see as a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// A leadership transfer under way on the leader.
#[derive(Clone, Copy, Debug)]
struct Transfer {
    target: NodeId,
    /// Ticks since it began; abandoned at the minimum election timeout.
    elapsed: u32,
    /// A leader removed from the configuration handing over: it steps down when the
    /// transfer is abandoned.
    leaving: bool,
}

/// A node in a Raft cluster: the deterministic consensus state machine.
///
/// Feed it [`Event`]s with [`RaftNode::step`]; carry out the [`Action`]s it returns in
/// order (send the messages, apply the commands). It reads no clock and does no I/O
/// except through its [`RaftLog`], so the same configuration, seed and events always
/// give the same actions.
///
/// ```
/// use raft_core::{Action, Event, RaftConfig, RaftNode, Role};
/// let mut node = RaftNode::new(RaftConfig::single(7));
/// while node.role() != Role::Leader {
///     node.step(Event::Tick).unwrap();
/// }
/// let actions = node.step(Event::Propose(b"hello".to_vec())).unwrap();
/// assert_eq!(
///     actions,
///     vec![Action::Apply { index: 1, term: node.term(), command: "hello".into() }]
/// );
/// ```
pub struct RaftNode<L: RaftLog = MemoryLog> {
    config: RaftConfig,
    log: L,
    /// Ticks, the randomised election timeout, heartbeats, check-quorum rounds.
    timers: Timers,
    state: State,
    term: Term,
    voted_for: Option<NodeId>,
    leader: Option<NodeId>,
    // Invariant: last_applied <= commit_index <= log.last_index(); both only grow.
    commit_index: Index,
    last_applied: Index,
    /// Answers received in the current (pre-)election, first answer per voter wins.
    votes: Vec<(NodeId, bool)>,
    /// The configuration in force (`config_log.current()`, kept here as a copy so a
    /// change can be noticed and reported).
    membership: Membership,
    /// Every configuration by index: the base below the log and each entry in it.
    config_log: ConfigLog,
    /// Leader only: a change held until an entry of this term commits.
    queued_change: Option<alloc::boxed::Box<ChangeRequest>>,
    /// Leader only: a member that answered as an incarnation the configuration does
    /// not name (it lost its durable state), to be named by the next change
    /// (docs/RECOVERY.md, rule 2).
    rejoin: Option<(NodeId, Incarnation)>,
    /// Follower: a snapshot being received.
    snapshot_receiver: SnapshotReceiver,
    /// A snapshot found in the log at start-up that the application must restore,
    /// reported with the first step.
    pending_restore: Option<alloc::boxed::Box<Snapshot>>,
    /// Leader only: a leadership transfer under way.
    transfer: Option<Transfer>,
    /// Leader only: read rounds, the reads waiting on them, the lease; reads a
    /// step-down dropped, reported at the end of the step.
    reads: ReadOnly,
    /// A held membership change abandoned by a step-down, reported at the end of the
    /// step.
    dropped_change: Option<alloc::boxed::Box<ChangeRequest>>,
    /// Leader only: one entry per other member (voters and learners), sorted by id.
    progress: Vec<Progress>,
    /// What was handed to the log and what of it is durable (only a leader's
    /// deferred proposals outlive the step that wrote them).
    sync: SyncState,
    /// Async persistence: messages waiting for the sync of what they depend on.
    held: Vec<Action>,
    /// Leader only: proposals appended in this term and not yet committed.
    uncommitted: Uncommitted,
    /// The log broke its contract in a place that cannot return an error (it claimed
    /// entries it then did not return); the step fails with this storage error.
    log_fault: Option<alloc::boxed::Box<Error>>,
    failed: bool,
    scratch: Vec<Index>,
    /// Follower: the highest match index this node has reported, with the term and
    /// leader it reported it to (a commit notice below it needs no answer).
    reported_match: Option<(Term, NodeId, Index)>,
    /// Leader: the chunk small proposed commands are copied into (no allocation per
    /// entry).
    arena: CommandArena,
}

impl RaftNode<MemoryLog> {
    /// A fresh node with an empty in-memory log.
    ///
    /// # Panics
    /// If `config` fails [`RaftConfig::validate`]; use [`RaftNode::try_new`] to get the
    /// error instead. The configurations [`RaftConfig::new`] and [`RaftConfig::single`]
    /// build are always valid.
    #[inline]
    pub fn new(config: RaftConfig) -> Self {
        Self::with_log(config, MemoryLog::new())
    }

    /// Like [`RaftNode::new`], returning a bad configuration as an error.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] from [`RaftConfig::validate`].
    pub fn try_new(config: RaftConfig) -> Result<Self> {
        Self::try_with_log(config, MemoryLog::new())
    }
}

impl<L: RaftLog> RaftNode<L> {
    /// A node restored from `log`: its term, vote, commit index and entries. Nothing is
    /// re-sent; committed entries past [`RaftConfig::applied_index`] are applied again
    /// from the next step on.
    ///
    /// # Panics
    /// If [`RaftNode::try_with_log`] fails.
    #[inline]
    pub fn with_log(config: RaftConfig, log: L) -> Self {
        match Self::try_with_log(config, log) {
            Ok(node) => node,
            Err(error) => panic!("cannot build a RaftNode: {error}"),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id()
    }

    /// The role this node currently plays (a pre-vote round counts as follower).
    pub fn role(&self) -> Role {
        match self.state {
            State::Follower | State::PreCandidate => Role::Follower,
            State::Candidate => Role::Candidate,
            State::Leader => Role::Leader,
        }
    }

    /// Whether this node is the leader of its current term.
    pub fn is_leader(&self) -> bool {
        self.state == State::Leader
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The vote cast in the current term.
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }

    /// The leader of the current term, if known (this node when it leads).
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Whether a simulation switched on `mutant` (feature `mutants`); a constant
    /// `false` otherwise.
    #[inline(always)]
    fn mutated(&self, mutant: Mutant) -> bool {
        self.config.mutant() == Some(mutant)
    }

    /// The highest index known to be committed. Never decreases.
    pub fn commit_index(&self) -> Index {
        self.commit_index
    }

    /// The highest index handed out as [`Action::Apply`] (or restored as applied).
    pub fn last_applied(&self) -> Index {
        self.last_applied
    }

    /// The voters of the configuration in force, sorted.
    pub fn members(&self) -> &[NodeId] {
        self.membership.voters()
    }

    /// The configuration in force: voters and learners.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The configuration this node runs with.
    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    /// Read-only access to the log.
    pub fn log(&self) -> &L {
        &self.log
    }

    /// Gives the log back, for example to restart a node from it.
    pub fn into_log(self) -> L {
        self.log
    }

    /// Leader only: the highest index known to be stored on `peer`.
    pub fn match_index(&self, peer: NodeId) -> Option<Index> {
        self.progress_position(peer)
            .map(|position| self.progress[position].match_index)
    }

    /// A snapshot of the node: role, term, indexes, membership and (on a leader) every
    /// peer's replication. See [`Status`].
    pub fn status(&self) -> Status {
        let now = self.timers.ticks();
        let peers = self
            .progress
            .iter()
            .map(|progress| PeerStatus {
                id: progress.id,
                voter: self.membership.is_voter(progress.id),
                match_index: progress.match_index,
                next_index: progress.next_index,
                replication: match progress.state {
                    ReplicationState::Probe => PeerReplication::Probe,
                    ReplicationState::Replicate => PeerReplication::Replicate,
                    ReplicationState::Snapshot => PeerReplication::Snapshot,
                },
                appends_in_flight: progress.inflight_count(),
                heard_ticks_ago: progress
                    .last_heard_tick()
                    .map(|tick| now.saturating_sub(tick)),
            })
            .collect();
        let (waiting_for_round, waiting_for_ready, forwarded) = self.reads.held();
        Status {
            id: self.id(),
            role: self.role(),
            term: self.term,
            leader: self.leader,
            commit_index: self.commit_index,
            last_applied: self.last_applied,
            last_index: self.log.last_index(),
            membership: self.membership.clone(),
            config_index: self.config_index(),
            peers,
            pending_reads: waiting_for_round + waiting_for_ready + forwarded,
            transfer_target: self.transfer.map(|transfer| transfer.target),
            repair: self.log.repair_mark(),
            uncommitted_bytes: self.uncommitted.bytes(),
            ticks: now,
        }
    }

    /// Leader only: AppendEntries sent to `peer` and not yet acknowledged.
    pub fn inflight_appends(&self, peer: NodeId) -> Option<usize> {
        self.progress_position(peer)
            .map(|position| self.progress[position].inflight_count())
    }

    /// Handles one event and returns the actions to carry out, in order.
    ///
    /// Every write the returned messages depend on (term, vote, entries) has reached
    /// the log and one [`RaftLog::sync`] before this returns.
    ///
    /// # Errors
    /// - [`Error::NotLeader`] for a proposal to a node that is not the leader.
    /// - [`Error::InvalidMessage`] / [`Error::UnknownNode`] for a message that breaks
    ///   the protocol or comes from outside the configuration; it is ignored.
    /// - [`Error::Storage`] when the log fails; the node then returns [`Error::Failed`]
    ///   for every later event and must be rebuilt from its log.
    pub fn step(&mut self, event: Event) -> Result<Vec<Action>> {
        let mut actions = Vec::new();
        self.step_into(event, &mut actions)?;
        Ok(actions)
    }

    /// Like [`RaftNode::step`], but appends the actions to `actions` so a hot loop can
    /// reuse one buffer. On error nothing is appended.
    ///
    /// # Errors
    /// As [`RaftNode::step`].
    #[inline]
    pub fn step_into(&mut self, event: Event, actions: &mut Vec<Action>) -> Result<()> {
        // The most frequent step, a tick with nothing to do, is decided here, inlined
        // into the caller: no call, no frame for the full step.
        if matches!(event, Event::Tick) && !self.failed && self.quiet_tick() {
            // (A tick owns nothing, so there is nothing to drop: no call to the drop
            // glue of every event kind.)
            core::mem::forget(event);
            return Ok(());
        }
        self.step_full(event, actions)
    }

    /// Any step but a quiet tick.
    fn step_full(&mut self, event: Event, actions: &mut Vec<Action>) -> Result<()> {
        if self.failed {
            return Err(Error::Failed);
        }
        let mark = actions.len();
        #[cfg(feature = "tracing")]
        let _span = tracing::info_span!(
            "step",
            node = self.config.id(),
            term = self.term,
            role = ?self.role()
        )
        .entered();
        // A snapshot found at start-up is restored before anything else this step does
        // (which may install a newer one).
        let restore = self.pending_restore.take();
        if let Some(snapshot) = &restore {
            actions.push(Action::RestoreSnapshot {
                index: snapshot.index,
                term: snapshot.term,
                data: snapshot.data.clone(),
            });
        }
        let mut result = self
            .dispatch(event, actions)
            .and_then(|()| self.finish_step(actions));
        if let Err(error) = &result {
            actions.truncate(mark);
            self.pending_restore = restore;
            if !error.is_fatal() {
                // A refused message may have been refused after its term was adopted
                // (a leader of a newer term contradicting committed entries): what
                // changed is made durable now, as a successful step would.
                if let Err(fatal) = self.settle_after_error() {
                    result = Err(fatal);
                }
            }
            if result.as_ref().is_err_and(Error::is_fatal) {
                self.failed = true;
            }
        }
        self.check_invariants();
        result
    }

    fn dispatch(&mut self, event: Event, out: &mut Vec<Action>) -> Result<()> {
        match event {
            Event::Tick => self.tick(out),
            Event::Message(message) => self.receive(message, out),
            Event::Propose(command) => {
                self.check_entry_bytes(command.len())?;
                self.check_taking_requests()?;
                let bytes = command.len() as u64;
                let command = self.arena.bytes_of(command);
                self.propose(core::iter::once(command), bytes, out)
            }
            Event::ProposeBatch(mut commands) => {
                let mut bytes = 0u64;
                for command in &commands {
                    self.check_entry_bytes(command.len())?;
                    bytes = bytes.saturating_add(command.len() as u64);
                }
                self.check_taking_requests()?;
                for command in &mut commands {
                    *command = self.arena.share(core::mem::take(command));
                }
                self.propose(commands.into_iter(), bytes, out)
            }
            Event::TransferLeadership(target) => self.transfer_leadership(target, out),
            Event::ReadIndex(context) => self.read_index(context, out),
            Event::ChangeMembership(change) => {
                self.request_change(ChangeRequest::Single(change), out)
            }
            Event::ChangeConfig(change) => self.request_change(ChangeRequest::Config(change), out),
            Event::Snapshot { index, data } => self.take_snapshot(index, data),
            Event::SyncLog => self.sync_log_requested(out),
        }
    }

    /// A leader not handing over its leadership takes proposals and changes.
    ///
    /// # Errors
    /// [`Error::NotLeader`] (with the leader hint) or [`Error::TransferInProgress`].
    fn check_taking_requests(&self) -> Result<()> {
        if self.state != State::Leader {
            return Err(Error::NotLeader {
                leader: self.leader,
            });
        }
        if let Some(transfer) = self.transfer {
            return Err(Error::TransferInProgress {
                target: transfer.target,
            });
        }
        Ok(())
    }

    /// The node's invariants after every step: the O(1) ones in every build, the ones
    /// that walk the followers in debug builds. A failed node is past caring.
    fn check_invariants(&self) {
        if self.failed {
            return;
        }
        assert!(
            self.last_applied <= self.commit_index,
            "applied {} is past commit {}",
            self.last_applied,
            self.commit_index
        );
        assert!(
            self.commit_index <= self.log.last_index(),
            "commit {} is past the last entry {}",
            self.commit_index,
            self.log.last_index()
        );
        assert!(self.log.last_term() <= self.term, "log term past node term");
        assert!(self.term <= TERM_MAX, "term past the ceiling");
        assert_eq!(self.state == State::Leader, self.leader == Some(self.id()));
        // Only a leader carries unsynced writes from one step to the next, and then
        // only with deferred sync on; any role with async persistence, holding back
        // every message that depends on them.
        assert!(
            !self.sync.needs_sync() || self.may_defer_sync() || self.config.async_persistence(),
            "unsynced writes outlived the step"
        );
        assert!(
            self.held.is_empty() || self.sync.holds_answers(),
            "messages held with nothing to wait for"
        );
        assert!(self.sync.needs_sync() || self.sync.durable_index() == self.log.last_index());
        // The votes a step depends on are durable when it returns.
        let persisted = self.sync.persisted();
        assert!(
            persisted.term == self.term && persisted.voted_for == self.voted_for,
            "term or vote not handed to the log"
        );
        let (waiting_for_round, waiting_for_ready, forwarded) = self.reads.held();
        assert!(waiting_for_round <= self.config.pending_reads_max());
        assert!(waiting_for_ready <= self.config.pending_reads_max());
        assert!(forwarded <= self.config.pending_reads_max());
        debug_assert!(self.progress.iter().all(|p| p.match_index < p.next_index
            && p.next_index <= self.log.last_index() + 1
            && p.match_index <= p.sent_index_max()));
    }
}

fn missing(index: Index) -> Error {
    Error::storage_of_kind(
        "reading committed entries to apply",
        StorageErrorKind::Contract,
        alloc::format!("entry {index} is missing"),
    )
}

/// Hands a committed entry to the application; no-ops stay inside the protocol.
fn push_apply(out: &mut Vec<Action>, entry: &LogEntry) {
    if entry.kind == EntryKind::Normal {
        out.push(Action::Apply {
            index: entry.index,
            term: entry.term,
            command: entry.command.clone(),
        });
    }
}

impl<L: RaftLog + core::fmt::Debug> core::fmt::Debug for RaftNode<L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.id())
            .field("role", &self.role())
            .field("term", &self.term)
            .field("leader", &self.leader)
            .field("commit_index", &self.commit_index)
            .field("last_applied", &self.last_applied)
            .field("last_index", &self.log.last_index())
            .finish_non_exhaustive()
    }
}

/// Messages used in the unit tests below and kept private to the crate.
#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn leader_of_one() -> RaftNode {
        let mut node = RaftNode::new(RaftConfig::single(1));
        while !node.is_leader() {
            let _ = node.step(Event::Tick).unwrap();
        }
        node
    }

    // Proves the seed example's promise: a fresh single node's first proposal is index 1.
    #[test]
    fn single_node_first_proposal_is_index_one() {
        let mut node = leader_of_one();
        let actions = node.step(Event::Propose(b"x".to_vec())).unwrap();
        assert_eq!(
            actions,
            vec![Action::Apply {
                index: 1,
                term: 1,
                command: "x".into()
            }]
        );
    }

    // Proves a batch is one append with contiguous indexes.
    #[test]
    fn batch_proposal_appends_contiguously() {
        let mut node = leader_of_one();
        let batch = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        let actions = node.step(Event::ProposeBatch(batch)).unwrap();
        assert_eq!(actions.len(), 2);
        assert_eq!(node.log().last_index(), 2);
        assert_eq!(node.commit_index(), 2);
    }

    // Proves a follower's proposal is refused with the leader hint and changes nothing.
    #[test]
    fn follower_refuses_proposals() {
        let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]));
        let error = node.step(Event::Propose(b"x".to_vec())).unwrap_err();
        assert_eq!(error, Error::NotLeader { leader: None });
        assert_eq!(node.log().last_index(), 0);
    }

    // Proves the binary search over nondecreasing terms finds the last index at or
    // below a term.
    #[test]
    fn last_index_with_term_at_most_searches_terms() {
        let mut node = RaftNode::new(RaftConfig::single(1));
        let terms = [1, 1, 2, 2, 2, 5, 6];
        let entries: Vec<LogEntry> = terms
            .iter()
            .zip(1..)
            .map(|(&t, i)| LogEntry::new(t, i, Bytes::new()))
            .collect();
        node.log.append(&entries).unwrap();
        node.term = 6;
        assert_eq!(node.last_index_with_term_at_most(7, 4), 5);
        assert_eq!(node.last_index_with_term_at_most(7, 0), 0);
        assert_eq!(node.last_index_with_term_at_most(3, 9), 3);
        assert_eq!(node.last_index_with_term_at_most(100, 6), 7);
        assert_eq!(node.last_index_with_term_at_most(7, 1), 2);
    }
}
