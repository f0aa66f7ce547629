//! No peer, buggy or forged, can break a node: the term and index ceilings, replies that
//! count only for what was sent, bounded proposals and queues, a connected leader that
//! stays leader whatever the followers' clocks do, and a broken `RaftLog` reported in
//! release builds. One test per rule, named after it.

#[path = "support/cluster.rs"]
mod cluster;

use std::collections::BTreeMap;

use cluster::{Cluster, CrashLog, log_with_terms, sends};
use raft_core::{
    Action, AppendEntries, AppendEntriesReply, Bytes, Error, Event, INDEX_MAX, Index,
    InstallSnapshot, InstallSnapshotReply, LogEntry, Membership, MembershipChange, MemoryLog,
    Message, PreVote, RaftConfig, RaftLog, RaftNode, ReadConfirmReply, RequestVote, Role, Term,
};

/// Node 1 of {1, 2, 3} made leader by hand (no pre-vote), over a log of `terms`.
fn leader_by_hand(terms: &[Term], config: RaftConfig) -> RaftNode<CrashLog> {
    let term = terms.last().copied().unwrap_or(0);
    let mut node = RaftNode::with_log(config.with_pre_vote(false), log_with_terms(terms, term));
    cluster::win_election(&mut node);
    node
}

fn single_leader() -> RaftNode {
    let mut node = RaftNode::new(RaftConfig::single(1));
    while !node.is_leader() {
        let _ = node.step(Event::Tick).unwrap();
    }
    node
}

// ----- a connected leader stays leader ------------------------------------------------

/// Runs `ticks` ticks of the leader alone (the others never tick), delivering every
/// message after each; returns whether `leader` led the same term throughout.
fn only_leader_ticks(cluster: &mut Cluster, leader: u64, ticks: usize) -> bool {
    let term = cluster.node(leader).term();
    for _ in 0..ticks {
        cluster.tick(leader);
        cluster.deliver_all();
        if !cluster.node(leader).is_leader() || cluster.node(leader).term() != term {
            return false;
        }
    }
    true
}

// Figure 2 and check-quorum (thesis §6.2): followers answer every AppendEntries, so a
// leader whose followers tick slower than it does (here: not at all) keeps hearing a
// quorum and stays leader.
#[test]
fn check_quorum_connected_leader_stays_when_followers_tick_slower() {
    let mut cluster = Cluster::new(3, 5);
    cluster.elect(1);
    assert!(only_leader_ticks(&mut cluster, 1, 10_000));
    let _ = cluster.propose(1, "still leading").unwrap();
    cluster.deliver_all();
    assert_eq!(
        cluster.applied_commands(2).last().map(String::as_str),
        Some("still leading")
    );
}

// The same with a removed server that keeps campaigning, and with single-server changes
// made one after another while only the leader (and the removed server) tick.
#[test]
fn check_quorum_connected_leader_stays_through_membership_changes() {
    let mut configs: BTreeMap<u64, RaftConfig> = (1..=3)
        .map(|id| (id, RaftConfig::new(id, 1..=3).with_seed(id)))
        .collect();
    let _ = configs.insert(4, RaftConfig::learner(4, 1..=3).with_seed(4));
    let mut cluster = Cluster::with_configs(configs, 9);
    cluster.elect(1);
    let changes = [
        MembershipChange::AddLearner(4),
        MembershipChange::PromoteLearner(4),
        MembershipChange::RemoveMember(3),
    ];
    for change in changes {
        let _ = cluster
            .step(1, Event::ChangeMembership(change))
            .unwrap_or_else(|error| panic!("{change:?}: {error}"));
        assert!(only_leader_ticks(&mut cluster, 1, 200), "{change:?}");
    }
    assert_eq!(cluster.node(1).members(), &[1, 2, 4]);
    // Node 3 no longer hears from anyone and campaigns; the trio ignores it.
    let term = cluster.node(1).term();
    for _ in 0..3_000 {
        cluster.tick(1);
        cluster.tick(3);
        cluster.deliver_all();
    }
    assert!(cluster.node(1).is_leader());
    assert_eq!(cluster.node(1).term(), term);
}

