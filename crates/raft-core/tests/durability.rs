//! The durability contract: what a reply depends on is written and synced, once per
//! step, before `step` returns; a storage failure stops the node instead of letting it
//! answer from state it could not persist.

use std::cell::RefCell;
use std::rc::Rc;

use raft_core::{
    Action, AppendEntries, Error, Event, HardState, Index, LogEntry, MemoryLog, Message,
    RaftConfig, RaftLog, RaftNode, RequestVote, Result, Term,
};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Append(Index),
    Truncate(Index),
    HardState(HardState),
    Sync,
}

/// A MemoryLog that records every write and can be told to fail its syncs.
#[derive(Default)]
struct RecordingLog {
    inner: MemoryLog,
    ops: Rc<RefCell<Vec<Op>>>,
    fail_sync: bool,
}

impl RaftLog for RecordingLog {
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
    fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        if let Some(last) = entries.last() {
            self.ops.borrow_mut().push(Op::Append(last.index));
        }
        self.inner.append(entries)
    }
    fn truncate(&mut self, from: Index) -> Result<()> {
        self.ops.borrow_mut().push(Op::Truncate(from));
        self.inner.truncate(from)
    }
    fn hard_state(&self) -> HardState {
        self.inner.hard_state()
    }
    fn set_hard_state(&mut self, state: HardState) -> Result<()> {
        self.ops.borrow_mut().push(Op::HardState(state));
        self.inner.set_hard_state(state)
    }
    fn sync(&mut self) -> Result<()> {
        if self.fail_sync {
            return Err(Error::storage("syncing", "disk on fire"));
        }
        self.ops.borrow_mut().push(Op::Sync);
        Ok(())
    }
}

fn node() -> (RaftNode<RecordingLog>, Rc<RefCell<Vec<Op>>>) {
    let log = RecordingLog::default();
    let ops = Rc::clone(&log.ops);
    (RaftNode::with_log(RaftConfig::new(1, [2, 3]), log), ops)
}

// A granted vote is written and synced before the reply that carries it is returned.
#[test]
fn vote_is_synced_before_the_reply() {
    let (mut node, ops) = node();
    let request = RequestVote {
        term: 3,
        candidate: 2,
        last_log_index: 0,
        last_log_term: 0,
        force: false,
    };
    let actions = node
        .step(Event::Message(Message::RequestVote(request)))
        .unwrap();
    assert!(
        matches!(&actions[..], [Action::Send { to: 2, message: Message::RequestVoteReply(r) }] if r.vote_granted)
    );
    assert_eq!(
        *ops.borrow(),
        vec![
            Op::HardState(HardState {
                term: 3,
                voted_for: Some(2),
                commit_index: 0
            }),
            Op::Sync
        ]
    );
}

// Appended entries and the new term are covered by exactly one sync per step.
#[test]
fn append_and_term_share_one_sync() {
    let (mut node, ops) = node();
    let append = AppendEntries {
        term: 2,
        leader: 2,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: (1..=3).map(|i| LogEntry::new(2, i, vec![1u8; 8])).collect(),
        leader_commit: 0,
    };
    let _ = node
        .step(Event::Message(Message::AppendEntries(append)))
        .unwrap();
    let ops = ops.borrow();
    assert_eq!(ops.iter().filter(|op| **op == Op::Sync).count(), 1);
    assert_eq!(ops.last(), Some(&Op::Sync));
    assert!(ops.contains(&Op::Append(3)));
}

// A step that writes nothing does not sync (heartbeats cost no fsync).
#[test]
fn nothing_written_nothing_synced() {
    let (mut node, ops) = node();
    for _ in 0..3 {
        let _ = node.step(Event::Tick).unwrap();
    }
    assert!(ops.borrow().is_empty());
}

