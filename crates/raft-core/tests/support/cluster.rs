//! A small in-memory cluster driver for the multi-node tests: messages go through a
//! queue, optionally dropped, duplicated or reordered by a seeded PRNG, and every step
//! is checked against Election Safety, State Machine Safety and commit monotonicity.
//! (The full fault-injecting simulator is raft-sim's job.)
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raft_core::{
    Action, Bytes, Error, Event, HardState, Index, LogEntry, MemoryLog, Message, NodeId,
    RaftConfig, RaftLog, RaftNode, Result, Term,
};

pub use raft_core::testing::{CrashLog, SplitMix64};

/// Fault probabilities in percent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub drop_percent: u64,
    pub duplicate_percent: u64,
    pub reorder_percent: u64,
}

pub struct Cluster {
    pub nodes: BTreeMap<NodeId, RaftNode<CrashLog>>,
    pub configs: BTreeMap<NodeId, RaftConfig>,
    pub queue: VecDeque<(NodeId, Message)>,
    pub applied: BTreeMap<NodeId, Vec<(Index, Bytes)>>,
    /// Blocked directed links (from, to).
    pub blocked: BTreeSet<(NodeId, NodeId)>,
    pub down: BTreeSet<NodeId>,
    pub faults: Faults,
    pub trace: Vec<String>,
    /// Nodes told they were removed (`Action::Removed`), with the index.
    pub removed: BTreeMap<NodeId, Index>,
    /// Reads released (`Action::ReadReady`): the node and the context.
    pub reads_ready: Vec<(NodeId, Bytes)>,
    /// Reads dropped (`Action::ReadDropped`): the node and the context.
    pub reads_dropped: Vec<(NodeId, Bytes)>,
    leaders: BTreeMap<Term, NodeId>,
    committed: BTreeMap<Index, (Term, Bytes)>,
    commit_seen: BTreeMap<NodeId, Index>,
    /// Durable votes seen per (node, term), across restarts.
    votes: BTreeMap<(NodeId, Term), NodeId>,
    /// Nodes that asked for a sync (`Action::SyncLog`), stepped once the queue drains.
    pending_syncs: VecDeque<NodeId>,
    rng: SplitMix64,
}

impl Cluster {
    /// `size` nodes with ids 1..=size and default configs seeded from `seed`.
    pub fn new(size: u64, seed: u64) -> Self {
        let ids: Vec<NodeId> = (1..=size).collect();
        let configs = ids
            .iter()
            .map(|&id| {
                let config = RaftConfig::new(id, ids.iter().copied())
                    .with_seed(seed.wrapping_mul(31).wrapping_add(id));
                (id, config)
            })
            .collect();
        Self::with_configs(configs, seed)
    }

    pub fn with_configs(configs: BTreeMap<NodeId, RaftConfig>, seed: u64) -> Self {
        let logs = configs
            .keys()
            .map(|&id| (id, CrashLog::default()))
            .collect();
        Self::with_logs(configs, logs, seed)
    }

