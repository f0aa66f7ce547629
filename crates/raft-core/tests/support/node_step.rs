//! The stateful fuzz target `node_step`: a node built in some role (follower,
//! pre-candidate, candidate, leader, single-node leader, learner, mid-snapshot,
//! mid-transfer, mid-change) is fed a sequence of events decoded from arbitrary bytes
//! (messages from any sender with any term and index, ticks, proposals, reads,
//! snapshots, membership changes, transfers, syncs, and plausible answers to what it
//! sent), and after every step the harness checks:
//!
//! - no panic (the node's own release-build assertions included);
//! - the term never decreases; commit and applied never go back;
//! - `applied <= commit <= last index`; applies come out in order, never past commit;
//! - nothing is returned that depends on an unsynced write: the durable term and vote
//!   are the node's, and a step that leaves writes unsynced is a leader's deferred
//!   sync with an `Action::SyncLog` outstanding and no answer or vote sent meanwhile;
//! - a storage error never happens (the log here never fails), and refusals are
//!   ordinary errors.
//!
//! Shared by `fuzz/fuzz_targets/node_step.rs` and the stable tests
//! (`tests/node_step.rs` replays `fuzz/corpus/node_step/` and a few thousand seeded
//! random inputs), so CI runs the same checks without a nightly toolchain.
#![allow(dead_code)]

use std::collections::VecDeque;

use raft_core::testing::CrashLog;
use raft_core::{
    Action, AppendEntries, AppendEntriesReply, Bytes, Error, Event, INDEX_MAX, Index,
    InstallSnapshot, InstallSnapshotReply, LogEntry, Membership, MembershipChange, Message,
    PreVote, PreVoteReply, RaftConfig, RaftLog, RaftNode, ReadConfirm, ReadConfirmReply,
    RequestVote, RequestVoteReply, Role, TERM_MAX, Term, TimeoutNow,
};

/// Events one input may drive; bounds the time one input takes.
const STEPS_MAX: usize = 4_000;

/// Reads the input a byte or a number at a time; zeros once it runs out.
struct Input<'a> {
    bytes: &'a [u8],
}

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&first, rest)) => {
                self.bytes = rest;
                first
            }
            None => 0,
        }
    }

    fn below(&mut self, bound: u8) -> u8 {
        self.byte() % bound
    }

    fn u64(&mut self) -> u64 {
        let mut value = 0u64;
        for _ in 0..8 {
            value = (value << 8) | u64::from(self.byte());
        }
        value
    }

    /// A number near `around` most of the time, else anything (boundaries included).
    fn near(&mut self, around: u64) -> u64 {
        match self.below(16) {
            0 => u64::MAX,
            1 => u64::MAX - u64::from(self.byte()),
            2 => INDEX_MAX
                .wrapping_add(u64::from(self.byte()))
                .wrapping_sub(128),
            3 => self.u64(),
            4 => 0,
            choice => around
                .wrapping_add(u64::from(choice))
                .wrapping_sub(8)
                .wrapping_add(u64::from(self.below(4))),
        }
    }

    /// A sender: usually a member (1..=5), sometimes anyone.
    fn node(&mut self) -> u64 {
        match self.below(8) {
            7 => self.u64(),
            choice => u64::from(choice),
        }
    }

    fn command(&mut self, entry_bytes_max: usize) -> Vec<u8> {
        let length = match self.below(8) {
            0 => entry_bytes_max + 1,
            1 => entry_bytes_max,
            choice => usize::from(choice),
        };
        vec![self.byte(); length]
    }
}

