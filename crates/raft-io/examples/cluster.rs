//! An in-process 3-node cluster running a tiny replicated key-value store: it elects a
//! leader, replicates writes, loses its leader to a partition, fails over, and heals
//! the partition so the old leader steps down and catches up. Every message goes through a `MemoryTransport` per node.
//!
//! Run it with `cargo run -p raft-io --example cluster`.

use std::collections::BTreeMap;

use raft_io::{Action, Event, MemoryTransport, NodeId, RaftConfig, RaftNode, RaftTransport};

struct Cluster {
    nodes: BTreeMap<NodeId, RaftNode>,
    outboxes: BTreeMap<NodeId, MemoryTransport>,
    stores: BTreeMap<NodeId, BTreeMap<String, String>>,
    /// A node cut off from the others: its messages are lost both ways.
    down: Option<NodeId>,
    tick: u64,
}

impl Cluster {
    fn new(size: u64) -> Self {
        let ids: Vec<NodeId> = (1..=size).collect();
        let nodes = ids
            .iter()
            .map(|&id| (id, RaftNode::new(RaftConfig::new(id, ids.iter().copied()))))
            .collect();
        let outboxes = ids.iter().map(|&id| (id, MemoryTransport::new())).collect();
        let stores = ids.iter().map(|&id| (id, BTreeMap::new())).collect();
        Self {
            nodes,
            outboxes,
            stores,
            down: None,
            tick: 0,
        }
    }

    /// Steps one node and carries out its actions: sends go to its transport, applies
    /// go to its copy of the store.
    fn step(&mut self, id: NodeId, event: Event) -> raft_io::Result<()> {
        let before = (self.nodes[&id].role(), self.nodes[&id].term());
        let actions = self.nodes.get_mut(&id).expect("known node").step(event)?;
        for action in actions {
            match action {
                Action::Send { to, message } => {
                    self.outboxes
                        .get_mut(&id)
                        .expect("known node")
                        .send(to, message)?;
                }
                Action::Apply { index, command, .. } => {
                    let text = String::from_utf8_lossy(&command).into_owned();
                    if let Some((key, value)) = text.split_once('=') {
                        let store = self.stores.get_mut(&id).expect("known node");
                        let _ = store.insert(key.trim().to_owned(), value.trim().to_owned());
                    }
                    if self.nodes[&id].is_leader() {
                        println!(
                            "  tick {:>3}: node {id} applied #{index} `{text}` (committed)",
                            self.tick
                        );
                    }
                }
                _ => {}
            }
        }
        let node = &self.nodes[&id];
        if (node.role(), node.term()) != before && node.is_leader() {
            println!(
                "  tick {:>3}: node {id} became leader of term {}",
                self.tick,
                node.term()
            );
        }
        if before.0 == raft_io::Role::Leader && !node.is_leader() {
            println!(
                "  tick {:>3}: node {id} stepped down (term {})",
                self.tick,
                node.term()
            );
        }
        Ok(())
    }

    /// Delivers every queued message (those to or from a crashed node are lost).
    fn deliver(&mut self) {
        loop {
            let mut batch = Vec::new();
            for (&from, outbox) in &mut self.outboxes {
                for (to, message) in outbox.take() {
                    if self.down != Some(from) && self.down != Some(to) {
                        batch.push((to, message));
                    }
                }
            }
            if batch.is_empty() {
                return;
            }
            for (to, message) in batch {
                // A refused message is logged and dropped, as a real driver would.
                if let Err(error) = self.step(to, Event::Message(message)) {
                    println!("  node {to} refused a message: {error}");
                }
            }
        }
    }

    fn run_ticks(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.tick += 1;
            // The cut-off node keeps running: check-quorum makes it step down.
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.step(id, Event::Tick)
                    .expect("ticks never fail in memory");
            }
            self.deliver();
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter(|(id, node)| self.down != Some(**id) && node.is_leader())
            .max_by_key(|(_, node)| node.term())
            .map(|(&id, _)| id)
    }

    fn wait_for_leader(&mut self) -> NodeId {
        for _ in 0..1000 {
            if let Some(leader) = self.leader() {
                return leader;
            }
            self.run_ticks(1);
        }
        panic!("no leader elected");
    }

    fn put(&mut self, key: &str, value: &str) {
        let leader = self.wait_for_leader();
        let command = format!("{key} = {value}").into_bytes();
        match self.step(leader, Event::Propose(command)) {
            Ok(()) => self.deliver(),
            Err(error) => println!("  proposal refused: {error}"),
        }
    }

    fn print_stores(&self) {
        for (id, store) in &self.stores {
            let node = &self.nodes[id];
            let state = if self.down == Some(*id) {
                "cut off".to_owned()
            } else {
                format!("{:?}", node.role())
            };
            println!(
                "  node {id} [{state:<9} term {} commit {:>2}] {:?}",
                node.term(),
                node.commit_index(),
                store
            );
        }
    }
}

fn main() {
    println!("== a 3-node cluster starts; pre-vote, then an election");
    let mut cluster = Cluster::new(3);
    let first = cluster.wait_for_leader();

    println!("\n== the leader replicates writes to every node");
    cluster.put("x", "1");
    cluster.put("y", "2");
    cluster.run_ticks(5);
    cluster.print_stores();

    println!("\n== node {first}, the leader, is cut off from the others");
    cluster.down = Some(first);
    let proposal = cluster.step(first, Event::Propose(b"lost = yes".to_vec()));
    println!(
        "  it still takes a proposal it can never commit: {}",
        proposal.is_ok()
    );
    let second = cluster.wait_for_leader();
    println!(
        "  failover: node {second} leads term {}",
        cluster.nodes[&second].term()
    );
    cluster.put("x", "3");
    cluster.put("z", "4");
    // Check-quorum: the cut-off leader notices it hears no majority and steps down.
    while cluster.nodes[&first].is_leader() {
        cluster.run_ticks(1);
    }
    cluster.print_stores();

    println!("\n== the partition heals; node {first} catches up from the new leader");
    cluster.down = None;
    cluster.run_ticks(30);
    cluster.print_stores();
    let stores: Vec<_> = cluster.stores.values().collect();
    assert!(
        stores.windows(2).all(|pair| pair[0] == pair[1]),
        "replicas diverged"
    );
    assert_eq!(stores[0].get("x").map(String::as_str), Some("3"));
    println!(
        "\nall three replicas hold the same store; the unreplicated write on the old leader was discarded"
    );
}
