//! Repair mode against random logs and random damage (docs/RECOVERY.md, rule 1): logs
//! a node writes through elections (term and vote changes, batches of entries of any
//! size, truncations, several segments), then one to three faults the simulator draws
//! (a flipped bit, a zeroed sector, a sector written over another). Whatever survives,
//! the repaired log keeps the term and vote, and if it does not hold every synced entry
//! as it was, its repair mark covers every index the log held and every term its
//! entries had: a node never votes as if intact after losing an entry it may have
//! acknowledged.

#[path = "support/temp.rs"]
mod temp;

use proptest::prelude::*;
use raft_core::{HardState, LogEntry, RaftLog};
use raft_wal::{WalLog, WalOptions};
use temp::{TempDir, all_entries, copy_dir, segments};

#[derive(Clone, Debug)]
enum Step {
    /// Entries of the current term, of `size` bytes each.
    Append { count: u8, size: u16 },
    /// A new term (and a vote in it).
    Elect { vote: Option<u8> },
    /// The last `back` entries replaced by one of a newer term (a follower
    /// overwritten by a new leader).
    Overwrite { back: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1u8..8, 0u16..300).prop_map(|(count, size)| Step::Append { count, size }),
        2 => proptest::option::of(1u8..4).prop_map(|vote| Step::Elect { vote }),
        1 => (1u8..5).prop_map(|back| Step::Overwrite { back }),
    ]
}

#[derive(Clone, Debug)]
enum Damage {
    Flip { at: u32, bit: u8 },
    ZeroSector { sector: u16 },
    CopySector { from: u16, to: u16 },
}

