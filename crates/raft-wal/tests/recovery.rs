//! Recovery: what a reopened WalLog holds after clean closes, crashes at any byte of
//! the last write, bit flips anywhere, compaction, and hostile directories.

#[path = "support/temp.rs"]
mod temp;

use std::fs::OpenOptions;

use raft_core::{HardState, RaftLog, StorageErrorKind};
use raft_wal::{WalError, WalLog, WalOptions};
use temp::{TempDir, all_entries, copy_dir, entry, segments};

fn small_segments() -> WalOptions {
    WalOptions {
        segment_bytes_max: 4096,
        ..WalOptions::default()
    }
}

// Everything synced comes back: entries, truncations, hard state.
#[test]
fn synced_state_survives_reopen() {
    let temp = TempDir::new("reopen");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open(&dir).unwrap();
        log.append(&(1..=5).map(|i| entry(1, i)).collect::<Vec<_>>())
            .unwrap();
        log.truncate(4).unwrap();
        log.append(&[entry(2, 4)]).unwrap();
        log.set_hard_state(HardState {
            term: 2,
            voted_for: Some(3),
            commit_index: 2,
        })
        .unwrap();
        log.sync().unwrap();
    }
    let log = WalLog::open(&dir).unwrap();
    let terms: Vec<u64> = all_entries(&log, 1).iter().map(|e| e.term).collect();
    assert_eq!(terms, vec![1, 1, 1, 2]);
    assert_eq!(log.entry(4), Some(entry(2, 4)));
    assert_eq!(
        log.hard_state(),
        HardState {
            term: 2,
            voted_for: Some(3),
            commit_index: 2
        }
    );
}

// Writes not covered by a sync are not on disk after a crash (drop without sync).
#[test]
fn unsynced_writes_are_lost_synced_are_kept() {
    let temp = TempDir::new("unsynced");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open(&dir).unwrap();
        log.append(&[entry(1, 1), entry(1, 2)]).unwrap();
        log.sync().unwrap();
        log.append(&[entry(1, 3)]).unwrap();
        log.set_hard_state(HardState {
            term: 9,
            voted_for: None,
            commit_index: 0,
        })
        .unwrap();
    }
    let log = WalLog::open(&dir).unwrap();
    assert_eq!(log.last_index(), 2);
    assert_eq!(log.hard_state(), HardState::default());
}

// A crash during the last write leaves any prefix of it on disk: cut the newest
// segment at every byte of that write; reopening gives every synced entry plus a
// prefix of the torn batch, never an error and never garbage.
#[test]
fn crash_at_every_byte_of_the_last_write_keeps_every_synced_entry() {
    let temp = TempDir::new("cuts");
    let dir = temp.child("wal");
    let synced_length;
    let full_length;
    {
        let mut log = WalLog::open(&dir).unwrap();
        for batch in 0..4u64 {
            let entries: Vec<_> = (1..=3).map(|i| entry(1, batch * 3 + i)).collect();
            log.append(&entries).unwrap();
            log.set_hard_state(HardState {
                term: 1,
                voted_for: Some(1),
                commit_index: batch * 3,
            })
            .unwrap();
            log.sync().unwrap();
        }
        synced_length = std::fs::metadata(&segments(&dir)[0]).unwrap().len();
        // The "unsynced" write: it reaches the file, then we cut it back.
        log.append(&(13..=15).map(|i| entry(2, i)).collect::<Vec<_>>())
            .unwrap();
        log.set_hard_state(HardState {
            term: 2,
            voted_for: None,
            commit_index: 12,
        })
        .unwrap();
        log.sync().unwrap();
        full_length = std::fs::metadata(&segments(&dir)[0]).unwrap().len();
    }
    let full = WalLog::open(&dir).unwrap();
    let full_entries = all_entries(&full, 1);
    drop(full);
    for cut in synced_length..=full_length {
        let copy = temp.child(&format!("cut-{cut}"));
        copy_dir(&dir, &copy);
        let segment = segments(&copy)[0].clone();
        OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let log = WalLog::open(&copy).unwrap_or_else(|error| panic!("cut at {cut}: {error}"));
        let entries = all_entries(&log, 1);
        assert!(entries.len() >= 12, "cut at {cut} lost synced entries");
        assert_eq!(entries[..], full_entries[..entries.len()], "cut at {cut}");
        let state = log.hard_state();
        assert!(
            state.term >= 1 && state.commit_index >= 9,
            "cut at {cut}: {state:?}"
        );
        // The reopened log takes new writes after the cut and keeps them.
        let mut log = log;
        let next = log.last_index() + 1;
        log.append(&[entry(3, next)]).unwrap();
        log.sync().unwrap();
        drop(log);
        let log = WalLog::open(&copy).unwrap();
        assert_eq!(log.last_index(), next, "cut at {cut}");
        drop(log);
        std::fs::remove_dir_all(&copy).unwrap();
    }
}

