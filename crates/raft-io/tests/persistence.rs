//! A 3-node cluster on WalLogs: writes commit, the leader crashes (dropped, nothing
//! closed cleanly), the others fail over, the old leader restarts from its directory
//! and catches up. Needs the `persistence` feature.
#![cfg(feature = "persistence")]

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use raft_io::{Action, Event, Message, NodeId, RaftConfig, RaftNode, WalLog};

struct Cluster {
    root: PathBuf,
    nodes: BTreeMap<NodeId, RaftNode<WalLog>>,
    queue: VecDeque<(NodeId, Message)>,
    applied: BTreeMap<NodeId, Vec<Vec<u8>>>,
}

impl Cluster {
    fn config(id: NodeId) -> RaftConfig {
        RaftConfig::new(id, [1, 2, 3]).with_seed(id * 7)
    }

    fn start(&mut self, id: NodeId) {
        let log = WalLog::open(self.root.join(format!("node-{id}"))).expect("open wal");
        let _ = self
            .nodes
            .insert(id, RaftNode::with_log(Self::config(id), log));
        let _ = self.applied.insert(id, Vec::new());
    }

    fn step(&mut self, id: NodeId, event: Event) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let Ok(actions) = node.step(event) else {
            return;
        };
        for action in actions {
            match action {
                Action::Send { to, message } => self.queue.push_back((to, message)),
                Action::Apply { command, .. } => {
                    self.applied.entry(id).or_default().push(command.to_vec())
                }
                _ => {}
            }
        }
    }

    fn round(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.step(id, Event::Tick);
        }
        while let Some((to, message)) = self.queue.pop_front() {
            self.step(to, Event::Message(message));
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.is_leader())
            .max_by_key(|(_, n)| n.term())
            .map(|(&id, _)| id)
    }

    fn elect(&mut self) -> NodeId {
        for _ in 0..500 {
            if let Some(leader) = self.leader() {
                return leader;
            }
            self.round();
        }
        panic!("no leader");
    }
}

// Proves durable nodes fail over and a crashed leader recovers from disk and converges.
#[test]
fn durable_cluster_survives_a_leader_crash() {
    let root = std::env::temp_dir().join(format!("raft-io-persistence-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let mut cluster = Cluster {
        root: root.clone(),
        nodes: BTreeMap::new(),
        queue: VecDeque::new(),
        applied: BTreeMap::new(),
    };
    for id in 1..=3 {
        cluster.start(id);
    }
    let first = cluster.elect();
    for i in 0..10 {
        cluster.step(first, Event::Propose(format!("a{i}").into_bytes()));
        cluster.round();
    }
    // Crash: the node and its WalLog are dropped with whatever was synced.
    let _ = cluster.nodes.remove(&first);
    cluster.queue.clear();
    let second = cluster.elect();
    assert_ne!(second, first);
    for i in 0..10 {
        cluster.step(second, Event::Propose(format!("b{i}").into_bytes()));
        cluster.round();
    }
    cluster.start(first);
    for _ in 0..50 {
        cluster.round();
    }
    let expected: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("a{i}"))
        .chain((0..10).map(|i| format!("b{i}")))
        .map(String::into_bytes)
        .collect();
    for id in [1, 2, 3] {
        let applied = &cluster.applied[&id];
        // The restarted node re-applies from its log, so it sees the whole history.
        assert_eq!(applied, &expected, "node {id}");
    }
    drop(cluster);
    std::fs::remove_dir_all(&root).unwrap();
}
