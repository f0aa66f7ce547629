//! A directory created for a node that lost its state records the node's new
//! incarnation (docs/RECOVERY.md, rule 2): reopened, repaired or damaged.

use raft_core::{HardState, LogEntry, RaftLog};
use raft_wal::{WalError, WalLog, WalOptions};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("raft-wal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options() -> WalOptions {
    WalOptions {
        fsync: false,
        ..WalOptions::default()
    }
}

// The incarnation survives writes, reopening and repair mode; a directory created by
// `open` is incarnation 0.
#[test]
fn the_incarnation_is_kept_for_the_directory_s_life() {
    let dir = scratch("incarnation-kept");
    let mut log = WalLog::create_incarnation(&dir, options(), 41).unwrap();
    log.append(&[LogEntry::new(1, 1, &b"a"[..])]).unwrap();
    log.set_hard_state(HardState {
        term: 1,
        voted_for: Some(2),
        commit_index: 0,
    })
    .unwrap();
    log.sync().unwrap();
    drop(log);
    let log = WalLog::open_with(&dir, options()).unwrap();
    assert_eq!((log.incarnation(), log.last_index()), (41, 1));
    drop(log);
    let (log, report) = WalLog::open_repairing(&dir, options()).unwrap();
    assert!(report.is_none());
    assert_eq!(log.incarnation(), 41);
    drop(log);
    let plain = scratch("incarnation-zero");
    assert_eq!(
        WalLog::open_with(&plain, options()).unwrap().incarnation(),
        0
    );
    assert!(matches!(
        WalLog::create_incarnation(&plain, options(), 5),
        Err(WalError::InvalidOption(_))
    ));
    assert!(matches!(
        WalLog::create_incarnation(scratch("incarnation-none"), options(), 0),
        Err(WalError::InvalidOption(_))
    ));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&plain).unwrap();
}

// A damaged incarnation file is refused, in repair mode too: the directory cannot say
// which life of the node it holds.
#[test]
fn a_damaged_incarnation_file_is_refused() {
    let dir = scratch("incarnation-damaged");
    drop(WalLog::create_incarnation(&dir, options(), 9).unwrap());
    let path = dir.join("incarnation");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[12] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    for result in [
        WalLog::open_with(&dir, options()).map(drop),
        WalLog::open_repairing(&dir, options()).map(drop),
    ] {
        match result {
            Err(WalError::Corrupt { reason, .. }) => assert!(reason.contains("rule 2"), "{reason}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
