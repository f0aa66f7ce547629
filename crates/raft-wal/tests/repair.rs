//! Repair mode (docs/RECOVERY.md): a log with damaged synced data opens with its valid
//! prefix, a repair mark that bounds what was lost, and the damaged files kept aside;
//! or, in a format-1 directory (term and vote only in the segments), when the newest
//! term and vote may be gone, it is still refused. Format 2 keeps them in the `vote`
//! file, out of the segments' reach.

#[path = "support/temp.rs"]
mod temp;

use std::path::Path;

use raft_core::{HardState, RaftLog, RepairMark};
use raft_wal::{WalError, WalLog, WalOptions};
use temp::{TempDir, all_entries, copy_dir, entry, segments};

fn small_segments() -> WalOptions {
    WalOptions {
        segment_bytes_max: 4096,
        fsync: false,
        ..WalOptions::default()
    }
}

/// 300 synced entries over several segments, terms 1..=4, a hard state every 4.
fn write_log(dir: &Path) {
    let mut log = WalLog::open_with(dir, small_segments()).unwrap();
    for index in 1..=300 {
        log.append(&[entry(1 + index / 100, index)]).unwrap();
        if index % 4 == 0 {
            log.set_hard_state(HardState {
                term: 1 + index / 100,
                voted_for: Some(2),
                commit_index: index - 2,
            })
            .unwrap();
            log.sync().unwrap();
        }
    }
}

// Every single-bit flip in every segment: the repaired log is a prefix of the original
// with the same term and vote, and whenever entries were lost the mark covers them all
// (through the original last index, terms up to the original last term). Never a
// silent loss, and (format 2) never a refusal: the term and vote are in their own file.
#[test]
fn every_bit_flip_is_repaired_with_a_sound_mark() {
    let temp = TempDir::new("repair-flips");
    let dir = temp.child("wal");
    write_log(&dir);
    let original = WalLog::open_with(&dir, small_segments()).unwrap();
    let original_entries = all_entries(&original, 1);
    let (original_last, original_state) = (original.last_index(), original.hard_state());
    drop(original);
    let files = segments(&dir);
    assert!(files.len() >= 3, "the test needs sealed segments");
    let (mut repaired, mut refused, mut lossless) = (0, 0, 0);
    for (file_position, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file).unwrap();
        for offset in (0..bytes.len()).step_by(5) {
            let copy = temp.child("flip");
            copy_dir(&dir, &copy);
            let target = segments(&copy)[file_position].clone();
            let mut damaged = bytes.clone();
            damaged[offset] ^= 1 << (offset % 8);
            std::fs::write(&target, &damaged).unwrap();
            let at = format!("flip at {}:{offset}", file.display());
            match WalLog::open_repairing(&copy, small_segments()) {
                Ok((log, Some(report))) => {
                    let kept = all_entries(&log, 1);
                    assert_eq!(
                        kept[..],
                        original_entries[..kept.len()],
                        "{at}: not a prefix"
                    );
                    assert_eq!(report.kept_through, log.last_index(), "{at}");
                    let state = log.hard_state();
                    assert_eq!(
                        (state.term, state.voted_for),
                        (original_state.term, original_state.voted_for),
                        "{at}"
                    );
                    assert!(state.commit_index <= log.last_index(), "{at}");
                    if log.last_index() < original_last {
                        let mark = report
                            .mark
                            .unwrap_or_else(|| panic!("{at}: entries lost without a mark"));
                        assert!(
                            mark.through >= original_last,
                            "{at}: {mark:?} misses lost entries"
                        );
                        assert!(mark.term >= original_state.term, "{at}: {mark:?}");
                        assert_eq!(log.repair_mark(), Some(mark));
                        repaired += 1;
                    } else {
                        lossless += 1;
                    }
                    assert!(report.preserved.iter().all(|path| path.exists()), "{at}");
                    drop(log);
                    // Reopened normally: the same prefix and the same mark.
                    let again =
                        WalLog::open_with(&copy, small_segments()).unwrap_or_else(|error| {
                            panic!("{at}: repaired log does not reopen: {error}")
                        });
                    assert_eq!(again.last_index(), report.kept_through, "{at}");
                    assert_eq!(again.repair_mark(), report.mark, "{at}");
                }
                Ok((_, None)) => panic!("{at}: damage not noticed"),
                Err(WalError::Corrupt { reason, .. }) if reason.contains("rule 2") => refused += 1,
                Err(error) => panic!("{at}: {error}"),
            }
            std::fs::remove_dir_all(&copy).unwrap();
        }
    }
    println!("repaired {repaired}, lossless {lossless}, refused {refused}");
    assert!(
        repaired > 0 && refused == 0,
        "repaired {repaired}, refused {refused}"
    );
}

