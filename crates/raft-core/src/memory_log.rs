//! The default, in-memory log.

use alloc::vec::Vec;

use crate::error::{Error, Result, StorageErrorKind};
use crate::log::RaftLog;
use crate::types::{HardState, Index, LogEntry, RepairMark, Snapshot, Term};

/// An in-memory [`RaftLog`]. Every operation is O(1) except `truncate` (O(removed))
/// and range reads (O(returned)); `sync` does nothing. Entries live in fixed-size
/// chunks, so a growing log never copies what it already holds.
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
    // Invariant: the entry at position i has index base_index + i + 1; terms never
    // decrease.
    entries: Chunks,
    hard_state: HardState,
    /// The latest snapshot; entries at or below its index are gone. (Boxed: most logs
    /// never hold one, and a node moves its log whenever it is built.)
    snapshot: Option<alloc::boxed::Box<Snapshot>>,
    base_index: Index,
    base_term: Term,
    /// The last entry's term, `base_term` when there is none: kept as entries come
    /// and go, as the node asks for it several times a step.
    last_term: Term,
    /// The repair mark ([`RaftLog::repair_mark`]).
    repair_mark: Option<RepairMark>,
    /// [`RaftLog::incarnation`].
    incarnation: crate::Incarnation,
}

impl MemoryLog {
    /// An empty log with a default hard state.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log of `incarnation` ([`RaftLog::incarnation`]): the storage of a node
    /// that lost its state and comes back as a new incarnation.
    pub fn with_incarnation(incarnation: crate::Incarnation) -> Self {
        Self {
            incarnation,
            ..Self::default()
        }
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[inline]
    fn position(&self, index: Index) -> Option<usize> {
        let position = usize::try_from(index.checked_sub(self.base_index + 1)?).ok()?;
        (position < self.entries.len()).then_some(position)
    }

    /// The last entry's term, looked up in the chunks (`base_term` when there is none):
    /// what `last_term` caches.
    fn stored_last_term(&self) -> Term {
        self.entries
            .last()
            .map_or(self.base_term, |entry| entry.term)
    }

    /// Checks that `entries` continue the log: contiguous, terms never decreasing.
    fn check_append(&self, entries: &[LogEntry]) -> Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let first_expected = self.last_index() + 1;
        if first.index != first_expected {
            return Err(Error::storage_of_kind(
                "appending to the memory log",
                StorageErrorKind::Contract,
                alloc::format!("first index {} is not {first_expected}", first.index),
            ));
        }
        let mut last_term = self.last_term();
        for (expected, entry) in (first_expected..).zip(entries) {
            if entry.index != expected || entry.term < last_term {
                return Err(Error::storage_of_kind(
                    "appending to the memory log",
                    StorageErrorKind::Contract,
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
    #[inline]
    fn last_index(&self) -> Index {
        self.base_index + self.entries.len() as Index
    }

    #[inline]
    fn last_term(&self) -> Term {
        debug_assert_eq!(self.last_term, self.stored_last_term());
        self.last_term
    }

    #[inline]
    fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.base_index {
            return Some(self.base_term);
        }
        self.position(index)
            .and_then(|position| self.entries.get(position))
            .map(|entry| entry.term)
    }

    fn entry(&self, index: Index) -> Option<LogEntry> {
        self.position(index)
            .and_then(|position| self.entries.get(position))
            .cloned()
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
        self.entries.clone_range(start, end)
    }

    fn for_each_entry(&self, from: Index, to: Index, visit: &mut dyn FnMut(&LogEntry)) -> u64 {
        let Some(start) = self.position(from) else {
            return 0;
        };
        if to < from {
            return 0;
        }
        let end = self
            .position(to)
            .map_or(self.entries.len(), |position| position + 1);
        let mut visited = 0;
        for slice in self.entries.slices(start, end) {
            for entry in slice {
                visit(entry);
            }
            visited += slice.len() as u64;
        }
        visited
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
        if start + 1 == end {
            // One entry (one proposal per round): it goes whatever its size, and needs
            // no walk over the chunks.
            return self
                .entries
                .get(start)
                .map_or_else(Vec::new, |entry| alloc::vec![entry.clone()]);
        }
        let mut bytes = 0usize;
        let mut stop = start;
        'chunks: for slice in self.entries.slices(start, end) {
            for entry in slice {
                bytes = bytes.saturating_add(entry.command.len());
                if stop > start && bytes > bytes_max {
                    break 'chunks;
                }
                stop += 1;
            }
        }
        self.entries.clone_range(start, stop)
    }

    fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        self.check_append(entries)?;
        self.entries.extend(entries.iter().cloned());
        if let Some(last) = entries.last() {
            self.last_term = last.term;
        }
        Ok(())
    }

    fn append_entry(&mut self, entry: LogEntry) -> Result<()> {
        self.check_append(core::slice::from_ref(&entry))?;
        self.last_term = entry.term;
        self.entries.push(entry);
        Ok(())
    }

    fn append_owned(&mut self, entries: Vec<LogEntry>) -> Result<()> {
        self.check_append(&entries)?;
        if let Some(last) = entries.last() {
            self.last_term = last.term;
        }
        self.entries.extend_owned(entries);
        Ok(())
    }

    fn truncate(&mut self, from: Index) -> Result<()> {
        if from <= self.base_index {
            return Err(Error::storage_of_kind(
                "truncating the memory log",
                StorageErrorKind::Contract,
                alloc::format!(
                    "index {from} is not above the snapshot at {}",
                    self.base_index
                ),
            ));
        }
        if let Some(position) = self.position(from) {
            self.entries.truncate(position);
            self.last_term = self.stored_last_term();
        }
        Ok(())
    }

    #[inline]
    fn hard_state(&self) -> HardState {
        self.hard_state
    }

    fn set_hard_state(&mut self, state: HardState) -> Result<()> {
        self.hard_state = state;
        Ok(())
    }

    #[inline]
    fn repair_mark(&self) -> Option<RepairMark> {
        self.repair_mark
    }

    fn set_repair_mark(&mut self, mark: Option<RepairMark>) -> Result<()> {
        self.repair_mark = mark;
        Ok(())
    }

    fn incarnation(&self) -> crate::Incarnation {
        self.incarnation
    }

    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    fn snapshot(&self) -> Option<Snapshot> {
        self.snapshot.as_deref().cloned()
    }

    #[inline]
    fn snapshot_index(&self) -> Index {
        self.base_index
    }

    fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<()> {
        if snapshot.index <= self.base_index {
            return Ok(());
        }
        let keep_tail = self.term_at(snapshot.index) == Some(snapshot.term);
        let mut kept = Chunks::default();
        if keep_tail && let Some(start) = self.position(snapshot.index + 1) {
            kept.extend(self.entries.range(start, self.entries.len()).cloned());
        }
        self.entries = kept;
        self.base_index = snapshot.index;
        self.base_term = snapshot.term;
        self.last_term = self.stored_last_term();
        self.snapshot = Some(alloc::boxed::Box::new(snapshot));
        Ok(())
    }
}

/// Entries per chunk; a power of two so positions split with a shift and a mask.
const CHUNK_ENTRIES: usize = 1024;

/// A sequence stored as fixed-capacity chunks: appending never moves existing entries
/// (no reallocation copies, no doubling of touched memory), lookups stay O(1).
#[derive(Clone, Debug, Default)]
struct Chunks {
    // Invariant: every chunk but the last holds exactly CHUNK_ENTRIES entries.
    chunks: Vec<Vec<LogEntry>>,
    len: usize,
}

impl Chunks {
    #[inline]
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn get(&self, position: usize) -> Option<&LogEntry> {
        if position >= self.len {
            return None;
        }
        Some(&self.chunks[position / CHUNK_ENTRIES][position % CHUNK_ENTRIES])
    }

    #[inline]
    fn last(&self) -> Option<&LogEntry> {
        self.len
            .checked_sub(1)
            .and_then(|position| self.get(position))
    }

    fn extend(&mut self, entries: impl IntoIterator<Item = LogEntry>) {
        let mut entries = entries.into_iter().peekable();
        while entries.peek().is_some() {
            if self.len.is_multiple_of(CHUNK_ENTRIES) {
                self.chunks.push(Vec::with_capacity(CHUNK_ENTRIES));
            }
            let Some(chunk) = self.chunks.last_mut() else {
                return;
            };
            let before = chunk.len();
            chunk.extend(entries.by_ref().take(CHUNK_ENTRIES - before));
            self.len += chunk.len() - before;
        }
    }

    fn push(&mut self, entry: LogEntry) {
        if self.len.is_multiple_of(CHUNK_ENTRIES) {
            self.chunks.push(Vec::with_capacity(CHUNK_ENTRIES));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(entry);
            self.len += 1;
        }
    }

    /// Appends owned entries: moved in bulk when they fit the last chunk (the common
    /// case), else entry by entry.
    fn extend_owned(&mut self, mut entries: Vec<LogEntry>) {
        if let Some(chunk) = self.chunks.last_mut()
            && !self.len.is_multiple_of(CHUNK_ENTRIES)
            && entries.len() <= CHUNK_ENTRIES - chunk.len()
        {
            self.len += entries.len();
            chunk.append(&mut entries);
            return;
        }
        self.extend(entries);
    }

    fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        let chunks = len.div_ceil(CHUNK_ENTRIES);
        self.chunks.truncate(chunks);
        if let Some(last) = self.chunks.last_mut() {
            last.truncate(len - (chunks - 1) * CHUNK_ENTRIES);
        }
        self.len = len;
    }

    /// The entries at positions `start..end` (which must be within the length), as
    /// one slice per chunk touched: iterating them costs no per-entry chunk lookup.
    fn slices(&self, start: usize, end: usize) -> impl Iterator<Item = &[LogEntry]> {
        assert!(start <= end && end <= self.len);
        let mut position = start;
        core::iter::from_fn(move || {
            if position >= end {
                return None;
            }
            let chunk = &self.chunks[position / CHUNK_ENTRIES];
            let offset = position % CHUNK_ENTRIES;
            let take = (end - position).min(CHUNK_ENTRIES - offset);
            position += take;
            Some(&chunk[offset..offset + take])
        })
    }

    /// The entries at positions `start..end` (which must be within the length).
    fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &LogEntry> {
        self.slices(start, end).flatten()
    }

    fn clone_range(&self, start: usize, end: usize) -> Vec<LogEntry> {
        let mut out = Vec::with_capacity(end - start);
        for slice in self.slices(start, end) {
            out.extend_from_slice(slice);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(term: Term, index: Index) -> LogEntry {
        LogEntry::new(term, index, alloc::vec![index as u8; index as usize])
    }

    // The lending visit sees exactly what the bulk read returns, across chunk
    // boundaries and past either end, and counts what it visited.
    #[test]
    fn for_each_entry_matches_entries() {
        let mut log = MemoryLog::new();
        let entries: Vec<LogEntry> = (1..=2_500).map(|index| entry(1, index)).collect();
        log.append(&entries).unwrap();
        for (from, to) in [
            (1, 1),
            (1, 2_500),
            (1_020, 1_030),
            (2_040, 3_000),
            (0, 5),
            (9, 3),
            (3_000, 3_001),
        ] {
            let mut seen = Vec::new();
            let visited = log.for_each_entry(from, to, &mut |entry| seen.push(entry.clone()));
            assert_eq!(seen, log.entries(from, to), "{from}..={to}");
            assert_eq!(visited, seen.len() as u64);
        }
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

    // Proves the chunked storage agrees with a plain Vec across chunk boundaries,
    // through appends, truncations (on and off boundaries) and range reads.
    #[test]
    fn chunks_match_a_vec_model() {
        let mut log = MemoryLog::new();
        let mut model: Vec<LogEntry> = Vec::new();
        let cuts = [5000usize, 3000, 2048, 2047, 1025, 1024, 1023, 1, 0];
        let mut next = 1;
        for (round, cut) in cuts.into_iter().enumerate() {
            // A large batch (entry by entry across chunks), then small ones (moved
            // in bulk when they fit the last chunk).
            for size in [1500, 1, 7, 300, 1024] {
                let batch: Vec<LogEntry> = (next..next + size)
                    .map(|i| entry(round as Term + 1, i))
                    .collect();
                log.append_owned(batch.clone()).unwrap();
                model.extend(batch);
                next += size;
            }
            // Single entries across the next chunk boundary, borrowed and moved in
            // turn; the cached last term follows each.
            for _ in 0..1030 {
                let single = entry(round as Term + 1, next);
                model.push(single.clone());
                if next % 2 == 0 {
                    log.append(core::slice::from_ref(&single)).unwrap();
                } else {
                    log.append_entry(single).unwrap();
                }
                assert_eq!(log.last_term(), round as Term + 1);
                next += 1;
            }
            let keep = cut.min(model.len());
            log.truncate(keep as Index + 1).unwrap();
            model.truncate(keep);
            next = keep as Index + 1;
            assert_eq!(log.len(), model.len());
            assert_eq!(log.last_index(), model.len() as Index);
            assert_eq!(log.last_term(), model.last().map_or(0, |e| e.term));
            for probe in [1usize, 1023, 1024, 1025, 2048, 3072, 4097, model.len()] {
                if probe <= model.len() && probe > 0 {
                    assert_eq!(log.entry(probe as Index).as_ref(), model.get(probe - 1));
                    let from = probe.saturating_sub(700).max(1);
                    assert_eq!(
                        log.entries(from as Index, probe as Index),
                        model[from - 1..probe]
                    );
                }
            }
        }
    }

    // Proves a snapshot drops the covered entries, keeps a matching tail, discards a
    // divergent log, and that older snapshots are ignored.
    #[test]
    fn snapshots_compact_and_replace() {
        let snapshot = |index, term| Snapshot {
            index,
            term,
            membership: crate::Membership::new([1], []),
            data: bytes::Bytes::from_static(b"state"),
        };
        let mut log = MemoryLog::new();
        let batch: Vec<LogEntry> = (1..=10).map(|index| entry(1, index)).collect();
        log.append(&batch).unwrap();
        log.save_snapshot(snapshot(6, 1)).unwrap();
        assert_eq!(
            (
                log.snapshot_index(),
                log.term_at(6),
                log.term_at(5),
                log.entry(6)
            ),
            (6, Some(1), None, None)
        );
        assert_eq!(
            (log.len(), log.last_index(), log.last_term(), log.entry(7)),
            (4, 10, 1, Some(entry(1, 7)))
        );
        assert!(
            log.truncate(6).is_err(),
            "compacted entries cannot be truncated"
        );
        log.save_snapshot(snapshot(4, 1)).unwrap();
        assert_eq!(log.snapshot_index(), 6, "older snapshots are ignored");
        log.save_snapshot(snapshot(8, 2)).unwrap();
        assert_eq!(
            (log.len(), log.last_index(), log.last_term()),
            (0, 8, 2),
            "divergent: discarded"
        );
        log.append(&[LogEntry::new(2, 9, &b"next"[..])]).unwrap();
        assert_eq!(log.last_index(), 9);
        // A snapshot covering the whole log leaves the snapshot's term as the last.
        log.save_snapshot(snapshot(9, 2)).unwrap();
        assert_eq!((log.len(), log.last_index(), log.last_term()), (0, 9, 2));
    }
}
