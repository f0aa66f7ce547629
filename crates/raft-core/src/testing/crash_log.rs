//! `CrashLog`: an in-memory log that knows what its last sync made durable.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::Cell;

use crate::error::{Error, Result, StorageErrorKind};
use crate::log::RaftLog;
use crate::memory_log::MemoryLog;
use crate::types::{HardState, Index, LogEntry, RepairMark, Snapshot, Term};

/// One write not yet covered by a sync.
#[derive(Clone, Debug)]
enum Write {
    Append(Vec<LogEntry>),
    Truncate(Index),
    HardState(HardState),
    Snapshot(Snapshot),
    Repair(Option<RepairMark>),
}

/// A [`MemoryLog`] plus the journal of writes since the last `sync`, so that a
/// simulated crash loses exactly the unsynced writes (or keeps a prefix of them, as a
/// torn write would) and a test can check the durability contract.
///
/// ```
/// use raft_core::testing::CrashLog;
/// use raft_core::{LogEntry, RaftLog};
///
/// let mut log = CrashLog::default();
/// log.append(&[LogEntry::new(1, 1, b"a".to_vec())]).unwrap();
/// log.sync().unwrap();
/// log.append(&[LogEntry::new(1, 2, b"b".to_vec())]).unwrap();
/// assert_eq!(log.unsynced_writes(), 1);
/// let log = log.after_crash(0);
/// assert_eq!(log.last_index(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct CrashLog {
    live: MemoryLog,
    durable: MemoryLog,
    unsynced: Vec<Write>,
    syncs: u64,
    /// Shared with whoever holds a [`CrashLog::fault_handle`]: the next sync fails.
    fault: Rc<Cell<bool>>,
}

impl CrashLog {
    /// A log whose whole content is already durable.
    pub fn from_durable(log: MemoryLog) -> Self {
        Self {
            durable: log.clone(),
            live: log,
            ..Self::default()
        }
    }

    /// What survives a crash that happened after the last sync returned, plus the
    /// first `torn_writes` unsynced writes (a crash in the middle of the next sync
    /// persists a prefix of it, as a write-ahead log's batch does).
    pub fn after_crash(mut self, torn_writes: usize) -> Self {
        let survivors: Vec<Write> = self.unsynced.drain(..).take(torn_writes).collect();
        for write in survivors {
            Self::apply(&mut self.durable, write);
        }
        Self {
            live: self.durable.clone(),
            durable: self.durable,
            unsynced: Vec::new(),
            syncs: self.syncs,
            fault: self.fault,
        }
    }

    /// What a crash that also damaged the disk leaves (docs/RECOVERY.md): the durable
    /// log loses every entry from `lost_from` on (a damaged record ends what can be
    /// trusted, and the log must stay contiguous), its commit index is clamped to what
    /// is left, and the repair mark is set through the last index it held (the bound
    /// of what it may have acknowledged) and that entry's term. Unsynced writes are lost. `lost_from` at or
    /// below the snapshot index, or past the last entry, loses nothing.
    pub fn after_disk_damage(self, lost_from: Index) -> Self {
        let mut log = self.after_crash(0);
        let last_index = log.durable.last_index();
        if lost_from <= log.durable.snapshot_index() || lost_from > last_index {
            return log;
        }
        let mut state = log.durable.hard_state();
        let earlier = log.durable.repair_mark();
        let mark = RepairMark {
            through: earlier.map_or(last_index, |mark| mark.through.max(last_index)),
            term: earlier
                .map_or(0, |mark| mark.term)
                .max(log.durable.last_term()),
        };
        state.commit_index = state.commit_index.min(lost_from - 1);
        let results = [
            log.durable.truncate(lost_from),
            log.durable.set_hard_state(state),
            log.durable.set_repair_mark(Some(mark)),
        ];
        debug_assert!(results.iter().all(Result::is_ok), "in-memory log refused");
        log.live = log.durable.clone();
        log
    }

    /// A handle that makes the next `sync` fail when set, as a disk error would. What
    /// that sync would have written stays unsynced: a crash afterwards may keep a
    /// prefix of it.
    pub fn fault_handle(&self) -> Rc<Cell<bool>> {
        Rc::clone(&self.fault)
    }

    /// What the node reads: every write, synced or not.
    pub fn live(&self) -> &MemoryLog {
        &self.live
    }

    /// What a crash right now would keep.
    pub fn durable(&self) -> &MemoryLog {
        &self.durable
    }

    /// The durable hard state.
    pub fn durable_hard_state(&self) -> HardState {
        self.durable.hard_state()
    }

    /// Number of writes since the last sync.
    pub fn unsynced_writes(&self) -> usize {
        self.unsynced.len()
    }

    /// Number of syncs performed.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// Whether everything a node may have sent messages about is durable: every write
    /// since the last sync, if any, is a hard state that keeps the durable term and
    /// vote (a commit index alone needs no barrier).
    pub fn is_synced(&self) -> bool {
        let durable = self.durable.hard_state();
        self.unsynced.iter().all(|write| {
            // Clearing the repair mark needs no barrier either: lost, it only makes
            // the node repair again.
            matches!(write, Write::HardState(state)
                if state.term == durable.term && state.voted_for == durable.voted_for)
                || matches!(write, Write::Repair(None))
        })
    }