// The node clears the mark once repaired; the clearing is durable and survives a new
// segment's preamble (which carries a mark still set).
#[test]
fn the_mark_is_cleared_durably_and_carried_across_segments_while_set() {
    let temp = TempDir::new("repair-clear");
    let dir = temp.child("wal");
    write_log(&dir);
    let file = segments(&dir)[1].clone();
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&file, &bytes).unwrap();
    let (mut log, report) = WalLog::open_repairing(&dir, small_segments()).unwrap();
    let report = report.expect("damage found");
    let mark = report.mark.expect("entries lost");
    assert!(report.to_string().contains("lost entries"), "{report}");
    // Fill more than a segment: the mark must survive in the new segments.
    let next = log.last_index() + 1;
    for index in next..next + 200 {
        log.append(&[entry(3, index)]).unwrap();
    }
    log.sync().unwrap();
    drop(log);
    let mut log = WalLog::open_with(&dir, small_segments()).unwrap();
    assert_eq!(log.repair_mark(), Some(mark));
    log.set_repair_mark(None).unwrap();
    log.sync().unwrap();
    drop(log);
    let log = WalLog::open_with(&dir, small_segments()).unwrap();
    assert_eq!(log.repair_mark(), None);
    assert_eq!(log.last_index(), next + 199);
}

// A missing middle segment: refused by a plain open, repaired (prefix before it kept,
// mark through the last index the later segments show) by repair mode.
#[test]
fn a_missing_middle_segment_is_repaired() {
    let temp = TempDir::new("repair-missing");
    let dir = temp.child("wal");
    write_log(&dir);
    let files = segments(&dir);
    std::fs::remove_file(&files[1]).unwrap();
    assert!(matches!(
        WalLog::open_with(&dir, small_segments()),
        Err(WalError::Corrupt { .. })
    ));
    let (log, report) = WalLog::open_repairing(&dir, small_segments()).unwrap();
    let report = report.expect("damage found");
    assert!(report.reason.contains("missing"), "{}", report.reason);
    assert_eq!(log.repair_mark().map(|mark| mark.through), Some(300));
    assert!(log.last_index() < 300);
}

// A healthy log opens in repair mode with no report and no mark; a repair mark set by
// hand round-trips.
#[test]
fn a_healthy_log_needs_no_repair() {
    let temp = TempDir::new("repair-healthy");
    let dir = temp.child("wal");
    write_log(&dir);
    let (mut log, report) = WalLog::open_repairing(&dir, small_segments()).unwrap();
    assert!(report.is_none());
    assert_eq!(log.repair_mark(), None);
    let mark = RepairMark {
        through: 200,
        term: 9,
    };
    log.set_repair_mark(Some(mark)).unwrap();
    log.sync().unwrap();
    drop(log);
    assert_eq!(
        WalLog::open_with(&dir, small_segments())
            .unwrap()
            .repair_mark(),
        Some(mark)
    );
}