// A failed sync returns the storage error with no actions; the node then refuses
// every further event rather than acting on state it could not persist.
#[test]
fn failed_sync_stops_the_node() {
    let log = RecordingLog {
        fail_sync: true,
        ..Default::default()
    };
    let mut node = RaftNode::with_log(RaftConfig::new(1, [2, 3]), log);
    let request = RequestVote {
        term: 3,
        candidate: 2,
        last_log_index: 0,
        last_log_term: 0,
        force: false,
    };
    let error = node
        .step(Event::Message(Message::RequestVote(request)))
        .unwrap_err();
    assert!(matches!(error, Error::Storage { .. }));
    assert!(error.is_fatal());
    assert_eq!(node.step(Event::Tick).unwrap_err(), Error::Failed);
}

// A restarted node gets back term, vote and commit index from its log.
#[test]
fn restart_restores_term_vote_and_commit() {
    let (mut node, _) = node();
    let append = AppendEntries {
        term: 4,
        leader: 2,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: (1..=3)
            .map(|i| LogEntry::new(4, i, vec![i as u8]))
            .collect(),
        leader_commit: 2,
    };
    let _ = node
        .step(Event::Message(Message::AppendEntries(append)))
        .unwrap();
    let log = node.into_log();
    let restarted = RaftNode::with_log(RaftConfig::new(1, [2, 3]), log);
    assert_eq!(
        (
            restarted.term(),
            restarted.commit_index(),
            restarted.log().last_index()
        ),
        (4, 2, 3)
    );
}

// A log whose hard state contradicts its entries is reported, not trusted.
#[test]
fn inconsistent_log_is_refused_on_restore() {
    let mut log = MemoryLog::new();
    log.append(&[LogEntry::new(5, 1, vec![])]).unwrap();
    log.set_hard_state(HardState {
        term: 2,
        voted_for: None,
        commit_index: 0,
    })
    .unwrap();
    assert!(matches!(
        RaftNode::try_with_log(RaftConfig::single(1), log),
        Err(Error::Storage { .. })
    ));
    let mut log = MemoryLog::new();
    log.set_hard_state(HardState {
        term: 2,
        voted_for: None,
        commit_index: 9,
    })
    .unwrap();
    assert!(matches!(
        RaftNode::try_with_log(RaftConfig::single(1), log),
        Err(Error::Storage { .. })
    ));
}

// An invalid configuration is a typed error from try_new, and a panic with the same
// message from new.
#[test]
fn invalid_config_is_an_error() {
    let config = RaftConfig::single(1).with_heartbeat_interval(50);
    assert!(matches!(
        RaftNode::try_new(config.clone()),
        Err(Error::InvalidConfig {
            field: "heartbeat interval",
            ..
        })
    ));
    let panic = std::panic::catch_unwind(|| RaftNode::new(config)).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("heartbeat interval"), "{message}");
}

// A log without snapshot support refuses a snapshot with a non-fatal error: the node
// keeps working.
#[test]
fn snapshot_on_a_log_without_support_is_not_fatal() {
    let mut single = RaftNode::with_log(RaftConfig::single(1), RecordingLog::default());
    while !single.is_leader() {
        let _ = single.step(Event::Tick).unwrap();
    }
    let _ = single.step(Event::Propose(b"x".to_vec())).unwrap();
    let error = single
        .step(Event::Snapshot {
            index: 1,
            data: raft_core::Bytes::new(),
        })
        .unwrap_err();
    assert_eq!(
        error,
        Error::Unsupported {
            feature: "snapshots"
        }
    );
    assert!(!error.is_fatal());
    assert!(single.step(Event::Propose(b"y".to_vec())).is_ok());
}

// Regression (raft-sim disk errors, seeds 503923 and others): within one step the new
// term is written before entries of that term, so a crash that keeps only a prefix of
// the step's writes never leaves entries of a term the hard state has not reached.
#[test]
fn term_is_written_before_entries_of_that_term() {
    let (mut node, ops) = node();
    let append = AppendEntries {
        term: 5,
        leader: 2,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![LogEntry::new(5, 1, vec![1u8])],
        leader_commit: 0,
    };
    let _ = node
        .step(Event::Message(Message::AppendEntries(append)))
        .unwrap();
    let ops = ops.borrow();
    let term_written = ops
        .iter()
        .position(|op| matches!(op, Op::HardState(state) if state.term == 5));
    let appended = ops.iter().position(|op| *op == Op::Append(1));
    assert!(term_written < appended, "{ops:?}");
    assert!(term_written.is_some());
}

