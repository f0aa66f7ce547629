//! TCP transport throughput on loopback: batches of 1000 messages from one transport
//! to another, timed until the last is delivered, for heartbeats and for
//! AppendEntries carrying 64 entries of 128 bytes. Run with `cargo xtask bench` or
//! `cargo bench -p raft-io --features tcp --bench tcp`.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use raft_io::tcp::{TcpOptions, TcpTransport};
use raft_io::{AppendEntries, LogEntry, Message, RaftTransport};

const BATCH: u64 = 1000;

fn append_entries(entries: usize) -> Message {
    Message::AppendEntries(AppendEntries {
        term: 12,
        leader: 1,
        prev_log_index: 1_000_000,
        prev_log_term: 11,
        entries: (0..entries as u64)
            .map(|offset| LogEntry::new(12, 1_000_001 + offset, vec![0x5a; 128]))
            .collect(),
        leader_commit: 999_998,
    })
}

fn tcp(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp");
    let _ = group.measurement_time(Duration::from_secs(5));
    let _ = group.sample_size(20);
    let options = TcpOptions {
        queue_messages_max: 2 * BATCH as usize,
        ..TcpOptions::default()
    };
    let sender_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let receiver_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = receiver_listener.local_addr().expect("address");
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let _receiver = TcpTransport::start(2, receiver_listener, [], options.clone(), move |_| {
        let _ = counter.fetch_add(1, Ordering::Relaxed);
    })
    .expect("receiver");
    let mut sender =
        TcpTransport::start(1, sender_listener, [(2, to)], options, |_| {}).expect("sender");
    for (name, message) in [
        ("heartbeat", append_entries(0)),
        ("append-64x128B", append_entries(64)),
    ] {
        let _ = group.throughput(Throughput::Elements(BATCH));
        let _ = group.bench_function(format!("deliver-1000/{name}"), |b| {
            b.iter(|| {
                let target = received.load(Ordering::Relaxed) + BATCH;
                for _ in 0..BATCH {
                    sender.send(2, message.clone()).expect("known peer");
                }
                while received.load(Ordering::Relaxed) < target {
                    std::thread::yield_now();
                }
            })
        });
    }
    group.finish();
    assert_eq!(
        sender.stats().dropped_queue_full,
        0,
        "the queue was large enough"
    );
}

criterion_group!(benches, tcp);
criterion_main!(benches);