// A cut inside already-synced data cannot be told apart from a crash during that
// write by the bytes alone (fdatasync rules it out on a real crash). What we promise:
// the log is still a clean prefix, never garbage.
#[test]
fn cut_inside_synced_data_leaves_a_clean_prefix() {
    let temp = TempDir::new("synced-cut");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open(&dir).unwrap();
        for index in 1..=6 {
            log.append(&[entry(1, index)]).unwrap();
            log.sync().unwrap();
        }
    }
    let length = std::fs::metadata(&segments(&dir)[0]).unwrap().len();
    let full = all_entries(&WalLog::open(&dir).unwrap(), 1);
    for cut in (length - 120)..length {
        let copy = temp.child(&format!("cut-{cut}"));
        copy_dir(&dir, &copy);
        OpenOptions::new()
            .write(true)
            .open(&segments(&copy)[0])
            .unwrap()
            .set_len(cut)
            .unwrap();
        let log = WalLog::open(&copy).unwrap();
        let entries = all_entries(&log, 1);
        assert_eq!(entries[..], full[..entries.len()]);
        drop(log);
        std::fs::remove_dir_all(&copy).unwrap();
    }
}

// A single flipped bit anywhere in any segment, sealed or newest, header or record,
// is reported as corruption naming the segment, never silently dropped.
#[test]
fn every_single_bit_flip_is_detected() {
    let temp = TempDir::new("flips");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open_with(&dir, small_segments()).unwrap();
        for index in 1..=110 {
            log.append(&[entry(1 + index / 40, index)]).unwrap();
            if index % 4 == 0 {
                log.set_hard_state(HardState {
                    term: 1 + index / 40,
                    voted_for: Some(2),
                    commit_index: index - 2,
                })
                .unwrap();
                log.sync().unwrap();
            }
        }
    }
    let files = segments(&dir);
    assert!(files.len() >= 2, "the test needs a sealed segment too");
    let mut checked = 0;
    for (file_position, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).unwrap();
        for offset in 0..bytes.len() {
            let copy = temp.child("flip");
            copy_dir(&dir, &copy);
            let target = segments(&copy)[file_position].clone();
            let mut damaged = bytes.clone();
            damaged[offset] ^= 1 << (offset % 8);
            std::fs::write(&target, &damaged).unwrap();
            match WalLog::open_with(&copy, small_segments()) {
                Err(WalError::Corrupt { segment, .. }) => {
                    assert!(segment.starts_with(&copy), "{}", segment.display());
                }
                other => panic!("flip at {}:{offset} gave {other:?}", file.display()),
            }
            std::fs::remove_dir_all(&copy).unwrap();
            checked += 1;
        }
    }
    assert!(checked > 4000);
}

// Compaction drops entries below the boundary, deletes whole segments once durable,
// and the boundary survives reopening.
#[test]
fn compaction_deletes_segments_and_survives_reopen() {
    let temp = TempDir::new("compact");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open_with(&dir, small_segments()).unwrap();
        for index in 1..=200 {
            log.append(&[entry(1, index)]).unwrap();
            log.sync().unwrap();
        }
        let before = log.segment_count();
        assert!(before > 3);
        log.compact(150).unwrap();
        assert_eq!(
            (log.first_index(), log.term_at(150), log.entry(150)),
            (151, Some(1), None)
        );
        log.sync().unwrap();
        assert!(log.segment_count() < before, "whole segments were deleted");
        assert_eq!(segments(&dir).len(), log.segment_count());
        assert!(
            log.truncate(100).is_err(),
            "compacted entries cannot be truncated"
        );
    }
    let log = WalLog::open_with(&dir, small_segments()).unwrap();
    assert_eq!(
        (log.compacted_index(), log.first_index(), log.last_index()),
        (150, 151, 200)
    );
    assert_eq!(log.term_at(150), Some(1));
    assert_eq!(log.entry(151), Some(entry(1, 151)));
}