    fn apply(log: &mut MemoryLog, write: Write) {
        let result = match write {
            Write::Append(entries) => log.append_owned(entries),
            Write::Truncate(from) => log.truncate(from),
            Write::HardState(state) => log.set_hard_state(state),
            Write::Snapshot(snapshot) => log.save_snapshot(snapshot),
            Write::Repair(mark) => log.set_repair_mark(mark),
        };
        // The same write already succeeded on the live copy.
        debug_assert!(result.is_ok(), "durable copy diverged from the live one");
    }
}

impl RaftLog for CrashLog {
    fn last_index(&self) -> Index {
        self.live.last_index()
    }
    fn last_term(&self) -> Term {
        self.live.last_term()
    }
    fn term_at(&self, index: Index) -> Option<Term> {
        self.live.term_at(index)
    }
    fn entry(&self, index: Index) -> Option<LogEntry> {
        self.live.entry(index)
    }
    fn entries(&self, from: Index, to: Index) -> Vec<LogEntry> {
        self.live.entries(from, to)
    }
    fn entries_limited(&self, from: Index, to: Index, bytes_max: usize) -> Vec<LogEntry> {
        self.live.entries_limited(from, to, bytes_max)
    }
    fn for_each_entry(&self, from: Index, to: Index, visit: &mut dyn FnMut(&LogEntry)) -> u64 {
        self.live.for_each_entry(from, to, visit)
    }
    fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        self.live.append(entries)?;
        self.unsynced.push(Write::Append(entries.to_vec()));
        Ok(())
    }
    fn append_owned(&mut self, entries: Vec<LogEntry>) -> Result<()> {
        self.live.append(&entries)?;
        self.unsynced.push(Write::Append(entries));
        Ok(())
    }
    fn truncate(&mut self, from: Index) -> Result<()> {
        self.live.truncate(from)?;
        self.unsynced.push(Write::Truncate(from));
        Ok(())
    }
    fn hard_state(&self) -> HardState {
        self.live.hard_state()
    }
    fn set_hard_state(&mut self, state: HardState) -> Result<()> {
        self.live.set_hard_state(state)?;
        self.unsynced.push(Write::HardState(state));
        Ok(())
    }
    fn snapshot(&self) -> Option<Snapshot> {
        self.live.snapshot()
    }
    fn snapshot_index(&self) -> Index {
        self.live.snapshot_index()
    }
    fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<()> {
        self.live.save_snapshot(snapshot.clone())?;
        self.unsynced.push(Write::Snapshot(snapshot));
        Ok(())
    }
    fn repair_mark(&self) -> Option<RepairMark> {
        self.live.repair_mark()
    }
    fn incarnation(&self) -> crate::Incarnation {
        self.live.incarnation()
    }
    fn set_repair_mark(&mut self, mark: Option<RepairMark>) -> Result<()> {
        self.live.set_repair_mark(mark)?;
        self.unsynced.push(Write::Repair(mark));
        Ok(())
    }
    fn sync(&mut self) -> Result<()> {
        if self.fault.replace(false) {
            return Err(Error::storage_of_kind(
                "syncing the simulated log",
                StorageErrorKind::Io,
                "injected disk error",
            ));
        }
        for write in core::mem::take(&mut self.unsynced) {
            Self::apply(&mut self.durable, write);
        }
        self.syncs += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: Index) -> LogEntry {
        LogEntry::new(1, index, alloc::vec![u8::try_from(index).unwrap_or(0)])
    }

    // A crash keeps what the last sync covered, plus exactly the torn prefix.
    #[test]
    fn crash_keeps_synced_writes_and_the_torn_prefix() {
        let mut log = CrashLog::default();
        log.append(&[entry(1)]).unwrap();
        log.sync().unwrap();
        log.append(&[entry(2)]).unwrap();
        log.append(&[entry(3)]).unwrap();
        assert_eq!(log.clone().after_crash(0).last_index(), 1);
        assert_eq!(log.clone().after_crash(1).last_index(), 2);
        assert_eq!(log.after_crash(5).last_index(), 3);
    }

    // A commit-index-only hard state needs no barrier; a new term does.
    #[test]
    fn is_synced_ignores_commit_only_hard_states() {
        let mut log = CrashLog::default();
        let state = |term, commit_index| HardState {
            term,
            voted_for: None,
            commit_index,
        };
        log.set_hard_state(state(0, 4)).unwrap();
        assert!(log.is_synced());
        log.set_hard_state(state(1, 4)).unwrap();
        assert!(!log.is_synced());
        log.sync().unwrap();
        assert!(log.is_synced() && log.syncs() == 1);
    }

    // An injected fault fails one sync and leaves its writes unsynced.
    #[test]
    fn injected_fault_fails_one_sync() {
        let mut log = CrashLog::default();
        log.append(&[entry(1)]).unwrap();
        log.fault_handle().set(true);
        assert!(log.sync().unwrap_err().is_fatal());
        assert_eq!(log.unsynced_writes(), 1);
        log.sync().unwrap();
        assert_eq!(log.durable().last_index(), 1);
    }
}