// ----- indexes: the ceiling and hostile values in every role --------------------------

/// A node of each role, and whether it is the only voter of its cluster.
fn nodes_in_every_role() -> Vec<(&'static str, RaftNode<CrashLog>)> {
    let mut roles = Vec::new();
    roles.push((
        "follower",
        RaftNode::with_log(RaftConfig::new(1, [2, 3]), CrashLog::default()),
    ));
    let mut pre_candidate = RaftNode::with_log(RaftConfig::new(1, [2, 3]), CrashLog::default());
    while sends(&pre_candidate.step(Event::Tick).unwrap()).is_empty() {}
    roles.push(("pre-candidate", pre_candidate));
    let mut candidate = RaftNode::with_log(
        RaftConfig::new(1, [2, 3]).with_pre_vote(false),
        CrashLog::default(),
    );
    while candidate.role() != Role::Candidate {
        let _ = candidate.step(Event::Tick).unwrap();
    }
    roles.push(("candidate", candidate));
    roles.push((
        "leader",
        leader_by_hand(&[1, 1], RaftConfig::new(1, [2, 3])),
    ));
    let mut single = RaftNode::with_log(RaftConfig::single(1), CrashLog::default());
    while !single.is_leader() {
        let _ = single.step(Event::Tick).unwrap();
    }
    roles.push(("single-node leader", single));
    roles.push((
        "learner",
        RaftNode::with_log(RaftConfig::learner(1, [2, 3]), CrashLog::default()),
    ));
    roles
}

/// Messages from node 2 naming `index`, at `term` (the receiver's or one above).
fn messages_at_index(index: Index, term: Term) -> Vec<Message> {
    vec![
        Message::InstallSnapshot(Box::new(InstallSnapshot {
            term,
            leader: 2,
            last_included_index: index,
            last_included_term: 1,
            membership: Membership::new([1, 2, 3], []),
            offset: 0,
            data: Bytes::from_static(b"state"),
            done: true,
        })),
        Message::AppendEntries(AppendEntries {
            term,
            leader: 2,
            prev_log_index: index,
            prev_log_term: 1,
            entries: vec![],
            leader_commit: index,
        }),
        Message::AppendEntries(AppendEntries {
            term,
            leader: 2,
            prev_log_index: index - 1,
            prev_log_term: 1,
            entries: vec![LogEntry::new(1, index, b"x".to_vec())],
            leader_commit: 0,
        }),
        Message::AppendEntries(AppendEntries {
            term,
            leader: 2,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![],
            leader_commit: index,
        }),
        Message::AppendEntriesReply(AppendEntriesReply {
            term,
            success: true,
            from: 2,
            prev_log_index: index,
            match_index: index,
            conflict_index: 0,
            conflict_term: 0,
            incarnation: 0,
        }),
        Message::AppendEntriesReply(AppendEntriesReply {
            term,
            success: false,
            from: 2,
            prev_log_index: index,
            match_index: 0,
            conflict_index: index,
            conflict_term: 1,
            incarnation: 0,
        }),
        Message::InstallSnapshotReply(InstallSnapshotReply {
            term,
            from: 2,
            last_included_index: index,
            next_offset: 0,
            done: true,
            incarnation: 0,
        }),
        Message::RequestVote(RequestVote {
            term,
            candidate: 2,
            last_log_index: index,
            last_log_term: 1,
            force: true,
        }),
        Message::PreVote(PreVote {
            term,
            candidate: 2,
            last_log_index: index,
            last_log_term: 1,
        }),
    ]
}

