//! The simulated nodes' storage: `SimLog`, an in-memory `RaftLog` that knows what it
//! has synced, so a simulated crash can lose exactly the unsynced writes (or a prefix
//! of them, as a torn write); or a real `WalLog` in a temporary directory.

use std::cell::Cell;
use std::rc::Rc;

use raft_core::{HardState, Index, LogEntry, MemoryLog, RaftLog, Result, Snapshot, Term};
use raft_wal::WalLog;

/// One write not yet covered by a sync.
#[derive(Clone, Debug)]
enum Write {
    Append(Vec<LogEntry>),
    Truncate(Index),
    HardState(HardState),
    Snapshot(Snapshot),
}

/// A `MemoryLog` plus the journal of writes since the last sync.
#[derive(Clone, Debug, Default)]
pub struct SimLog {
    live: MemoryLog,
    durable: MemoryLog,
    unsynced: Vec<Write>,
    syncs: u64,
    /// Set by the simulator (which keeps a handle): the next sync fails.
    fault: Rc<Cell<bool>>,
}

impl SimLog {
    /// What survives a crash that happened after the last sync returned, plus the
    /// first `torn_writes` unsynced writes (a crash in the middle of the next sync
    /// persists a prefix of it, as WalLog's batches do).
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

    /// A handle that makes the next `sync` fail when set, as a disk error would. What
    /// the sync would have written may or may not survive: the crash that follows
    /// keeps a random prefix of it.
    pub fn fault_handle(&self) -> Rc<Cell<bool>> {
        Rc::clone(&self.fault)
    }

    /// Number of unsynced writes.
    pub fn unsynced_writes(&self) -> usize {
        self.unsynced.len()
    }

    /// Number of syncs performed.
    pub fn syncs(&self) -> u64 {
        self.syncs
    }

    /// The durable hard state.
    pub fn durable_hard_state(&self) -> HardState {
        self.durable.hard_state()
    }

    fn apply(log: &mut MemoryLog, write: Write) {
        let result = match write {
            Write::Append(entries) => log.append_owned(entries),
            Write::Truncate(from) => log.truncate(from),
            Write::HardState(state) => log.set_hard_state(state),
            Write::Snapshot(snapshot) => log.save_snapshot(snapshot),
        };
        // The same write already succeeded on the live copy.
        debug_assert!(result.is_ok(), "durable copy diverged from the live one");
    }
}

impl RaftLog for SimLog {
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
    fn sync(&mut self) -> Result<()> {
        if self.fault.replace(false) {
            return Err(raft_core::Error::storage(
                "syncing the simulated log",
                "injected disk error",
            ));
        }
        for write in std::mem::take(&mut self.unsynced) {
            Self::apply(&mut self.durable, write);
        }
        self.syncs += 1;
        Ok(())
    }
}

/// A node's storage in the simulation.
#[derive(Debug)]
pub enum SimStorage {
    /// In memory, crash semantics modelled exactly.
    Memory(SimLog),
    /// A real WalLog (without fdatasync: a simulated crash is a process crash).
    Wal(WalLog),
}

impl SimStorage {
    /// The hard state a crash right now would keep. For a WalLog that is the last
    /// written one: the node syncs term and vote before a step returns.
    pub fn durable_hard_state(&self) -> HardState {
        match self {
            SimStorage::Memory(log) => log.durable_hard_state(),
            SimStorage::Wal(log) => log.hard_state(),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $log:ident => $call:expr) => {
        match $self {
            SimStorage::Memory($log) => $call,
            SimStorage::Wal($log) => $call,
        }
    };
}

impl RaftLog for SimStorage {
    fn last_index(&self) -> Index {
        delegate!(self, log => log.last_index())
    }
    fn last_term(&self) -> Term {
        delegate!(self, log => log.last_term())
    }
    fn term_at(&self, index: Index) -> Option<Term> {
        delegate!(self, log => log.term_at(index))
    }
    fn entry(&self, index: Index) -> Option<LogEntry> {
        delegate!(self, log => log.entry(index))
    }
    fn entries(&self, from: Index, to: Index) -> Vec<LogEntry> {
        delegate!(self, log => log.entries(from, to))
    }
    fn entries_limited(&self, from: Index, to: Index, bytes_max: usize) -> Vec<LogEntry> {
        delegate!(self, log => log.entries_limited(from, to, bytes_max))
    }
    fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        delegate!(self, log => log.append(entries))
    }
    fn append_owned(&mut self, entries: Vec<LogEntry>) -> Result<()> {
        delegate!(self, log => log.append_owned(entries))
    }
    fn truncate(&mut self, from: Index) -> Result<()> {
        delegate!(self, log => log.truncate(from))
    }
    fn hard_state(&self) -> HardState {
        delegate!(self, log => log.hard_state())
    }
    fn set_hard_state(&mut self, state: HardState) -> Result<()> {
        delegate!(self, log => log.set_hard_state(state))
    }
    fn sync(&mut self) -> Result<()> {
        delegate!(self, log => log.sync())
    }
    fn snapshot(&self) -> Option<Snapshot> {
        delegate!(self, log => log.snapshot())
    }
    fn snapshot_index(&self) -> Index {
        delegate!(self, log => log.snapshot_index())
    }
    fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<()> {
        delegate!(self, log => log.save_snapshot(snapshot))
    }
}
