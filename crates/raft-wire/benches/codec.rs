//! Encode and decode throughput, in bytes per second of frame, for a heartbeat and an
//! AppendEntries carrying 64 entries of 128 bytes. Run with `cargo xtask bench` or
//! `cargo bench -p raft-wire --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use raft_core::{AppendEntries, LogEntry, Message};
use raft_wire::{FrameLimits, decode, encode_frame_into};

fn append_entries(entries: usize) -> Message {
    Message::AppendEntries(AppendEntries {
        term: 12,
        leader: 3,
        prev_log_index: 1_000_000,
        prev_log_term: 11,
        entries: (0..entries as u64)
            .map(|offset| LogEntry::new(12, 1_000_001 + offset, vec![0x5a; 128]))
            .collect(),
        leader_commit: 999_998,
    })
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    let _ = group.measurement_time(Duration::from_secs(3));
    for (name, message) in [
        ("heartbeat", append_entries(0)),
        ("append-64x128B", append_entries(64)),
    ] {
        let limits = FrameLimits::default();
        let mut frame = Vec::new();
        encode_frame_into(&message, &limits, &mut frame).expect("encodes");
        let _ = group.throughput(Throughput::Bytes(frame.len() as u64));
        let _ = group.bench_function(format!("encode/{name}"), |b| {
            let mut out = Vec::with_capacity(frame.len());
            b.iter(|| {
                out.clear();
                encode_frame_into(black_box(&message), &limits, &mut out).expect("encodes");
                black_box(out.len())
            })
        });
        let _ = group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| decode(black_box(&frame)).expect("decodes"))
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