// Defect 0.8 and the hostile InstallSnapshot: an index past INDEX_MAX (2^64-1, 2^64-2,
// 2^64-1000) is refused in every role before it touches anything, and the node works
// on afterwards.
#[test]
fn index_ceiling_refuses_hostile_indexes_in_every_role() {
    for index in [u64::MAX, u64::MAX - 1, u64::MAX - 1000, INDEX_MAX + 1] {
        for (role, mut node) in nodes_in_every_role() {
            for term_ahead in [0, 1] {
                for message in messages_at_index(index, node.term() + term_ahead) {
                    let before = (node.term(), node.role(), node.log().last_index());
                    let commit = node.commit_index();
                    let result = node.step(Event::Message(message.clone()));
                    assert!(
                        matches!(result, Err(Error::InvalidMessage { .. })),
                        "{role}, index {index}: {message:?} gave {result:?}"
                    );
                    assert_eq!(
                        (node.term(), node.role(), node.log().last_index()),
                        before,
                        "{role}: a refused message changed the node"
                    );
                    assert_eq!(node.commit_index(), commit);
                }
            }
            if node.is_leader() {
                let last = node.log().last_index();
                let _ = node.step(Event::Propose(b"after".to_vec())).unwrap();
                assert_eq!(node.log().last_index(), last + 1, "{role}");
            }
            for _ in 0..50 {
                let _ = node.step(Event::Tick).unwrap();
            }
        }
    }
}

// A snapshot at exactly INDEX_MAX is installed; the node, leading alone afterwards,
// refuses proposals past the ceiling with an error instead of overflowing.
#[test]
fn index_ceiling_log_full_refuses_proposals() {
    let mut node = single_leader();
    let term = node.term() + 1;
    let _ = node
        .step(Event::Message(Message::InstallSnapshot(Box::new(
            InstallSnapshot {
                term,
                leader: 2,
                last_included_index: INDEX_MAX,
                last_included_term: 1,
                membership: Membership::new([1], []),
                offset: 0,
                data: Bytes::from_static(b"state"),
                done: true,
            },
        ))))
        .unwrap();
    assert_eq!(node.log().last_index(), INDEX_MAX);
    while !node.is_leader() {
        let _ = node.step(Event::Tick).unwrap();
    }
    for event in [
        Event::Propose(b"x".to_vec()),
        Event::ProposeBatch(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]),
        Event::ChangeMembership(MembershipChange::AddLearner(9)),
    ] {
        let error = node.step(event).unwrap_err();
        assert_eq!(
            error,
            Error::LogFull {
                last_index: INDEX_MAX
            }
        );
        assert!(!error.is_retryable());
    }
    assert_eq!(node.log().last_index(), INDEX_MAX);
    assert!(node.step(Event::ReadIndex(Bytes::new())).is_ok());
}

// ----- replies count only for what was sent -------------------------------------------

/// Node 1 leading {1, 2, 3}; its probes to 2 and 3 are out (and lost), so proposals made
/// now are not sent to anyone. Returns the leader and the highest index sent.
fn leader_with_unsent_entries() -> (RaftNode<CrashLog>, Index) {
    let mut node = leader_by_hand(&[1, 1], RaftConfig::new(1, [2, 3]));
    let sent = node.log().last_index();
    let actions = node
        .step(Event::ProposeBatch(vec![Bytes::from_static(b"a"); 4]))
        .unwrap();
    assert!(
        sends(&actions).is_empty(),
        "probes outstanding: nothing sent"
    );
    (node, sent)
}

fn append_ack(term: Term, from: u64, match_index: Index) -> Event {
    Event::Message(Message::AppendEntriesReply(AppendEntriesReply {
        term,
        success: true,
        from,
        prev_log_index: match_index,
        match_index,
        conflict_index: 0,
        conflict_term: 0,
        incarnation: 0,
    }))
}

// A success AppendEntriesReply acknowledging more than the leader sent that follower is
// refused: forged acknowledgements commit nothing.
#[test]
fn reply_past_what_was_sent_commits_nothing() {
    let (mut node, sent) = leader_with_unsent_entries();
    let term = node.term();
    let last = node.log().last_index();
    assert!(last > sent);
    for from in [2, 3] {
        let error = node.step(append_ack(term, from, last)).unwrap_err();
        assert!(matches!(error, Error::InvalidMessage { .. }), "{error:?}");
    }
    assert!(node.commit_index() < sent + 1);
    assert_eq!(node.match_index(2), Some(0));
    // An acknowledgement of what was sent counts.
    let _ = node.step(append_ack(term, 2, sent)).unwrap();
    assert_eq!(node.match_index(2), Some(sent));
    assert_eq!(node.commit_index(), sent);
}

