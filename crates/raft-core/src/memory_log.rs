//! The default, in-memory log.

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::log::RaftLog;
use crate::types::{HardState, Index, LogEntry, Term};

/// An in-memory [`RaftLog`] backed by a `Vec`. Every operation is O(1) except
/// `truncate` (O(removed)) and range reads (O(returned)); `sync` does nothing.
///
/// ```
/// use raft_core::{LogEntry, MemoryLog, RaftLog};
/// let mut log = MemoryLog::new();
/// log.append(&[LogEntry::new(1, 1, &b"a"[..]), LogEntry::new(1, 2, &b"b"[..])]).unwrap();
/// assert_eq!((log.last_index(), log.term_at(2)), (2, Some(1)));
/// assert!(log.append(&[LogEntry::new(1, 4, &b"gap"[..])]).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryLog {
    // Invariant: entries[i].index == i + 1 and terms never decrease.
    entries: Vec<LogEntry>,
    hard_state: HardState,
}

impl MemoryLog {
    /// An empty log with a default hard state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, index: Index) -> Option<usize> {
        let position = usize::try_from(index.checked_sub(1)?).ok()?;
        (position < self.entries.len()).then_some(position)
    }

    /// Checks that `entries` continue the log: contiguous, terms never decreasing.
    fn check_append(&self, entries: &[LogEntry]) -> Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let first_expected = self.last_index() + 1;
        if first.index != first_expected {
            return Err(Error::storage(
                "appending to the memory log",
                alloc::format!("first index {} is not {first_expected}", first.index),
            ));
        }
        let mut last_term = self.last_term();
        for (expected, entry) in (first_expected..).zip(entries) {
            if entry.index != expected || entry.term < last_term {
                return Err(Error::storage(
                    "appending to the memory log",
                    alloc::format!(
                        "entry {} (term {}) does not follow index {} (term {last_term})",
                        entry.index,
                        entry.term,
                        expected - 1
                    ),
                ));
            }
            last_term = entry.term;
        }
        Ok(())
    }
}

impl RaftLog for MemoryLog {
    fn last_index(&self) -> Index {
        self.entries.len() as Index
    }

    fn last_term(&self) -> Term {
        self.entries.last().map_or(0, |entry| entry.term)
    }

    fn term_at(&self, index: Index) -> Option<Term> {
        if index == 0 {
            return Some(0);
        }
        self.position(index)
            .map(|position| self.entries[position].term)
    }

    fn entry(&self, index: Index) -> Option<LogEntry> {
        self.position(index)
            .map(|position| self.entries[position].clone())
    }

    fn entries(&self, from: Index, to: Index) -> Vec<LogEntry> {
        let Some(start) = self.position(from) else {
            return Vec::new();
        };
        if to < from {
            return Vec::new();
        }
        let end = self
            .position(to)
            .map_or(self.entries.len(), |position| position + 1);
        self.entries[start..end].to_vec()
    }

    fn entries_limited(&self, from: Index, to: Index, bytes_max: usize) -> Vec<LogEntry> {
        let Some(start) = self.position(from) else {
            return Vec::new();
        };
        if to < from {
            return Vec::new();
        }
        let end = self
            .position(to)
            .map_or(self.entries.len(), |position| position + 1);
        let mut bytes = 0usize;
        let mut stop = start;
        for entry in &self.entries[start..end] {
            bytes = bytes.saturating_add(entry.command.len());
            if stop > start && bytes > bytes_max {
                break;
            }
            stop += 1;
        }
        self.entries[start..stop].to_vec()
    }

    fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        self.check_append(entries)?;
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    fn append_owned(&mut self, mut entries: Vec<LogEntry>) -> Result<()> {
        self.check_append(&entries)?;
        self.entries.append(&mut entries);
        Ok(())
    }

    fn truncate(&mut self, from: Index) -> Result<()> {
        if from == 0 {
            return Err(Error::storage(
                "truncating the memory log",
                "index 0 is not an entry",
            ));
        }
        if let Some(position) = self.position(from) {
            self.entries.truncate(position);
        }
        Ok(())
    }

    fn hard_state(&self) -> HardState {
        self.hard_state
    }

    fn set_hard_state(&mut self, state: HardState) -> Result<()> {
        self.hard_state = state;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: Term, index: Index) -> LogEntry {
        LogEntry::new(term, index, alloc::vec![index as u8; index as usize])
    }

    // Proves truncate removes the suffix and appends continue from the cut.
    #[test]
    fn truncate_then_append() {
        let mut log = MemoryLog::new();
        log.append(&[entry(1, 1), entry(1, 2), entry(2, 3)])
            .unwrap();
        log.truncate(2).unwrap();
        assert_eq!(log.last_index(), 1);
        log.append(&[entry(3, 2)]).unwrap();
        assert_eq!((log.last_index(), log.last_term()), (2, 3));
        assert!(log.truncate(0).is_err());
        log.truncate(10).unwrap();
        assert_eq!(log.len(), 2);
    }

    // Proves overlapping, gapped and term-decreasing appends are refused untouched.
    #[test]
    fn append_rejects_bad_batches() {
        let mut log = MemoryLog::new();
        log.append(&[entry(2, 1)]).unwrap();
        assert!(log.append(&[entry(2, 1)]).is_err());
        assert!(log.append(&[entry(2, 3)]).is_err());
        assert!(log.append(&[entry(1, 2)]).is_err());
        assert!(log.append(&[entry(2, 2), entry(2, 4)]).is_err());
        assert_eq!(log.len(), 1);
    }

    // Proves the bulk reads agree with the trait's default implementations.
    #[test]
    fn range_reads_match_defaults() {
        struct Plain(MemoryLog);
        impl RaftLog for Plain {
            fn last_index(&self) -> Index {
                self.0.last_index()
            }
            fn last_term(&self) -> Term {
                self.0.last_term()
            }
            fn term_at(&self, index: Index) -> Option<Term> {
                self.0.term_at(index)
            }
            fn entry(&self, index: Index) -> Option<LogEntry> {
                self.0.entry(index)
            }
            fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
                self.0.append(entries)
            }
            fn truncate(&mut self, from: Index) -> Result<()> {
                self.0.truncate(from)
            }
            fn hard_state(&self) -> HardState {
                self.0.hard_state()
            }
            fn set_hard_state(&mut self, state: HardState) -> Result<()> {
                self.0.set_hard_state(state)
            }
            fn sync(&mut self) -> Result<()> {
                Ok(())
            }
        }
        let mut log = MemoryLog::new();
        let batch: Vec<LogEntry> = (1..=8).map(|index| entry(1, index)).collect();
        log.append(&batch).unwrap();
        let plain = Plain(log.clone());
        for from in 0..10 {
            for to in 0..10 {
                assert_eq!(
                    log.entries(from, to),
                    plain.entries(from, to),
                    "{from}..={to}"
                );
                for bytes in [0, 1, 5, 12, 100] {
                    assert_eq!(
                        log.entries_limited(from, to, bytes),
                        plain.entries_limited(from, to, bytes),
                        "{from}..={to} within {bytes}"
                    );
                }
            }
        }
    }
}