// The commit index of a repaired log is the kept prefix's own: after the damage the
// log may have been truncated and rewritten (here entries 3.. in term 2, committed
// through 5), so a later commit index would name entries the prefix holds other
// versions of (entries 3 and 4 of term 1, never committed).
#[test]
fn a_repaired_log_commits_only_what_its_prefix_knew_committed() {
    let temp = TempDir::new("repair-commit");
    let dir = temp.child("wal");
    {
        let mut log = WalLog::open_with(&dir, small_segments()).unwrap();
        let state = |term, commit_index| HardState {
            term,
            voted_for: Some(1),
            commit_index,
        };
        log.append(&[entry(1, 1), entry(1, 2), entry(1, 3), entry(1, 4)])
            .unwrap();
        log.set_hard_state(state(1, 2)).unwrap();
        log.sync().unwrap();
        log.append(&[entry(1, 5)]).unwrap();
        log.sync().unwrap();
        log.set_hard_state(state(2, 2)).unwrap();
        log.truncate(3).unwrap();
        log.append(&[entry(2, 3), entry(2, 4), entry(2, 5)])
            .unwrap();
        log.set_hard_state(state(2, 5)).unwrap();
        log.sync().unwrap();
    }
    let file = segments(&dir).last().unwrap().clone();
    let mut bytes = std::fs::read(&file).unwrap();
    let needle = b"entry 5 of term 1";
    let at = bytes
        .windows(needle.len())
        .position(|window| window == needle)
        .unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let (log, report) = WalLog::open_repairing(&dir, small_segments()).unwrap();
    let report = report.expect("damage found");
    assert_eq!(report.kept_through, 4);
    let state = log.hard_state();
    assert_eq!(
        (state.term, state.voted_for),
        (2, Some(1)),
        "the newest term and vote"
    );
    assert_eq!(state.commit_index, 2, "only what the prefix knew committed");
    let mark = log.repair_mark().expect("entries lost");
    assert!(mark.through >= 5 && mark.term == 2, "{mark:?}");
}

// The record holding a repair mark can be the one damaged: the mark's second copy (the
// `repair-mark` file) keeps the bound, so a second repair never forgets the first.
#[test]
fn a_damaged_mark_record_does_not_lose_the_mark() {
    let temp = TempDir::new("repair-mark-record");
    let dir = temp.child("wal");
    write_log(&dir);
    let mark = RepairMark {
        through: 500,
        term: 4,
    };
    {
        let mut log = WalLog::open_with(&dir, small_segments()).unwrap();
        log.set_repair_mark(Some(mark)).unwrap();
        log.sync().unwrap();
    }
    // The mark record's body: kind 6, flag 1, through, term.
    let mut needle = vec![6u8, 1];
    needle.extend_from_slice(&500u64.to_le_bytes());
    needle.extend_from_slice(&4u64.to_le_bytes());
    let file = segments(&dir).last().unwrap().clone();
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|window| window == needle)
        .unwrap();
    bytes[at + 3] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let (log, report) = WalLog::open_repairing(&dir, small_segments()).unwrap();
    assert!(report.is_some(), "the damage is found");
    let kept = log.repair_mark().expect("still repairing");
    assert!(kept.through >= 500 && kept.term >= 4, "{kept:?}");
    // With the copy damaged too, the bound is unknown: refused.
    drop(log);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let copy = dir.join("repair-mark");
    let mut copy_bytes = std::fs::read(&copy).unwrap();
    copy_bytes[9] ^= 0x01;
    std::fs::write(&copy, &copy_bytes).unwrap();
    match WalLog::open_repairing(&dir, small_segments()) {
        Err(WalError::Corrupt { reason, .. }) => assert!(reason.contains("rule 2"), "{reason}"),
        other => panic!(
            "expected a refusal, got {:?}",
            other.map(|(_, report)| report)
        ),
    }
}

// The simulator's case (disk seed 229639), kept as the damaged file itself: a node's
// only segment, 1,031 bytes, had its sector 0 copied over sector 1, which held its
// term 2 and 3 hard states. The copy ends in a valid hard state of term 1 that is
// newer than the kept prefix (a later commit index) but older than what the damage
// hid; repair took it as the newest and the node restarted in term 1 after leading in
// term 3. The copy sits in batches that are not newer than the prefix's (it repeats
// batches 1 to 7), so it proves nothing: the log is refused as a possible lost vote.
#[test]
fn a_copied_older_hard_state_does_not_pass_for_the_newest() {
    let temp = TempDir::new("repair-copied-state");
    let dir = temp.child("wal");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("raft-wal.format"), "raft-wal 1\n").unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sector-copied-over-the-next.wal"),
        dir.join("00000000000000000001-00000000000000000001.wal"),
    )
    .unwrap();
    match WalLog::open_repairing(&dir, WalOptions::default()) {
        Err(WalError::Corrupt { reason, .. }) => assert!(reason.contains("rule 2"), "{reason}"),
        Ok((log, report)) => panic!(
            "opened in term {} ({report:?}): the term 3 it had is gone",
            log.hard_state().term
        ),
        Err(error) => panic!("{error}"),
    }
}