// ----- deferred leader sync (RaftConfig::with_deferred_leader_sync) -----------------

type Node = RaftNode<RecordingLog>;

/// Three nodes with deferred leader sync; node 1 leads, the cluster is quiet, and
/// node 1's recorded writes are cleared.
fn deferred_cluster() -> (Vec<Node>, Rc<RefCell<Vec<Op>>>) {
    let mut nodes: Vec<Node> = (1..=3)
        .map(|id| {
            let config = RaftConfig::new(id, [1, 2, 3]).with_deferred_leader_sync(true);
            RaftNode::with_log(config, RecordingLog::default())
        })
        .collect();
    let ops = Rc::clone(&nodes[0].log().ops);
    while !nodes[0].is_leader() {
        let actions = nodes[0].step(Event::Tick).unwrap();
        deliver(&mut nodes, actions);
    }
    // Let the leader's first heartbeats and any no-op settle.
    for _ in 0..5 {
        let actions = nodes[0].step(Event::Tick).unwrap();
        deliver(&mut nodes, actions);
    }
    ops.borrow_mut().clear();
    (nodes, ops)
}

/// Delivers sends (and steps `SyncLog` when asked) until nothing is left.
fn deliver(nodes: &mut [Node], actions: Vec<Action>) {
    let mut queue: Vec<(usize, Action)> = actions.into_iter().map(|a| (0, a)).collect();
    while let Some((from, action)) = queue.pop() {
        let (at, event) = match action {
            Action::Send { to, message } => (to as usize - 1, Event::Message(message)),
            Action::SyncLog => (from, Event::SyncLog),
            _ => continue,
        };
        if let Ok(more) = nodes[at].step(event) {
            queue.extend(more.into_iter().map(|a| (at, a)));
        }
    }
}

fn sends_to(actions: &[Action], to: u64) -> Vec<Message> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send {
                to: recipient,
                message,
            } if *recipient == to => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// Steps `node` with each message and returns every action.
fn step_all(node: &mut Node, messages: Vec<Message>) -> Vec<Action> {
    messages
        .into_iter()
        .flat_map(|message| node.step(Event::Message(message)).unwrap())
        .collect()
}

fn applied(actions: &[Action]) -> Vec<Index> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Apply { index, .. } => Some(*index),
            _ => None,
        })
        .collect()
}

// The leader returns its AppendEntries before syncing, asks for the sync after them,
// and does not count its own unsynced copy: one follower's ack is not a quorum.
#[test]
fn deferred_sync_replicates_first_and_counts_the_leader_only_after_its_sync() {
    let (mut nodes, ops) = deferred_cluster();
    let commit = nodes[0].commit_index();
    let actions = nodes[0].step(Event::Propose(b"x".to_vec())).unwrap();
    let index = nodes[0].log().last_index();
    assert_eq!(
        *ops.borrow(),
        vec![Op::Append(index)],
        "appended, not synced"
    );
    let sync_at = actions.iter().position(|a| *a == Action::SyncLog).unwrap();
    assert_eq!(sync_at, actions.len() - 1, "SyncLog comes after every send");
    let to_2 = sends_to(&actions, 2);
    assert!(!to_2.is_empty());

    let replies = step_all(&mut nodes[1], to_2);
    let after_reply = step_all(&mut nodes[0], sends_to(&replies, 1));
    assert_eq!(
        nodes[0].commit_index(),
        commit,
        "an unsynced leader is no vote"
    );
    assert!(applied(&after_reply).is_empty());

    let synced = nodes[0].step(Event::SyncLog).unwrap();
    // Synced first; the new commit index is then written (unsynced, as always).
    assert_eq!(ops.borrow()[1], Op::Sync);
    assert_eq!(nodes[0].commit_index(), index);
    assert_eq!(applied(&synced), vec![index]);
    // Followers learn the new commit index right away.
    assert!(!sends_to(&synced, 2).is_empty());
}