/// The configuration of the node under test: small limits, so that the limits are hit.
fn config(flags: u8, id_role: ConfigRole) -> RaftConfig {
    let base = match id_role {
        ConfigRole::Voter => RaftConfig::new(1, [2, 3]),
        ConfigRole::Single => RaftConfig::single(1),
        ConfigRole::Learner => RaftConfig::learner(1, [2, 3]),
    };
    let check_quorum = flags & 2 != 0;
    let mut config = base
        .with_seed(u64::from(flags))
        .with_election_timeout(4, 8)
        .with_heartbeat_interval(2)
        .with_pre_vote(flags & 1 != 0)
        .with_check_quorum(check_quorum)
        .with_deferred_leader_sync(flags & 4 != 0)
        .with_append_entries_max(4)
        .with_append_bytes_max(256)
        .with_entry_bytes_max(128)
        .with_inflight_appends_max(2)
        .with_pending_reads_max(8)
        .with_snapshot_chunk_bytes_max(16)
        .with_snapshot_bytes_max(96);
    if check_quorum && flags & 8 != 0 {
        config = config.with_lease_reads(1);
    }
    config
}

#[derive(Clone, Copy)]
enum ConfigRole {
    Voter,
    Single,
    Learner,
}

/// The node under test, what it sent recently, and what the checks remember.
struct Harness {
    node: RaftNode<CrashLog>,
    /// Messages the node sent lately (bounded), for plausible answers.
    sent: VecDeque<(u64, Message)>,
    term: Term,
    commit: Index,
    applied: Index,
    sync_outstanding: bool,
}

impl Harness {
    fn new(config: RaftConfig) -> Self {
        let node = RaftNode::with_log(config, CrashLog::default());
        Self {
            node,
            sent: VecDeque::new(),
            term: 0,
            commit: 0,
            applied: 0,
            sync_outstanding: false,
        }
    }

    /// Steps the node and checks everything the target promises.
    fn step(&mut self, event: Event) -> Result<(), Error> {
        let is_sync = matches!(event, Event::SyncLog | Event::Tick);
        let result = self.node.step(event);
        let node = &self.node;
        if let Err(error) = &result {
            assert!(!error.is_fatal(), "the log never fails, yet: {error}");
        }
        if is_sync && node.log().is_synced() {
            self.sync_outstanding = false;
        }
        let actions = result.as_deref().unwrap_or(&[]);
        // Terms never go back; nor do commit and applied.
        assert!(node.term() >= self.term, "term went back");
        assert!(node.term() <= TERM_MAX, "term past the ceiling");
        assert!(node.commit_index() >= self.commit, "commit went back");
        assert!(node.last_applied() >= self.applied, "applied went back");
        assert!(node.last_applied() <= node.commit_index());
        assert!(node.commit_index() <= node.log().last_index());
        assert!(node.log().last_index() <= INDEX_MAX);
        // Durability: the term and vote messages depend on are synced.
        let durable = node.log().durable_hard_state();
        assert_eq!(
            (durable.term, durable.voted_for),
            (node.term(), node.voted_for()),
            "the term or vote is not durable when the step returns"
        );
        let mut sync_asked = false;
        let mut last_apply = self.applied;
        for action in actions {
            match action {
                Action::Apply { index, .. } => {
                    assert!(*index > last_apply, "applies out of order");
                    assert!(*index <= node.commit_index(), "applied past commit");
                    last_apply = *index;
                }
                Action::RestoreSnapshot { index, .. } => {
                    assert!(*index <= node.commit_index(), "restored past commit");
                    last_apply = last_apply.max(*index);
                }
                Action::SyncLog => sync_asked = true,
                Action::Send { to, message } => {
                    assert_ne!(*to, node.id(), "sent to itself");
                    if self.sent.len() == 16 {
                        let _ = self.sent.pop_front();
                    }
                    self.sent.push_back((*to, message.clone()));
                }
                _ => {}
            }
        }
        if sync_asked {
            self.sync_outstanding = true;
        }
        if !node.log().is_synced() {
            // Only a leader's deferred proposals may wait, and then the driver was asked.
            assert!(
                node.is_leader() && node.config().deferred_leader_sync(),
                "unsynced writes outlived a step that was not a deferring leader's"
            );
            assert!(
                self.sync_outstanding,
                "unsynced writes and no SyncLog asked"
            );
            for action in actions {
                if let Action::Send { message, .. } = action {
                    // A leader's own requests and refusals may go out; no granted
                    // vote or acknowledgement may (those promise durable state).
                    let promise = match message {
                        Message::PreVoteReply(reply) => reply.vote_granted,
                        Message::RequestVoteReply(reply) => reply.vote_granted,
                        Message::AppendEntriesReply(reply) => reply.success,
                        Message::InstallSnapshotReply(reply) => reply.done,
                        _ => false,
                    };
                    assert!(!promise, "a promise went out before the sync: {message:?}");
                }
            }
        }
        self.term = node.term();
        self.commit = node.commit_index();
        self.applied = node.last_applied();
        result.map(|_| ())
    }