// Check-quorum counts only replies the leader could have caused: forged
// acknowledgements and answers to read rounds never started do not keep a leader that
// hears nobody in office.
#[test]
fn check_quorum_ignores_replies_to_what_was_never_sent() {
    let (mut node, _) = leader_with_unsent_entries();
    let term = node.term();
    let last = node.log().last_index();
    let mut stepped_down = false;
    for _ in 0..100 {
        let _ = node.step(Event::Tick).unwrap();
        if !node.is_leader() {
            stepped_down = true;
            break;
        }
        for from in [2, 3] {
            let _ = node.step(append_ack(term, from, last + 5));
            for round in [0, 1_000] {
                let _ = node.step(Event::Message(Message::ReadConfirmReply(
                    ReadConfirmReply {
                        term,
                        from,
                        round,
                        incarnation: 0,
                    },
                )));
            }
        }
    }
    assert!(stepped_down, "forged replies kept the leader in office");
}

// A ReadConfirmReply counts only for a round this leader started: answers to round 0
// or to a round never sent serve no read.
#[test]
fn read_confirm_reply_counts_only_for_started_rounds() {
    let mut node = leader_by_hand(&[1], RaftConfig::new(1, [2, 3]));
    let term = node.term();
    // Commit the no-op so reads are served through rounds.
    let _ = node
        .step(append_ack(term, 2, node.log().last_index()))
        .unwrap();
    let actions = node
        .step(Event::ReadIndex(Bytes::from_static(b"r")))
        .unwrap();
    let round = sends(&actions)
        .into_iter()
        .find_map(|(_, message)| match message {
            Message::ReadConfirm(confirm) => Some(confirm.round),
            _ => None,
        })
        .expect("a confirmation round");
    for forged in [0, round + 1, u64::MAX] {
        let result = node.step(Event::Message(Message::ReadConfirmReply(
            ReadConfirmReply {
                term,
                from: 2,
                round: forged,
                incarnation: 0,
            },
        )));
        assert!(
            matches!(result, Err(Error::InvalidMessage { .. })),
            "{result:?}"
        );
    }
    let actions = node
        .step(Event::Message(Message::ReadConfirmReply(
            ReadConfirmReply {
                term,
                from: 2,
                round,
                incarnation: 0,
            },
        )))
        .unwrap();
    assert!(
        actions
            .iter()
            .any(|action| matches!(action, Action::ReadReady { .. }))
    );
}

// ----- bounded proposals and queues ---------------------------------------------------

// A command larger than one AppendEntries may carry is refused at Propose, with nothing
// appended; the limit defaults to the append byte cap.
#[test]
fn entry_bytes_max_refuses_oversized_proposals() {
    let mut node = RaftNode::new(RaftConfig::single(1).with_append_bytes_max(1000));
    while !node.is_leader() {
        let _ = node.step(Event::Tick).unwrap();
    }
    assert_eq!(node.config().entry_bytes_max(), 1000);
    let error = node.step(Event::Propose(vec![0; 1001])).unwrap_err();
    assert_eq!(
        error,
        Error::EntryTooLarge {
            bytes: 1001,
            max: 1000
        }
    );
    assert!(!error.is_retryable());
    let batch = vec![Bytes::from_static(b"ok"), Bytes::from(vec![0; 1001])];
    assert!(matches!(
        node.step(Event::ProposeBatch(batch)),
        Err(Error::EntryTooLarge { .. })
    ));
    assert_eq!(node.log().last_index(), 0, "nothing of a refused batch");
    let _ = node.step(Event::Propose(vec![0; 1000])).unwrap();
    assert_eq!(node.commit_index(), 1);

    // The default: a 17 MiB entry is refused.
    let mut node = single_leader();
    assert!(matches!(
        node.step(Event::Propose(vec![0; 17 << 20])),
        Err(Error::EntryTooLarge { .. })
    ));
}

