//! Commit throughput of an in-memory cluster: N 128-byte proposals in rounds of B,
//! messages delivered FIFO in node-id order until every node has applied the round.
//! Reported as entries per second; `B=..` rows propose the round as one `ProposeBatch`,
//! `each/B=..` rows as B separate `Propose` events. The `election` group times building
//! three nodes and electing one. The rows of issue 20's table (peer harness in
//! `../shared/bench`). Run with `cargo xtask bench` or
//! `cargo bench -p raft-core --bench throughput`.

#[path = "support/cluster.rs"]
mod cluster;

use std::hint::black_box;
use std::time::{Duration, Instant};

use cluster::{Cluster, three_nodes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use raft_core::Event;

/// Rebuild the cluster (untimed) once a log holds this many entries, to bound memory.
const LOG_ENTRIES_MAX: u64 = 400_000;
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

fn election(c: &mut Criterion) {
    let mut group = c.benchmark_group("election");
    group.bench_function("3-nodes/build", |b| b.iter(|| black_box(three_nodes())));
    // Node 1 ticks until it leads (pre-vote, vote, the no-op's replication).
    group.bench_function("3-nodes/elect", |b| {
        b.iter_batched(
            || Cluster::from_nodes(three_nodes()),
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
    // Every node ticks each round until one leads (the peer harnesses' election).
    group.bench_function("3-nodes/elect/all-tick", |b| {
        b.iter_batched(
            || Cluster::from_nodes(three_nodes()),
            |mut cluster| {
                black_box(cluster.elect_ticking_all());
                cluster
            },
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, throughput, election);
criterion_main!(benches);