// A misdirected write: any 512-byte sector of a small log copied over any other. The
// repaired log never holds an older term, or a different vote in the same term, than
// the log before the damage; or (format 1 only) it is refused as a possible lost vote.
#[test]
fn a_sector_copied_over_another_never_takes_the_term_back() {
    let temp = TempDir::new("repair-copies");
    let dir = temp.child("wal");
    let options = WalOptions {
        fsync: false,
        ..WalOptions::default()
    };
    {
        // Small batches with a term or vote change every few, as a node that lives
        // through elections writes them.
        let mut log = WalLog::open_with(&dir, options).unwrap();
        for index in 1..=24u64 {
            let term = 1 + index / 5;
            log.set_hard_state(HardState {
                term,
                voted_for: Some(1 + term % 3),
                commit_index: index.saturating_sub(2),
            })
            .unwrap();
            log.append(&[entry(term, index)]).unwrap();
            log.sync().unwrap();
        }
    }
    let original = WalLog::open_with(&dir, options).unwrap().hard_state();
    let file = segments(&dir)[0].clone();
    let bytes = std::fs::read(&file).unwrap();
    let sectors = bytes.len() / 512;
    assert!(sectors >= 4, "the test needs a few sectors");
    for format in [1, 2] {
        let (mut repaired, mut refused) = (0, 0);
        for from in 0..sectors {
            for to in 0..sectors {
                if from == to {
                    continue;
                }
                let copy = temp.child(&format!("copy-{format}-{from}-{to}"));
                copy_dir(&dir, &copy);
                if format == 1 {
                    // The same segments as a format-1 log: term and vote only in them.
                    std::fs::remove_file(copy.join("vote")).unwrap();
                    std::fs::write(copy.join("raft-wal.format"), "raft-wal 1\n").unwrap();
                }
                let mut damaged = bytes.clone();
                damaged.copy_within(from * 512..from * 512 + 512, to * 512);
                std::fs::write(segments(&copy)[0].clone(), &damaged).unwrap();
                match WalLog::open_repairing(&copy, options) {
                    Ok((log, _)) => {
                        let state = log.hard_state();
                        assert!(
                            state.term > original.term
                                || (state.term == original.term
                                    && state.voted_for == original.voted_for),
                            "format {format}, sector {from} over {to}: {state:?}, was {original:?}"
                        );
                        repaired += 1;
                    }
                    Err(WalError::Corrupt { reason, .. }) if reason.contains("rule 2") => {
                        refused += 1
                    }
                    Err(error) => panic!("format {format}, sector {from} over {to}: {error}"),
                }
            }
        }
        println!("format {format}: {repaired} opened (repaired or intact), {refused} refused");
        // Format 2 keeps the term and vote out of the segments' reach.
        assert!(format == 1 || refused == 0);
        assert!(repaired + refused > 0);
    }
}

