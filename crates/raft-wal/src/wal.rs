//! `WalLog`: the durable `RaftLog`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use raft_core::{HardState, Incarnation, Index, LogEntry, RaftLog, RepairMark, Snapshot, Term};

use crate::dir::{Format, WAL_FORMAT_VERSION, check_format, lock, sync_dir, write_format};
use crate::error::WalError;
use crate::incarnation_file;
use crate::mark_file::{self, MarkFile};
use crate::mmap::map_sealed;
use crate::record::{
    Invalid, RECORD_HEADER_BYTES, Record, decode_record, encode_batch_start_at, encode_compact,
    encode_entry, encode_hard_state, encode_repair_mark, encode_truncate, entry_record_bytes,
    storable,
};
use crate::segment::{
    PREAMBLE_BYTES_MAX, SEGMENT_HEADER_BYTES, SegmentName, decode_header, encode_header,
};
use crate::snapshot_file;
use crate::state::LogState;
use crate::vote_file::{self, Vote, VoteFile};

mod bound;
mod options;
mod recovery;
mod repair;
#[cfg(all(feature = "testing", unix))]
mod torn;
mod writer;

pub use options::WalOptions;
pub use repair::RepairReport;

/// One segment file as the writer knows it.
#[derive(Clone, Debug)]
struct Segment {
    name: SegmentName,
    path: PathBuf,
    /// Bytes of valid, written data (header included).
    length: u64,
    /// The highest entry index any record in this segment carries (0 for none).
    max_entry_index: Index,
}

/// A durable [`RaftLog`] in a directory of segment files.
///
/// Every mutation (append, truncate, hard state, compaction) is first applied in
/// memory and encoded into a buffer; [`RaftLog::sync`] writes the buffer to the newest
/// segment and makes it durable with one `fdatasync`, so a step that wrote a batch of
/// entries and a new hard state costs one disk flush (group commit). A new term or vote
/// is first written to a file of its own (replaced atomically), so no damage to a
/// segment can hide it. Reads are served
/// from memory: payloads of sealed segments are zero-copy slices of their memory
/// mapping after recovery.
///
/// Opening recovers the log: a torn record at the end of the newest segment (the
/// expected result of a crash during a write) is cut away; damage anywhere before
/// acknowledged data is reported as [`WalError::Corrupt`] with the segment and offset.
///
/// ```
/// use raft_core::{HardState, LogEntry, RaftLog};
/// use raft_wal::WalLog;
///
/// let dir = std::env::temp_dir().join(format!("raft-wal-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// {
///     let mut log = WalLog::open(&dir)?;
///     log.append(&[LogEntry::new(1, 1, &b"x = 1"[..])])?;
///     log.set_hard_state(HardState { term: 1, voted_for: Some(2), commit_index: 1 })?;
///     log.sync()?; // durable from here on
/// }
/// let log = WalLog::open(&dir)?;
/// assert_eq!(log.last_index(), 1);
/// assert_eq!(log.hard_state().voted_for, Some(2));
/// # drop(log);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WalLog {
    dir: PathBuf,
    options: WalOptions,
    _lock: File,
    // Invariant: sorted by seq, contiguous; the last is the one written to.
    segments: Vec<Segment>,
    /// Open handle of the last segment; `None` forces the next sync to start a new one.
    active: Option<File>,
    state: LogState,
    /// State as of the last completed sync, for the records that open a new segment.
    synced_boundary: (Index, Term),
    synced_hard_state: HardState,
    synced_repair_mark: Option<RepairMark>,
    /// What the `repair-mark` file holds (`None`: no file).
    mark_file: Option<MarkFile>,
    /// What the `vote` file holds: the newest durable term and vote. `None` only while
    /// a format-1 directory (no such file; term and vote in the segments) is being
    /// recovered, before it is upgraded.
    vote_file: Option<Vote>,
    /// The directory's incarnation ([`RaftLog::incarnation`]).
    incarnation: Incarnation,
    /// Encoded records not yet written.
    buffer: Vec<u8>,
    buffer_max_entry_index: Index,
    buffer_first_entry_index: Option<Index>,
    batch_seq: u64,
    failed: bool,
    /// The latest snapshot (its data a mapping of its file after recovery).
    snapshot: Option<Snapshot>,
    /// Snapshot files superseded by a newer one, removed once the compaction that
    /// goes with the newer one is durable.
    stale_snapshot_files: Vec<PathBuf>,
}