// Two followers' acks are a quorum without the leader's own copy.
#[test]
fn deferred_sync_commits_on_followers_alone() {
    let (mut nodes, ops) = deferred_cluster();
    let actions = nodes[0].step(Event::Propose(b"x".to_vec())).unwrap();
    let index = nodes[0].log().last_index();
    let mut replies = step_all(&mut nodes[1], sends_to(&actions, 2));
    replies.extend(step_all(&mut nodes[2], sends_to(&actions, 3)));
    let after = step_all(&mut nodes[0], sends_to(&replies, 1));
    assert_eq!(nodes[0].commit_index(), index);
    assert_eq!(applied(&after), vec![index]);
    assert!(
        !ops.borrow().contains(&Op::Sync),
        "still unsynced on the leader"
    );
    let _ = nodes[0].step(Event::SyncLog).unwrap();
    assert_eq!(ops.borrow().last(), Some(&Op::Sync));
}

// A driver that never steps SyncLog: the next tick syncs.
#[test]
fn deferred_sync_falls_back_to_the_next_tick() {
    let (mut nodes, ops) = deferred_cluster();
    let _ = nodes[0].step(Event::Propose(b"x".to_vec())).unwrap();
    assert!(!ops.borrow().contains(&Op::Sync));
    let _ = nodes[0].step(Event::Tick).unwrap();
    assert!(ops.borrow().contains(&Op::Sync));
}

// A leader holding unsynced entries that steps down syncs before it answers: its reply
// may claim those entries.
#[test]
fn deferred_sync_a_deposed_leader_syncs_before_answering() {
    let (mut nodes, ops) = deferred_cluster();
    let _ = nodes[0].step(Event::Propose(b"x".to_vec())).unwrap();
    let (index, term) = (nodes[0].log().last_index(), nodes[0].term());
    let heartbeat = AppendEntries {
        term: term + 1,
        leader: 2,
        prev_log_index: index,
        prev_log_term: term,
        entries: Vec::new(),
        leader_commit: 0,
    };
    let actions = nodes[0].step(Event::Message(heartbeat.into())).unwrap();
    assert!(!nodes[0].is_leader());
    let reply = sends_to(&actions, 2);
    assert!(matches!(
        reply.as_slice(),
        [Message::AppendEntriesReply(r)] if r.success && r.match_index == index
    ));
    assert_eq!(
        ops.borrow().last(),
        Some(&Op::Sync),
        "synced before the reply"
    );
}

// Off (the default), a proposal is synced before the step returns and no SyncLog
// action appears.
#[test]
fn without_deferred_sync_proposals_are_synced_within_the_step() {
    let log = RecordingLog::default();
    let ops = Rc::clone(&log.ops);
    let mut single = RaftNode::with_log(RaftConfig::single(1), log);
    while !single.is_leader() {
        let _ = single.step(Event::Tick).unwrap();
    }
    let actions = single.step(Event::Propose(b"x".to_vec())).unwrap();
    assert!(!actions.contains(&Action::SyncLog));
    assert_eq!(ops.borrow().last(), Some(&Op::Sync));
    assert_eq!(applied(&actions), vec![single.log().last_index()]);

    // A single deferred leader commits at its SyncLog.
    let log = RecordingLog::default();
    let config = RaftConfig::single(1).with_deferred_leader_sync(true);
    let mut single = RaftNode::with_log(config, log);
    while !single.is_leader() {
        let _ = single.step(Event::Tick).unwrap();
    }
    let actions = single.step(Event::Propose(b"x".to_vec())).unwrap();
    assert!(applied(&actions).is_empty());
    assert_eq!(actions.last(), Some(&Action::SyncLog));
    let actions = single.step(Event::SyncLog).unwrap();
    assert_eq!(applied(&actions), vec![single.log().last_index()]);
}