// Segments roll over at the configured size and recovery reads them all back.
#[test]
fn rollover_and_recovery_across_many_segments() {
    let temp = TempDir::new("rollover");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open_with(&dir, small_segments()).unwrap();
        for chunk in 0..50u64 {
            let entries: Vec<_> = (1..=10).map(|i| entry(1, chunk * 10 + i)).collect();
            log.append(&entries).unwrap();
            log.sync().unwrap();
        }
        assert!(log.segment_count() >= 5, "{} segments", log.segment_count());
    }
    let log = WalLog::open_with(&dir, small_segments()).unwrap();
    assert_eq!(log.last_index(), 500);
    assert_eq!(log.entry(377), Some(entry(1, 377)));
}

// Clear errors for hostile directories and for a second opener.
#[test]
fn hostile_directories_are_refused_clearly() {
    let temp = TempDir::new("hostile");
    let dir = temp.child("wal");
    let log = WalLog::open(&dir).unwrap();
    assert!(matches!(WalLog::open(&dir), Err(WalError::Locked { .. })));
    drop(log);
    assert!(WalLog::open(&dir).is_ok(), "the lock is released on drop");

    let foreign = temp.child("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "hello").unwrap();
    assert!(matches!(
        WalLog::open(&foreign),
        Err(WalError::NotAWalDirectory { .. })
    ));

    let future = temp.child("future");
    std::fs::create_dir(&future).unwrap();
    std::fs::write(future.join("raft-wal.format"), "raft-wal 9\n").unwrap();
    assert!(matches!(
        WalLog::open(&future),
        Err(WalError::UnsupportedVersion { .. })
    ));

    // (A missing parent is created: open_creates_missing_parent_directories.)

    let bad_options = WalOptions {
        segment_bytes_max: 10,
        ..WalOptions::default()
    };
    assert!(matches!(
        WalLog::open_with(temp.child("x"), bad_options),
        Err(WalError::InvalidOption(_))
    ));
}

// A missing segment in the middle is corruption, not a shorter log.
#[test]
fn missing_middle_segment_is_corruption() {
    let temp = TempDir::new("missing");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open_with(&dir, small_segments()).unwrap();
        for index in 1..=200 {
            log.append(&[entry(1, index)]).unwrap();
            log.sync().unwrap();
        }
    }
    let files = segments(&dir);
    std::fs::remove_file(&files[files.len() / 2]).unwrap();
    let error = WalLog::open_with(&dir, small_segments()).unwrap_err();
    assert!(matches!(error, WalError::Corrupt { .. }));
    // Through raft-core the corruption stays typed: its kind says so and the source
    // downcasts back to the WAL's own error.
    let error = raft_core::Error::from(error);
    assert_eq!(error.storage_kind(), Some(StorageErrorKind::Corrupt));
    let source = error.storage_source().expect("the WAL error is kept");
    assert!(matches!(
        source.downcast_ref::<WalError>(),
        Some(WalError::Corrupt { .. })
    ));
}

// Bad appends are refused with nothing written.
#[test]
fn bad_appends_are_refused() {
    let temp = TempDir::new("appends");
    let mut log = WalLog::open(temp.child("wal")).unwrap();
    log.append(&[entry(2, 1)]).unwrap();
    assert!(log.append(&[entry(2, 3)]).is_err(), "gap");
    assert!(log.append(&[entry(2, 1)]).is_err(), "overlap");
    assert!(log.append(&[entry(1, 2)]).is_err(), "term goes down");
    assert!(log.truncate(0).is_err());
    assert_eq!(log.last_index(), 1);
    let refused = log.append(&[entry(2, 3)]).unwrap_err();
    assert_eq!(refused.storage_kind(), Some(StorageErrorKind::Contract));
}

fn snapshot(index: u64, term: u64, data: &'static [u8]) -> raft_core::Snapshot {
    raft_core::Snapshot {
        index,
        term,
        membership: raft_core::Membership::new([1, 2, 3], []),
        data: raft_core::Bytes::from_static(data),
    }
}

// A snapshot compacts the log, survives reopening (data read back through mmap), and
// replaces the previous snapshot file once its compaction is durable.
#[test]
fn snapshots_compact_and_survive_reopen() {
    let temp = TempDir::new("snapshot");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open_with(&dir, small_segments()).unwrap();
        for index in 1..=100 {
            log.append(&[entry(1, index)]).unwrap();
        }
        log.sync().unwrap();
        log.save_snapshot(snapshot(40, 1, b"state at 40")).unwrap();
        log.sync().unwrap();
        log.save_snapshot(snapshot(80, 1, b"state at 80")).unwrap();
        log.sync().unwrap();
        assert_eq!(
            (log.snapshot_index(), log.first_index(), log.last_index()),
            (80, 81, 100)
        );
    }
    let snapshots: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".snap"))
        .collect();
    assert_eq!(snapshots.len(), 1, "the superseded snapshot file is gone");
    let log = WalLog::open_with(&dir, small_segments()).unwrap();
    assert_eq!(log.snapshot(), Some(snapshot(80, 1, b"state at 80")));
    assert_eq!(
        (log.term_at(80), log.entry(80), log.entry(81)),
        (Some(1), None, Some(entry(1, 81)))
    );
}

