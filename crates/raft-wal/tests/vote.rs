//! WAL format 2 (docs/PROTOCOL.md, docs/RECOVERY.md section 8): the term and vote live
//! in the `vote` file, written before the batch that carries them. A format-1
//! directory is read and upgraded; a format-2 directory without a trustworthy `vote`
//! file is refused, in repair mode too (its newest vote is unknown).

#[path = "support/temp.rs"]
mod temp;

use std::path::Path;

use raft_core::{HardState, RaftLog};
use raft_wal::{WAL_FORMAT_VERSION, WalError, WalLog, WalOptions};
use temp::{TempDir, all_entries, entry, segments};

fn options() -> WalOptions {
    WalOptions {
        fsync: false,
        ..WalOptions::default()
    }
}

/// Six entries over three syncs; the last sync moves to term 3 with a vote for 2.
fn write_log(dir: &Path) -> HardState {
    let mut log = WalLog::open_with(dir, options()).unwrap();
    let mut state = HardState::default();
    for (term, voted_for) in [(1, Some(1)), (2, None), (3, Some(2))] {
        state = HardState {
            term,
            voted_for,
            commit_index: state.commit_index,
        };
        log.set_hard_state(state).unwrap();
        log.append(&[entry(term, 2 * term - 1), entry(term, 2 * term)])
            .unwrap();
        log.sync().unwrap();
    }
    state
}

fn marker(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("raft-wal.format")).unwrap()
}

// A new directory is format 2 with a `vote` file; a new term or vote reaches it with
// the sync, and the log reopens with it.
#[test]
fn a_new_log_keeps_its_term_and_vote_in_the_vote_file() {
    let temp = TempDir::new("vote-new");
    let dir = temp.child("wal");
    let state = write_log(&dir);
    assert_eq!(marker(&dir), format!("raft-wal {WAL_FORMAT_VERSION}\n"));
    assert_eq!(WAL_FORMAT_VERSION, 2);
    assert_eq!(std::fs::read(dir.join("vote")).unwrap().len(), 36);
    let log = WalLog::open_with(&dir, options()).unwrap();
    assert_eq!(log.hard_state(), state);
    assert_eq!(log.last_index(), 6);
}

// A format-1 directory (the same segments, the term and vote only in them) opens with
// the same state and is upgraded: marker 2, a `vote` file; it reopens the same.
#[test]
fn a_format_1_directory_is_read_and_upgraded() {
    let temp = TempDir::new("vote-upgrade");
    let dir = temp.child("wal");
    let state = write_log(&dir);
    std::fs::remove_file(dir.join("vote")).unwrap();
    std::fs::write(dir.join("raft-wal.format"), "raft-wal 1\n").unwrap();
    let entries = {
        let log = WalLog::open_with(&dir, options()).unwrap();
        assert_eq!(log.hard_state(), state);
        all_entries(&log, 1)
    };
    assert_eq!(marker(&dir), "raft-wal 2\n");
    assert!(dir.join("vote").exists());
    let log = WalLog::open_with(&dir, options()).unwrap();
    assert_eq!(log.hard_state(), state);
    assert_eq!(all_entries(&log, 1), entries);
}

// A crash while a new directory was being created can leave the `vote` file without
// the marker: the directory is still new, not foreign.
#[test]
fn a_vote_file_without_a_marker_is_a_new_directory() {
    let temp = TempDir::new("vote-half-new");
    let dir = temp.child("wal");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vote"), b"anything").unwrap();
    let log = WalLog::open_with(&dir, options()).unwrap();
    assert_eq!(log.hard_state(), HardState::default());
    assert_eq!(marker(&dir), "raft-wal 2\n");
}

