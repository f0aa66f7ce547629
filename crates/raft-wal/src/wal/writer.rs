//! Writing: validating appends, batching records into the active segment, rolling
//! segments over, syncing, and compaction.

use super::*;

impl WalLog {
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

    /// Drops the entries `snapshot` covers; a log that does not hold the snapshot's
    /// last entry is discarded whole.
    pub(super) fn compact_to_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), WalError> {
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

    pub(super) fn check_writable(&self) -> Result<(), WalError> {
        if self.failed {
            Err(WalError::Failed)
        } else {
            Ok(())
        }
    }

    pub(super) fn append_checked(&mut self, entries: impl IntoIterator<Item = LogEntry>) {
        for entry in entries {
            let _ = self.buffer_first_entry_index.get_or_insert(entry.index);
            self.buffer_max_entry_index = self.buffer_max_entry_index.max(entry.index);
            encode_entry(&mut self.buffer, &entry);
            self.state.entries.push_back(entry);
        }
    }

    pub(super) fn validate_append(&self, entries: &[LogEntry]) -> Result<(), WalError> {
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

    /// Writes a new term or vote to the `vote` file, then the buffered records as one
    /// batch, and flushes them; seals the segment
    /// and starts a new one first when it is full; then deletes segments that hold
    /// only compacted entries.
    pub(super) fn sync_batch(&mut self) -> Result<(), WalError> {
        self.persist_vote()?;
        let needs_segment = match (&self.active, self.segments.last()) {
            (Some(_), Some(segment)) => segment.length >= self.options.segment_bytes_max,
            _ => true,
        };
        if needs_segment {
            self.start_segment()?;
        }
        if !self.buffer.is_empty() {
            self.batch_seq += 1;
            let batch = self.encode_batch(self.batch_seq);
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
        self.synced_repair_mark = self.state.repair_mark;
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

    /// The buffered records as batch `seq`, to append to the active segment.
    pub(super) fn encode_batch(&self, seq: u64) -> Vec<u8> {
        let at = self.segments.last().map_or(0, |segment| segment.length);
        let mut batch = Vec::with_capacity(self.buffer.len() + 32);
        encode_batch_start_at(&mut batch, seq, at);
        batch.extend_from_slice(&self.buffer);
        batch
    }

    /// Creates the next segment: its header and a batch with the state as of the last
    /// sync (so that it can be replayed once older segments are gone), written and
    /// flushed on their own before any entry goes in. A damaged header is then damage
    /// whenever the file is longer than that first write (`PREAMBLE_BYTES_MAX`): only a
    /// crash during it can leave a torn header.
    fn start_segment(&mut self) -> Result<(), WalError> {
        self.batch_seq += 1;
        let (seq, previous_length) = self
            .segments
            .last()
            .map_or((1, 0), |s| (s.name.seq + 1, s.length));
        let mut first = Vec::with_capacity(PREAMBLE_BYTES_MAX);
        first.extend_from_slice(&encode_header(seq, previous_length));
        encode_batch_start_at(&mut first, self.batch_seq, SEGMENT_HEADER_BYTES as u64);
        let (index, term) = self.synced_boundary;
        encode_compact(&mut first, index, term);
        encode_hard_state(&mut first, &self.synced_hard_state);
        if self.synced_repair_mark.is_some() {
            encode_repair_mark(&mut first, self.synced_repair_mark);
        }
        assert!(
            first.len() <= PREAMBLE_BYTES_MAX,
            "a segment's first write is bounded"
        );
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
        file.write_all(&first)
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
            length: first.len() as u64,
            max_entry_index: 0,
        });
        self.active = Some(file);
        Ok(())
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
}