// A crash after the snapshot file was written but before the compaction record was
// synced: reopening applies the snapshot again.
#[test]
fn snapshot_without_its_compaction_record_is_reapplied() {
    let temp = TempDir::new("snapshot-crash");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open(&dir).unwrap();
        for index in 1..=10 {
            log.append(&[entry(1, index)]).unwrap();
        }
        log.sync().unwrap();
        log.save_snapshot(snapshot(6, 1, b"six")).unwrap();
        // dropped without sync: the compaction record is lost, the file is not
    }
    let log = WalLog::open(&dir).unwrap();
    assert_eq!(
        (log.snapshot_index(), log.first_index(), log.last_index()),
        (6, 7, 10)
    );
}

// Installing a snapshot over a log that does not hold its last entry discards the log.
#[test]
fn snapshot_over_a_divergent_log_discards_it() {
    let temp = TempDir::new("snapshot-install");
    let dir = temp.child("wal");
    let mut log = WalLog::open(&dir).unwrap();
    log.append(&(1..=5).map(|i| entry(1, i)).collect::<Vec<_>>())
        .unwrap();
    log.save_snapshot(snapshot(8, 3, b"leader's")).unwrap();
    log.sync().unwrap();
    assert_eq!((log.last_index(), log.last_term()), (8, 3));
    drop(log);
    let mut log = WalLog::open(&dir).unwrap();
    assert_eq!((log.last_index(), log.entry(5)), (8, None));
    log.append(&[entry(3, 9)]).unwrap();
    log.sync().unwrap();
}

// Opening a log whose parent directories do not exist yet creates them (each made
// durable in its parent); a path that cannot be a directory is an error naming it.
#[test]
fn open_creates_missing_parent_directories() {
    let temp = TempDir::new("parents");
    let dir = temp.child("a").join("b").join("wal");
    {
        let mut log = WalLog::open(&dir).unwrap();
        log.append(&[entry(1, 1)]).unwrap();
        log.sync().unwrap();
    }
    assert_eq!(WalLog::open(&dir).unwrap().last_index(), 1);
    let file = temp.child("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let error = WalLog::open(file.join("wal")).unwrap_err().to_string();
    assert!(error.contains("plain-file"), "{error}");
}

// A joint configuration survives reopening, in a snapshot file and as a configuration
// entry, and a node restored over the log has it in force.
#[test]
fn joint_configurations_survive_reopen() {
    use raft_core::{EntryKind, LogEntry, Membership, RaftConfig, RaftNode};
    let old = Membership::new([1, 2, 3], []);
    let in_snapshot = old
        .enter_joint(&Membership::new([1, 2, 4], [3]), true)
        .unwrap();
    let in_entry = Membership::new([1, 2, 4], [3])
        .enter_joint(&Membership::new([4, 5, 6], []), false)
        .unwrap();
    let temp = TempDir::new("joint");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open_with(&dir, small_segments()).unwrap();
        for index in 1..=6 {
            log.append(&[entry(1, index)]).unwrap();
        }
        log.append(&[LogEntry {
            term: 1,
            index: 7,
            kind: EntryKind::Config,
            command: in_entry.encode().into(),
        }])
        .unwrap();
        log.sync().unwrap();
        log.save_snapshot(raft_core::Snapshot {
            index: 4,
            term: 1,
            membership: in_snapshot.clone(),
            data: raft_core::Bytes::from_static(b"state at 4"),
        })
        .unwrap();
        log.set_hard_state(HardState {
            term: 1,
            voted_for: Some(1),
            commit_index: 4,
        })
        .unwrap();
        log.sync().unwrap();
    }
    let log = WalLog::open_with(&dir, small_segments()).unwrap();
    assert_eq!(log.snapshot().unwrap().membership, in_snapshot);
    let stored = log.entry(7).unwrap();
    assert_eq!(Membership::decode(&stored.command), Some(in_entry.clone()));
    let node = RaftNode::with_log(RaftConfig::new(1, [1, 2, 3]), log);
    assert_eq!(node.membership(), &in_entry);
    assert_eq!(node.config_index(), 7);
}
