//! `WalLog`: the durable `RaftLog`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use raft_core::{HardState, Index, LogEntry, RaftLog, Snapshot, Term};

use crate::dir::{check_or_init_format, lock, sync_dir};
use crate::error::WalError;
use crate::mmap::map_sealed;
use crate::record::{
    Invalid, RECORD_HEADER_BYTES, Record, decode_record, encode_batch_start, encode_compact,
    encode_entry, encode_hard_state, encode_truncate, entry_record_bytes, storable,
};
use crate::segment::{SEGMENT_HEADER_BYTES, SegmentName, decode_header, encode_header};
use crate::snapshot_file;
use crate::state::LogState;

/// Tuning for a [`WalLog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment that has reached this size is sealed before the next write; the
    /// write goes to a new segment. At least 4 KiB.
    pub segment_bytes_max: u64,
    /// The largest record (an entry's command plus 18 bytes) written or accepted on
    /// recovery. Between 64 bytes and 1 GiB.
    pub record_bytes_max: usize,
    /// Flush to the device on `sync` (`fdatasync`, plus a directory fsync when segments
    /// come and go). Turn off only for tests and simulations: writes then survive a
    /// process crash (they are in the page cache) but not a machine crash.
    pub fsync: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_bytes_max: 64 << 20,
            record_bytes_max: 64 << 20,
            fsync: true,
        }
    }
}

impl WalOptions {
    fn validate(&self) -> Result<(), WalError> {
        if self.segment_bytes_max < 4096 {
            return Err(WalError::InvalidOption(format!(
                "segment_bytes_max {} is below 4096",
                self.segment_bytes_max
            )));
        }
        if !(64..=1 << 30).contains(&self.record_bytes_max) {
            return Err(WalError::InvalidOption(format!(
                "record_bytes_max {} is outside 64..=1073741824",
                self.record_bytes_max
            )));
        }
        Ok(())
    }
}

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
/// entries and a new hard state costs one disk flush (group commit). Reads are served
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

/// What a segment's replay found.
struct Replayed {
    length: u64,
    max_entry_index: Index,
    /// The segment's header was torn (a crash while creating it): it holds nothing.
    torn_header: bool,
}

fn describe(invalid: &Invalid) -> String {
    match invalid {
        Invalid::Incomplete => "record extends past the end of the segment".to_owned(),
        Invalid::BadLength(length) => format!("record length {length} is out of range"),
        Invalid::Checksum => "record checksum mismatch".to_owned(),
        Invalid::BadBody(what) => format!("malformed record: {what}"),
    }
}

/// Whether any valid record starts anywhere in `buffer[from..]`. Offsets are
/// checksummed only where the length field fits in what is left, so the scan stays
/// linear in practice.
fn valid_record_after(buffer: &Bytes, from: usize, record_bytes_max: usize) -> bool {
    let end = buffer.len().saturating_sub(RECORD_HEADER_BYTES);
    (from..end).any(|offset| {
        let length = u32::from_le_bytes([
            buffer[offset],
            buffer[offset + 1],
            buffer[offset + 2],
            buffer[offset + 3],
        ]) as usize;
        length > 0
            && length <= buffer.len() - offset - RECORD_HEADER_BYTES
            && decode_record(buffer, offset, record_bytes_max).is_ok()
    })
}

