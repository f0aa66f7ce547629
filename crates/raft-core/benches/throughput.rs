//! Commit throughput of an in-memory cluster: N 128-byte proposals in rounds of B,
//! messages delivered FIFO in node-id order until every node has applied the round.
//! Reported as entries per second; `B=..` rows propose the round as one `ProposeBatch`,
//! `each/B=..` rows as B separate `Propose` events. The `election` group times building
//! three nodes and electing one. The rows of issue 20's table (peer harness in
//! `../shared/bench`). Run with `cargo xtask bench` or
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

    fn round(&mut self, batch: usize, each: bool) {
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

fn run_rounds(size: u64, batch: usize, each: bool, rounds: u64) -> Duration {
    let mut cluster = Cluster::new(size);
    let mut elapsed = Duration::ZERO;
    for _ in 0..rounds {
        if cluster.nodes[0].commit_index() > LOG_ENTRIES_MAX {
            cluster = Cluster::new(size);
        }
        let start = Instant::now();
        cluster.round(batch, each);
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
    let rows = [
        (3u64, 1usize, false),
        (3, 64, false),
        (3, 1024, false),
        (1, 64, false),
        (3, 64, true),
        (1, 64, true),
    ];
    for (size, batch, each) in rows {
        group.throughput(Throughput::Elements(batch as u64));
        let name = if each {
            format!("each/B={batch}")
        } else {
            format!("B={batch}")
        };
        group.bench_with_input(
            BenchmarkId::new(format!("{size}-nodes"), name),
            &batch,
            |b, &batch| b.iter_custom(|rounds| run_rounds(size, batch, each, rounds)),
        );
    }
    group.finish();
}

/// Three fresh nodes, not yet stepped.
fn three_nodes() -> Vec<RaftNode> {
    let ids = [1, 2, 3];
    ids.iter()
        .map(|&id| RaftNode::new(RaftConfig::new(id, ids)))
        .collect()
}

fn election(c: &mut Criterion) {
    let mut group = c.benchmark_group("election");
    group.bench_function("3-nodes/build", |b| b.iter(|| black_box(three_nodes())));
    // Node 1 ticks until it leads (pre-vote, vote, the no-op's replication).
    group.bench_function("3-nodes/elect", |b| {
        b.iter_batched(
            || Cluster {
                nodes: three_nodes(),
                outboxes: vec![Vec::new(); 3],
                actions: Vec::new(),
                applied: vec![0; 3],
            },
            |mut cluster| {
                while !cluster.nodes[0].is_leader() {
                    cluster.step(0, Event::Tick);
                    cluster.deliver();
                }
                cluster
            },
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, throughput, election);
criterion_main!(benches);