    fn must(&mut self, event: Event) {
        if let Err(error) = self.step(event) {
            panic!("setting up the role: {error}");
        }
    }

    fn tick_until(&mut self, mut done: impl FnMut(&RaftNode<CrashLog>) -> bool) {
        for _ in 0..100 {
            if done(&self.node) {
                return;
            }
            self.must(Event::Tick);
        }
        panic!("setting up the role: condition never reached");
    }

    /// Makes node 1 (pre-vote or not) the leader through granted votes from 2.
    fn win_election(&mut self) {
        self.become_candidate();
        let term = self.node.term();
        self.must(Event::Message(Message::RequestVoteReply(
            RequestVoteReply {
                term,
                vote_granted: true,
                from: 2,
                incarnation: 0,
            },
        )));
        assert!(self.node.is_leader(), "setting up the role: not leader");
    }

    /// Ticks node 1 into a campaign and, past a pre-vote round, into candidacy.
    fn become_candidate(&mut self) {
        self.sent.clear();
        for _ in 0..100 {
            if !self.sent.is_empty() {
                break;
            }
            self.must(Event::Tick);
        }
        if self.node.role() != Role::Candidate {
            // A pre-vote round: grant it at the probe's term.
            let term = self.node.term() + 1;
            self.must(Event::Message(Message::PreVoteReply(PreVoteReply {
                term,
                vote_granted: true,
                from: 2,
                incarnation: 0,
            })));
        }
        assert_eq!(self.node.role(), Role::Candidate, "setting up the role");
    }

    /// Follower of leader 2 in term 1 holding three entries, two committed.
    fn follow_with_log(&mut self) {
        let entries = (1..=3)
            .map(|index| LogEntry::new(1, index, vec![index as u8; 4]))
            .collect();
        self.must(Event::Message(Message::AppendEntries(AppendEntries {
            term: 1,
            leader: 2,
            prev_log_index: 0,
            prev_log_term: 0,
            entries,
            leader_commit: 2,
        })));
    }
}

/// Builds the node in the role the first bytes choose.
fn build(input: &mut Input<'_>) -> Harness {
    let role = input.below(9);
    let flags = input.byte();
    let config_role = match role {
        4 => ConfigRole::Single,
        5 => ConfigRole::Learner,
        _ => ConfigRole::Voter,
    };
    let mut harness = Harness::new(config(flags, config_role));
    match role {
        // Follower with a leader and a log.
        0 => harness.follow_with_log(),
        // Pre-candidate (or candidate without pre-vote): campaigning, no answers yet.
        1 => {
            for _ in 0..100 {
                if !harness.sent.is_empty() {
                    break;
                }
                harness.must(Event::Tick);
            }
            assert!(!harness.sent.is_empty(), "setting up the role: no campaign");
        }
        // Candidate.
        2 => harness.become_candidate(),
        // Leader of three over an earlier term's entries.
        3 => {
            harness.follow_with_log();
            harness.win_election();
        }
        // Single-node leader.
        4 => harness.tick_until(RaftNode::is_leader),
        // Learner following leader 2.
        5 => harness.follow_with_log(),
        // Mid-snapshot: the first chunk of a snapshot at index 10 arrived.
        6 => harness.must(Event::Message(Message::InstallSnapshot(Box::new(
            InstallSnapshot {
                term: 1,
                leader: 2,
                last_included_index: 10,
                last_included_term: 1,
                membership: Membership::new([1, 2, 3], []),
                offset: 0,
                data: Bytes::from_static(&[9; 16]),
                done: false,
            },
        )))),
        // Mid-transfer: a leader handing over to node 2, which has not caught up.
        7 => {
            harness.follow_with_log();
            harness.win_election();
            harness.must(Event::TransferLeadership(2));
        }
        // Mid-change: a leader adding learner 4 (held or appended, uncommitted).
        _ => {
            harness.follow_with_log();
            harness.win_election();
            harness.must(Event::ChangeMembership(MembershipChange::AddLearner(4)));
        }
    }
    harness
}