    pub fn with_logs(
        configs: BTreeMap<NodeId, RaftConfig>,
        mut logs: BTreeMap<NodeId, CrashLog>,
        seed: u64,
    ) -> Self {
        let nodes = configs
            .iter()
            .map(|(&id, config)| {
                let log = logs.remove(&id).unwrap_or_default();
                (id, RaftNode::with_log(config.clone(), log))
            })
            .collect();
        Self {
            nodes,
            configs,
            queue: VecDeque::new(),
            applied: BTreeMap::new(),
            blocked: BTreeSet::new(),
            down: BTreeSet::new(),
            faults: Faults::default(),
            trace: Vec::new(),
            removed: BTreeMap::new(),
            reads_ready: Vec::new(),
            reads_dropped: Vec::new(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            commit_seen: BTreeMap::new(),
            votes: BTreeMap::new(),
            pending_syncs: VecDeque::new(),
            rng: SplitMix64::new(seed ^ 0x9e37_79b9_7f4a_7c15),
        }
    }

    fn random(&mut self, below: u64) -> u64 {
        self.rng.below(below)
    }

    pub fn node(&self, id: NodeId) -> &RaftNode<CrashLog> {
        &self.nodes[&id]
    }

    /// Steps one node, routes its actions and checks the safety properties.
    pub fn step(&mut self, id: NodeId, event: Event) -> Result<Vec<Action>> {
        assert!(!self.down.contains(&id), "stepping crashed node {id}");
        let node = self.nodes.get_mut(&id).expect("node exists");
        let syncs_before = node.log().syncs();
        let result = node.step(event);
        let node = &self.nodes[&id];
        assert!(
            node.log().syncs() <= syncs_before + 1,
            "more than one sync in one step"
        );
        let asynchronous = self.configs[&id].async_persistence();
        assert!(
            asynchronous || node.log().is_synced(),
            "node {id} returned before syncing its writes"
        );
        let actions = result?;
        if asynchronous {
            check_sends_are_durable(id, node.log(), &actions);
        }
        for action in &actions {
            match action {
                Action::Send { to, message } => {
                    self.trace.push(format!("{id}->{to} {message:?}"));
                    self.queue.push_back((*to, message.clone()));
                }
                Action::Apply {
                    index,
                    term,
                    command,
                } => {
                    self.trace.push(format!("{id} apply {index}"));
                    let list = self.applied.entry(id).or_default();
                    assert!(
                        list.last().is_none_or(|(last, _)| last < index),
                        "apply order"
                    );
                    list.push((*index, command.clone()));
                    match self.committed.get(index) {
                        Some(seen) => assert_eq!(
                            seen,
                            &(*term, command.clone()),
                            "State Machine Safety: node {id} applied a different entry at {index}"
                        ),
                        None => {
                            let _ = self.committed.insert(*index, (*term, command.clone()));
                        }
                    }
                }
                Action::ReadReady { context, .. } => {
                    self.reads_ready.push((id, context.clone()));
                }
                Action::ReadDropped { context } => {
                    self.reads_dropped.push((id, context.clone()));
                }
                Action::Removed { index } => {
                    self.trace.push(format!("{id} removed at {index}"));
                    let previous = self.removed.insert(id, *index);
                    assert!(previous.is_none(), "node {id} told of its removal twice");
                }
                Action::SyncLog if !self.pending_syncs.contains(&id) => {
                    self.pending_syncs.push_back(id);
                }
                Action::RestoreSnapshot { index, data, .. } => {
                    self.trace.push(format!("{id} restore {index}"));
                    // The snapshot stands for every command up to its index.
                    let list = self.applied.entry(id).or_default();
                    list.clear();
                    list.push((*index, data.clone()));
                }
                _ => {}
            }
        }
        self.check(id);
        Ok(actions)
    }

    fn check(&mut self, id: NodeId) {
        let node = &self.nodes[&id];
        if node.is_leader() {
            let previous = self.leaders.insert(node.term(), id);
            assert!(
                previous.is_none_or(|other| other == id),
                "Election Safety: {previous:?} and {id} both led term {}",
                node.term()
            );
        }
        let durable = node.log().durable_hard_state();
        if let Some(vote) = durable.voted_for {
            let previous = self.votes.insert((id, durable.term), vote);
            assert!(
                previous.is_none_or(|other| other == vote),
                "node {id} voted for {previous:?} and {vote} in term {}",
                durable.term
            );
        }
        let seen = self.commit_seen.entry(id).or_default();
        assert!(
            node.commit_index() >= *seen,
            "commit index of {id} went backwards"
        );
        *seen = node.commit_index();
    }

    pub fn tick(&mut self, id: NodeId) {
        if !self.down.contains(&id) {
            let _ = self.step(id, Event::Tick).expect("ticks never fail");
        }
    }

    pub fn tick_all(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.tick(id);
        }
    }

    /// Delivers one queued message, applying faults. Returns false when empty.
    pub fn deliver_one(&mut self) -> bool {
        let Some((to, message)) = self.queue.pop_front() else {
            // The driver steps every ready message, then syncs once per node.
            let Some(id) = self.pending_syncs.pop_front() else {
                return false;
            };
            if !self.down.contains(&id) {
                let _ = self.step(id, Event::SyncLog);
            }
            return true;
        };
        let from = message.from();
        if self.down.contains(&to) || self.blocked.contains(&(from, to)) {
            return true;
        }
        if self.faults.drop_percent > 0 && self.random(100) < self.faults.drop_percent {
            return true;
        }
        if self.faults.reorder_percent > 0 && self.random(100) < self.faults.reorder_percent {
            let position = self.random(self.queue.len() as u64 + 1) as usize;
            self.queue.insert(position, (to, message));
            return true;
        }
        if self.faults.duplicate_percent > 0 && self.random(100) < self.faults.duplicate_percent {
            self.queue.push_back((to, message.clone()));
        }
        match self.step(to, Event::Message(message)) {
            Ok(_) => {}
            // Protocol-level refusals are fine under faults; storage errors are not.
            Err(error @ (Error::Storage { .. } | Error::Failed)) => panic!("{error}"),
            Err(_) => {}
        }
        true
    }

