//! The simulated nodes' storage: `SimLog` (raft-core's `CrashLog`), an in-memory
//! `RaftLog` that knows what it has synced, so a simulated crash can lose exactly the
//! unsynced writes (or a prefix of them, as a torn write); or a real `WalLog` in a
//! temporary directory.

use raft_core::{HardState, Index, LogEntry, RaftLog, RepairMark, Result, Snapshot, Term};
use raft_wal::WalLog;

/// The in-memory storage of a simulated node: raft-core's crash-simulating log, the
/// same one the core's own tests use.
pub type SimLog = raft_core::testing::CrashLog;

/// A node's storage in the simulation.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per simulated node, moved only when the node crashes or restarts"
)]
pub enum SimStorage {
    /// In memory, crash semantics modelled exactly.
    Memory(SimLog),
    /// A real WalLog (without fdatasync: a simulated crash is a process crash).
    Wal(WalLog),
}

impl SimStorage {
    /// The hard state a crash right now would keep.
    pub fn durable_hard_state(&self) -> HardState {
        match self {
            SimStorage::Memory(log) => log.durable_hard_state(),
            SimStorage::Wal(log) => log.synced_hard_state(),
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
    fn for_each_entry(&self, from: Index, to: Index, visit: &mut dyn FnMut(&LogEntry)) -> u64 {
        delegate!(self, log => log.for_each_entry(from, to, visit))
    }
    fn append(&mut self, entries: &[LogEntry]) -> Result<()> {
        delegate!(self, log => log.append(entries))
    }
    fn append_owned(&mut self, entries: Vec<LogEntry>) -> Result<()> {
        delegate!(self, log => log.append_owned(entries))
    }
    fn append_entry(&mut self, entry: LogEntry) -> Result<()> {
        delegate!(self, log => log.append_entry(entry))
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
    fn repair_mark(&self) -> Option<RepairMark> {
        delegate!(self, log => log.repair_mark())
    }
    fn incarnation(&self) -> raft_core::Incarnation {
        delegate!(self, log => log.incarnation())
    }
    fn set_repair_mark(&mut self, mark: Option<RepairMark>) -> Result<()> {
        delegate!(self, log => log.set_repair_mark(mark))
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
