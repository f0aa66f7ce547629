//! The log's contents in memory: the live entries above the compaction boundary and the
//! hard state. The same rules apply while replaying records on open and while serving
//! a running node, so recovery rebuilds exactly what the writer held.

use std::collections::VecDeque;

use raft_core::{HardState, Index, LogEntry, RepairMark, Term};

/// The log's logical contents.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogState {
    // Invariant: entries are contiguous and their terms never decrease. Normally the
    // first one is at boundary.0 + 1; while replaying a directory whose oldest
    // segments were deleted it may start higher (a gap that a later Compact covers).
    pub(crate) entries: VecDeque<LogEntry>,
    /// The compaction point: entries at or below it are gone; its term is kept.
    pub(crate) boundary: (Index, Term),
    pub(crate) hard_state: HardState,
    /// Set while the node repairs entries a damaged disk lost.
    pub(crate) repair_mark: Option<RepairMark>,
    /// Replay only: the highest index that must turn out to be compacted.
    pub(crate) gap_below: Option<Index>,
}

impl LogState {
    pub(crate) fn first_index(&self) -> Index {
        self.entries
            .front()
            .map_or(self.boundary.0 + 1, |entry| entry.index)
    }

    pub(crate) fn last_index(&self) -> Index {
        self.entries
            .back()
            .map_or(self.boundary.0, |entry| entry.index)
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries
            .back()
            .map_or(self.boundary.1, |entry| entry.term)
    }

    fn position(&self, index: Index) -> Option<usize> {
        let offset = index.checked_sub(self.first_index())?;
        let offset = usize::try_from(offset).ok()?;
        (offset < self.entries.len()).then_some(offset)
    }

    pub(crate) fn get(&self, index: Index) -> Option<&LogEntry> {
        self.position(index).map(|position| &self.entries[position])
    }

    pub(crate) fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.boundary.0 {
            return Some(self.boundary.1);
        }
        self.get(index).map(|entry| entry.term)
    }

    /// Entries `from..=to` clamped to what is held, as (start, end) positions.
    pub(crate) fn range(&self, from: Index, to: Index) -> Option<(usize, usize)> {
        if from == 0 || to < from {
            return None;
        }
        let start = self.position(from)?;
        let end = self
            .position(to)
            .map_or(self.entries.len(), |position| position + 1);
        Some((start, end))
    }

    /// Why `entry` cannot come next, if it cannot.
    pub(crate) fn check_next(&self, entry: &LogEntry) -> Result<(), String> {
        let last_index = self.last_index();
        if entry.index != last_index + 1 {
            return Err(format!(
                "entry {} does not follow the last entry {last_index}",
                entry.index
            ));
        }
        if entry.term < self.last_term() {
            return Err(format!(
                "entry {} has term {}, below the previous term {}",
                entry.index,
                entry.term,
                self.last_term()
            ));
        }
        Ok(())
    }

    /// Replay: appends an entry record, tolerating one gap at the very start (entries
    /// whose segments were deleted after compaction).
    pub(crate) fn replay_entry(&mut self, entry: LogEntry) -> Result<(), String> {
        if self.entries.is_empty() {
            match self.gap_below {
                Some(gap) if entry.index != gap + 1 => {
                    return Err(format!(
                        "entry {} does not follow the missing entry {gap}",
                        entry.index
                    ));
                }
                Some(_) => {}
                None if entry.index > self.boundary.0 + 1 => self.gap_below = Some(entry.index - 1),
                None => self.check_next(&entry)?,
            }
            self.entries.push_back(entry);
            return Ok(());
        }
        self.check_next(&entry)?;
        self.entries.push_back(entry);
        Ok(())
    }

    /// Removes entries at or above `from`.
    pub(crate) fn truncate(&mut self, from: Index) -> Result<(), String> {
        if from <= self.boundary.0 {
            return Err(format!(
                "truncation at {from} reaches compacted entries (boundary {})",
                self.boundary.0
            ));
        }
        if self.gap_below.is_some_and(|gap| from <= gap + 1) {
            // Replay only: the cut falls in entries whose segments were deleted; what
            // is left is the missing range below it.
            self.entries.clear();
            self.gap_below = (from - 1 > self.boundary.0).then_some(from - 1);
            return Ok(());
        }
        if let Some(position) = self.position(from) {
            self.entries.truncate(position);
        }
        Ok(())
    }

    /// Drops entries at or below `index`, remembering `term` as the boundary's.
    pub(crate) fn compact(&mut self, index: Index, term: Term) -> Result<(), String> {
        if index < self.boundary.0 {
            return Err(format!(
                "compaction to {index} is below the boundary {}",
                self.boundary.0
            ));
        }
        while self
            .entries
            .front()
            .is_some_and(|entry| entry.index <= index)
        {
            let _ = self.entries.pop_front();
        }
        self.boundary = (index, term);
        if self.gap_below.is_some_and(|gap| gap <= index) {
            self.gap_below = None;
        }
        Ok(())
    }
}
