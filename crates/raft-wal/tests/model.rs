//! Random sequences of append, truncate, compact, hard-state, sync and crash-reopen
//! against a plain in-memory model: the WalLog always holds what the model holds, and
//! a reopened one holds exactly what the model held at the last sync.

#[path = "support/temp.rs"]
mod temp;

use proptest::prelude::*;
use raft_core::{HardState, Index, LogEntry, RaftLog, Term};
use raft_wal::{WalLog, WalOptions};
use temp::TempDir;

#[derive(Clone, Debug)]
enum Op {
    Append {
        count: u8,
        term_bump: bool,
        size: u16,
    },
    Truncate {
        back: u8,
    },
    Compact {
        back: u8,
    },
    HardState {
        term: u8,
        vote: Option<u8>,
    },
    Sync,
    CrashReopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1u8..6, any::<bool>(), 0u16..400).prop_map(|(count, term_bump, size)| Op::Append { count, term_bump, size }),
        1 => (0u8..6).prop_map(|back| Op::Truncate { back }),
        1 => (0u8..8).prop_map(|back| Op::Compact { back }),
        1 => (0u8..5, proptest::option::of(0u8..4)).prop_map(|(term, vote)| Op::HardState { term, vote }),
        3 => Just(Op::Sync),
        1 => Just(Op::CrashReopen),
    ]
}

/// The model: entries above a boundary, and a hard state.
#[derive(Clone, Debug, Default)]
struct Model {
    entries: Vec<LogEntry>,
    boundary: (Index, Term),
    hard_state: HardState,
}

impl Model {
    fn last_index(&self) -> Index {
        self.entries.last().map_or(self.boundary.0, |e| e.index)
    }
    fn last_term(&self) -> Term {
        self.entries.last().map_or(self.boundary.1, |e| e.term)
    }
}

fn check(log: &WalLog, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(log.last_index(), model.last_index());
    prop_assert_eq!(log.last_term(), model.last_term());
    prop_assert_eq!(log.compacted_index(), model.boundary.0);
    prop_assert_eq!(log.term_at(model.boundary.0), Some(model.boundary.1));
    prop_assert_eq!(log.hard_state(), model.hard_state);
    prop_assert_eq!(
        log.entries(model.boundary.0 + 1, model.last_index()),
        model.entries.clone()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(96),
    ))]

    #[test]
    fn wal_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let temp = TempDir::new("model");
        let dir = temp.child("wal");
        let options = WalOptions { segment_bytes_max: 4096, ..WalOptions::default() };
        let mut log = WalLog::open_with(&dir, options).unwrap();
        let mut model = Model::default();
        let mut durable = Model::default();
        for op in ops {
            match op {
                Op::Append { count, term_bump, size } => {
                    let term = model.last_term().max(model.hard_state.term).max(1) + u64::from(term_bump);
                    let first = model.last_index() + 1;
                    let entries: Vec<LogEntry> = (first..first + u64::from(count))
                        .map(|index| LogEntry::new(term, index, vec![index as u8; usize::from(size)]))
                        .collect();
                    // One entry goes through append_entry, more through append_owned.
                    match entries.as_slice() {
                        [single] => log.append_entry(single.clone()).unwrap(),
                        _ => log.append_owned(entries.clone()).unwrap(),
                    }
                    model.entries.extend(entries);
                }
                Op::Truncate { back } => {
                    let from = model.last_index().saturating_sub(u64::from(back)).max(model.boundary.0 + 1);
                    log.truncate(from).unwrap();
                    model.entries.retain(|e| e.index < from);
                }
                Op::Compact { back } => {
                    let index = model.last_index().saturating_sub(u64::from(back));
                    log.compact(index).unwrap();
                    if index > model.boundary.0 {
                        let term = model.entries.iter().find(|e| e.index == index).map_or(model.boundary.1, |e| e.term);
                        model.entries.retain(|e| e.index > index);
                        model.boundary = (index, term);
                    }
                }
                Op::HardState { term, vote } => {
                    let state = HardState {
                        term: u64::from(term),
                        voted_for: vote.map(u64::from),
                        commit_index: model.boundary.0,
                    };
                    log.set_hard_state(state).unwrap();
                    model.hard_state = state;
                }
                Op::Sync => {
                    log.sync().unwrap();
                    durable = model.clone();
                }
                Op::CrashReopen => {
                    drop(log);
                    log = WalLog::open_with(&dir, options).unwrap();
                    model = durable.clone();
                }
            }
            check(&log, &model)?;
        }
        log.sync().unwrap();
        drop(log);
        let reopened = WalLog::open_with(&dir, options).unwrap();
        check(&reopened, &model)?;
    }
}