/// A message of any kind with fields drawn from the input, near the node's own values.
fn any_message(input: &mut Input<'_>, node: &RaftNode<CrashLog>) -> Message {
    let term = input.near(node.term());
    let from = input.node();
    let last = node.log().last_index();
    let commit = node.commit_index();
    match input.below(12) {
        0 => Message::PreVote(PreVote {
            term,
            candidate: from,
            last_log_index: input.near(last),
            last_log_term: input.near(node.log().last_term()),
        }),
        1 => Message::PreVoteReply(PreVoteReply {
            term,
            vote_granted: input.byte() & 1 == 0,
            from,
            incarnation: 0,
        }),
        2 => Message::RequestVote(RequestVote {
            term,
            candidate: from,
            last_log_index: input.near(last),
            last_log_term: input.near(node.log().last_term()),
            force: input.byte() & 1 == 0,
        }),
        3 => Message::RequestVoteReply(RequestVoteReply {
            term,
            vote_granted: input.byte() & 1 == 0,
            from,
            incarnation: 0,
        }),
        4 | 5 => {
            let prev_log_index = input.near(commit);
            let prev_log_term = input.near(node.log().term_at(prev_log_index).unwrap_or(0));
            let count = input.below(5);
            let contiguous = input.byte() & 7 != 0;
            let mut entry_term = prev_log_term;
            let entries = (1..=u64::from(count))
                .map(|offset| {
                    entry_term = entry_term.saturating_add(u64::from(input.below(2)));
                    let index = if contiguous {
                        prev_log_index.wrapping_add(offset)
                    } else {
                        input.near(prev_log_index)
                    };
                    let mut entry = LogEntry::new(entry_term.min(term), index, vec![0; 3]);
                    if input.below(8) == 0 {
                        entry.kind = raft_core::EntryKind::Config;
                        entry.command = Membership::new([1, 2, input.node()], []).encode().into();
                    }
                    entry
                })
                .collect();
            Message::AppendEntries(AppendEntries {
                term,
                leader: from,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit: input.near(commit),
            })
        }
        6 => Message::AppendEntriesReply(AppendEntriesReply {
            term,
            success: input.byte() & 1 == 0,
            from,
            prev_log_index: input.near(last),
            match_index: input.near(last),
            conflict_index: input.near(last),
            conflict_term: input.near(term),
            incarnation: 0,
        }),
        7 => Message::TimeoutNow(TimeoutNow { term, leader: from }),
        8 => Message::ReadConfirm(ReadConfirm {
            term,
            leader: from,
            round: input.near(1),
        }),
        9 => Message::ReadConfirmReply(ReadConfirmReply {
            term,
            from,
            round: input.near(1),
            incarnation: 0,
        }),
        10 => {
            let length = usize::from(input.below(40));
            Message::InstallSnapshot(Box::new(InstallSnapshot {
                term,
                leader: from,
                last_included_index: input.near(commit + 4),
                last_included_term: input.near(1),
                membership: Membership::new([1, 2, 3], [input.node()]),
                offset: input.near(0),
                data: Bytes::from(vec![5; length]),
                done: input.byte() & 1 == 0,
            }))
        }
        _ => Message::InstallSnapshotReply(InstallSnapshotReply {
            term,
            from,
            last_included_index: input.near(node.log().snapshot_index()),
            next_offset: input.near(16),
            done: input.byte() & 1 == 0,
            incarnation: 0,
        }),
    }
}