// Every AppendEntries stays within the byte cap when entries are as large as allowed,
// so heartbeats and replication are never held behind an unsendable message.
#[test]
fn entry_bytes_max_keeps_every_append_within_the_cap() {
    let configs = (1..=3)
        .map(|id| {
            let config = RaftConfig::new(id, 1..=3)
                .with_seed(id)
                .with_append_bytes_max(300)
                .with_entry_bytes_max(200);
            (id, config)
        })
        .collect();
    let mut cluster = Cluster::with_configs(configs, 3);
    cluster.elect(1);
    for round in 0..20 {
        let _ = cluster
            .step(1, Event::Propose(vec![round as u8; 200]))
            .unwrap();
        assert!(matches!(
            cluster.step(1, Event::Propose(vec![0; 201])),
            Err(Error::EntryTooLarge { .. })
        ));
        for (_, message) in &cluster.queue {
            if let Message::AppendEntries(append) = message {
                let bytes: usize = append.entries.iter().map(|e| e.command.len()).sum();
                assert!(bytes <= 300, "an AppendEntries of {bytes} bytes");
            }
        }
        cluster.round();
    }
    assert_eq!(
        cluster.node(3).commit_index(),
        cluster.node(1).commit_index()
    );
    assert_eq!(cluster.applied_commands(3).len(), 20);
}

// Reads a leader holds are bounded: past pending_reads_max a ReadIndex is refused with
// a retryable error, whether the reads wait for a round or for a current commit index.
#[test]
fn pending_reads_max_bounds_both_read_queues() {
    // Waiting for a current commit index (a fresh leader over an uncommitted tail).
    let mut node = leader_by_hand(
        &[1, 1],
        RaftConfig::new(1, [2, 3]).with_pending_reads_max(3),
    );
    for _ in 0..3 {
        let _ = node.step(Event::ReadIndex(Bytes::new())).unwrap();
    }
    let error = node.step(Event::ReadIndex(Bytes::new())).unwrap_err();
    assert!(
        matches!(error, Error::LimitExceeded { max: 3, .. }),
        "{error:?}"
    );
    assert!(error.is_retryable());
    // Waiting for a round: commit the no-op, the three are sent as rounds.
    let term = node.term();
    let last = node.log().last_index();
    let _ = node.step(append_ack(term, 2, last)).unwrap();
    assert!(matches!(
        node.step(Event::ReadIndex(Bytes::new())),
        Err(Error::LimitExceeded { .. })
    ));
    // Answering the rounds drains the queue; reads are taken again.
    let actions = node
        .step(Event::Message(Message::ReadConfirmReply(
            ReadConfirmReply {
                term,
                from: 3,
                round: 3,
                incarnation: 0,
            },
        )))
        .unwrap();
    let ready = actions
        .iter()
        .filter(|action| matches!(action, Action::ReadReady { .. }))
        .count();
    assert_eq!(ready, 3);
    let _ = node.step(Event::ReadIndex(Bytes::new())).unwrap();
}

// The incoming snapshot buffer is bounded: a chunk that would pass snapshot_bytes_max
// abandons the transfer with an error; a new transfer starts from offset 0.
#[test]
fn snapshot_bytes_max_bounds_the_incoming_buffer() {
    let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]).with_snapshot_bytes_max(100));
    let chunk = |offset: u64, len: usize, done: bool| {
        Event::Message(Message::InstallSnapshot(Box::new(InstallSnapshot {
            term: 1,
            leader: 2,
            last_included_index: 10,
            last_included_term: 1,
            membership: Membership::new([1, 2, 3], []),
            offset,
            data: Bytes::from(vec![7; len]),
            done,
        })))
    };
    let _ = node.step(chunk(0, 60, false)).unwrap();
    let error = node.step(chunk(60, 60, false)).unwrap_err();
    assert!(
        matches!(error, Error::LimitExceeded { max: 100, .. }),
        "{error:?}"
    );
    // The buffer is gone: the next chunk is told to start over at 0.
    let actions = node.step(chunk(60, 10, true)).unwrap();
    let resume = sends(&actions)
        .into_iter()
        .find_map(|(_, message)| match message {
            Message::InstallSnapshotReply(reply) => Some(reply.next_offset),
            _ => None,
        });
    assert_eq!(resume, Some(0));
    let _ = node.step(chunk(0, 60, false)).unwrap();
    let _ = node.step(chunk(60, 40, true)).unwrap();
    assert_eq!(node.log().snapshot_index(), 10);
}