// Without a trustworthy `vote` file the newest vote is unknown: refused by `open` and
// by `open_repairing`, with the reason (rule 2), whether the file is missing, damaged
// or older than what the segments say.
#[test]
fn a_missing_damaged_or_stale_vote_file_is_refused() {
    let temp = TempDir::new("vote-refused");
    let dir = temp.child("wal");
    let _state = write_log(&dir);
    let original = std::fs::read(dir.join("vote")).unwrap();
    let mut damaged = original.clone();
    damaged[9] ^= 0x10;
    let cases: [(&str, Option<Vec<u8>>); 3] = [
        ("missing", None),
        ("damaged", Some(damaged)),
        ("stale", Some(Vec::new())),
    ];
    for (what, contents) in cases {
        let copy = temp.child(what);
        temp::copy_dir(&dir, &copy);
        match contents {
            None => std::fs::remove_file(copy.join("vote")).unwrap(),
            Some(bytes) if bytes.is_empty() => {
                // The file as it was before the last sync (term 2, no vote): the
                // segments say term 3, which the file always holds first.
                let stale = temp.child("stale-source");
                let mut log = WalLog::open_with(&stale, options()).unwrap();
                log.set_hard_state(HardState {
                    term: 2,
                    voted_for: None,
                    commit_index: 0,
                })
                .unwrap();
                log.sync().unwrap();
                drop(log);
                std::fs::copy(stale.join("vote"), copy.join("vote")).unwrap();
            }
            Some(bytes) => std::fs::write(copy.join("vote"), bytes).unwrap(),
        }
        for repair in [false, true] {
            let result = if repair {
                WalLog::open_repairing(&copy, options()).map(|(log, _)| log)
            } else {
                WalLog::open_with(&copy, options())
            };
            match result {
                Err(WalError::Corrupt { reason, .. }) => {
                    let expected = if what == "stale" {
                        "always written first"
                    } else {
                        "rule 2"
                    };
                    assert!(reason.contains(expected), "{what}: {reason}");
                }
                Ok(log) => panic!("{what}, repair {repair}: opened in {:?}", log.hard_state()),
                Err(error) => panic!("{what}, repair {repair}: {error}"),
            }
        }
    }
}

// Damage anywhere in the segments of a format-2 log never takes the term or vote back
// and is never refused as a possible lost vote: every 512-byte sector of a log that
// lived through elections, zeroed in turn, opens repaired (or intact) with the newest
// term and vote. The same damage to the same log in format 1 (term and vote only in
// the segments) is refused in some cases: the before and after of the format change.
#[test]
fn damage_to_the_segments_never_reaches_the_vote() {
    let temp = TempDir::new("vote-damage");
    let dir = temp.child("wal");
    let mut state = HardState::default();
    {
        let mut log = WalLog::open_with(&dir, options()).unwrap();
        for index in 1..=30u64 {
            let term = 1 + index / 4;
            state = HardState {
                term,
                voted_for: Some(1 + term % 3),
                commit_index: index.saturating_sub(2),
            };
            log.set_hard_state(state).unwrap();
            log.append(&[raft_core::LogEntry::new(state.term, index, vec![5u8; 100])])
                .unwrap();
            log.sync().unwrap();
        }
    }
    let file = segments(&dir).pop().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let sectors = bytes.len().div_ceil(512);
    assert!(sectors >= 8, "the test needs a few sectors");
    for format in [1, 2] {
        let mut refused = 0;
        for sector in 0..sectors {
            let copy = temp.child(&format!("zero-{format}-{sector}"));
            temp::copy_dir(&dir, &copy);
            if format == 1 {
                std::fs::remove_file(copy.join("vote")).unwrap();
                std::fs::write(copy.join("raft-wal.format"), "raft-wal 1\n").unwrap();
            }
            let mut damaged = bytes.clone();
            let end = (sector * 512 + 512).min(bytes.len());
            damaged[sector * 512..end].fill(0);
            std::fs::write(segments(&copy).pop().unwrap(), &damaged).unwrap();
            match WalLog::open_repairing(&copy, options()) {
                Ok((log, _report)) => {
                    let found = log.hard_state();
                    assert_eq!(
                        (found.term, found.voted_for),
                        (state.term, state.voted_for),
                        "format {format}, sector {sector}"
                    );
                }
                Err(WalError::Corrupt { reason, .. }) if format == 1 => {
                    assert!(reason.contains("rule 2"), "{reason}");
                    refused += 1;
                }
                Err(error) => panic!("format {format}, sector {sector}: {error}"),
            }
        }
        println!("format {format}: {sectors} sectors zeroed, {refused} refused");
        if format == 1 {
            assert!(refused > 0, "format 1 refuses a zeroed hard state");
        }
    }
}