/// The answer an honest peer would give to something the node sent.
fn plausible_answer(to: u64, message: &Message, grant: bool) -> Option<Message> {
    Some(match message {
        Message::PreVote(request) => Message::PreVoteReply(PreVoteReply {
            term: request.term,
            vote_granted: grant,
            from: to,
            incarnation: 0,
        }),
        Message::RequestVote(request) => Message::RequestVoteReply(RequestVoteReply {
            term: request.term,
            vote_granted: grant,
            from: to,
            incarnation: 0,
        }),
        Message::AppendEntries(request) => {
            let last = request.prev_log_index + request.entries.len() as u64;
            Message::AppendEntriesReply(AppendEntriesReply {
                term: request.term,
                success: grant,
                from: to,
                prev_log_index: request.prev_log_index,
                match_index: if grant { last } else { 0 },
                conflict_index: request.prev_log_index.saturating_sub(1),
                conflict_term: request.prev_log_term.saturating_sub(1),
                incarnation: 0,
            })
        }
        Message::ReadConfirm(request) => Message::ReadConfirmReply(ReadConfirmReply {
            term: request.term,
            from: to,
            round: request.round,
            incarnation: 0,
        }),
        Message::InstallSnapshot(request) => {
            let next_offset = request.offset + request.data.len() as u64;
            Message::InstallSnapshotReply(InstallSnapshotReply {
                term: request.term,
                from: to,
                last_included_index: request.last_included_index,
                next_offset,
                done: request.done || !grant,
                incarnation: 0,
            })
        }
        _ => return None,
    })
}

/// The fuzz target: build a node in a role, then step events decoded from `data`.
pub fn node_step(data: &[u8]) {
    let mut input = Input { bytes: data };
    let mut harness = build(&mut input);
    for _ in 0..STEPS_MAX {
        if input.is_empty() {
            break;
        }
        let entry_bytes_max = harness.node.config().entry_bytes_max();
        let event = match input.below(16) {
            0..=2 => Event::Tick,
            3..=5 => Event::Message(any_message(&mut input, &harness.node)),
            6..=8 => {
                // Answer something it sent (the newest, or one further back).
                let back = usize::from(input.below(4));
                let grant = input.below(4) != 0;
                let Some((to, message)) = harness.sent.iter().rev().nth(back).cloned() else {
                    continue;
                };
                match plausible_answer(to, &message, grant) {
                    Some(answer) => Event::Message(answer),
                    None => continue,
                }
            }
            9 => Event::Propose(input.command(entry_bytes_max)),
            10 => {
                let count = input.below(5);
                Event::ProposeBatch(
                    (0..count)
                        .map(|_| Bytes::from(input.command(entry_bytes_max)))
                        .collect(),
                )
            }
            11 => Event::ReadIndex(Bytes::from(vec![input.byte()])),
            12 => Event::Snapshot {
                index: input.near(harness.node.last_applied()),
                data: Bytes::from(vec![input.byte(); usize::from(input.below(40))]),
            },
            13 => {
                let node = input.node();
                Event::ChangeMembership(match input.below(4) {
                    0 => MembershipChange::AddLearner(node),
                    1 => MembershipChange::PromoteLearner(node),
                    2 => MembershipChange::AddVoter(node),
                    _ => MembershipChange::RemoveMember(node),
                })
            }
            14 => Event::TransferLeadership(input.node()),
            _ => Event::SyncLog,
        };
        let _ = harness.step(event);
    }
}