fn damage() -> impl Strategy<Value = (u8, Damage)> {
    let kind = prop_oneof![
        (any::<u32>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        any::<u16>().prop_map(|sector| Damage::ZeroSector { sector }),
        (any::<u16>(), any::<u16>()).prop_map(|(from, to)| Damage::CopySector { from, to }),
    ];
    (any::<u8>(), kind)
}

fn options() -> WalOptions {
    WalOptions {
        segment_bytes_max: 4096,
        fsync: false,
        ..WalOptions::default()
    }
}

/// Writes the log, one sync per step; returns its hard state.
fn write(dir: &std::path::Path, steps: &[Step]) -> HardState {
    let mut log = WalLog::open_with(dir, options()).unwrap();
    let mut state = HardState {
        term: 1,
        voted_for: Some(1),
        commit_index: 0,
    };
    log.set_hard_state(state).unwrap();
    for step in steps {
        let last = log.last_index();
        match *step {
            Step::Append { count, size } => {
                let entries: Vec<LogEntry> = (1..=u64::from(count))
                    .map(|i| {
                        LogEntry::new(state.term, last + i, vec![(last + i) as u8; size.into()])
                    })
                    .collect();
                log.append(&entries).unwrap();
            }
            Step::Elect { vote } => {
                state.term += 1;
                state.voted_for = vote.map(u64::from);
            }
            Step::Overwrite { back } => {
                let from = last.saturating_sub(u64::from(back)).max(state.commit_index) + 1;
                if from <= last {
                    state.term += 1;
                    state.voted_for = None;
                    log.truncate(from).unwrap();
                    log.append(&[LogEntry::new(state.term, from, vec![7u8; 20])])
                        .unwrap();
                }
            }
        }
        state.commit_index = log.last_index().saturating_sub(3).max(state.commit_index);
        log.set_hard_state(state).unwrap();
        log.sync().unwrap();
    }
    state
}

fn apply(dir: &std::path::Path, (file, damage): &(u8, Damage)) -> Option<String> {
    let files = segments(dir);
    let path = &files[usize::from(*file) % files.len()];
    let mut bytes = std::fs::read(path).unwrap();
    let sectors = bytes.len() / 512;
    let what = match *damage {
        Damage::Flip { at, bit } => {
            let at = at as usize % bytes.len();
            bytes[at] ^= 1 << bit;
            format!("bit {bit} of byte {at}")
        }
        // As in the simulator: zeros only where valid data follows (zeros at the very
        // end are a torn write, or a lying fsync no protocol survives).
        Damage::ZeroSector { sector } if sectors >= 2 => {
            let sector = usize::from(sector) % (sectors - 1);
            bytes[sector * 512..sector * 512 + 512].fill(0);
            format!("sector {sector} zeroed")
        }
        Damage::CopySector { from, to } if sectors >= 2 => {
            let from = usize::from(from) % sectors;
            let to = usize::from(to) % sectors;
            bytes.copy_within(from * 512..from * 512 + 512, to * 512);
            format!("sector {from} over {to}")
        }
        _ => return None,
    };
    std::fs::write(path, &bytes).unwrap();
    Some(format!("{what} of {}", path.display()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn repair_never_hides_a_lost_entry(
        steps in proptest::collection::vec(step(), 1..40),
        damages in proptest::collection::vec(damage(), 1..4),
    ) {
        let temp = TempDir::new("repair-props");
        let dir = temp.child("wal");
        let state = write(&dir, &steps);
        let original = WalLog::open_with(&dir, options()).unwrap();
        let entries = all_entries(&original, 1);
        let last_index = original.last_index();
        let last_term = original.last_term();
        drop(original);
        let copy = temp.child("damaged");
        copy_dir(&dir, &copy);
        let done: Vec<String> = damages.iter().filter_map(|damage| apply(&copy, damage)).collect();
        let (log, report) = WalLog::open_repairing(&copy, options())
            .unwrap_or_else(|error| panic!("{done:?}: refused: {error}"));
        let found = log.hard_state();
        prop_assert_eq!((found.term, found.voted_for), (state.term, state.voted_for), "{:?}", done);
        let kept = all_entries(&log, 1);
        let intact = kept.len() == entries.len() && kept == entries;
        if !intact {
            let mark = log.repair_mark();
            prop_assert!(mark.is_some(), "{:?}: entries lost without a mark ({:?})", done, report);
            let mark = mark.unwrap();
            prop_assert!(
                mark.through >= last_index && mark.term >= last_term,
                "{:?}: {:?} does not cover index {} term {}", done, mark, last_index, last_term
            );
        }
        prop_assert!(found.commit_index <= log.last_index());
        drop(log);
        let again = WalLog::open_with(&copy, options());
        prop_assert!(again.is_ok(), "{:?}: repaired log does not reopen: {:?}", done, again.err());
    }
}

// Found by the property test: the newest segment zeroed whole (its first two sectors,
// then nothing but zeros to its end). Longer than a segment's first write, it had a
// durable header: damage, never a torn tail, and the mark covers what it held.
#[test]
fn a_newest_segment_zeroed_whole_is_damage_not_a_torn_tail() {
    let temp = TempDir::new("repair-zeroed-segment");
    let dir = temp.child("wal");
    let steps = vec![
        Step::Append {
            count: 5,
            size: 161,
        },
        Step::Append {
            count: 6,
            size: 226,
        },
        Step::Append { count: 7, size: 39 },
        Step::Append {
            count: 1,
            size: 179,
        },
        Step::Append {
            count: 2,
            size: 248,
        },
        Step::Elect { vote: None },
        Step::Append { count: 6, size: 97 },
        Step::Elect { vote: None },
    ];
    let state = write(&dir, &steps);
    let last = WalLog::open_with(&dir, options()).unwrap().last_index();
    assert_eq!(segments(&dir).len(), 2);
    let copy = temp.child("damaged");
    copy_dir(&dir, &copy);
    let newest = segments(&copy).pop().unwrap();
    let length = std::fs::metadata(&newest).unwrap().len();
    std::fs::write(&newest, vec![0u8; length as usize]).unwrap();
    let (log, _) = WalLog::open_repairing(&copy, options()).unwrap();
    let mark = log.repair_mark().expect("a mark");
    assert!(
        mark.through >= last && mark.term >= state.term,
        "{mark:?}, last {last}"
    );
}
