//! The storage seam: what a node needs from its log.

use alloc::vec::Vec;

use crate::error::Result;
use crate::types::{HardState, Index, LogEntry, RepairMark, Snapshot, Term};

/// Storage for a node's persistent state: its log entries and its [`HardState`].
///
/// The node is the only writer. Writes may be buffered; [`RaftLog::sync`] is the
/// durability barrier, and the node calls it at most once per
/// [`RaftNode::step`](crate::RaftNode::step), before returning any message that depends
/// on what was written (group commit).
///
/// Log terms never decrease with the index; the node relies on it to find conflict
/// points by binary search, so `term_at` should be O(1) or O(log n).
pub trait RaftLog {
    /// Index of the last entry, 0 if the log is empty.
    fn last_index(&self) -> Index;

    /// Term of the last entry, 0 if the log is empty.
    fn last_term(&self) -> Term;

    /// Term of the entry at `index`: `Some(0)` at index 0, `None` past the end.
    fn term_at(&self, index: Index) -> Option<Term>;

    /// The entry at `index`, if present. Cloning an entry shares its payload.
    fn entry(&self, index: Index) -> Option<LogEntry>;

    /// Entries in the inclusive range `from..=to` (clamped to the log); empty when
    /// `from == 0` or `to < from`. Override for a bulk read.
    fn entries(&self, from: Index, to: Index) -> Vec<LogEntry> {
        if from == 0 || to < from {
            return Vec::new();
        }
        (from..=to.min(self.last_index()))
            .map_while(|index| self.entry(index))
            .collect()
    }

    /// Calls `visit` with each entry in the inclusive range `from..=to` (clamped to
    /// the log), in order, stopping at the first missing one; returns how many it
    /// visited. The node applies committed entries through this, so a log that holds
    /// its entries in memory can lend them instead of copying a batch into a vector.
    /// The default reads them one by one with [`RaftLog::entry`].
    fn for_each_entry(&self, from: Index, to: Index, visit: &mut dyn FnMut(&LogEntry)) -> u64 {
        if from == 0 || to < from {
            return 0;
        }
        let mut visited = 0;
        for index in from..=to.min(self.last_index()) {
            let Some(entry) = self.entry(index) else {
                break;
            };
            visit(&entry);
            visited += 1;
        }
        visited
    }