// A misdirected write that copies older entries over newer ones: the copy is made of
// valid records, so only its ragged edges read as damage. The repair mark must still
// cover every entry the copy hid (the simulator found a leader's entry 43 hidden this
// way behind a mark through 42: the node then voted for a log without it). Batches of
// several entries, the term changing now and then, as a leader writes them.
#[test]
fn a_sector_copied_over_another_never_hides_an_entry() {
    let temp = TempDir::new("repair-copied-entries");
    let options = WalOptions {
        fsync: false,
        ..WalOptions::default()
    };
    let (mut repaired, mut lossless) = (0, 0);
    // Logs of a few lengths, so that the copies' edges and the file's end fall at
    // every kind of place in a record.
    for extra in 0..8u64 {
        let dir = temp.child(&format!("wal-{extra}"));
        {
            let mut log = WalLog::open_with(&dir, options).unwrap();
            for batch in 0..12u64 {
                let term = 1 + batch / 4;
                log.set_hard_state(HardState {
                    term,
                    voted_for: Some(1),
                    commit_index: (batch * 6).saturating_sub(3),
                })
                .unwrap();
                let count = if batch == 11 { 6 + extra } else { 6 };
                let entries: Vec<_> = (1..=count).map(|i| entry(term, batch * 6 + i)).collect();
                log.append(&entries).unwrap();
                log.sync().unwrap();
            }
        }
        let original = WalLog::open_with(&dir, options).unwrap();
        let (original_entries, original_last) = (all_entries(&original, 1), original.last_index());
        drop(original);
        let file = segments(&dir)[0].clone();
        let bytes = std::fs::read(&file).unwrap();
        let sectors = bytes.len() / 512;
        assert!(sectors >= 6, "the test needs a few sectors");
        for from in 0..sectors {
            for to in 0..sectors {
                if from == to {
                    continue;
                }
                let copy = temp.child(&format!("copy-{extra}-{from}-{to}"));
                copy_dir(&dir, &copy);
                let mut damaged = bytes.clone();
                damaged.copy_within(from * 512..from * 512 + 512, to * 512);
                std::fs::write(segments(&copy)[0].clone(), &damaged).unwrap();
                let at = format!("log {extra}, sector {from} over {to}");
                match WalLog::open_repairing(&copy, options) {
                    Ok((log, report)) => {
                        let kept = all_entries(&log, 1);
                        assert_eq!(kept[..], original_entries[..kept.len()], "{at}");
                        if log.last_index() < original_last {
                            let mark = report
                                .and_then(|report| report.mark)
                                .unwrap_or_else(|| panic!("{at}: entries lost without a mark"));
                            assert!(
                                mark.through >= original_last,
                                "{at}: {mark:?} misses entries up to {original_last}"
                            );
                            repaired += 1;
                        } else {
                            lossless += 1;
                        }
                    }
                    Err(error) => panic!("{at}: {error}"),
                }
                std::fs::remove_dir_all(&copy).unwrap();
            }
        }
    }
    println!("{repaired} repaired, {lossless} lossless");
    assert!(repaired > 0);
}

// The newest segment's first sector rots (its header with it) while the rest of the
// file holds no complete record (one large entry): that is damage to synced data, not
// a crash while the segment was created, since a segment's header and preamble are
// flushed on their own first (format 2). Before, the segment was taken for a torn
// creation and removed: a synced entry lost with no mark. A crash during that first
// write (the file no longer than it) is still cut as one.
#[test]
fn a_rotted_header_of_the_newest_segment_is_repaired_not_taken_for_a_crash() {
    let temp = TempDir::new("repair-header");
    let dir = temp.child("wal");
    let options = small_segments();
    {
        let mut log = WalLog::open_with(&dir, options).unwrap();
        // Fill the first segment to its limit: the next sync opens a new one.
        while std::fs::metadata(&segments(&dir)[0]).unwrap().len() < 4096 {
            let index = log.last_index() + 1;
            log.append(&[entry(1, index)]).unwrap();
            log.sync().unwrap();
        }
        // The new segment's first batch: one entry of 1,500 bytes.
        let big = log.last_index() + 1;
        log.append(&[raft_core::LogEntry::new(1, big, vec![3u8; 1500])])
            .unwrap();
        log.sync().unwrap();
        assert_eq!(segments(&dir).len(), 2);
    }
    let original = WalLog::open_with(&dir, options).unwrap();
    let last = original.last_index();
    drop(original);
    let newest = segments(&dir).pop().unwrap();
    let bytes = std::fs::read(&newest).unwrap();
    assert!(bytes.len() > 1024, "the newest segment holds the big entry");

    // Rot: its first sector reads as zeros.
    let copy = temp.child("rot");
    copy_dir(&dir, &copy);
    let mut damaged = bytes.clone();
    damaged[..512].fill(0);
    std::fs::write(segments(&copy).pop().unwrap(), &damaged).unwrap();
    assert!(matches!(
        WalLog::open_with(&copy, options),
        Err(WalError::Corrupt { .. })
    ));
    let (log, report) = WalLog::open_repairing(&copy, options).unwrap();
    let mark = report.and_then(|report| report.mark).expect("a mark");
    assert!(mark.through >= last, "{mark:?} misses entry {last}");
    assert!(log.last_index() < last);

    // A crash while the segment was being created: the file holds at most its first
    // write (header and preamble, 112 bytes here), whole or in part.
    for cut in 0..=112 {
        let copy = temp.child(&format!("cut-{cut}"));
        copy_dir(&dir, &copy);
        let path = segments(&copy).pop().unwrap();
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let log = WalLog::open_with(&copy, options)
            .unwrap_or_else(|error| panic!("cut at {cut}: {error}"));
        assert_eq!(log.last_index(), last - 1, "cut at {cut}");
        drop(log);
        std::fs::remove_dir_all(&copy).unwrap();
    }
}