    /// Delivers until the queue is empty (bounded so a livelock fails loudly).
    pub fn deliver_all(&mut self) {
        for _ in 0..1_000_000 {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("message queue never drained");
    }

    /// One round: every live node ticks, then all messages are delivered.
    pub fn round(&mut self) {
        self.tick_all();
        self.deliver_all();
    }

    /// The live leader with the highest term, if any.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter(|(id, node)| !self.down.contains(id) && node.is_leader())
            .max_by_key(|(_, node)| node.term())
            .map(|(&id, _)| id)
    }

    /// Runs rounds until `done` holds; panics after `rounds_max`.
    pub fn run_until(&mut self, rounds_max: usize, mut done: impl FnMut(&Cluster) -> bool) {
        for _ in 0..rounds_max {
            if done(self) {
                return;
            }
            self.round();
        }
        if !done(self) {
            for node in self.nodes.values() {
                eprintln!("{node:?} voted_for={:?}", node.voted_for());
            }
            for line in self.trace.iter().rev().take(30).rev() {
                eprintln!("{line}");
            }
            panic!("condition not reached in {rounds_max} rounds");
        }
    }

    /// Runs rounds until a leader exists and returns it.
    pub fn elect_any(&mut self) -> NodeId {
        self.run_until(500, |cluster| cluster.leader().is_some());
        self.leader().expect("a leader")
    }

    /// Ticks only `id` (delivering everything between ticks) until it leads.
    pub fn elect(&mut self, id: NodeId) {
        for _ in 0..1000 {
            if self.nodes[&id].is_leader() {
                return;
            }
            self.tick(id);
            self.deliver_all();
        }
        panic!("node {id} never became leader");
    }

    pub fn propose(&mut self, id: NodeId, command: &str) -> Result<Vec<Action>> {
        self.step(id, Event::Propose(command.as_bytes().to_vec()))
    }