    /// Like [`RaftLog::entries`], but stops before the entry that would take the
    /// commands' total size past `bytes_max`. The first entry is always included so
    /// that replication never stalls on one large entry.
    fn entries_limited(&self, from: Index, to: Index, bytes_max: usize) -> Vec<LogEntry> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        if from == 0 || to < from {
            return out;
        }
        for index in from..=to.min(self.last_index()) {
            let Some(entry) = self.entry(index) else {
                break;
            };
            bytes = bytes.saturating_add(entry.command.len());
            if !out.is_empty() && bytes > bytes_max {
                break;
            }
            out.push(entry);
        }
        out
    }

    /// Appends `entries`. The first must have index `last_index() + 1` and the batch
    /// must be contiguous; an empty batch is a no-op.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) on a gap, an overlap or an I/O failure.
    fn append(&mut self, entries: &[LogEntry]) -> Result<()>;

    /// Like [`RaftLog::append`], taking the entries by value. The node appends through
    /// this method or [`RaftLog::append_entry`]; the default clones from the slice, an
    /// override can move the entries in and save a reference-count round trip per
    /// entry.
    ///
    /// # Errors
    /// As [`RaftLog::append`].
    fn append_owned(&mut self, entries: Vec<LogEntry>) -> Result<()> {
        self.append(&entries)
    }

    /// Like [`RaftLog::append_owned`] for one entry (a proposal, a leader's no-op, a
    /// configuration entry), without a vector around it. The default appends it as a
    /// one-entry slice; an override can move it in.
    ///
    /// ```
    /// use raft_core::{LogEntry, MemoryLog, RaftLog};
    ///
    /// let mut log = MemoryLog::new();
    /// log.append_entry(LogEntry::new(1, 1, &b"a"[..])).unwrap();
    /// assert_eq!((log.last_index(), log.last_term()), (1, 1));
    /// assert!(log.append_entry(LogEntry::new(1, 3, &b"gap"[..])).is_err());
    /// ```
    ///
    /// # Errors
    /// As [`RaftLog::append`].
    fn append_entry(&mut self, entry: LogEntry) -> Result<()> {
        self.append(core::slice::from_ref(&entry))
    }

    /// Removes every entry with index `>= from`. Past the end it is a no-op.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) when `from == 0` or on I/O failure.
    fn truncate(&mut self, from: Index) -> Result<()>;

    /// The last hard state written.
    fn hard_state(&self) -> HardState;

    /// Records a new hard state (durable after the next [`RaftLog::sync`]).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) on I/O failure.
    fn set_hard_state(&mut self, state: HardState) -> Result<()>;

    /// The latest snapshot, if any. Entries at or below its index are gone from the
    /// log; `term_at(snapshot.index)` is its term. Cloning shares the data.
    fn snapshot(&self) -> Option<Snapshot> {
        None
    }

    /// The index of the latest snapshot, 0 without one.
    fn snapshot_index(&self) -> Index {
        self.snapshot().map_or(0, |snapshot| snapshot.index)
    }

    /// Records `snapshot` (durable at the next [`RaftLog::sync`]) and drops every entry
    /// at or below its index. Entries after it are kept only if the log holds the
    /// snapshot's last entry (same index and term); otherwise the whole log is
    /// discarded (a follower installing a leader's snapshot over a divergent log).
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) by default (not fatal: a log
    /// without snapshot support simply cannot be compacted);
    /// [`Error::Storage`](crate::Error::Storage) when an implementation fails.
    fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<()> {
        let _ = snapshot;
        Err(crate::Error::Unsupported {
            feature: "snapshots",
        })
    }

    /// The repair mark: `Some` while this node repairs entries it lost to a damaged
    /// disk, entries it may have acknowledged (docs/RECOVERY.md, rule 1). Storage sets
    /// it when it opens a damaged log (as raft-wal's repair mode does). While it is
    /// set the node never campaigns and grants a vote only to a candidate whose log is
    /// at least as up to date as the best log the damaged one could have been
    /// ([`RepairMark::allows_vote`]); it clears the mark once a leader has sent it its
    /// log through [`RepairMark::through`]. The default, `None`, is right for a log
    /// that never loses synced data.
    fn repair_mark(&self) -> Option<RepairMark> {
        None
    }

    /// Records the repair mark (durable after the next [`RaftLog::sync`]). The node
    /// calls it only to clear a mark the log reported, so a log whose
    /// [`RaftLog::repair_mark`] is always `None` need not implement it.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported) by default;
    /// [`Error::Storage`](crate::Error::Storage) on I/O failure.
    fn set_repair_mark(&mut self, mark: Option<RepairMark>) -> Result<()> {
        let _ = mark;
        Err(crate::Error::Unsupported {
            feature: "repairing a damaged log",
        })
    }

    /// The incarnation this log's durable state belongs to (docs/RECOVERY.md, rule
    /// 2): fixed when the storage was created, never changed after. Storage that lost
    /// the node's vote, or was created empty for a node that was a member before (a
    /// wiped data directory), reports a fresh random one; the node then neither votes
    /// in elections it could get wrong nor campaigns until the configuration names the
    /// new incarnation, and the leader names it on its own
    /// ([`MembershipChange::Reincarnate`](crate::MembershipChange::Reincarnate)). The
    /// default, 0, is the incarnation every configuration names unless told otherwise:
    /// right for storage that never loses its vote.
    fn incarnation(&self) -> crate::Incarnation {
        0
    }

    /// Durability barrier: after `Ok`, every earlier append, truncate,
    /// set_hard_state, save_snapshot and set_repair_mark survives a crash.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) on I/O failure.
    fn sync(&mut self) -> Result<()>;
}
