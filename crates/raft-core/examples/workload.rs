//! One row of issue 20's table, run once and then exit, for counting instructions:
//! `cargo xtask instructions` runs every row under callgrind with a count and with
//! zero, and reports the difference per entry (or per trial). Instruction counts do
//! not move with the machine's load, so they settle what a noisy machine's timings
//! cannot (a 3% change).
//!
//! ```text
//! cargo run --release -p raft-core --example workload -- ROW COUNT
//! ROW: 3-nodes/B=1 | 3-nodes/B=64 | 3-nodes/B=1024 | 3-nodes/each/B=64 |
//!      1-node/each/B=64 | 3-nodes/build | 3-nodes/elect | 3-nodes/elect/all-tick
//! ```
//!
//! COUNT is entries for the commit rows (a whole number of rounds) and trials for the
//! election rows. The same in-memory cluster as the throughput bench.

#[path = "../benches/support/cluster.rs"]
mod cluster;

use std::hint::black_box;
use std::process::ExitCode;

use cluster::{Cluster, three_nodes};
use raft_core::Event;

/// The rows: name, nodes, entries per round, one `Propose` per entry.
const COMMIT_ROWS: [(&str, u64, usize, bool); 5] = [
    ("3-nodes/B=1", 3, 1, false),
    ("3-nodes/B=64", 3, 64, false),
    ("3-nodes/B=1024", 3, 1024, false),
    ("3-nodes/each/B=64", 3, 64, true),
    ("1-node/each/B=64", 1, 64, true),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(row), Some(count)) = (
        args.first(),
        args.get(1).and_then(|count| count.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: workload ROW COUNT (see the example's documentation)");
        return ExitCode::from(2);
    };
    if let Some(&(_, size, batch, each)) = COMMIT_ROWS.iter().find(|(name, ..)| name == row) {
        let mut cluster = Cluster::new(size);
        for _ in 0..count / batch as u64 {
            cluster.round(batch, each);
        }
        let commit = cluster.nodes[0].commit_index();
        assert!(cluster.applied.iter().all(|&applied| applied == commit));
        return ExitCode::SUCCESS;
    }
    match row.as_str() {
        "3-nodes/build" => {
            for _ in 0..count {
                black_box(three_nodes());
            }
        }
        "3-nodes/elect/all-tick" => {
            for _ in 0..count {
                let mut cluster = Cluster::from_nodes(three_nodes());
                black_box(cluster.elect_ticking_all());
                black_box(cluster);
            }
        }
        "3-nodes/elect" => {
            for _ in 0..count {
                let mut cluster = Cluster::from_nodes(three_nodes());
                while !cluster.nodes[0].is_leader() {
                    cluster.step(0, Event::Tick);
                    cluster.deliver();
                }
                black_box(cluster);
            }
        }
        _ => {
            eprintln!("unknown row {row}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