// ----- a broken RaftLog is an error in release builds ---------------------------------

/// A MemoryLog that claims entries it does not return once `broken` is set.
#[derive(Debug, Default)]
struct LyingLog {
    inner: MemoryLog,
    broken: bool,
}

impl RaftLog for LyingLog {
    fn last_index(&self) -> Index {
        self.inner.last_index()
    }
    fn last_term(&self) -> Term {
        self.inner.last_term()
    }
    fn term_at(&self, index: Index) -> Option<Term> {
        self.inner.term_at(index)
    }
    fn entry(&self, index: Index) -> Option<LogEntry> {
        self.inner.entry(index)
    }
    fn entries_limited(&self, from: Index, to: Index, bytes_max: usize) -> Vec<LogEntry> {
        if self.broken {
            Vec::new()
        } else {
            self.inner.entries_limited(from, to, bytes_max)
        }
    }
    fn append(&mut self, entries: &[LogEntry]) -> raft_core::Result<()> {
        self.inner.append(entries)?;
        self.broken = true;
        Ok(())
    }
    fn truncate(&mut self, from: Index) -> raft_core::Result<()> {
        self.inner.truncate(from)
    }
    fn hard_state(&self) -> raft_core::HardState {
        self.inner.hard_state()
    }
    fn set_hard_state(&mut self, state: raft_core::HardState) -> raft_core::Result<()> {
        self.inner.set_hard_state(state)
    }
    fn sync(&mut self) -> raft_core::Result<()> {
        self.inner.sync()
    }
}

// A log that claims entries and returns none fails the step with a storage error (in
// every build), and the node refuses further events instead of silently skipping.
#[test]
fn broken_log_contract_is_a_storage_error() {
    let config = RaftConfig::new(1, [2, 3]).with_pre_vote(false);
    let mut node = RaftNode::with_log(config, LyingLog::default());
    cluster::win_election(&mut node);
    let term = node.term();
    // Follower 2 answers the probe, so the proposal is replicated to it at once.
    let _ = node.step(append_ack(term, 2, 0)).unwrap();
    let error = node.step(Event::Propose(b"x".to_vec())).unwrap_err();
    assert!(matches!(error, Error::Storage { .. }), "{error:?}");
    assert_eq!(node.step(Event::Tick), Err(Error::Failed));
}

// Found by the node_step fuzz target: an append reaching below a follower's snapshot
// whose entry at the snapshot's index has another term cannot follow the snapshot; it
// is refused as a contradiction of committed state (it used to reach the log, which
// refused the term going back, and the node failed on a storage error).
#[test]
fn append_contradicting_the_snapshot_is_refused() {
    let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]));
    let _ = node
        .step(Event::Message(Message::InstallSnapshot(Box::new(
            InstallSnapshot {
                term: 3,
                leader: 2,
                last_included_index: 10,
                last_included_term: 3,
                membership: Membership::new([1, 2, 3], []),
                offset: 0,
                data: Bytes::from_static(b"state"),
                done: true,
            },
        ))))
        .unwrap();
    let entries = (9..=11).map(|index| LogEntry::new(1, index, b"x".to_vec()));
    let result = node.step(Event::Message(Message::AppendEntries(AppendEntries {
        term: 3,
        leader: 2,
        prev_log_index: 8,
        prev_log_term: 1,
        entries: entries.collect(),
        leader_commit: 11,
    })));
    assert!(
        matches!(result, Err(Error::InvalidMessage { .. })),
        "{result:?}"
    );
    assert_eq!(node.log().last_index(), 10);
    let _ = node.step(Event::Tick).expect("the node still works");
}