/// Decides whether the invalid bytes at `offset` of the newest segment are a torn
/// write (cut them) or damage to acknowledged data (refuse to open).
///
/// A crash tears only the end of the last write: the file ends inside a record, or (on
/// file systems that extend before writing) the tail reads as zeros. Anything else —
/// a valid record further on, a complete record with a bad checksum, a length field
/// one bit away from a valid record — is corruption. Returns the reason if corrupt.
fn classify_damage(buffer: &Bytes, offset: usize, record_bytes_max: usize) -> Option<&'static str> {
    let tail = &buffer[offset..];
    if valid_record_after(buffer, offset + 1, record_bytes_max) {
        return Some("valid records follow the damaged one");
    }
    if tail.iter().all(|&byte| byte == 0) || tail.len() < RECORD_HEADER_BYTES {
        return None;
    }
    let length = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
    if RECORD_HEADER_BYTES + length <= tail.len() {
        return Some("a complete record fails its checks");
    }
    // The record runs past the end: torn, unless its length field is one flipped bit
    // away from a record that is complete and valid.
    let stored_crc = u32::from_le_bytes([tail[4], tail[5], tail[6], tail[7]]);
    for bit in 0..32 {
        let candidate = length ^ (1 << bit);
        if candidate == 0 || RECORD_HEADER_BYTES + candidate > tail.len() {
            continue;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&(candidate as u32).to_le_bytes());
        hasher.update(&tail[RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + candidate]);
        if hasher.finalize() == stored_crc {
            return Some("a record's length field is damaged");
        }
    }
    None
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

    /// Like [`WalLog::open`] with explicit options.
    ///
    /// # Errors
    /// As [`WalLog::open`], plus [`WalError::InvalidOption`].
    pub fn open_with(dir: impl AsRef<Path>, options: WalOptions) -> Result<Self, WalError> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            // Create every missing ancestor, outermost first, each made durable in its
            // parent; an error names the directory that could not be made.
            let mut missing = Vec::new();
            let mut cursor = dir.as_path();
            while !cursor.as_os_str().is_empty() && !cursor.exists() {
                missing.push(cursor.to_path_buf());
                match cursor.parent() {
                    Some(parent) => cursor = parent,
                    None => break,
                }
            }
            for path in missing.iter().rev() {
                match fs::create_dir(path) {
                    Ok(()) => {}
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(error) => return Err(WalError::io(path, error)),
                }
                if let Some(parent) = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                {
                    sync_dir(parent)?;
                }
            }
        }
        let lock = lock(&dir)?;
        check_or_init_format(&dir, |name| SegmentName::parse(name).is_some())?;

        let mut names = Vec::new();
        let mut snapshot_files = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|error| WalError::io(&dir, error))? {
            let entry = entry.map_err(|error| WalError::io(&dir, error))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            if name.ends_with(".tmp") {
                let path = entry.path();
                fs::remove_file(&path).map_err(|error| WalError::io(&path, error))?;
            } else if let Some(segment) = SegmentName::parse(name) {
                names.push(segment);
            } else if let Some(index) = snapshot_file::parse_name(name) {
                snapshot_files.push((index, entry.path()));
            }
        }
        names.sort_by_key(|name| name.seq);

        let mut wal = Self {
            dir,
            options,
            _lock: lock,
            segments: Vec::new(),
            active: None,
            state: LogState::default(),
            synced_boundary: (0, 0),
            synced_hard_state: HardState::default(),
            buffer: Vec::new(),
            buffer_max_entry_index: 0,
            buffer_first_entry_index: None,
            batch_seq: 0,
            failed: false,
            snapshot: None,
            stale_snapshot_files: Vec::new(),
        };
        wal.recover(names)?;
        wal.recover_snapshot(snapshot_files)?;
        Ok(wal)
    }

    /// Loads the newest snapshot file; older ones are removed. A snapshot newer than the
    /// durable compaction point (a crash between writing it and syncing the
    /// compaction) is applied to the log now.
    fn recover_snapshot(&mut self, mut files: Vec<(Index, PathBuf)>) -> Result<(), WalError> {
        files.sort();
        let Some((_, newest)) = files.pop() else {
            return Ok(());
        };
        let snapshot = snapshot_file::read(&newest)?;
        for (_, old) in files {
            fs::remove_file(&old).map_err(|error| WalError::io(&old, error))?;
        }
        if snapshot.index > self.state.boundary.0 {
            self.compact_to_snapshot(&snapshot)?;
            self.sync_batch()?;
        }
        self.snapshot = Some(snapshot);
        Ok(())
    }

    /// Drops the entries `snapshot` covers; a log that does not hold the snapshot's
    /// last entry is discarded whole.
    fn compact_to_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), WalError> {
        let boundary = self.state.boundary.0;
        if self.state.term_at(snapshot.index) != Some(snapshot.term)
            && self.state.last_index() > boundary
        {
            self.state
                .truncate(boundary + 1)
                .map_err(WalError::InvalidOperation)?;
            encode_truncate(&mut self.buffer, boundary + 1);
        }
        self.state
            .compact(snapshot.index, snapshot.term)
            .map_err(WalError::InvalidOperation)?;
        encode_compact(&mut self.buffer, snapshot.index, snapshot.term);
        Ok(())
    }

    fn corrupt(segment: &Path, offset: u64, reason: impl Into<String>) -> WalError {
        WalError::Corrupt {
            segment: segment.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    fn recover(&mut self, names: Vec<SegmentName>) -> Result<(), WalError> {
        for (position, window) in names.windows(2).enumerate() {
            if window[1].seq != window[0].seq + 1 {
                return Err(Self::corrupt(
                    &window[1].path(&self.dir),
                    0,
                    format!(
                        "segment {} follows segment {} (position {position}): segments are missing",
                        window[1].seq, window[0].seq
                    ),
                ));
            }
        }
        let count = names.len();
        for (position, name) in names.into_iter().enumerate() {
            let last = position + 1 == count;
            let path = name.path(&self.dir);
            let buffer = if last {
                Bytes::from(fs::read(&path).map_err(|error| WalError::io(&path, error))?)
            } else {
                map_sealed(&path)?
            };
            let previous_length = self.segments.last().map(|segment| segment.length);
            let replayed = self.replay_segment(&name, &path, &buffer, last, previous_length)?;
            if replayed.torn_header {
                // A crash while creating the newest segment: it holds nothing yet.
                fs::remove_file(&path).map_err(|error| WalError::io(&path, error))?;
                sync_dir(&self.dir)?;
                break;
            }
            if replayed.length < buffer.len() as u64 {
                // Torn tail: cut it so new records follow the last valid one.
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|error| WalError::io(&path, error))?;
                file.set_len(replayed.length)
                    .and_then(|()| file.sync_all())
                    .map_err(|error| WalError::io(&path, error))?;
            }
            self.segments.push(Segment {
                name,
                path,
                length: replayed.length,
                max_entry_index: replayed.max_entry_index,
            });
            if last {
                let segment = self.segments.last().expect("just pushed");
                let file = OpenOptions::new()
                    .append(true)
                    .open(&segment.path)
                    .map_err(|error| WalError::io(&segment.path, error))?;
                self.active = Some(file);
            }
        }
        if let Some(gap) = self.state.gap_below {
            return Err(Self::corrupt(
                &self.dir,
                0,
                format!(
                    "entries {}..={gap} are missing: their segments were removed but no compaction covers them",
                    self.state.boundary.0 + 1
                ),
            ));
        }
        self.synced_boundary = self.state.boundary;
        self.synced_hard_state = self.state.hard_state;
        if self.segments.is_empty() {
            // A new log: write its first segment now so the directory is complete.
            self.sync_batch()?;
        }
        Ok(())
    }

    fn replay_segment(
        &mut self,
        name: &SegmentName,
        path: &Path,
        buffer: &Bytes,
        last: bool,
        previous_length: Option<u64>,
    ) -> Result<Replayed, WalError> {
        match decode_header(buffer) {
            Ok((seq, recorded_previous)) => {
                if seq != name.seq {
                    return Err(Self::corrupt(
                        path,
                        0,
                        format!("header names segment {seq}"),
                    ));
                }
                if let Some(previous) =
                    previous_length.filter(|&previous| previous != recorded_previous)
                {
                    let previous_path = self
                        .segments
                        .last()
                        .map_or_else(|| path.to_path_buf(), |s| s.path.clone());
                    return Err(Self::corrupt(
                        &previous_path,
                        previous.min(recorded_previous),
                        format!(
                            "segment holds {previous} bytes but its successor recorded {recorded_previous}"
                        ),
                    ));
                }
            }
            // A crash while creating the newest segment leaves a short or torn header
            // and nothing after it; a damaged header in front of valid records is
            // corruption.
            Err(_) if last && !valid_record_after(buffer, 1, self.options.record_bytes_max) => {
                return Ok(Replayed {
                    length: 0,
                    max_entry_index: 0,
                    torn_header: true,
                });
            }
            Err(reason) => return Err(Self::corrupt(path, 0, reason)),
        }
        let mut offset = SEGMENT_HEADER_BYTES;
        let mut max_entry_index = 0;
        while offset < buffer.len() {
            match decode_record(buffer, offset, self.options.record_bytes_max) {
                Ok((record, size)) => {
                    let at = offset as u64;
                    let replay_error = |reason: String| Self::corrupt(path, at, reason);
                    match record {
                        Record::BatchStart { seq } => {
                            if seq <= self.batch_seq {
                                return Err(replay_error(format!(
                                    "batch {seq} does not follow batch {}",
                                    self.batch_seq
                                )));
                            }
                            self.batch_seq = seq;
                        }
                        Record::Entry(entry) => {
                            max_entry_index = max_entry_index.max(entry.index);
                            self.state.replay_entry(entry).map_err(replay_error)?;
                        }
                        Record::HardState(state) => self.state.hard_state = state,
                        Record::Truncate { from } => {
                            self.state.truncate(from).map_err(replay_error)?
                        }
                        Record::Compact { index, term } => {
                            self.state.compact(index, term).map_err(replay_error)?
                        }
                    }
                    offset += size;
                }
                Err(invalid) => {
                    let reason = describe(&invalid);
                    if !last {
                        return Err(Self::corrupt(path, offset as u64, reason));
                    }
                    if let Some(why) =
                        classify_damage(buffer, offset, self.options.record_bytes_max)
                    {
                        return Err(Self::corrupt(
                            path,
                            offset as u64,
                            format!("{reason}: {why}"),
                        ));
                    }
                    break;
                }
            }
        }
        Ok(Replayed {
            length: offset as u64,
            max_entry_index,
            torn_header: false,
        })
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

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Drops every entry at or below `index` (which must be held), keeping its term as
    /// the boundary. Durable at the next [`RaftLog::sync`], which also deletes every
    /// segment that then holds only compacted entries.
    ///
    /// # Errors
    /// [`WalError::InvalidOperation`] for an index past the last entry;
    /// [`WalError::Failed`] after an earlier write failure.
    pub fn compact(&mut self, index: Index) -> Result<(), WalError> {
        self.check_writable()?;
        if index <= self.state.boundary.0 {
            return Ok(());
        }
        let Some(term) = self.state.term_at(index) else {
            return Err(WalError::InvalidOperation(format!(
                "cannot compact to {index}: the last entry is {}",
                self.state.last_index()
            )));
        };
        self.state
            .compact(index, term)
            .map_err(WalError::InvalidOperation)?;
        encode_compact(&mut self.buffer, index, term);
        Ok(())
    }

    fn check_writable(&self) -> Result<(), WalError> {
        if self.failed {
            Err(WalError::Failed)
        } else {
            Ok(())
        }
    }

    fn append_checked(&mut self, entries: impl IntoIterator<Item = LogEntry>) {
        for entry in entries {
            let _ = self.buffer_first_entry_index.get_or_insert(entry.index);
            self.buffer_max_entry_index = self.buffer_max_entry_index.max(entry.index);
            encode_entry(&mut self.buffer, &entry);
            self.state.entries.push_back(entry);
        }
    }

    fn validate_append(&self, entries: &[LogEntry]) -> Result<(), WalError> {
        self.check_writable()?;
        let mut previous: Option<&LogEntry> = None;
        for entry in entries {
            let contiguous = match previous {
                None => self.state.check_next(entry),
                Some(before) if entry.index != before.index + 1 => Err(format!(
                    "entry {} does not follow entry {}",
                    entry.index, before.index
                )),
                Some(before) if entry.term < before.term => Err(format!(
                    "entry {} has a lower term than entry {}",
                    entry.index, before.index
                )),
                Some(_) => Ok(()),
            };
            contiguous.map_err(WalError::InvalidOperation)?;
            if !storable(entry.kind) {
                return Err(WalError::InvalidOperation(format!(
                    "entry {} has a kind this WAL format cannot store",
                    entry.index
                )));
            }
            if entry_record_bytes(entry) - RECORD_HEADER_BYTES > self.options.record_bytes_max {
                return Err(WalError::InvalidOperation(format!(
                    "entry {} of {} bytes exceeds the record limit {}",
                    entry.index,
                    entry.command.len(),
                    self.options.record_bytes_max
                )));
            }
            previous = Some(entry);
        }
        Ok(())
    }

    /// Writes the buffered records as one batch and flushes them; seals the segment
    /// and starts a new one first when it is full; then deletes segments that hold
    /// only compacted entries.
    fn sync_batch(&mut self) -> Result<(), WalError> {
        self.batch_seq += 1;
        let mut batch = Vec::with_capacity(self.buffer.len() + 96);
        encode_batch_start(&mut batch, self.batch_seq);
        let needs_segment = match (&self.active, self.segments.last()) {
            (Some(_), Some(segment)) => segment.length >= self.options.segment_bytes_max,
            _ => true,
        };
        if needs_segment {
            // A new segment opens with the state as of the last sync, so that it can be
            // replayed once older segments are gone.
            let (index, term) = self.synced_boundary;
            encode_compact(&mut batch, index, term);
            encode_hard_state(&mut batch, &self.synced_hard_state);
        }
        batch.extend_from_slice(&self.buffer);

        if needs_segment {
            let (seq, previous_length) = self
                .segments
                .last()
                .map_or((1, 0), |s| (s.name.seq + 1, s.length));
            let first_index = self
                .buffer_first_entry_index
                .unwrap_or(self.state.last_index() + 1);
            let name = SegmentName { seq, first_index };
            let path = name.path(&self.dir);
            let mut file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)
                .map_err(|error| WalError::io(&path, error))?;
            file.write_all(&encode_header(seq, previous_length))
                .and_then(|()| file.write_all(&batch))
                .and_then(|()| {
                    if self.options.fsync {
                        file.sync_data()
                    } else {
                        Ok(())
                    }
                })
                .map_err(|error| WalError::io(&path, error))?;
            if self.options.fsync {
                sync_dir(&self.dir)?;
            }
            self.segments.push(Segment {
                name,
                path,
                length: (SEGMENT_HEADER_BYTES + batch.len()) as u64,
                max_entry_index: 0,
            });
            self.active = Some(file);
        } else {
            let segment = self.segments.last_mut().expect("an active segment exists");
            let file = self.active.as_mut().expect("an active segment exists");
            let fsync = self.options.fsync;
            file.write_all(&batch)
                .and_then(|()| if fsync { file.sync_data() } else { Ok(()) })
                .map_err(|error| WalError::io(&segment.path, error))?;
            segment.length += batch.len() as u64;
        }
        let segment = self.segments.last_mut().expect("an active segment exists");
        segment.max_entry_index = segment.max_entry_index.max(self.buffer_max_entry_index);
        self.buffer.clear();
        self.buffer_max_entry_index = 0;
        self.buffer_first_entry_index = None;
        self.synced_boundary = self.state.boundary;
        self.synced_hard_state = self.state.hard_state;
        if !self.stale_snapshot_files.is_empty() {
            for path in self.stale_snapshot_files.drain(..) {
                fs::remove_file(&path).map_err(|error| WalError::io(&path, error))?;
            }
            if self.options.fsync {
                sync_dir(&self.dir)?;
            }
        }
        self.remove_compacted_segments()
    }

    /// Deletes the oldest sealed segments while every entry they (and older ones) ever
    /// held is at or below the durable compaction boundary.
    fn remove_compacted_segments(&mut self) -> Result<(), WalError> {
        let boundary = self.synced_boundary.0;
        let mut removable = 0;
        let mut max_index = 0;
        for segment in &self.segments[..self.segments.len().saturating_sub(1)] {
            max_index = max_index.max(segment.max_entry_index);
            if max_index > boundary {
                break;
            }
            removable += 1;
        }
        if removable == 0 {
            return Ok(());
        }
        for segment in self.segments.drain(..removable) {
            fs::remove_file(&segment.path).map_err(|error| WalError::io(&segment.path, error))?;
        }
        sync_dir(&self.dir)
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
        self.sync_batch().map_err(|error| {
            // What reached the disk is unknown (a failed fsync may have dropped dirty
            // pages): refuse everything until the log is reopened and recovered.
            self.failed = true;
            Self::storage_error(error)
        })
    }
}
