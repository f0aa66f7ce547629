//! The consensus state machine.

use alloc::vec::Vec;

use bytes::Bytes;

use crate::config::RaftConfig;
use crate::config_log::ConfigLog;
use crate::error::{Error, Result};
use crate::event::{Action, Event};
use crate::log::RaftLog;
use crate::membership::{Membership, MembershipChange};
use crate::memory_log::MemoryLog;
use crate::message::{
    AppendEntries, AppendEntriesReply, InstallSnapshot, InstallSnapshotReply, Message, PreVote,
    PreVoteReply, ReadConfirm, ReadConfirmReply, RequestVote, RequestVoteReply, TimeoutNow,
};
use crate::progress::{Progress, ReplicationState};
use crate::quorum::{Majority, VoteResult};
use crate::read_only::ReadOnly;
use crate::rng::SplitMix64;
use crate::snapshot_receiver::{Chunk, SnapshotReceiver};
use crate::sync_state::SyncState;
use crate::types::{
    EntryKind, HardState, INDEX_MAX, Index, LogEntry, NodeId, Role, Snapshot, TERM_ADVANCE_MAX,
    TERM_MAX, Term,
};

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
    rng: SplitMix64,
    state: State,
    term: Term,
    voted_for: Option<NodeId>,
    leader: Option<NodeId>,
    // Invariant: last_applied <= commit_index <= log.last_index(); both only grow.
    commit_index: Index,
    last_applied: Index,
    /// Ticks since the last contact with a leader (followers), since the election
    /// started (candidates), since the last check-quorum round (leaders).
    election_elapsed: u32,
    /// This round's randomised election timeout, in `[min, max]`.
    election_timeout: u32,
    heartbeat_elapsed: u32,
    /// Answers received in the current (pre-)election, first answer per voter wins.
    votes: Vec<(NodeId, bool)>,
    /// The configuration in force (`config_log.current()`, kept here as a copy so a
    /// change can be noticed and reported).
    membership: Membership,
    /// Every configuration by index: the base below the log and each entry in it.
    config_log: ConfigLog,
    /// Leader only: a change held until an entry of this term commits.
    queued_change: Option<MembershipChange>,
    /// Follower: a snapshot being received.
    snapshot_receiver: SnapshotReceiver,
    /// A snapshot found in the log at start-up that the application must restore,
    /// reported with the first step.
    pending_restore: Option<Snapshot>,
    /// Leader only: a leadership transfer under way.
    transfer: Option<Transfer>,
    /// Ticks this node has seen; the clock of lease reads.
    ticks: u64,
    /// Leader only: read rounds, the reads waiting on them, the lease; reads a
    /// step-down dropped, reported at the end of the step.
    reads: ReadOnly,
    /// A held membership change abandoned by a step-down, reported at the end of the
    /// step.
    dropped_change: Option<MembershipChange>,
    /// Leader only: one entry per other member (voters and learners), sorted by id.
    progress: Vec<Progress>,
    /// What was handed to the log and what of it is durable (only a leader's
    /// deferred proposals outlive the step that wrote them).
    sync: SyncState,
    /// The log broke its contract in a place that cannot return an error (it claimed
    /// entries it then did not return); the step fails with this storage error.
    log_fault: Option<Error>,
    failed: bool,
    scratch: Vec<Index>,
}

impl RaftNode<MemoryLog> {
    /// A fresh node with an empty in-memory log.
    ///
    /// # Panics
    /// If `config` fails [`RaftConfig::validate`]; use [`RaftNode::try_new`] to get the
    /// error instead. The configurations [`RaftConfig::new`] and [`RaftConfig::single`]
    /// build are always valid.
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
    pub fn with_log(config: RaftConfig, log: L) -> Self {
        match Self::try_with_log(config, log) {
            Ok(node) => node,
            Err(error) => panic!("cannot build a RaftNode: {error}"),
        }
    }

