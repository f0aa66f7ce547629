//! WalLog throughput: appends of 128-byte entries with one sync per batch (batches of
//! 1, 64 and 1024), and recovery of a log of 1M entries. Run with `cargo xtask bench`
//! or `cargo bench -p raft-wal --bench wal`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use raft_core::{Bytes, LogEntry, RaftLog};
use raft_wal::WalLog;

const PAYLOAD_BYTES: usize = 128;

fn bench_dir(name: &str) -> PathBuf {
    // Under the target directory: on the project's disk, not a tmpfs.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wal-bench")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().expect("has a parent")).expect("create bench dir");
    dir
}

fn batch(first: u64, count: usize, payload: &Bytes) -> Vec<LogEntry> {
    (0..count as u64)
        .map(|offset| LogEntry::new(1, first + offset, payload.clone()))
        .collect()
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal-append-sync");
    let _ = group
        .measurement_time(Duration::from_secs(5))
        .sample_size(10);
    let payload = Bytes::from(vec![0x5a; PAYLOAD_BYTES]);
    for size in [1usize, 64, 1024] {
        let _ = group.throughput(Throughput::Elements(size as u64));
        let _ = group.bench_with_input(
            BenchmarkId::from_parameter(format!("batch={size}")),
            &size,
            |b, &size| {
                b.iter_custom(|rounds| {
                    let dir = bench_dir(&format!("append-{size}"));
                    let mut log = WalLog::open(&dir).expect("open");
                    let start = Instant::now();
                    for _ in 0..rounds {
                        let first = log.last_index() + 1;
                        log.append_owned(batch(first, size, &payload))
                            .expect("append");
                        log.sync().expect("sync");
                    }
                    let elapsed = start.elapsed();
                    drop(log);
                    let _ = std::fs::remove_dir_all(&dir);
                    elapsed
                })
            },
        );
    }
    group.finish();
}

fn recovery(c: &mut Criterion) {
    let entries = 1_000_000u64;
    let dir = bench_dir("recovery");
    {
        let payload = Bytes::from(vec![0x5a; PAYLOAD_BYTES]);
        let mut log = WalLog::open(&dir).expect("open");
        for chunk in 0..entries / 10_000 {
            log.append_owned(batch(chunk * 10_000 + 1, 10_000, &payload))
                .expect("append");
            log.sync().expect("sync");
        }
    }
    let bytes: u64 = std::fs::read_dir(&dir)
        .expect("read dir")
        .map(|entry| entry.expect("entry").metadata().expect("metadata").len())
        .sum();
    let mut group = c.benchmark_group("wal-recovery");
    let _ = group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let _ = group.throughput(Throughput::Bytes(bytes));
    let _ = group.bench_function("1M-entries", |b| {
        b.iter(|| {
            let log = WalLog::open(&dir).expect("open");
            assert_eq!(log.last_index(), entries);
            log
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, append, recovery);
criterion_main!(benches);
