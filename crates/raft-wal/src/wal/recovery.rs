//! Opening a log: the directory checks, replaying every segment, telling a torn
//! tail (cut off, harmless) from corruption inside acknowledged data (refused).

use super::*;

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
pub(super) fn classify_damage(
    buffer: &Bytes,
    offset: usize,
    record_bytes_max: usize,
) -> Option<&'static str> {
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
    /// Like [`WalLog::open`] with explicit options.
    ///
    /// # Errors
    /// As [`WalLog::open`], plus [`WalError::InvalidOption`].
    pub fn open_with(dir: impl AsRef<Path>, options: WalOptions) -> Result<Self, WalError> {
        Self::open_inner(dir.as_ref(), options, false, 0).map(|(wal, _)| wal)
    }

    /// Creates an empty log in `dir` (which must hold none) for a node that lost its
    /// durable state: a wiped data directory, a new disk, a lost `vote` file. The log
    /// records `incarnation` ([`RaftLog::incarnation`], docs/RECOVERY.md rule 2), which
    /// must be new: pick it at random. The node then counts for nothing (no vote, no
    /// acknowledgement) until the configuration names the new incarnation, which the
    /// cluster's leader does on its own when the node answers it; it catches up as a
    /// learner and, if it was a voter, is promoted back. A founding member or a node an
    /// operator adds starts with [`WalLog::open`] (incarnation 0) instead.
    ///
    /// ```
    /// use raft_core::RaftLog;
    /// use raft_wal::{WalLog, WalOptions};
    ///
    /// let dir = std::env::temp_dir().join(format!("raft-wal-incarnation-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let log = WalLog::create_incarnation(&dir, WalOptions::default(), 0x5eed)?;
    /// assert_eq!(log.incarnation(), 0x5eed);
    /// drop(log);
    /// assert_eq!(WalLog::open(&dir)?.incarnation(), 0x5eed);
    /// // Only in a directory that holds no log.
    /// assert!(WalLog::create_incarnation(&dir, WalOptions::default(), 7).is_err());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), raft_wal::WalError>(())
    /// ```
    ///
    /// # Errors
    /// [`WalError::InvalidOption`] for incarnation 0 or a directory that holds a log;
    /// otherwise as [`WalLog::open`].
    pub fn create_incarnation(
        dir: impl AsRef<Path>,
        options: WalOptions,
        incarnation: Incarnation,
    ) -> Result<Self, WalError> {
        let dir = dir.as_ref();
        if incarnation == 0 {
            return Err(WalError::InvalidOption(
                "incarnation 0 is every founding node's: a new incarnation is never 0".into(),
            ));
        }
        if Self::exists(dir)? {
            return Err(WalError::InvalidOption(format!(
                "{} holds a log already: a new incarnation starts in an empty directory",
                dir.display()
            )));
        }
        Self::open_inner(dir, options, false, incarnation).map(|(wal, _)| wal)
    }

    /// Opens (`repair`: in repair mode) or creates the log in `dir`; a log created here
    /// records `incarnation`.
    pub(super) fn open_inner(
        dir: &Path,
        options: WalOptions,
        repair: bool,
        incarnation: Incarnation,
    ) -> Result<(Self, Option<RepairReport>), WalError> {
        options.validate()?;
        let dir = dir.to_path_buf();
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
        let format = check_format(
            &dir,
            |name| SegmentName::parse(name).is_some(),
            &[vote_file::FILE_NAME, incarnation_file::FILE_NAME],
        )?;
        let vote_file = match format {
            Format::New => {
                // The incarnation and vote files first: a directory whose marker says
                // format 2 has them (a crash before the marker leaves a new directory,
                // created again on the next open).
                if incarnation == 0 {
                    let _ = crate::dir::remove_if_present(&dir.join(incarnation_file::FILE_NAME))?;
                } else {
                    incarnation_file::write(&dir, incarnation, options.fsync)?;
                }
                vote_file::write(&dir, Vote::default(), options.fsync)?;
                write_format(&dir, WAL_FORMAT_VERSION)?;
                Some(Vote::default())
            }
            Format::Version(_) if incarnation != 0 => {
                return Err(WalError::InvalidOption(format!(
                    "{} holds a log already: a new incarnation starts in an empty directory",
                    dir.display()
                )));
            }
            Format::Version(1) => None,
            Format::Version(_) => match vote_file::read(&dir)? {
                VoteFile::Vote(vote) => Some(vote),
                found => {
                    let what = if found == VoteFile::Absent {
                        "is missing"
                    } else {
                        "is damaged"
                    };
                    return Err(Self::corrupt(
                        &dir.join(vote_file::FILE_NAME),
                        0,
                        format!(
                            "the term and vote file {what}: this node's newest term and vote \
                             are unknown, so it must not vote again as itself: start it on \
                             an empty directory, as a new incarnation (docs/RECOVERY.md, \
                             rule 2)"
                        ),
                    ));
                }
            },
        };

        let incarnation = incarnation_file::read(&dir)?.ok_or_else(|| {
            Self::corrupt(
                &dir.join(incarnation_file::FILE_NAME),
                0,
                "the incarnation file is damaged: this node cannot tell which of its lives \
                 this directory holds; move the directory aside and start the node on an \
                 empty one, as a new incarnation (docs/RECOVERY.md, rule 2)"
                    .to_string(),
            )
        })?;
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
            synced_repair_mark: None,
            mark_file: None,
            vote_file,
            incarnation,
            buffer: Vec::new(),
            buffer_max_entry_index: 0,
            buffer_first_entry_index: None,
            batch_seq: 0,
            failed: false,
            snapshot: None,
            stale_snapshot_files: Vec::new(),
        };
        let snapshot_index_max = snapshot_files.iter().map(|(index, _)| *index).max();
        wal.mark_file = match mark_file::read(&wal.dir)? {
            MarkFile::Absent => None,
            found => Some(found),
        };
        let report = wal.recover(names, repair.then_some(snapshot_index_max))?;
        wal.recover_snapshot(snapshot_files)?;
        wal.settle_mark_file()?;
        if wal.vote_file.is_none() {
            // A format-1 directory, recovered: its term and vote (trusted, or repair
            // would have refused it) move to their own file, then the marker says so.
            let vote = Vote::of(&wal.synced_hard_state);
            vote_file::write(&wal.dir, vote, wal.options.fsync)?;
            write_format(&wal.dir, WAL_FORMAT_VERSION)?;
            wal.vote_file = Some(vote);
        }
        Ok((wal, report))
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

    pub(super) fn corrupt(segment: &Path, offset: u64, reason: impl Into<String>) -> WalError {
        WalError::Corrupt {
            segment: segment.to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// Replays `names`. `repair`: repair mode, with the index of the newest snapshot
    /// file (which can cover entries whose compaction record the damage destroyed).
    fn recover(
        &mut self,
        names: Vec<SegmentName>,
        repair: Option<Option<Index>>,
    ) -> Result<Option<RepairReport>, WalError> {
        let snapshot_covers = |gap: Index| repair.flatten().is_some_and(|index| index >= gap);
        let repair = repair.is_some();
        // Replays segments up to the first damage; in repair mode, salvages from there.
        let mut damage = None;
        let mut count = names.len();
        for (position, window) in names.windows(2).enumerate() {
            if window[1].seq != window[0].seq + 1 && repair {
                // Missing segments: the damage starts where the next one begins.
                count = position + 1;
                damage = Some((
                    position + 1,
                    0,
                    format!(
                        "segments {}..{} are missing",
                        window[0].seq + 1,
                        window[1].seq
                    ),
                ));
                break;
            }
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
        for (position, name) in names.iter().take(count).cloned().enumerate() {
            let last = position + 1 == count && damage.is_none();
            let path = name.path(&self.dir);
            let read = if last {
                fs::read(&path)
                    .map(Bytes::from)
                    .map_err(|error| WalError::io(&path, error))
            } else {
                map_sealed(&path)
            };
            let buffer = match read {
                Ok(buffer) => buffer,
                // A segment that cannot be read (a read error) is damage to synced
                // data: repair mode takes it as damaged whole.
                Err(WalError::Io { source, .. }) if repair => {
                    damage = Some((position, 0, format!("segment cannot be read: {source}")));
                    break;
                }
                Err(error) => return Err(error),
            };
            let previous_length = self.segments.last().map(|segment| segment.length);
            let replayed = match self.replay_segment(&name, &path, &buffer, last, previous_length) {
                Ok(replayed) => replayed,
                Err(WalError::Corrupt {
                    segment,
                    offset,
                    reason,
                }) if repair => {
                    // (A mismatch found in this segment's header names the one
                    // before it, already replayed: the damage starts here.)
                    let offset = if segment == path { offset } else { 0 };
                    damage = Some((position, offset, reason));
                    break;
                }
                Err(error) => return Err(error),
            };
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
        if let Some(vote) = self.vote_file {
            // Format 2: the term and vote are the file's. The segments repeat them in
            // their hard-state records, never ahead of the file (it is written first).
            let logged = Vote::of(&self.state.hard_state);
            if vote.is_behind(&logged) {
                return Err(Self::corrupt(
                    &self.dir.join(vote_file::FILE_NAME),
                    0,
                    format!(
                        "the log holds term {} (vote {:?}) but the term and vote file only \
                         term {} (vote {:?}), and it is always written first",
                        logged.term, logged.voted_for, vote.term, vote.voted_for
                    ),
                ));
            }
            self.state.hard_state.term = vote.term;
            self.state.hard_state.voted_for = vote.voted_for;
        }
        let report = match damage {
            Some((position, offset, reason)) => {
                if let Some(gap) = self.state.gap_below.filter(|&gap| !snapshot_covers(gap)) {
                    // The record saying where the log starts is gone with the damage.
                    return Err(Self::corrupt(
                        &names[position].path(&self.dir),
                        offset,
                        format!(
                            "{reason}; entries up to {gap} are missing and no snapshot covers \
                             them: this log cannot be repaired; start the node on an empty \
                             directory, as a new incarnation (docs/RECOVERY.md, rule 2)"
                        ),
                    ));
                }
                Some(self.salvage(&names, position, offset, reason)?)
            }
            None => None,
        };
        // (A snapshot file covering the gap is applied next, by recover_snapshot.)
        if let Some(gap) = self
            .state
            .gap_below
            .filter(|&gap| !(report.is_some() && snapshot_covers(gap)))
        {
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
        self.synced_repair_mark = self.state.repair_mark;
        if self.segments.is_empty() {
            // A new log: write its first segment now so the directory is complete.
            self.sync_batch()?;
        }
        Ok(report)
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
            // corruption. In format 2 a segment's first write (header and preamble) is
            // flushed before anything else goes in, so a file longer than that write
            // had a durable header: damage, not a crash (format 1 wrote the header
            // with the first batch).
            Err(_)
                if last
                    && (self.vote_file.is_none() || buffer.len() <= PREAMBLE_BYTES_MAX)
                    && !valid_record_after(buffer, 1, self.options.record_bytes_max) =>
            {
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
                        Record::BatchStart { seq, offset } => {
                            if let Some(written_at) = offset.filter(|&written| written != at) {
                                return Err(replay_error(format!(
                                    "batch {seq} was written at byte {written_at}: a write \
                                     that landed in the wrong place"
                                )));
                            }
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
                        Record::RepairMark(mark) => self.state.repair_mark = mark,
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
}