    /// A node restored from `log`, with errors returned rather than panicking.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad configuration or an applied index past the
    /// log; [`Error::Storage`] when the log's hard state contradicts its entries.
    pub fn try_with_log(config: RaftConfig, log: L) -> Result<Self> {
        config.validate()?;
        let hard_state = log.hard_state();
        let last_index = log.last_index();
        if hard_state.commit_index > last_index {
            return Err(Error::storage(
                "restoring the node",
                alloc::format!(
                    "hard state commit index {} is past the last entry {last_index}",
                    hard_state.commit_index
                ),
            ));
        }
        if hard_state.term > TERM_MAX || last_index > INDEX_MAX {
            return Err(Error::storage(
                "restoring the node",
                alloc::format!(
                    "term {} or last index {last_index} is past the ceiling 2^63 (a forged \
                     or corrupt message from a version without the ceiling); no election \
                     is possible from there: wipe this node's data and add it back",
                    hard_state.term
                ),
            ));
        }
        if log.last_term() > hard_state.term {
            return Err(Error::storage(
                "restoring the node",
                alloc::format!(
                    "last entry term {} is past the hard state term {}",
                    log.last_term(),
                    hard_state.term
                ),
            ));
        }
        let applied = config.applied_index();
        if applied > last_index {
            return Err(Error::InvalidConfig {
                field: "applied index",
                reason: alloc::format!("{applied} is past the log's last entry {last_index}"),
            });
        }
        // The snapshot's configuration, then configuration entries in the log, override
        // the initial configuration.
        let snapshot = log.snapshot();
        let snapshot_index = snapshot.as_ref().map_or(0, |snapshot| snapshot.index);
        let base_membership = snapshot.as_ref().map_or_else(
            || config.membership(),
            |snapshot| snapshot.membership.clone(),
        );
        let mut config_log = ConfigLog::new(base_membership);
        for index in snapshot_index + 1..=last_index {
            let Some(entry) = log.entry(index) else {
                return Err(Error::storage(
                    "restoring the node",
                    alloc::format!("entry {index} is missing below the last index {last_index}"),
                ));
            };
            if entry.kind == EntryKind::Config {
                let Some(membership) = Membership::decode(&entry.command) else {
                    return Err(Error::storage(
                        "restoring the node",
                        alloc::format!("configuration entry {index} does not decode"),
                    ));
                };
                config_log.push(index, membership);
            }
        }
        let membership = config_log.current().clone();
        // A state machine behind the snapshot restores from it first.
        let (last_applied, pending_restore) = match snapshot {
            Some(snapshot) if applied < snapshot.index => (snapshot.index, Some(snapshot)),
            _ => (applied, None),
        };
        let pending_reads_max = config.pending_reads_max();
        let mut node = Self {
            membership,
            config_log,
            queued_change: None,
            snapshot_receiver: SnapshotReceiver::default(),
            pending_restore,
            rng: SplitMix64::new(config.seed()),
            config,
            log,
            state: State::Follower,
            term: hard_state.term,
            voted_for: hard_state.voted_for,
            leader: None,
            // An application that applied an entry proves it was committed; so does a
            // snapshot.
            commit_index: hard_state.commit_index.max(last_applied),
            last_applied,
            election_elapsed: 0,
            election_timeout: 0,
            heartbeat_elapsed: 0,
            votes: Vec::new(),
            transfer: None,
            ticks: 0,
            reads: ReadOnly::new(pending_reads_max),
            dropped_change: None,
            progress: Vec::new(),
            sync: SyncState::new(hard_state, last_index),
            log_fault: None,
            failed: false,
            scratch: Vec::new(),
        };
        node.reset_election_timeout();
        Ok(node)
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
    pub fn step_into(&mut self, event: Event, actions: &mut Vec<Action>) -> Result<()> {
        if self.failed {
            return Err(Error::Failed);
        }
        let mark = actions.len();
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

    /// After a refused event: persist a changed term or vote and sync what must not
    /// outlive the step, so the durability invariants hold whatever was refused.
    fn settle_after_error(&mut self) -> Result<()> {
        self.persist_term_and_vote()?;
        if self.sync.must_sync_now(self.may_defer_sync()) {
            self.sync_log()?;
        }
        Ok(())
    }

    /// Whether unsynced proposals may outlive this step: a leader with deferred sync.
    fn may_defer_sync(&self) -> bool {
        self.config.deferred_leader_sync() && self.state == State::Leader
    }

    fn dispatch(&mut self, event: Event, out: &mut Vec<Action>) -> Result<()> {
        match event {
            Event::Tick => self.tick(out),
            Event::Message(message) => self.receive(message, out),
            Event::Propose(command) => {
                self.check_entry_bytes(command.len())?;
                self.propose(core::iter::once(Bytes::from(command)), out)
            }
            Event::ProposeBatch(commands) => {
                for command in &commands {
                    self.check_entry_bytes(command.len())?;
                }
                self.propose(commands.into_iter(), out)
            }
            Event::TransferLeadership(target) => self.transfer_leadership(target, out),
            Event::ReadIndex(context) => self.read_index(context, out),
            Event::ChangeMembership(change) => self.change_membership(change, out),
            Event::Snapshot { index, data } => self.take_snapshot(index, data),
            Event::SyncLog => self.sync_log_requested(out),
        }
    }

    /// Every write to the log goes through here: a changed term or vote is written
    /// first, so a crash in the middle of the step's batch can never keep entries of a
    /// term without the term itself; and the step will sync.
    fn write_log<T>(&mut self, write: impl FnOnce(&mut L) -> Result<T>) -> Result<T> {
        self.persist_term_and_vote()?;
        let written = write(&mut self.log)?;
        // (A refused write, such as an unsupported snapshot, left nothing to sync.)
        self.sync.wrote_required();
        Ok(written)
    }

    /// A leader's append of client proposals: like [`RaftNode::write_log`], but with
    /// deferred leader sync on, the step may return before syncing it (the leader then
    /// does not count its own copy until [`Event::SyncLog`]).
    fn append_proposals<T>(&mut self, write: impl FnOnce(&mut L) -> Result<T>) -> Result<T> {
        if !self.config.deferred_leader_sync() {
            return self.write_log(write);
        }
        self.persist_term_and_vote()?;
        let written = write(&mut self.log)?;
        self.sync.wrote_deferrable();
        Ok(written)
    }

    /// Syncs the log; everything written so far is durable.
    fn sync_log(&mut self) -> Result<()> {
        self.log.sync()?;
        self.sync.synced(self.log.last_index());
        Ok(())
    }

    /// `Event::SyncLog` (or a tick after an unanswered `Action::SyncLog`): sync, then
    /// let the leader count its own copy and tell followers what that committed.
    fn sync_log_requested(&mut self, out: &mut Vec<Action>) -> Result<()> {
        self.sync.request_answered();
        if self.sync.needs_sync() {
            self.sync_log()?;
        }
        if self.maybe_commit() {
            for position in 0..self.progress.len() {
                self.replicate_to(position, out);
            }
        }
        Ok(())
    }

    /// Writes a changed term or vote (before any other write of the step).
    fn persist_term_and_vote(&mut self) -> Result<()> {
        let persisted = self.sync.persisted();
        if self.term != persisted.term || self.voted_for != persisted.voted_for {
            let state = HardState {
                term: self.term,
                voted_for: self.voted_for,
                commit_index: persisted.commit_index,
            };
            self.log.set_hard_state(state)?;
            self.sync.hard_state_written(state);
        }
        Ok(())
    }

    /// Persists what changed, syncs once, then releases the applies the new commit
    /// index allows.
    fn finish_step(&mut self, out: &mut Vec<Action>) -> Result<()> {
        if let Some(fault) = self.log_fault.take() {
            return Err(fault);
        }
        for context in self.reads.take_dropped() {
            out.push(Action::ReadDropped { context });
        }
        if let Some(change) = self.dropped_change.take() {
            out.push(Action::MembershipChangeDropped { change });
        }
        if self.state == State::Leader
            && self.queued_change.is_some()
            && self.log.term_at(self.commit_index) == Some(self.term)
        {
            let change = self.queued_change.take().expect("checked above");
            // Checked when asked; only the learner catch-up can have changed since.
            match self.append_change(change, out) {
                Ok(()) => {}
                Err(error) if error.is_fatal() => return Err(error),
                Err(_) => out.push(Action::MembershipChangeDropped { change }),
            }
        }
        // A leader that removed itself steps down once the change commits.
        let removal_committed = self
            .config_log
            .last_index()
            .is_none_or(|index| index <= self.commit_index);
        if self.state == State::Leader
            && !self.membership.is_voter(self.config.id())
            && removal_committed
        {
            self.become_follower(self.term, None);
        }
        if self.state == State::Leader {
            for context in self.reads.take_unready() {
                self.serve_read(context, out);
            }
        }
        let hard_state = HardState {
            term: self.term,
            voted_for: self.voted_for,
            commit_index: self.commit_index,
        };
        if hard_state != self.sync.persisted() {
            // (The commit index alone needs no barrier: losing it only delays applying.)
            self.log.set_hard_state(hard_state)?;
            self.sync.hard_state_written(hard_state);
        }
        if self.sync.needs_sync() {
            // Only a leader's appended proposals may wait: anything else, and anything
            // unsynced on a node that stopped leading, is synced before it answers.
            if self.sync.must_sync_now(self.may_defer_sync()) {
                self.sync_log()?;
                if self.config.deferred_leader_sync() {
                    // Entries written through `write_log` this step count only now.
                    let _ = self.maybe_commit();
                }
            } else if self.sync.request() {
                out.push(Action::SyncLog);
            }
        }
        if self.last_applied < self.commit_index {
            let (from, to) = (self.last_applied + 1, self.commit_index);
            // A few entries are read one by one, saving the bulk read's buffer.
            const ONE_BY_ONE_MAX: u64 = 4;
            if to - from < ONE_BY_ONE_MAX {
                for index in from..=to {
                    let entry = self.log.entry(index).ok_or_else(|| missing(index))?;
                    push_apply(out, entry);
                }
            } else {
                let entries = self.log.entries(from, to);
                if entries.len() as u64 != to - from + 1 {
                    return Err(missing(from + entries.len() as u64));
                }
                out.reserve(entries.len());
                for entry in entries {
                    push_apply(out, entry);
                }
            }
            self.last_applied = self.commit_index;
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
        // only with deferred sync on.
        assert!(
            !self.sync.needs_sync() || self.may_defer_sync(),
            "unsynced writes outlived the step"
        );
        assert!(self.sync.needs_sync() || self.sync.durable_index() == self.log.last_index());
        // The votes a step depends on are durable when it returns.
        let persisted = self.sync.persisted();
        assert!(
            persisted.term == self.term && persisted.voted_for == self.voted_for,
            "term or vote not handed to the log"
        );
        let (waiting_for_round, waiting_for_ready) = self.reads.held();
        assert!(waiting_for_round <= self.config.pending_reads_max());
        assert!(waiting_for_ready <= self.config.pending_reads_max());
        debug_assert!(self.progress.iter().all(|p| p.match_index < p.next_index
            && p.next_index <= self.log.last_index() + 1
            && p.match_index <= p.sent_index_max()));
    }

    // ----- timers -------------------------------------------------------------------

    fn reset_election_timeout(&mut self) {
        let (min, max) = self.config.election_timeout();
        self.election_timeout = self.rng.in_range(min, max);
    }

    fn tick(&mut self, out: &mut Vec<Action>) -> Result<()> {
        if self.sync.is_requested() {
            // The driver did not step `Event::SyncLog` within a tick: do it now.
            self.sync_log_requested(out)?;
        }
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        self.ticks += 1;
        if self.state != State::Leader {
            if self.election_elapsed >= self.election_timeout {
                self.campaign(out)?;
            }
            return Ok(());
        }
        let (election_min, _) = self.config.election_timeout();
        if let Some(transfer) = self.transfer.as_mut() {
            transfer.elapsed = transfer.elapsed.saturating_add(1);
            if transfer.elapsed >= election_min {
                // The target did not take over in time: abandon, take proposals again.
                self.transfer = None;
            }
        }
        if self.config.check_quorum() && self.election_elapsed >= election_min {
            self.election_elapsed = 0;
            if !self.quorum_recently_active() {
                self.become_follower(self.term, None);
                return Ok(());
            }
            for progress in &mut self.progress {
                progress.recent_active = false;
            }
        }
        self.heartbeat_elapsed = self.heartbeat_elapsed.saturating_add(1);
        if self.heartbeat_elapsed >= self.config.heartbeat_interval() {
            self.heartbeat_elapsed = 0;
            self.heartbeat(out);
        }
        Ok(())
    }

    fn quorum_recently_active(&self) -> bool {
        self.majority().is_active(|voter| {
            voter == self.id()
                || self
                    .progress_position(voter)
                    .is_some_and(|position| self.progress[position].recent_active)
        })
    }

    /// Leader: every heartbeat interval, probe followers whose match point is unknown
    /// or who made no progress (lost messages), and heartbeat the rest.
    fn heartbeat(&mut self, out: &mut Vec<Action>) {
        let last_index = self.log.last_index();
        for position in 0..self.progress.len() {
            let progress = &mut self.progress[position];
            let stalled = progress.state == ReplicationState::Replicate
                && progress.match_index < last_index
                && !progress.progressed;
            progress.progressed = false;
            if stalled {
                let next = progress.match_index + 1;
                progress.become_probe(next);
            }
            if progress.state == ReplicationState::Snapshot {
                // Resend the chunk in flight (it may be lost).
                progress.chunk_sent = false;
                let _ = self.send_append(position, out);
            } else if progress.state == ReplicationState::Probe {
                progress.probe_sent = false;
                let _ = self.send_append(position, out);
            } else {
                self.send_empty_append(position, out);
            }
        }
        // A lost TimeoutNow is sent again with the heartbeat.
        let _ = self.maybe_send_timeout_now(out);
        // Lease reads stay fresh with a confirmation round per heartbeat.
        if self.config.lease_reads().is_some() && self.reads.is_ready() {
            let _ = self.start_read_round(out);
        }
    }

    // ----- elections ----------------------------------------------------------------

    /// A majority of the voters in force: the one quorum every decision asks.
    fn majority(&self) -> Majority<'_> {
        Majority::new(self.membership.voters())
    }

    fn is_voter(&self, node: NodeId) -> bool {
        self.membership.is_voter(node)
    }

    /// Whether this node heard from a live leader recently enough to refuse to help
    /// depose it (leader stickiness, Raft thesis §4.2.3).
    fn in_lease(&self) -> bool {
        let (election_min, _) = self.config.election_timeout();
        // With lease reads, a node that just started may have promised a leader its
        // vote before a crash it does not remember: it waits out one election timeout.
        let just_started =
            self.config.lease_reads().is_some() && self.ticks < u64::from(election_min);
        self.state == State::Leader
            || just_started
            || (self.leader.is_some() && self.election_elapsed < election_min)
    }

    /// The term after `term`, unless it would pass [`TERM_MAX`] (which every node
    /// refuses in messages).
    fn next_term(term: Term) -> Option<Term> {
        term.checked_add(1).filter(|&next| next <= TERM_MAX)
    }

    fn campaign(&mut self, out: &mut Vec<Action>) -> Result<()> {
        self.election_elapsed = 0;
        self.reset_election_timeout();
        if !self.is_voter(self.id()) {
            return Ok(());
        }
        if self.config.pre_vote() {
            self.start_pre_vote(out)
        } else {
            self.start_election(false, out)
        }
    }

    fn start_pre_vote(&mut self, out: &mut Vec<Action>) -> Result<()> {
        let Some(probe_term) = Self::next_term(self.term) else {
            return Ok(());
        };
        self.state = State::PreCandidate;
        self.leader = None;
        self.progress.clear();
        self.votes.clear();
        self.votes.push((self.id(), true));
        let request = PreVote {
            term: probe_term,
            candidate: self.id(),
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        self.send_to_other_voters(&Message::PreVote(request), out);
        self.count_votes(out)
    }

    fn start_election(&mut self, force: bool, out: &mut Vec<Action>) -> Result<()> {
        let Some(term) = Self::next_term(self.term) else {
            return Ok(());
        };
        self.state = State::Candidate;
        self.term = term;
        self.voted_for = Some(self.id());
        self.leader = None;
        self.election_elapsed = 0;
        self.progress.clear();
        self.votes.clear();
        self.votes.push((self.id(), true));
        let request = RequestVote {
            term,
            candidate: self.id(),
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            force,
        };
        self.send_to_other_voters(&Message::RequestVote(request), out);
        self.count_votes(out)
    }

    fn record_vote(&mut self, from: NodeId, granted: bool) {
        if self.is_voter(from) && !self.votes.iter().any(|&(voter, _)| voter == from) {
            self.votes.push((from, granted));
        }
    }

    fn count_votes(&mut self, out: &mut Vec<Action>) -> Result<()> {
        let votes = &self.votes;
        let result = self.majority().vote_result(|voter| {
            votes
                .iter()
                .find(|&&(from, _)| from == voter)
                .map(|&(_, granted)| granted)
        });
        match result {
            VoteResult::Won => match self.state {
                State::PreCandidate => return self.start_election(false, out),
                State::Candidate => return self.become_leader(out),
                State::Follower | State::Leader => {}
            },
            VoteResult::Lost => self.become_follower(self.term, None),
            VoteResult::Pending => {}
        }
        Ok(())
    }

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        assert!(term >= self.term, "terms never go back");
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.state = State::Follower;
        self.leader = leader;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_election_timeout();
        self.votes.clear();
        self.progress.clear();
        self.transfer = None;
        if let Some(change) = self.queued_change.take() {
            self.dropped_change = Some(change);
        }
        self.reads.step_down();
    }

    fn become_leader(&mut self, out: &mut Vec<Action>) -> Result<()> {
        assert_eq!(self.state, State::Candidate);
        self.state = State::Leader;
        self.leader = Some(self.id());
        self.transfer = None;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.votes.clear();
        let next_index = self.log.last_index() + 1;
        // With nothing uncommitted, the commit index is already current (Leader
        // Completeness); otherwise reads wait for an entry of this term to commit.
        self.reads
            .begin_term(self.log.last_index() == self.commit_index);
        self.progress = self
            .membership
            .members()
            .filter(|&member| member != self.config.id())
            .map(|member| Progress::new(member, next_index))
            .collect();
        self.progress.sort_by_key(|progress| progress.id);
        // Entries of earlier terms commit only under an entry of this term (Figure 8):
        // without one, a tail this leader cannot know is committed would wait for the
        // next client proposal. An empty or fully committed log needs none.
        // (A log at the index ceiling takes no more entries, not even this one.)
        if self.log.last_index() > self.commit_index && next_index <= INDEX_MAX {
            let noop = LogEntry::noop(self.term, next_index);
            self.write_log(|log| log.append_owned(alloc::vec![noop]))?;
        }
        let _ = self.maybe_commit();
        for position in 0..self.progress.len() {
            self.replicate_to(position, out);
        }
        Ok(())
    }

    // ----- proposals ----------------------------------------------------------------

    fn propose(
        &mut self,
        commands: impl ExactSizeIterator<Item = Bytes>,
        out: &mut Vec<Action>,
    ) -> Result<()> {
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
        if commands.len() == 0 {
            return Ok(());
        }
        // (Each command's size was checked by the caller, before anything changed.)
        let count = commands.len();
        let first = self.next_indexes(count)?;
        let term = self.term;
        let mut entries = commands.zip(first..).map(|(command, index)| LogEntry {
            term,
            index,
            kind: EntryKind::Normal,
            command,
        });
        if count == 1 {
            // One entry: append from the stack rather than allocating a Vec for it.
            let entry = entries.next().expect("length is one");
            self.append_proposals(|log| log.append(core::slice::from_ref(&entry)))?;
        } else {
            let batch: Vec<LogEntry> = entries.collect();
            self.append_proposals(|log| log.append_owned(batch))?;
        }
        if self.maybe_commit() || !self.progress.is_empty() {
            for position in 0..self.progress.len() {
                self.replicate_to(position, out);
            }
        }
        Ok(())
    }

    /// Every entry must fit one AppendEntries (`entry_bytes_max`): a proposal with a
    /// larger command is refused before anything is appended.
    fn check_entry_bytes(&self, bytes: usize) -> Result<()> {
        let max = self.config.entry_bytes_max();
        if bytes > max {
            return Err(Error::EntryTooLarge { bytes, max });
        }
        Ok(())
    }

    /// The index of the first of `count` new entries, or an error if the last of them
    /// would pass [`INDEX_MAX`].
    fn next_indexes(&self, count: usize) -> Result<Index> {
        let last_index = self.log.last_index();
        let fits = u64::try_from(count)
            .ok()
            .and_then(|count| last_index.checked_add(count))
            .is_some_and(|last| last <= INDEX_MAX);
        if !fits {
            return Err(Error::LogFull { last_index });
        }
        Ok(last_index + 1)
    }

    // ----- linearizable reads -------------------------------------------------------

    fn read_index(&mut self, context: Bytes, out: &mut Vec<Action>) -> Result<()> {
        if self.state != State::Leader {
            return Err(Error::NotLeader {
                leader: self.leader,
            });
        }
        self.reads.admit()?;
        if self.reads.is_ready() {
            self.serve_read(context, out);
        } else {
            self.reads.hold_until_ready(context);
        }
        Ok(())
    }

    fn serve_read(&mut self, context: Bytes, out: &mut Vec<Action>) {
        assert!(self.state == State::Leader && self.reads.is_ready());
        let index = self.commit_index;
        let lease_valid = self.config.lease_reads().is_some()
            && self.transfer.is_none()
            && self.reads.lease_covers(self.ticks);
        if self.majority().is_single() || lease_valid {
            out.push(Action::ReadReady { index, context });
            return;
        }
        let round = self.start_read_round(out);
        self.reads.wait_for_round(context, index, round);
    }

    /// Starts a confirmation round: every voter is asked to acknowledge this leader.
    fn start_read_round(&mut self, out: &mut Vec<Action>) -> u64 {
        let round = self.reads.start_round(self.ticks);
        let message = ReadConfirm {
            term: self.term,
            leader: self.id(),
            round,
        };
        self.send_to_other_voters(&Message::ReadConfirm(message), out);
        round
    }

    fn handle_read_confirm_reply(
        &mut self,
        reply: ReadConfirmReply,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let position = self.follower_position(reply.from)?;
        if reply.round == 0 || reply.round > self.reads.round() {
            return Err(Error::InvalidMessage {
                from: reply.from,
                reason: "answers a read round this leader never started",
            });
        }
        let progress = &mut self.progress[position];
        progress.recent_active = true;
        progress.read_round_acked = progress.read_round_acked.max(reply.round);
        // The highest round a quorum (this leader included) has answered.
        let mut scratch = core::mem::take(&mut self.scratch);
        let confirmed = self.majority().committed_index(
            |voter| {
                if voter == self.id() {
                    self.reads.round()
                } else {
                    self.progress_position(voter)
                        .map_or(0, |p| self.progress[p].read_round_acked)
                }
            },
            &mut scratch,
        );
        self.scratch = scratch;
        // A confirmation holds for the minimum election timeout less the clock drift.
        let (election_min, _) = self.config.election_timeout();
        let lease_ticks = self
            .config
            .lease_reads()
            .map(|drift| u64::from(election_min - drift));
        self.reads.confirm(confirmed, lease_ticks, out);
        Ok(())
    }

    // ----- snapshots ---------------------------------------------------------------

    /// The application captured its state through `index`: record it and compact.
    fn take_snapshot(&mut self, index: Index, data: Bytes) -> Result<()> {
        if index <= self.log.snapshot_index() || index > self.last_applied {
            return Ok(());
        }
        let Some(term) = self.log.term_at(index) else {
            return Err(Error::storage(
                "taking a snapshot",
                alloc::format!("the log has no term for applied entry {index}"),
            ));
        };
        let snapshot = Snapshot {
            index,
            term,
            membership: self.config_log.at(index).clone(),
            data,
        };
        self.write_log(|log| log.save_snapshot(snapshot))?;
        let _ = self.config_log.compact_to(index);
        Ok(())
    }

    /// Sends the next chunk of the snapshot to a follower in `Snapshot` state.
    fn send_snapshot_chunk(&mut self, position: usize, out: &mut Vec<Action>) -> bool {
        let Some(snapshot) = self.log.snapshot() else {
            let next = self.progress[position].match_index + 1;
            self.progress[position].become_probe(next);
            return false;
        };
        let progress = &mut self.progress[position];
        if progress.chunk_sent {
            return false;
        }
        if progress.snapshot_index != snapshot.index {
            // A newer snapshot replaced the one being sent: start over with it.
            progress.become_snapshot(snapshot.index);
        }
        let length = snapshot.data.len();
        let offset = (progress.snapshot_offset as usize).min(length);
        let end = length.min(offset.saturating_add(self.config.snapshot_chunk_bytes_max()));
        progress.chunk_sent = true;
        progress.record_sent(snapshot.index);
        let to = progress.id;
        out.push(Action::Send {
            to,
            message: Message::InstallSnapshot(alloc::boxed::Box::new(InstallSnapshot {
                term: self.term,
                leader: self.config.id(),
                last_included_index: snapshot.index,
                last_included_term: snapshot.term,
                membership: snapshot.membership,
                offset: offset as u64,
                data: snapshot.data.slice(offset..end),
                done: end == length,
            })),
        });
        true
    }

    fn handle_install_snapshot_reply(
        &mut self,
        reply: InstallSnapshotReply,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let position = self.follower_position(reply.from)?;
        if reply.last_included_index > self.progress[position].sent_index_max() {
            return Err(Error::InvalidMessage {
                from: reply.from,
                reason: "answers a snapshot this leader never sent it",
            });
        }
        let progress = &mut self.progress[position];
        progress.recent_active = true;
        if progress.state != ReplicationState::Snapshot
            || progress.snapshot_index != reply.last_included_index
        {
            return Ok(()); // stale
        }
        if reply.done {
            progress.match_index = progress.match_index.max(reply.last_included_index);
            progress.progressed = true;
            let next = reply.last_included_index + 1;
            progress.become_probe(next);
            if self.maybe_commit() {
                for position in 0..self.progress.len() {
                    self.replicate_to(position, out);
                }
            } else {
                self.replicate_to(position, out);
            }
        } else {
            progress.snapshot_offset = reply.next_offset;
            progress.chunk_sent = false;
            let _ = self.send_snapshot_chunk(position, out);
        }
        Ok(())
    }

    /// A follower receives one chunk; on the last, it installs the snapshot.
    fn handle_install_snapshot(
        &mut self,
        request: InstallSnapshot,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let leader = request.leader;
        let reply = |node: &Self, next_offset: u64, done: bool| {
            Message::InstallSnapshotReply(InstallSnapshotReply {
                term: node.term,
                from: node.config.id(),
                last_included_index: request.last_included_index,
                next_offset,
                done,
            })
        };
        if request.last_included_index <= self.commit_index {
            // Everything it covers is already committed here.
            let message = reply(self, 0, true);
            self.send(leader, message, out);
            return Ok(());
        }
        let snapshot = match self
            .snapshot_receiver
            .receive(&request, self.config.snapshot_bytes_max())
        {
            Chunk::Complete(snapshot) => snapshot,
            Chunk::Accepted { received } => {
                let message = reply(self, received, false);
                self.send(leader, message, out);
                return Ok(());
            }
            Chunk::Resume { offset } => {
                // A lost, duplicated or out-of-order chunk: say where to resume.
                let message = reply(self, offset, false);
                self.send(leader, message, out);
                return Ok(());
            }
            Chunk::TooLarge => {
                return Err(Error::LimitExceeded {
                    what: "the incoming snapshot",
                    max: self.config.snapshot_bytes_max(),
                });
            }
        };
        let length = snapshot.data.len() as u64;
        let saved = snapshot.clone();
        self.write_log(|log| log.save_snapshot(saved))?;
        let last_index = self.log.last_index();
        self.config_log
            .install(snapshot.index, snapshot.membership, last_index);
        self.refresh_membership(out);
        self.commit_index = self.commit_index.max(snapshot.index);
        if self.last_applied < snapshot.index {
            self.last_applied = snapshot.index;
            out.push(Action::RestoreSnapshot {
                index: snapshot.index,
                term: snapshot.term,
                data: snapshot.data,
            });
        }
        let message = reply(self, length, true);
        self.send(leader, message, out);
        Ok(())
    }

    // ----- membership --------------------------------------------------------------

    fn change_membership(&mut self, change: MembershipChange, out: &mut Vec<Action>) -> Result<()> {
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
        let in_flight = self
            .config_log
            .last_index()
            .is_some_and(|index| index > self.commit_index);
        if in_flight || self.queued_change.is_some() {
            return Err(Error::ConfigInProgress);
        }
        let _ = self.check_change(change)?;
        if self.log.term_at(self.commit_index) == Some(self.term) {
            return self.append_change(change, out);
        }
        // The 2015 correction: commit an entry of this term first. Hold the change,
        // and append a no-op if this term has no entry yet.
        self.queued_change = Some(change);
        if self.log.last_term() < self.term {
            let noop = LogEntry::noop(self.term, self.next_indexes(1)?);
            self.write_log(|log| log.append(core::slice::from_ref(&noop)))?;
            let _ = self.maybe_commit();
            for position in 0..self.progress.len() {
                self.replicate_to(position, out);
            }
        }
        Ok(())
    }

    /// Whether `change` applies to the configuration in force, learner catch-up
    /// included.
    fn check_change(&self, change: MembershipChange) -> Result<Membership> {
        let node = change.node();
        let next = self
            .membership
            .apply(change)
            .map_err(|reason| Error::InvalidMembershipChange { node, reason })?;
        let promotes = next.is_voter(node) && self.membership.is_learner(node);
        if promotes {
            let caught_up = self
                .progress_position(node)
                .is_some_and(|position| self.progress[position].match_index >= self.commit_index);
            if !caught_up {
                return Err(Error::InvalidMembershipChange {
                    node,
                    reason: "the learner has not caught up",
                });
            }
        }
        Ok(next)
    }

    fn append_change(&mut self, change: MembershipChange, out: &mut Vec<Action>) -> Result<()> {
        let next = self.check_change(change)?;
        let index = self.next_indexes(1)?;
        let entry = LogEntry {
            term: self.term,
            index,
            kind: EntryKind::Config,
            command: next.encode().into(),
        };
        self.write_log(|log| log.append(core::slice::from_ref(&entry)))?;
        self.config_log.push(index, next);
        self.refresh_membership(out);
        let _ = self.maybe_commit();
        for position in 0..self.progress.len() {
            self.replicate_to(position, out);
        }
        Ok(())
    }

    /// Puts the last configuration entry (or the base) in force, reporting a change and
    /// adjusting the leader's per-follower progress.
    fn refresh_membership(&mut self, out: &mut Vec<Action>) {
        let current = self.config_log.current();
        if *current == self.membership {
            return;
        }
        self.membership = current.clone();
        out.push(Action::MembershipChanged {
            membership: self.membership.clone(),
        });
        if self.state == State::Leader {
            let next_index = self.log.last_index() + 1;
            let id = self.config.id();
            let members: Vec<NodeId> = self
                .membership
                .members()
                .filter(|&member| member != id)
                .collect();
            let mut progress: Vec<Progress> = members
                .into_iter()
                .map(|member| match self.progress_position(member) {
                    Some(position) => self.progress[position].clone(),
                    None => Progress::new(member, next_index),
                })
                .collect();
            progress.sort_by_key(|progress| progress.id);
            self.progress = progress;
            if let Some(transfer) = self
                .transfer
                .filter(|transfer| !self.membership.is_voter(transfer.target))
            {
                let _ = transfer;
                self.transfer = None;
            }
        }
    }

    // ----- leadership transfer -----------------------------------------------------

    fn transfer_leadership(&mut self, target: NodeId, out: &mut Vec<Action>) -> Result<()> {
        if self.state != State::Leader {
            return Err(Error::NotLeader {
                leader: self.leader,
            });
        }
        if target == self.id() {
            return Err(Error::InvalidTransfer {
                target,
                reason: "it is already the leader",
            });
        }
        if !self.is_voter(target) {
            return Err(Error::InvalidTransfer {
                target,
                reason: "it is not a voter",
            });
        }
        match self.transfer {
            Some(transfer) if transfer.target == target => return Ok(()),
            Some(transfer) => {
                return Err(Error::TransferInProgress {
                    target: transfer.target,
                });
            }
            None => {}
        }
        self.transfer = Some(Transfer { target, elapsed: 0 });
        if !self.maybe_send_timeout_now(out)
            && let Some(position) = self.progress_position(target)
        {
            self.replicate_to(position, out);
        }
        Ok(())
    }

    /// Sends `TimeoutNow` to the transfer target once it holds the whole log. Returns
    /// whether it was sent.
    fn maybe_send_timeout_now(&mut self, out: &mut Vec<Action>) -> bool {
        let Some(transfer) = self.transfer else {
            return false;
        };
        let caught_up = self
            .progress_position(transfer.target)
            .is_some_and(|position| self.progress[position].match_index == self.log.last_index());
        if caught_up {
            let message = Message::TimeoutNow(TimeoutNow {
                term: self.term,
                leader: self.id(),
            });
            self.send(transfer.target, message, out);
        }
        caught_up
    }

    /// Leader only: the node leadership is being handed to, if a transfer is under way.
    pub fn transfer_target(&self) -> Option<NodeId> {
        self.transfer.map(|transfer| transfer.target)
    }

    // ----- replication: leader side -------------------------------------------------

    /// The progress slot of the follower a reply came from, or `UnknownNode`.
    fn follower_position(&self, from: NodeId) -> Result<usize> {
        self.progress_position(from)
            .ok_or(Error::UnknownNode { node: from })
    }

    fn progress_position(&self, peer: NodeId) -> Option<usize> {
        self.progress
            .binary_search_by_key(&peer, |progress| progress.id)
            .ok()
    }

    /// Advances the commit index to the highest index a quorum stores, if that entry
    /// is from this term (Raft §5.4.2). O(voters · log voters).
    fn maybe_commit(&mut self) -> bool {
        if self.state != State::Leader {
            return false;
        }
        let own = if self.config.deferred_leader_sync() {
            self.sync.durable_index().min(self.log.last_index())
        } else {
            // Synced before the step returns, and nothing commits before then.
            self.log.last_index()
        };
        let mut scratch = core::mem::take(&mut self.scratch);
        let candidate = self.majority().committed_index(
            |voter| {
                if voter == self.id() {
                    own
                } else {
                    self.progress_position(voter)
                        .map_or(0, |position| self.progress[position].match_index)
                }
            },
            &mut scratch,
        );
        self.scratch = scratch;
        if candidate > self.commit_index && self.log.term_at(candidate) == Some(self.term) {
            self.commit_index = candidate;
            self.reads.set_ready();
            return true;
        }
        false
    }

    /// Sends what the flow-control window allows to one follower; if nothing carried
    /// entries and the follower has not been told the latest commit it can use, tells it.
    fn replicate_to(&mut self, position: usize, out: &mut Vec<Action>) {
        let mut sent = false;
        // Bounded: each pass fills one in-flight slot (or sends one probe or chunk).
        for _ in 0..=self.config.inflight_appends_max() {
            if !self.send_append(position, out) {
                break;
            }
            sent = true;
            let progress = &self.progress[position];
            if progress.state != ReplicationState::Replicate
                || progress.next_index > self.log.last_index()
            {
                break;
            }
        }
        if !sent {
            let progress = &self.progress[position];
            if progress.needs_commit_notice(self.commit_index) {
                self.send_empty_append(position, out);
            }
        }
    }

    /// Sends one AppendEntries with entries from the follower's `next_index` (an empty
    /// one when probing an up-to-date follower). Returns whether anything was sent.
    fn send_append(&mut self, position: usize, out: &mut Vec<Action>) -> bool {
        let last_index = self.log.last_index();
        let progress = &self.progress[position];
        if !progress.can_send(self.config.inflight_appends_max()) {
            return false;
        }
        if progress.state == ReplicationState::Snapshot {
            return self.send_snapshot_chunk(position, out);
        }
        let next_index = progress.next_index;
        if progress.state == ReplicationState::Replicate && next_index > last_index {
            return false;
        }
        let prev_log_index = next_index - 1;
        let Some(prev_log_term) = self.log.term_at(prev_log_index) else {
            // Compacted away: only the snapshot can bring this follower up to date.
            let Some(snapshot_index) = self.log.snapshot().map(|snapshot| snapshot.index) else {
                return false;
            };
            self.progress[position].become_snapshot(snapshot_index);
            return self.send_snapshot_chunk(position, out);
        };
        let entries = if next_index <= last_index {
            let span = self.config.append_entries_max() as u64 - 1;
            let to = last_index.min(next_index.saturating_add(span));
            self.log
                .entries_limited(next_index, to, self.config.append_bytes_max())
        } else {
            Vec::new()
        };
        let contiguous = entries
            .iter()
            .zip(next_index..)
            .all(|(entry, index)| entry.index == index);
        if (entries.is_empty() && next_index <= last_index) || !contiguous {
            // The log claims the entries exist but does not return them in order: a
            // RaftLog breaking its contract. The step fails with a storage error.
            self.log_fault = Some(Error::storage(
                "reading entries to replicate",
                alloc::format!("the log did not return entries {next_index}..={last_index}"),
            ));
            return false;
        }
        let sent_last = prev_log_index + entries.len() as u64;
        let to = progress.id;
        let inflight_max = self.config.inflight_appends_max();
        let commit_index = self.commit_index;
        let progress = &mut self.progress[position];
        progress.sent(sent_last, !entries.is_empty(), inflight_max);
        progress.record_commit_sent(commit_index, sent_last);
        out.push(Action::Send {
            to,
            message: Message::AppendEntries(AppendEntries {
                term: self.term,
                leader: self.id(),
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit: self.commit_index,
            }),
        });
        true
    }

    /// An empty AppendEntries anchored at the follower's match point: it always passes
    /// the consistency check, so it serves as heartbeat and as commit notice.
    fn send_empty_append(&mut self, position: usize, out: &mut Vec<Action>) {
        let progress = &mut self.progress[position];
        let prev_log_index = progress.match_index;
        let Some(prev_log_term) = self.log.term_at(prev_log_index) else {
            // Compacted away; see send_append.
            return;
        };
        progress.record_sent(prev_log_index);
        progress.record_commit_sent(self.commit_index, prev_log_index);
        out.push(Action::Send {
            to: progress.id,
            message: Message::AppendEntries(AppendEntries {
                term: self.term,
                leader: self.id(),
                prev_log_index,
                prev_log_term,
                entries: Vec::new(),
                leader_commit: self.commit_index,
            }),
        });
    }

    fn handle_append_reply(
        &mut self,
        reply: AppendEntriesReply,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let position = self.follower_position(reply.from)?;
        // A reply counts only for what this leader sent that follower in its term: a
        // forged or buggy one can neither commit an entry nor keep check-quorum happy.
        let sent_index_max = self.progress[position].sent_index_max();
        if reply.success {
            if reply.match_index > sent_index_max {
                return Err(Error::InvalidMessage {
                    from: reply.from,
                    reason: "acknowledges entries this leader never sent it",
                });
            }
            self.progress[position].recent_active = true;
            let advanced = self.progress[position].acknowledge(reply.match_index);
            if advanced && self.maybe_commit() {
                for position in 0..self.progress.len() {
                    self.replicate_to(position, out);
                }
            } else {
                self.replicate_to(position, out);
            }
            if advanced
                && self
                    .transfer
                    .is_some_and(|transfer| transfer.target == reply.from)
            {
                let _ = self.maybe_send_timeout_now(out);
            }
            return Ok(());
        }
        if reply.prev_log_index == 0 {
            return Err(Error::InvalidMessage {
                from: reply.from,
                reason: "rejects an append at index 0, which always matches",
            });
        }
        if reply.prev_log_index > sent_index_max {
            return Err(Error::InvalidMessage {
                from: reply.from,
                reason: "rejects an append this leader never sent it",
            });
        }
        let progress = &mut self.progress[position];
        progress.recent_active = true;
        let stale = match progress.state {
            ReplicationState::Snapshot => true,
            ReplicationState::Replicate => reply.prev_log_index <= progress.match_index,
            ReplicationState::Probe => {
                reply.prev_log_index.checked_add(1) != Some(progress.next_index)
            }
        };
        if stale {
            return Ok(());
        }
        let hint = self.last_index_with_term_at_most(reply.conflict_index, reply.conflict_term);
        // Never retry at or above the rejected point, whatever the hint says.
        let next_index = (hint + 1).min(reply.prev_log_index);
        self.progress[position].become_probe(next_index);
        self.replicate_to(position, out);
        Ok(())
    }

    /// The largest index `<= index` whose term is `<= term`: a binary search, since log
    /// terms never decrease. Index 0 (term 0) always qualifies.
    fn last_index_with_term_at_most(&self, index: Index, term: Term) -> Index {
        // Below the snapshot nothing is known: 0 sends the caller to the snapshot.
        let floor = self.log.snapshot_index();
        let high = index.min(self.log.last_index());
        if high < floor || self.log.term_at(floor).is_none_or(|found| found > term) {
            return 0;
        }
        let (mut low, mut high) = (floor, high);
        // Invariant: term_at(low) <= term; the answer lies in low..=high.
        while low < high {
            let middle = low + (high - low).div_ceil(2);
            match self.log.term_at(middle) {
                Some(found) if found <= term => low = middle,
                _ => high = middle - 1,
            }
        }
        low
    }

    // ----- inbound messages ---------------------------------------------------------

    fn receive(&mut self, message: Message, out: &mut Vec<Action>) -> Result<()> {
        let from = message.from();
        let term = message.term();
        self.validate(&message)?;

        if term > self.term {
            match &message {
                // A pre-vote never moves the receiver's term; a granted answer echoes
                // the probe's hypothetical term.
                Message::PreVote(_) => {}
                Message::PreVoteReply(reply) if reply.vote_granted => {}
                // Leader stickiness: neither grant nor adopt the term.
                Message::RequestVote(request) if !request.force && self.in_lease() => {
                    return Ok(());
                }
                Message::AppendEntries(_)
                | Message::TimeoutNow(_)
                | Message::ReadConfirm(_)
                | Message::InstallSnapshot(_) => {
                    self.become_follower(term, Some(from));
                }
                _ => self.become_follower(term, None),
            }
        } else if term < self.term {
            // Answer stale requests with our term so their sender catches up; drop
            // stale replies.
            match message {
                Message::AppendEntries(request) => self.reply_append(
                    request.leader,
                    false,
                    request.prev_log_index,
                    0,
                    (0, 0),
                    out,
                ),
                Message::RequestVote(request) => self.send(
                    request.candidate,
                    Message::RequestVoteReply(RequestVoteReply {
                        term: self.term,
                        vote_granted: false,
                        from: self.id(),
                    }),
                    out,
                ),
                Message::PreVote(request) => self.send(
                    request.candidate,
                    Message::PreVoteReply(PreVoteReply {
                        term: self.term,
                        vote_granted: false,
                        from: self.id(),
                    }),
                    out,
                ),
                Message::ReadConfirm(request) => self.send(
                    request.leader,
                    Message::ReadConfirmReply(ReadConfirmReply {
                        term: self.term,
                        from: self.id(),
                        round: request.round,
                    }),
                    out,
                ),
                Message::InstallSnapshot(request) => self.send(
                    request.leader,
                    Message::InstallSnapshotReply(InstallSnapshotReply {
                        term: self.term,
                        from: self.id(),
                        last_included_index: request.last_included_index,
                        next_offset: 0,
                        done: false,
                    }),
                    out,
                ),
                _ => {}
            }
            return Ok(());
        }

        match message {
            Message::PreVote(request) => {
                let grant = request.term > self.term
                    && !self.in_lease()
                    && self.log_up_to_date(request.last_log_index, request.last_log_term);
                let term = if grant { request.term } else { self.term };
                self.send(
                    request.candidate,
                    Message::PreVoteReply(PreVoteReply {
                        term,
                        vote_granted: grant,
                        from: self.id(),
                    }),
                    out,
                );
                Ok(())
            }
            Message::PreVoteReply(reply) => {
                if self.state == State::PreCandidate {
                    let current = reply.vote_granted
                        && Some(reply.term) == Self::next_term(self.term)
                        || !reply.vote_granted && reply.term == self.term;
                    if current {
                        self.record_vote(reply.from, reply.vote_granted);
                        return self.count_votes(out);
                    }
                }
                Ok(())
            }
            Message::RequestVote(request) => {
                let can_vote = self.voted_for == Some(request.candidate)
                    || (self.voted_for.is_none() && self.leader.is_none());
                let grant =
                    can_vote && self.log_up_to_date(request.last_log_index, request.last_log_term);
                if grant {
                    self.voted_for = Some(request.candidate);
                    self.election_elapsed = 0;
                }
                self.send(
                    request.candidate,
                    Message::RequestVoteReply(RequestVoteReply {
                        term: self.term,
                        vote_granted: grant,
                        from: self.id(),
                    }),
                    out,
                );
                Ok(())
            }
            Message::RequestVoteReply(reply) => {
                if self.state == State::Candidate {
                    self.record_vote(reply.from, reply.vote_granted);
                    return self.count_votes(out);
                }
                Ok(())
            }
            Message::AppendEntries(request) => {
                self.follow(from)?;
                self.handle_append(request, out)
            }
            Message::AppendEntriesReply(reply) => {
                if self.state == State::Leader {
                    return self.handle_append_reply(reply, out);
                }
                Ok(())
            }
            Message::TimeoutNow(_) => {
                if self.state != State::Leader
                    && self.leader == Some(from)
                    && self.is_voter(self.id())
                {
                    return self.start_election(true, out);
                }
                Ok(())
            }
            Message::ReadConfirm(request) => {
                self.follow(from)?;
                let reply = ReadConfirmReply {
                    term: self.term,
                    from: self.id(),
                    round: request.round,
                };
                self.send(from, Message::ReadConfirmReply(reply), out);
                Ok(())
            }
            Message::ReadConfirmReply(reply) => {
                if self.state == State::Leader {
                    return self.handle_read_confirm_reply(reply, out);
                }
                Ok(())
            }
            Message::InstallSnapshot(request) => {
                self.follow(from)?;
                self.handle_install_snapshot(*request, out)
            }
            Message::InstallSnapshotReply(reply) => {
                if self.state == State::Leader {
                    return self.handle_install_snapshot_reply(reply, out);
                }
                Ok(())
            }
        }
    }

    /// Takes a message from `from`, the leader of this node's term: follow it and reset
    /// the election timer. Another leader in the same term is refused: Election Safety
    /// says it cannot exist.
    fn follow(&mut self, from: NodeId) -> Result<()> {
        if self.state == State::Leader || self.leader.is_some_and(|leader| leader != from) {
            return Err(Error::InvalidMessage {
                from,
                reason: "a second leader in this node's term",
            });
        }
        if self.state != State::Follower || self.leader != Some(from) {
            self.become_follower(self.term, Some(from));
        }
        self.election_elapsed = 0;
        Ok(())
    }

    /// Checks a message against the protocol's rules before it can touch any state.
    fn validate(&self, message: &Message) -> Result<()> {
        let from = message.from();
        let invalid = |reason| Err(Error::InvalidMessage { from, reason });
        if from == self.id() {
            return invalid("claims to come from the receiving node");
        }
        let term = message.term();
        if term > TERM_MAX {
            return invalid("term is past the ceiling TERM_MAX");
        }
        if term > self.term.saturating_add(TERM_ADVANCE_MAX) {
            return invalid("term is further ahead than any run of elections could take it");
        }
        if Self::index_max(message).is_none_or(|index| index > INDEX_MAX) {
            return invalid("an index is past the ceiling INDEX_MAX");
        }
        match message {
            // Only voters of this node's configuration are counted. Requests are
            // answered whoever asks (Raft thesis §4.2.3): a candidate may hold a newer
            // configuration than this node, and refusing to answer it can deadlock
            // elections after a membership change; a leader is known by its term, so
            // appends are taken from any sender too.
            Message::PreVoteReply(_) | Message::RequestVoteReply(_) if !self.is_voter(from) => {
                Err(Error::UnknownNode { node: from })
            }
            // Learners answer replication too.
            Message::AppendEntriesReply(_)
            | Message::ReadConfirmReply(_)
            | Message::InstallSnapshotReply(_)
                if !self.membership.is_member(from) =>
            {
                Err(Error::UnknownNode { node: from })
            }
            Message::PreVote(PreVote {
                term,
                last_log_term,
                ..
            })
            | Message::RequestVote(RequestVote {
                term,
                last_log_term,
                ..
            }) if last_log_term > term => invalid("candidate's last log term is past its term"),
            Message::AppendEntries(request) => Self::validate_append(request),
            Message::InstallSnapshot(request)
                if request.last_included_index == 0
                    || request.last_included_term > request.term
                    || request.membership.voters().is_empty() =>
            {
                invalid("a snapshot must cover an entry of a past term and name voters")
            }
            _ => Ok(()),
        }
    }

    /// The largest index a message names (`None` if computing it overflows), checked
    /// against [`INDEX_MAX`] before any index arithmetic.
    fn index_max(message: &Message) -> Option<Index> {
        Some(match message {
            Message::PreVote(request) => request.last_log_index,
            Message::RequestVote(request) => request.last_log_index,
            Message::AppendEntries(request) => {
                let count = u64::try_from(request.entries.len()).ok()?;
                let last = request.prev_log_index.checked_add(count)?;
                let named = request.entries.iter().map(|entry| entry.index).max();
                last.max(request.leader_commit).max(named.unwrap_or(0))
            }
            Message::AppendEntriesReply(reply) => reply
                .prev_log_index
                .max(reply.match_index)
                .max(reply.conflict_index),
            Message::InstallSnapshot(request) => request.last_included_index,
            Message::InstallSnapshotReply(reply) => reply.last_included_index,
            Message::PreVoteReply(_)
            | Message::RequestVoteReply(_)
            | Message::TimeoutNow(_)
            | Message::ReadConfirm(_)
            | Message::ReadConfirmReply(_) => 0,
        })
    }

    fn validate_append(request: &AppendEntries) -> Result<()> {
        let invalid = |reason| {
            Err(Error::InvalidMessage {
                from: request.leader,
                reason,
            })
        };
        if request.prev_log_index == 0 && request.prev_log_term != 0 {
            return invalid("names a term for index 0");
        }
        if request.prev_log_term > request.term {
            return invalid("previous entry's term is past the leader's term");
        }
        let mut expected_term = request.prev_log_term;
        let mut expected_index = request.prev_log_index;
        for entry in &request.entries {
            let Some(index) = expected_index.checked_add(1) else {
                return invalid("entry index overflows");
            };
            if entry.index != index {
                return invalid("entries are not contiguous after the previous entry");
            }
            if entry.term < expected_term || entry.term > request.term {
                return invalid("entry terms decrease or pass the leader's term");
            }
            if entry.kind == EntryKind::Config && Membership::decode(&entry.command).is_none() {
                return invalid("a configuration entry does not decode");
            }
            expected_index = index;
            expected_term = entry.term;
        }
        Ok(())
    }

    fn log_up_to_date(&self, last_log_index: Index, last_log_term: Term) -> bool {
        let our_term = self.log.last_term();
        last_log_term > our_term
            || (last_log_term == our_term && last_log_index >= self.log.last_index())
    }

    /// Sends `message` to every voter but this node.
    fn send_to_other_voters(&self, message: &Message, out: &mut Vec<Action>) {
        let id = self.config.id();
        for &peer in self
            .membership
            .voters()
            .iter()
            .filter(|&&voter| voter != id)
        {
            out.push(Action::Send {
                to: peer,
                message: message.clone(),
            });
        }
    }

    fn send(&self, to: NodeId, message: Message, out: &mut Vec<Action>) {
        out.push(Action::Send { to, message });
    }

    // ----- replication: follower side -----------------------------------------------

    fn handle_append(&mut self, request: AppendEntries, out: &mut Vec<Action>) -> Result<()> {
        let AppendEntries {
            leader,
            prev_log_index,
            leader_commit,
            mut entries,
            ..
        } = request;
        let original_prev = prev_log_index;
        let (mut prev_index, mut prev_term) = (prev_log_index, request.prev_log_term);

        // Entries at or below this node's snapshot are committed and covered by it.
        let floor = self.log.snapshot_index();
        if prev_index < floor {
            let skip = (floor - prev_index).min(entries.len() as u64) as usize;
            if skip == entries.len() {
                let covered = prev_index + skip as u64;
                self.reply_append(leader, true, original_prev, covered, (0, 0), out);
                return Ok(());
            }
            let floor_term = self.log.term_at(floor).ok_or_else(|| {
                Error::storage(
                    "checking an append against the snapshot",
                    alloc::format!("the log has no term for its snapshot index {floor}"),
                )
            })?;
            // The entry at the snapshot's index is committed: the leader's must be it,
            // or what follows it cannot follow this log.
            if entries[skip - 1].term != floor_term {
                return Err(Error::InvalidMessage {
                    from: leader,
                    reason: "contradicts the snapshot this node installed",
                });
            }
            let _ = entries.drain(..skip);
            prev_index = floor;
            prev_term = floor_term;
        }

        // Entries at or below our commit index are committed, so they must equal ours
        // (Leader Completeness + Log Matching). Check the last of them, then skip them.
        if prev_index < self.commit_index {
            let skip = (self.commit_index - prev_index).min(entries.len() as u64) as usize;
            let (check_index, check_term) = match skip {
                0 => (prev_index, prev_term),
                _ => (prev_index + skip as u64, entries[skip - 1].term),
            };
            if self.log.term_at(check_index) != Some(check_term) {
                return Err(Error::InvalidMessage {
                    from: leader,
                    reason: "contradicts entries this node knows are committed",
                });
            }
            let _ = entries.drain(..skip);
            prev_index = check_index;
            prev_term = check_term;
        }

        if self.log.term_at(prev_index) != Some(prev_term) {
            let hint = self.conflict_hint(prev_index, prev_term);
            self.reply_append(leader, false, original_prev, 0, hint, out);
            return Ok(());
        }

        // Find the first entry we do not already hold. By Log Matching, if the last
        // one matches, all do.
        let last_new = prev_index + entries.len() as u64;
        let mut first_new = entries.len();
        let mut config_changed = false;
        let all_match = entries
            .last()
            .is_none_or(|last| self.log.term_at(last.index) == Some(last.term));
        if !all_match {
            for (position, entry) in entries.iter().enumerate() {
                match self.log.term_at(entry.index) {
                    Some(term) if term == entry.term => {}
                    Some(_) => {
                        // prev_index >= commit_index, so this never cuts committed entries.
                        assert!(
                            entry.index > self.commit_index,
                            "a committed entry would be cut"
                        );
                        let cut = entry.index;
                        self.write_log(|log| log.truncate(cut))?;
                        config_changed |= self.config_log.truncate_from(cut);
                        first_new = position;
                        break;
                    }
                    None => {
                        first_new = position;
                        break;
                    }
                }
            }
        }
        if first_new < entries.len() {
            let _ = entries.drain(..first_new);
            for entry in entries
                .iter()
                .filter(|entry| entry.kind == EntryKind::Config)
            {
                // validate_append decoded it already.
                if let Some(membership) = Membership::decode(&entry.command) {
                    self.config_log.push(entry.index, membership);
                    config_changed = true;
                }
            }
            self.write_log(|log| log.append_owned(entries))?;
        }
        if config_changed {
            self.refresh_membership(out);
        }
        self.commit_index = self.commit_index.max(leader_commit.min(last_new));
        // Every AppendEntries is answered (Figure 2), heartbeats and commit notices
        // included: the leader's check-quorum counts these answers, and a follower
        // whose clock runs slower than the leader's must still be heard.
        self.reply_append(leader, true, original_prev, last_new, (0, 0), out);
        Ok(())
    }

    /// The fast back-off hint (after etcd): the largest index at or below the rejected
    /// `prev_index` whose term is at most `prev_term`, with that term. Entries above it
    /// cannot match the leader's.
    fn conflict_hint(&self, prev_index: Index, prev_term: Term) -> (Index, Term) {
        let last_index = self.log.last_index();
        if prev_index > last_index {
            return (last_index, self.log.last_term());
        }
        let index = self.last_index_with_term_at_most(prev_index, prev_term);
        (index, self.log.term_at(index).unwrap_or(0))
    }

    fn reply_append(
        &self,
        leader: NodeId,
        success: bool,
        prev_log_index: Index,
        match_index: Index,
        (conflict_index, conflict_term): (Index, Term),
        out: &mut Vec<Action>,
    ) {
        self.send(
            leader,
            Message::AppendEntriesReply(AppendEntriesReply {
                term: self.term,
                success,
                from: self.id(),
                prev_log_index,
                match_index,
                conflict_index,
                conflict_term,
            }),
            out,
        );
    }
}

fn missing(index: Index) -> Error {
    Error::storage(
        "reading committed entries to apply",
        alloc::format!("entry {index} is missing"),
    )
}

/// Hands a committed entry to the application; no-ops stay inside the protocol.
fn push_apply(out: &mut Vec<Action>, entry: LogEntry) {
    if entry.kind == EntryKind::Normal {
        out.push(Action::Apply {
            index: entry.index,
            term: entry.term,
            command: entry.command,
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