    /// Cuts `id` off from every other node, both ways.
    pub fn isolate(&mut self, id: NodeId) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for other in ids.into_iter().filter(|&other| other != id) {
            let _ = self.blocked.insert((id, other));
            let _ = self.blocked.insert((other, id));
        }
    }

    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Crashes `id`: it loses whatever its log had not synced.
    pub fn crash(&mut self, id: NodeId) {
        let _ = self.down.insert(id);
        self.pending_syncs.retain(|&other| other != id);
    }

    /// Restarts `id` from its durable log.
    pub fn restart(&mut self, id: NodeId) {
        self.restart_from(id, |log| log.after_crash(0));
    }

    /// Restarts `id` from its durable log after a disk fault lost every entry from
    /// `lost_from` on (`CrashLog::after_disk_damage`: the repair mark is set).
    pub fn restart_damaged(&mut self, id: NodeId, lost_from: Index) {
        self.restart_from(id, |log| log.after_disk_damage(lost_from));
    }

    /// Restarts `id` from its durable log with `mark` set, as storage that found
    /// damage would (the mark may over-estimate what was lost).
    pub fn restart_marked(&mut self, id: NodeId, mark: raft_core::RepairMark) {
        self.restart_from(id, |log| {
            let mut log = log.after_crash(0);
            log.set_repair_mark(Some(mark)).expect("memory");
            log.sync().expect("memory");
            log
        });
    }

    /// Restarts `id` on a new, empty storage of `incarnation` (a wiped data
    /// directory, or a lost vote: docs/RECOVERY.md, rule 2). The new incarnation is a
    /// different voter, so the checker forgets the old one's votes.
    pub fn restart_wiped(&mut self, id: NodeId, incarnation: raft_core::Incarnation) {
        self.restart_from(id, |_| {
            CrashLog::from_durable(MemoryLog::with_incarnation(incarnation))
        });
        self.votes.retain(|&(voter, _), _| voter != id);
    }

    /// Restarts `id` from what `survive` keeps of its log.
    fn restart_from(&mut self, id: NodeId, survive: impl FnOnce(CrashLog) -> CrashLog) {
        let node = self.nodes.remove(&id).expect("node exists");
        let log = survive(node.into_log());
        let node = RaftNode::with_log(self.configs[&id].clone(), log);
        let _ = self.nodes.insert(id, node);
        let _ = self.applied.remove(&id);
        let _ = self.commit_seen.remove(&id);
        let _ = self.down.remove(&id);
        self.pending_syncs.retain(|&other| other != id);
    }

    pub fn applied_commands(&self, id: NodeId) -> Vec<String> {
        self.applied
            .get(&id)
            .map(|list| {
                list.iter()
                    .map(|(_, command)| String::from_utf8_lossy(command).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Log Matching over every pair of live nodes: equal (index, term) implies equal
    /// prefixes.
    pub fn check_log_matching(&self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for (position, &a) in ids.iter().enumerate() {
            for &b in &ids[position + 1..] {
                let (log_a, log_b) = (self.nodes[&a].log(), self.nodes[&b].log());
                let shared = log_a.last_index().min(log_b.last_index());
                // Below either node's snapshot, entries are compacted away.
                let floor = log_a.snapshot_index().max(log_b.snapshot_index());
                let mut matched_above = false;
                for index in (floor + 1..=shared).rev() {
                    let same = log_a.term_at(index) == log_b.term_at(index);
                    if matched_above {
                        assert_eq!(
                            log_a.entry(index),
                            log_b.entry(index),
                            "Log Matching: nodes {a} and {b} differ at {index}"
                        );
                    } else if same {
                        matched_above = true;
                        assert_eq!(log_a.entry(index), log_b.entry(index));
                    }
                }
            }
        }
    }
}

/// A log holding entries with the given terms at indexes 1.., with `term` as its hard
/// state's term.
/// The hidden-state oracle for async persistence: every message a node lets out is
/// backed by its durable state (term, vote, acknowledged entries), whatever it still
/// holds unsynced.
pub fn check_sends_are_durable(id: NodeId, log: &CrashLog, actions: &[Action]) {
    let durable = log.durable();
    let state = durable.hard_state();
    for action in actions {
        let Action::Send { to, message } = action else {
            continue;
        };
        if matches!(message, Message::PreVote(_) | Message::PreVoteReply(_)) {
            continue; // a probe promises nothing
        }
        assert!(
            message.term() <= state.term,
            "node {id} sent {message:?} in a term its log has not made durable ({})",
            state.term
        );
        match message {
            Message::RequestVoteReply(reply) if reply.vote_granted => assert_eq!(
                (state.term, state.voted_for),
                (reply.term, Some(*to)),
                "node {id} granted a vote its log has not made durable"
            ),
            Message::RequestVote(request) => assert_eq!(
                (state.term, state.voted_for),
                (request.term, Some(id)),
                "node {id} asked for votes before its own vote was durable"
            ),
            Message::AppendEntriesReply(reply) if reply.success => {
                let live = log.live();
                assert!(
                    durable.last_index() >= reply.match_index
                        && durable.term_at(reply.match_index) == live.term_at(reply.match_index),
                    "node {id} acknowledged {} before its log made it durable (durable last {})",
                    reply.match_index,
                    durable.last_index()
                );
            }
            _ => {}
        }
    }
}

pub fn log_with_terms(terms: &[Term], term: Term) -> CrashLog {
    let mut log = MemoryLog::new();
    let entries: Vec<LogEntry> = terms
        .iter()
        .zip(1..)
        .map(|(&t, index)| LogEntry::new(t, index, format!("{t}@{index}").into_bytes()))
        .collect();
    log.append(&entries).expect("valid entries");
    log.set_hard_state(HardState {
        term,
        voted_for: None,
        commit_index: 0,
    })
    .expect("memory");
    CrashLog::from_durable(log)
}

/// Makes `node` (pre-vote off, peers 2 and 3) leader by hand: ticks it into candidacy
/// and grants it node 2's vote.
pub fn win_election<L: RaftLog>(node: &mut RaftNode<L>) {
    while node.role() != raft_core::Role::Candidate {
        let _ = node.step(Event::Tick).expect("ticks never fail");
    }
    let term = node.term();
    let _ = node
        .step(Event::Message(Message::RequestVoteReply(
            raft_core::RequestVoteReply {
                term,
                vote_granted: true,
                from: 2,
                incarnation: 0,
            },
        )))
        .expect("a granted vote is taken");
    assert!(node.is_leader());
}

/// The messages among `actions`, with their destinations.
pub fn sends(actions: &[Action]) -> Vec<(NodeId, Message)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send { to, message } => Some((*to, message.clone())),
            _ => None,
        })
        .collect()
}