impl std::fmt::Debug for WalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalLog")
            .field("dir", &self.dir)
            .field("segments", &self.segments.len())
            .field("first_index", &self.state.first_index())
            .field("last_index", &self.state.last_index())
            .field("hard_state", &self.state.hard_state)
            .field("buffered_bytes", &self.buffer.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl WalLog {
    /// Opens the log in `dir` with default options, creating the directory (whose
    /// parent must exist) and an empty log if needed.
    ///
    /// # Errors
    /// [`WalError::Locked`] if another `WalLog` holds the directory,
    /// [`WalError::NotAWalDirectory`] / [`WalError::UnsupportedVersion`] for a foreign
    /// directory, [`WalError::Corrupt`] for damaged acknowledged data,
    /// [`WalError::Io`] for operating-system failures.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, WalError> {
        Self::open_with(dir, WalOptions::default())
    }

    /// Whether `dir` holds a write-ahead log (its format marker), without opening or
    /// locking it. A service uses it to tell a node's first start from a node whose
    /// data is gone: `WalLog::open` creates an empty log in a directory that holds
    /// none, and a node that lost its data must not start empty as the voter it was
    /// (docs/RECOVERY.md, rule 2).
    ///
    /// ```
    /// use raft_wal::WalLog;
    ///
    /// let dir = std::env::temp_dir().join(format!("raft-wal-exists-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// assert!(!WalLog::exists(&dir)?);
    /// drop(WalLog::open(&dir)?);
    /// assert!(WalLog::exists(&dir)?);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), raft_wal::WalError>(())
    /// ```
    ///
    /// # Errors
    /// [`WalError::Io`] when the directory cannot be inspected.
    pub fn exists(dir: impl AsRef<Path>) -> Result<bool, WalError> {
        let marker = dir.as_ref().join(crate::dir::FORMAT_FILE);
        match fs::metadata(&marker) {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(WalError::io(&marker, error)),
        }
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options it was opened with.
    pub fn options(&self) -> WalOptions {
        self.options
    }

    /// The index of the first entry held (the compaction boundary + 1).
    pub fn first_index(&self) -> Index {
        self.state.first_index()
    }

    /// The compaction boundary: entries at or below this index are gone.
    pub fn compacted_index(&self) -> Index {
        self.state.boundary.0
    }

    /// The hard state as of the last completed sync: what a crash right now keeps
    /// (the one [`RaftLog::hard_state`] returns may still be in the write buffer).
    pub fn synced_hard_state(&self) -> HardState {
        self.synced_hard_state
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Keeps the mark's second copy (`repair-mark`) in step with the durable mark: a
    /// mark set is written there, a clearing made durable removes it. (A comparison
    /// per sync; the file is touched only when the mark changes.)
    pub(crate) fn settle_mark_file(&mut self) -> Result<(), WalError> {
        if self.mark_file == self.synced_repair_mark.map(MarkFile::Mark) {
            return Ok(());
        }
        match self.synced_repair_mark {
            None => mark_file::remove(&self.dir, self.options.fsync)?,
            Some(mark) => mark_file::write(&self.dir, mark, self.options.fsync)?,
        }
        self.mark_file = self.synced_repair_mark.map(MarkFile::Mark);
        Ok(())
    }

    /// Makes a new term or vote durable in the `vote` file before the batch that
    /// carries it is written (format 2): no damage to a segment, and no crash in the
    /// middle of a segment write, can then hide them.
    pub(super) fn persist_vote(&mut self) -> Result<(), WalError> {
        let vote = Vote::of(&self.state.hard_state);
        if self.vote_file.is_some_and(|file| file != vote) {
            vote_file::write(&self.dir, vote, self.options.fsync)?;
            self.vote_file = Some(vote);
        }
        Ok(())
    }

    fn storage_error(error: WalError) -> raft_core::Error {
        error.into()
    }
}

impl RaftLog for WalLog {
    fn last_index(&self) -> Index {
        self.state.last_index()
    }

    fn last_term(&self) -> Term {
        self.state.last_term()
    }

    fn term_at(&self, index: Index) -> Option<Term> {
        // Index 0 is the boundary of an uncompacted log (term 0); once compacted, only
        // the boundary and what follows have a known term.
        self.state.term_at(index)
    }

    fn entry(&self, index: Index) -> Option<LogEntry> {
        self.state.get(index).cloned()
    }

    fn entries(&self, from: Index, to: Index) -> Vec<LogEntry> {
        match self.state.range(from, to) {
            Some((start, end)) => self.state.entries.range(start..end).cloned().collect(),
            None => Vec::new(),
        }
    }

    fn for_each_entry(&self, from: Index, to: Index, visit: &mut dyn FnMut(&LogEntry)) -> u64 {
        let Some((start, end)) = self.state.range(from, to) else {
            return 0;
        };
        let mut visited = 0;
        for entry in self.state.entries.range(start..end) {
            visit(entry);
            visited += 1;
        }
        visited
    }

    fn entries_limited(&self, from: Index, to: Index, bytes_max: usize) -> Vec<LogEntry> {
        let Some((start, end)) = self.state.range(from, to) else {
            return Vec::new();
        };
        let mut bytes = 0usize;
        let mut out = Vec::new();
        for entry in self.state.entries.range(start..end) {
            bytes = bytes.saturating_add(entry.command.len());
            if !out.is_empty() && bytes > bytes_max {
                break;
            }
            out.push(entry.clone());
        }
        out
    }

    fn append(&mut self, entries: &[LogEntry]) -> raft_core::Result<()> {
        self.validate_append(entries).map_err(Self::storage_error)?;
        self.append_checked(entries.iter().cloned());
        Ok(())
    }

    fn append_entry(&mut self, entry: LogEntry) -> raft_core::Result<()> {
        self.validate_append(core::slice::from_ref(&entry))
            .map_err(Self::storage_error)?;
        self.append_checked(core::iter::once(entry));
        Ok(())
    }

    fn append_owned(&mut self, entries: Vec<LogEntry>) -> raft_core::Result<()> {
        self.validate_append(&entries)
            .map_err(Self::storage_error)?;
        self.append_checked(entries);
        Ok(())
    }

    fn truncate(&mut self, from: Index) -> raft_core::Result<()> {
        self.check_writable().map_err(Self::storage_error)?;
        if from == 0 {
            return Err(Self::storage_error(WalError::InvalidOperation(
                "index 0 is not an entry".into(),
            )));
        }
        if from > self.state.last_index() {
            return Ok(());
        }
        self.state
            .truncate(from)
            .map_err(|reason| Self::storage_error(WalError::InvalidOperation(reason)))?;
        encode_truncate(&mut self.buffer, from);
        Ok(())
    }

    fn hard_state(&self) -> HardState {
        self.state.hard_state
    }

    fn set_hard_state(&mut self, state: HardState) -> raft_core::Result<()> {
        self.check_writable().map_err(Self::storage_error)?;
        if state != self.state.hard_state {
            self.state.hard_state = state;
            encode_hard_state(&mut self.buffer, &state);
        }
        Ok(())
    }

    fn repair_mark(&self) -> Option<RepairMark> {
        self.state.repair_mark
    }

    fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    fn set_repair_mark(&mut self, mark: Option<RepairMark>) -> raft_core::Result<()> {
        self.check_writable().map_err(Self::storage_error)?;
        if mark != self.state.repair_mark {
            if let Some(mark) = mark {
                // The second copy first: a mark is never only in one record.
                mark_file::write(&self.dir, mark, self.options.fsync).map_err(|error| {
                    self.failed = true;
                    Self::storage_error(error)
                })?;
                self.mark_file = Some(MarkFile::Mark(mark));
            }
            self.state.repair_mark = mark;
            encode_repair_mark(&mut self.buffer, mark);
        }
        Ok(())
    }

    fn snapshot(&self) -> Option<Snapshot> {
        // A snapshot below the compaction point (after a direct `compact`) no longer
        // covers what the log lacks.
        self.snapshot
            .clone()
            .filter(|snapshot| snapshot.index >= self.state.boundary.0)
    }

    fn snapshot_index(&self) -> Index {
        self.state.boundary.0
    }

    fn save_snapshot(&mut self, snapshot: Snapshot) -> raft_core::Result<()> {
        self.check_writable().map_err(Self::storage_error)?;
        if snapshot.index <= self.state.boundary.0 {
            return Ok(());
        }
        // The file first (atomically); the compaction record follows at the next sync.
        let _path =
            snapshot_file::write(&self.dir, &snapshot, self.options.fsync).map_err(|error| {
                self.failed = true;
                Self::storage_error(error)
            })?;
        self.compact_to_snapshot(&snapshot)
            .map_err(Self::storage_error)?;
        if let Some(old) = self.snapshot.replace(snapshot) {
            self.stale_snapshot_files
                .push(self.dir.join(snapshot_file::file_name(old.index)));
        }
        Ok(())
    }

    fn sync(&mut self) -> raft_core::Result<()> {
        self.check_writable().map_err(Self::storage_error)?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.sync_batch()
            .and_then(|()| self.settle_mark_file())
            .map_err(|error| {
                // What reached the disk is unknown (a failed fsync may have dropped
                // dirty pages): refuse everything until the log is reopened and
                // recovered.
                self.failed = true;
                Self::storage_error(error)
            })
    }
}