// Damage can hide that kept entries were replaced: here the newest segment's header
// is damaged, and that segment appended an entry, then replaced it and the one before
// it (the kept prefix's last) with a newer term's: the log is as long as the kept
// prefix, and its last entry differs. The
// repair keeps the old version (the prefix before the damage), and sets a mark
// (through the kept prefix at least, terms up to the newer one), so the node
// checks its entries against a leader's before it votes again. Found by the property
// test: before, no mark was set when no index was lost.
#[test]
fn a_repair_that_loses_no_index_still_marks_entries_that_may_be_stale() {
    let temp = TempDir::new("repair-stale");
    let dir = temp.child("wal");
    let options = small_segments();
    let last;
    {
        let mut log = WalLog::open_with(&dir, options).unwrap();
        while std::fs::metadata(&segments(&dir)[0]).unwrap().len() < 4096 {
            let index = log.last_index() + 1;
            log.append(&[entry(1, index)]).unwrap();
            log.sync().unwrap();
        }
        last = log.last_index();
        // One more entry of term 1 (it opens the new segment), then a new leader of
        // term 2 replaces it and the entry before it with one entry of its own.
        log.append(&[entry(1, last + 1)]).unwrap();
        log.sync().unwrap();
        log.set_hard_state(HardState {
            term: 2,
            voted_for: Some(3),
            commit_index: last - 1,
        })
        .unwrap();
        log.truncate(last).unwrap();
        log.append(&[entry(2, last)]).unwrap();
        log.sync().unwrap();
        assert_eq!(segments(&dir).len(), 2);
    }
    let newest = segments(&dir).pop().unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&newest, &bytes).unwrap();
    let (log, report) = WalLog::open_repairing(&dir, options).unwrap();
    let report = report.expect("repaired");
    assert_eq!(log.last_index(), last);
    assert_eq!(
        log.entry(last).unwrap().term,
        1,
        "the stale version is what was kept"
    );
    let mark = report.mark.expect("a mark although no index was lost");
    assert!(mark.through >= last && mark.term >= 2, "{mark:?}");
}

// A segment that cannot be read (a read error; here a directory stands in its place,
// which reads as an error the way a failing disk's EIO does): plain open reports the
// I/O error, repair mode takes the segment as damaged whole, keeps the segments before
// it and marks everything after.
#[test]
fn an_unreadable_segment_is_repaired_as_damaged() {
    let temp = TempDir::new("repair-unreadable");
    let dir = temp.child("wal");
    write_log(&dir);
    let original = WalLog::open_with(&dir, small_segments()).unwrap();
    let (last, term) = (original.last_index(), original.hard_state().term);
    drop(original);
    let files = segments(&dir);
    assert!(files.len() >= 3, "the test needs sealed segments");
    for position in [files.len() / 2, files.len() - 1] {
        let copy = temp.child(&format!("unreadable-{position}"));
        copy_dir(&dir, &copy);
        let target = segments(&copy)[position].clone();
        std::fs::remove_file(&target).unwrap();
        std::fs::create_dir(&target).unwrap();
        assert!(matches!(
            WalLog::open_with(&copy, small_segments()),
            Err(WalError::Io { .. })
        ));
        let (log, report) = WalLog::open_repairing(&copy, small_segments())
            .unwrap_or_else(|error| panic!("segment {position}: {error}"));
        let report = report.expect("repaired");
        assert!(report.reason.contains("cannot be read"), "{report}");
        let mark = log.repair_mark().expect("a mark");
        assert!(mark.through >= last && mark.term >= term, "{mark:?}");
        assert_eq!(log.hard_state().term, term);
        assert!(log.last_index() < last);
        drop(log);
        // Reopened normally: the unreadable file is set aside.
        let again = WalLog::open_with(&copy, small_segments()).unwrap();
        assert_eq!(again.repair_mark(), Some(mark));
    }
}
