//! The in-memory cluster both the throughput bench and the `workload` example drive:
//! 128-byte proposals, messages delivered FIFO in node-id order until none is left, a
//! round proposed on node 1 and delivered until every node has applied it.

use std::hint::black_box;

use raft_core::{Action, Bytes, Event, Message, NodeId, RaftConfig, RaftNode};

/// Bytes of every proposal.
pub const PAYLOAD_BYTES: usize = 128;

/// Nodes 1..=N in memory, with their outboxes.
pub struct Cluster {
    /// The nodes, node 1 first.
    pub nodes: Vec<RaftNode>,
    /// Messages each node sent since the last delivery.
    pub outboxes: Vec<Vec<(NodeId, Message)>>,
    /// The reused action buffer.
    pub actions: Vec<Action>,
    /// The last index each node applied.
    pub applied: Vec<u64>,
}

impl Cluster {
    /// Fresh nodes, not yet stepped (node 1 first).
    pub fn from_nodes(nodes: Vec<RaftNode>) -> Self {
        let size = nodes.len();
        Self {
            nodes,
            outboxes: vec![Vec::new(); size],
            actions: Vec::new(),
            applied: vec![0; size],
        }
    }

    /// `size` nodes with node 1 leading and the followers replicating.
    pub fn new(size: u64) -> Self {
        let ids: Vec<NodeId> = (1..=size).collect();
        let mut cluster = Self::from_nodes(
            ids.iter()
                .map(|&id| RaftNode::new(RaftConfig::new(id, ids.iter().copied())))
                .collect(),
        );
        while !cluster.nodes[0].is_leader() {
            cluster.step(0, Event::Tick);
            cluster.deliver();
        }
        // Let the followers settle into pipelined replication.
        for _ in 0..10 {
            for position in 0..cluster.nodes.len() {
                cluster.step(position, Event::Tick);
            }
            cluster.deliver();
        }
        cluster
    }

    /// Steps the node at `position` (0 is node 1).
    pub fn step(&mut self, position: usize, event: Event) {
        self.actions.clear();
        self.nodes[position]
            .step_into(event, &mut self.actions)
            .expect("in-memory step");
        for action in self.actions.drain(..) {
            match action {
                Action::Send { to, message } => self.outboxes[position].push((to, message)),
                Action::Apply { index, .. } => self.applied[position] = index,
                _ => {}
            }
        }
    }

    /// FIFO in node-id order until no message is left.
    pub fn deliver(&mut self) {
        loop {
            let mut delivered = false;
            for from in 0..self.nodes.len() {
                let mut outbox = std::mem::take(&mut self.outboxes[from]);
                for (to, message) in outbox.drain(..) {
                    delivered = true;
                    self.step(to as usize - 1, Event::Message(message));
                }
                // The buffer goes back (only node `from` fills its own outbox, and it
                // was not stepped here), so outboxes do not regrow every delivery.
                if self.outboxes[from].is_empty() {
                    self.outboxes[from] = outbox;
                }
            }
            if !delivered {
                return;
            }
        }
    }

    /// Ticks every node once a round, delivering after each round, until one leads (as
    /// the peer harnesses time an election: a quiet tick on every node, then pre-vote,
    /// vote and the no-op's replication). Returns the rounds it took.
    pub fn elect_ticking_all(&mut self) -> u64 {
        let mut rounds = 0;
        while !self.nodes.iter().any(RaftNode::is_leader) {
            rounds += 1;
            for position in 0..self.nodes.len() {
                self.step(position, Event::Tick);
            }
            self.deliver();
        }
        rounds
    }

    /// Proposes `batch` entries on node 1 (one `ProposeBatch`, or one `Propose` each
    /// with `each`) and delivers until every node has applied them.
    pub fn round(&mut self, batch: usize, each: bool) {
        if each {
            for _ in 0..batch {
                self.step(0, Event::Propose(vec![7u8; PAYLOAD_BYTES]));
            }
        } else if batch == 1 {
            self.step(0, Event::Propose(vec![7u8; PAYLOAD_BYTES]));
        } else {
            let commands = (0..batch)
                .map(|_| Bytes::from(vec![7u8; PAYLOAD_BYTES]))
                .collect();
            self.step(0, Event::ProposeBatch(commands));
        }
        self.deliver();
        let target = self.nodes[0].commit_index();
        debug_assert!(self.applied.iter().all(|&applied| applied == target));
        black_box(target);
    }
}

/// Three fresh nodes, not yet stepped.
pub fn three_nodes() -> Vec<RaftNode> {
    let ids = [1, 2, 3];
    ids.iter()
        .map(|&id| RaftNode::new(RaftConfig::new(id, ids)))
        .collect()
}
