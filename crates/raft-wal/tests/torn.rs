//! A crash in the middle of a sync (feature `testing`): the batch being written
//! reaches the disk as any subset of its 512-byte sectors. Every subset reopens to the
//! synced entries and never to less: the torn batch is cut, or (when its surviving
//! sectors look like damage to synced data: docs/RECOVERY.md section 8) the repair
//! mode repairs with a mark covering everything after what it kept. The batch's new
//! term and vote reached the `vote` file (format 2) before the batch was written, so
//! no subset loses them and none is refused. Never a silent loss, never garbage.
#![cfg(all(feature = "testing", unix))]

#[path = "support/temp.rs"]
mod temp;

use raft_core::{HardState, LogEntry, RaftLog};
use raft_wal::{WalError, WalLog, WalOptions};
use temp::{TempDir, all_entries, copy_dir};

fn options() -> WalOptions {
    WalOptions {
        fsync: false,
        ..WalOptions::default()
    }
}

#[test]
fn every_torn_last_batch_keeps_what_was_synced() {
    let temp = TempDir::new("torn");
    let dir = temp.child("wal");
    let synced_state = HardState {
        term: 1,
        voted_for: Some(1),
        commit_index: 9,
    };
    {
        let mut log = WalLog::open_with(&dir, options()).unwrap();
        for batch in 0..4u64 {
            let entries: Vec<_> = (1..=3)
                .map(|i| LogEntry::new(1, batch * 3 + i, vec![7u8; 150]))
                .collect();
            log.append(&entries).unwrap();
            log.set_hard_state(HardState {
                commit_index: batch * 3,
                ..synced_state
            })
            .unwrap();
            log.sync().unwrap();
        }
    }
    let synced = all_entries(&WalLog::open_with(&dir, options()).unwrap(), 1);
    assert_eq!(synced.len(), 12);
    let torn_entries: Vec<_> = (13..=22)
        .map(|i| LogEntry::new(2, i, vec![9u8; 150]))
        .collect();
    // What a reopened log may hold: the synced entries, then a prefix of the torn ones.
    let possible: Vec<_> = synced.iter().chain(&torn_entries).cloned().collect();
    // The batch being written when the power goes: a new term and vote, 10 entries
    // (about 2 KiB: five sectors), a commit index.
    let write_torn = |copy: &std::path::Path, pattern: u64| {
        let mut log = WalLog::open_with(copy, options()).unwrap();
        log.set_hard_state(HardState {
            term: 2,
            voted_for: Some(3),
            commit_index: 9,
        })
        .unwrap();
        log.append(&torn_entries).unwrap();
        let mut first = None;
        log.crash_during_sync(&mut |sector| {
            let first = *first.get_or_insert(sector);
            pattern >> (sector - first) & 1 == 1
        })
        .unwrap()
    };
    let (mut cut, mut repaired, mut refused) = (0, 0, 0);
    for pattern in 0..1u64 << 6 {
        let copy = temp.child(&format!("p{pattern}"));
        copy_dir(&dir, &copy);
        let _ = write_torn(&copy, pattern);
        // Repair mode (what raft-kv and the simulator open with).
        match WalLog::open_repairing(&copy, options()) {
            Ok((log, None)) => {
                // Cut: every synced entry, then at most a prefix of the torn batch.
                let entries = all_entries(&log, 1);
                assert_eq!(
                    entries[..],
                    possible[..entries.len()],
                    "pattern {pattern:06b}"
                );
                assert!(entries.len() >= 12, "pattern {pattern:06b}");
                let state = log.hard_state();
                assert_eq!((state.term, state.voted_for), (2, Some(3)));
                cut += 1;
            }
            Ok((log, Some(report))) => {
                // Repaired: the synced prefix is kept up to the damage, and the mark
                // covers every index after what is kept.
                let kept = log.last_index();
                let mark = log.repair_mark().expect("a repaired log carries a mark");
                assert!(mark.through >= 12, "pattern {pattern:06b}: {report}");
                assert_eq!(
                    all_entries(&log, 1)[..],
                    possible[..kept as usize],
                    "pattern {pattern:06b}"
                );
                let state = log.hard_state();
                assert_eq!((state.term, state.voted_for), (2, Some(3)));
                assert!(state.commit_index <= kept);
                repaired += 1;
            }
            Err(WalError::Corrupt { reason, .. }) if reason.contains("rule 2") => refused += 1,
            Err(error) => panic!("pattern {pattern:06b}: {error}"),
        }
    }
    // All 64 subsets of the first six sectors were tried; the torn tail cases (every
    // sector from some point on lost) are cut.
    assert_eq!(cut + repaired + refused, 64);
    assert!(
        cut >= 6 && refused == 0,
        "cut {cut}, repaired {repaired}, refused {refused}"
    );
    println!("cut {cut}, repaired {repaired}, refused {refused}");
}
