//! Commit throughput of an in-memory cluster: N 128-byte proposals in rounds of B,
//! messages delivered FIFO in node-id order until every node has applied the round.
//! Reported as entries per second. Run with `cargo xtask bench` or
//! `cargo bench -p raft-core --bench throughput`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use raft_core::{Action, Bytes, Event, Message, NodeId, RaftConfig, RaftNode};

const PAYLOAD_BYTES: usize = 128;
/// Rebuild the cluster (untimed) once a log holds this many entries, to bound memory.
const LOG_ENTRIES_MAX: u64 = 400_000;

struct Cluster {
    nodes: Vec<RaftNode>,
    outboxes: Vec<Vec<(NodeId, Message)>>,
    actions: Vec<Action>,
    applied: Vec<u64>,
}

impl Cluster {
    fn new(size: u64) -> Self {
        let ids: Vec<NodeId> = (1..=size).collect();
        let nodes = ids
            .iter()
            .map(|&id| RaftNode::new(RaftConfig::new(id, ids.iter().copied())))
            .collect();
        let mut cluster = Self {
            nodes,
            outboxes: vec![Vec::new(); size as usize],
            actions: Vec::new(),
            applied: vec![0; size as usize],
        };
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

    fn step(&mut self, position: usize, event: Event) {
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
    fn deliver(&mut self) {
        loop {
            let mut delivered = false;
            for from in 0..self.nodes.len() {
                let outbox = std::mem::take(&mut self.outboxes[from]);
                for (to, message) in outbox {
                    delivered = true;
                    self.step(to as usize - 1, Event::Message(message));
                }
            }
            if !delivered {
                return;
            }
        }
    }

    fn round(&mut self, batch: usize) {
        if batch == 1 {
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

fn run_rounds(size: u64, batch: usize, rounds: u64) -> Duration {
    let mut cluster = Cluster::new(size);
    let mut elapsed = Duration::ZERO;
    for _ in 0..rounds {
        if cluster.nodes[0].commit_index() > LOG_ENTRIES_MAX {
            cluster = Cluster::new(size);
        }
        let start = Instant::now();
        cluster.round(batch);
        elapsed += start.elapsed();
        assert!(
            cluster
                .applied
                .iter()
                .all(|&a| a == cluster.nodes[0].commit_index())
        );
    }
    elapsed
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    group
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    for (size, batch) in [(3u64, 1usize), (3, 64), (3, 1024), (1, 64)] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("{size}-nodes"), format!("B={batch}")),
            &batch,
            |b, &batch| b.iter_custom(|rounds| run_rounds(size, batch, rounds)),
        );
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
