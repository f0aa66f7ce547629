//! Repair mode: opening a log whose synced data is damaged (docs/RECOVERY.md). The
//! valid prefix is kept, everything from the first damaged record on is dropped (a log
//! must stay contiguous), the damaged files are kept aside for inspection, and a
//! repair mark records how far the lost entries may have gone, so the node refuses to
//! help elect a leader that could lack one of them until a leader has sent them back.

use super::bound::{self, Kind, Walked};
use super::recovery::classify_damage;
use super::*;

/// Bytes of a hard-state record's body: a damaged record of another size was not one.
const HARD_STATE_BODY_BYTES: usize = 26;

/// What [`WalLog::open_repairing`] found and did to a damaged log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairReport {
    /// The segment file where the damage starts.
    pub segment: PathBuf,
    /// Byte offset of the first damaged record in it.
    pub offset: u64,
    /// What is wrong there.
    pub reason: String,
    /// The last entry kept: every entry after it was dropped.
    pub kept_through: Index,
    /// The mark the node repairs under: its log agrees with a leader's through
    /// `mark.through` (entries `kept_through + 1..=mark.through` back, and any kept
    /// entry the damage may have hidden a newer version of replaced) before it votes
    /// again for a log less up to date than `(mark.term, mark.through)`. Always set
    /// by a repair (a `RepairReport` is only made when something was damaged).
    pub mark: Option<RepairMark>,
    /// The damaged files, kept under a `.damaged` name (ignored by the log) for
    /// inspection.
    pub preserved: Vec<PathBuf>,
}

impl std::fmt::Display for RepairReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "damaged write-ahead log {} at byte {}: {}; kept entries through {}",
            self.segment.display(),
            self.offset,
            self.reason,
            self.kept_through
        )?;
        match self.mark {
            Some(mark) if mark.through > self.kept_through => write!(
                f,
                ", lost entries {}..={} at most (terms up to {}), to get back from a leader",
                self.kept_through + 1,
                mark.through,
                mark.term
            ),
            Some(mark) => write!(
                f,
                ", no index lost; kept entries to check against a leader's (terms up to {})",
                mark.term
            ),
            None => write!(f, ", no entry lost"),
        }
    }
}

/// What the records after the damage tell: how far the log went, the newest hard
/// state, whether a damaged region may have hidden a newer one.
struct Scan {
    record_bytes_max: usize,
    /// Upper bound of any index the log held.
    bound: Index,
    /// Upper bound of the terms of the entries the log held: valid entries' own, and
    /// for a damaged region the term of the first hard state after it (the writer's
    /// term then was at most that; terms never go back), or the newest if none follows.
    max_term: Term,
    /// A damaged region was closed and no hard state has followed it yet.
    region_term_open: bool,
    /// The newest hard state: the kept prefix's, then any valid one after the damage.
    hard_state: HardState,
    /// A damaged region that could have been a hard-state record lies after the
    /// newest valid one.
    hard_state_doubtful: bool,
    /// The damaged region being walked: its first byte and length.
    region: Option<(usize, usize)>,
    /// The highest batch sequence number seen (the kept prefix's last, then any
    /// newer batch after the damage).
    seq_max: u64,
    /// Whether the records being walked are known to be in their place: true in the
    /// kept prefix and after a batch start newer than every batch before it; false
    /// after a damaged region until then, and inside a batch whose start is not newer
    /// (a copy of older data written where it does not belong). Only a hard state in
    /// place proves what a damaged region before it could not have held.
    anchored: bool,
    /// What was walked after the damage, in order, for `settle`: damaged regions and
    /// valid records. (A misdirected copy is valid records that still hide what they
    /// overwrote; `settle` tells them apart by their batches' sequence numbers.)
    walked: Vec<Walked>,
    /// The kept prefix's last batch sequence number.
    prefix_seq: u64,
    /// The last entry of the kept prefix.
    kept_through: Index,
    /// Format 2: a segment's first write (header and preamble) was flushed before
    /// anything else went in, so a torn tail never starts inside it when the file is
    /// longer than it.
    preamble_flushed: bool,
}

impl Scan {
    /// Walks `buffer[start..]` record by record, stepping one byte at a time through
    /// damage. `last`: the newest segment, whose tail may be torn (not damage).
    fn walk(&mut self, buffer: &Bytes, start: usize, last: bool) {
        let mut at = start;
        while at < buffer.len() {
            match decode_record(buffer, at, self.record_bytes_max) {
                Ok((record, size)) => {
                    self.close_region(buffer);
                    let kind = match &record {
                        Record::BatchStart { seq, offset } => Kind::Start {
                            seq: *seq,
                            placed: offset.is_none_or(|written| written == at as u64),
                        },
                        Record::Entry(entry) => Kind::Entry(entry.index),
                        Record::Truncate { from } => Kind::Truncate(*from),
                        _ => Kind::Other,
                    };
                    self.walked.push(Walked::Record(kind, size));
                    self.see(record);
                    at += size;
                }
                Err(_) => {
                    let region = self.region.get_or_insert((at, 0));
                    region.1 += 1;
                    at += 1;
                }
            }
        }
        match self.region {
            // A torn write at the very end of the newest segment is a crash, not damage;
            // but after damage not yet settled, a tail that is not zeros can be the rest
            // of a synced record whose start the damage (or a copy over it) took.
            Some((region_start, _))
                if last
                    && !(self.preamble_flushed
                        && region_start < PREAMBLE_BYTES_MAX
                        && buffer.len() > PREAMBLE_BYTES_MAX)
                    && classify_damage(buffer, region_start, self.record_bytes_max).is_none()
                    && (!self
                        .walked
                        .iter()
                        .any(|walked| matches!(walked, Walked::Damaged(_)))
                        || buffer[region_start..].iter().all(|&byte| byte == 0)) =>
            {
                self.region = None;
            }
            _ => self.close_region(buffer),
        }
    }

    /// Raises `bound` to what was walked after the damage could have held
    /// (`bound::last_index`).
    fn settle(&mut self) {
        let walked = std::mem::take(&mut self.walked);
        let last = bound::last_index(&walked, self.prefix_seq, self.kept_through);
        self.bound = self.bound.max(last);
    }

    fn see(&mut self, record: Record) {
        match record {
            Record::Entry(entry) => {
                self.max_term = self.max_term.max(entry.term);
            }
            Record::Compact { term, .. } => self.max_term = self.max_term.max(term),
            Record::HardState(state) => {
                // Hard states only grow: a term never goes back, a vote is not taken
                // back within its term, a commit index never shrinks. An older one is a
                // copy written where it does not belong (a misdirected write), so the
                // newest may be gone; an equal one (a new segment's preamble repeats
                // the last) proves nothing about what a damaged region held. A newer
                // one proves it only in place: a copy of data from just past the
                // damage can be newer than the kept prefix and still older than what
                // the damage hid (found by the simulator: a sector copied over the
                // next one, whose copy ended in a valid older hard state).
                if self.region_term_open && self.anchored {
                    self.max_term = self.max_term.max(state.term);
                    self.region_term_open = false;
                }
                let key =
                    |state: &HardState| (state.term, state.voted_for.is_some(), state.commit_index);
                match key(&state).cmp(&key(&self.hard_state)) {
                    std::cmp::Ordering::Greater => {
                        self.hard_state = state;
                        if self.anchored {
                            self.hard_state_doubtful = false;
                        }
                    }
                    std::cmp::Ordering::Equal => {}
                    std::cmp::Ordering::Less => self.hard_state_doubtful = true,
                }
            }
            Record::RepairMark(Some(mark)) => {
                self.bound = self.bound.max(mark.through);
                self.max_term = self.max_term.max(mark.term);
            }
            Record::BatchStart { seq, .. } => {
                // A batch newer than every one before it is in place; an older or equal
                // one is a copy.
                self.anchored = seq > self.seq_max;
                self.seq_max = self.seq_max.max(seq);
            }
            Record::Truncate { .. } | Record::RepairMark(None) => {}
        }
    }

    /// A segment that cannot be read, `length` bytes long: one damaged region that may
    /// have held anything, a hard state included.
    fn unreadable(&mut self, length: usize) {
        self.close_region_of(length.max(1));
        self.hard_state_doubtful = true;
    }

    /// Ends a damaged region (what it may have held is bounded by `settle`): it may
    /// have been a hard state unless it is exactly one record (its length field
    /// intact) of another size.
    fn close_region(&mut self, buffer: &Bytes) {
        let Some((start, length)) = self.region.take() else {
            return;
        };
        self.close_region_of(length);
        let declared = buffer
            .get(start..start + 4)
            .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize);
        let one_other_record = declared.is_some_and(|body| {
            RECORD_HEADER_BYTES + body == length && body != HARD_STATE_BODY_BYTES
        });
        if !one_other_record {
            self.hard_state_doubtful = true;
        }
    }

    /// What every damaged region of `length` bytes means for the walk.
    fn close_region_of(&mut self, length: usize) {
        self.anchored = false;
        self.walked.push(Walked::Damaged(length));
        self.max_term = self.max_term.max(self.hard_state.term);
        self.region_term_open = true;
    }
}

impl WalLog {
    /// Opens the log in `dir` like [`WalLog::open_with`], but a log whose synced
    /// data is damaged is repaired instead of refused: the entries before the first
    /// damaged record are kept, everything from it on is dropped, the damaged files
    /// are kept aside under a `.damaged` name, and the log records a
    /// [`RepairMark`] the node clears once a leader has sent the lost entries back.
    /// Returns the report when anything was repaired.
    ///
    /// The term and vote are the `vote` file's, which no damage to a segment reaches
    /// (WAL format 2).
    ///
    /// # Errors
    /// As [`WalLog::open_with`]; [`WalError::Corrupt`] still when the newest term and
    /// vote are unknown: the `vote` file is missing or damaged, or, in a format-1
    /// directory (repaired, then upgraded), the damage may have destroyed the last
    /// hard-state record (a node that lost its vote must not vote again as itself:
    /// docs/RECOVERY.md, rule 2); or when a snapshot file is damaged.
    pub fn open_repairing(
        dir: impl AsRef<Path>,
        options: WalOptions,
    ) -> Result<(Self, Option<RepairReport>), WalError> {
        Self::open_inner(dir.as_ref(), options, true, 0)
    }

    /// Repair of the damage replay met at `offset` of segment `names[position]`: the
    /// state holds the valid prefix. Reads the rest, decides, then rewrites.
    pub(super) fn salvage(
        &mut self,
        names: &[SegmentName],
        position: usize,
        offset: u64,
        reason: String,
    ) -> Result<RepairReport, WalError> {
        let kept_through = self.state.last_index();
        let mut scan = Scan {
            record_bytes_max: self.options.record_bytes_max,
            bound: self
                .state
                .repair_mark
                .map_or(kept_through, |mark| mark.through),
            max_term: self
                .state
                .repair_mark
                .map_or(0, |mark| mark.term)
                .max(self.state.last_term()),
            hard_state: self.state.hard_state,
            hard_state_doubtful: false,
            region_term_open: false,
            region: None,
            seq_max: self.batch_seq,
            anchored: true,
            walked: Vec::new(),
            prefix_seq: self.batch_seq,
            kept_through,
            preamble_flushed: self.vote_file.is_some(),
        };
        // The mark's second copy: a record holding the mark may be what was damaged.
        match self.mark_file {
            Some(MarkFile::Mark(mark)) => {
                scan.bound = scan.bound.max(mark.through);
                scan.max_term = scan.max_term.max(mark.term);
            }
            Some(MarkFile::Damaged) => {
                return Err(Self::corrupt(
                    &self.dir.join(mark_file::FILE_NAME),
                    0,
                    format!(
                        "{reason}; and the repair mark's copy is damaged: how far this log \
                         went is unknown, so it must not vote again as itself: start it on an \
                         empty directory, as a new incarnation (docs/RECOVERY.md, rule 2)"
                    ),
                ));
            }
            _ => {}
        }
        for (step, name) in names[position..].iter().enumerate() {
            let path = name.path(&self.dir);
            let buffer = match fs::read(&path) {
                Ok(bytes) => Bytes::from(bytes),
                Err(_) => {
                    // Unreadable (a read error): damaged whole, as long as it says.
                    if step > 0 {
                        scan.bound = scan.bound.max(name.first_index.saturating_sub(1));
                    }
                    let length = fs::metadata(&path).map_or(0, |meta| meta.len() as usize);
                    scan.unreadable(length);
                    continue;
                }
            };
            let start = if step == 0 {
                offset as usize
            } else {
                // Entries of a later segment start at its first index or above.
                scan.bound = scan.bound.max(name.first_index.saturating_sub(1));
                SEGMENT_HEADER_BYTES
            };
            if step == 0 && start < SEGMENT_HEADER_BYTES {
                // A damaged header: the whole segment is one damaged region.
                scan.region = Some((0, 0));
            }
            let last = position + step + 1 == names.len();
            scan.walk(&buffer, start.min(buffer.len()), last);
        }
        scan.settle();
        let segment = names[position].path(&self.dir);
        // In format 2 the term and vote are in their own file, which no damage to a
        // segment can reach: a damaged region hides at most entries and commit indexes.
        if scan.hard_state_doubtful && self.vote_file.is_none() {
            return Err(Self::corrupt(
                &segment,
                offset,
                format!(
                    "{reason}; the damage may have destroyed this node's newest term and vote, \
                     so it must not vote again as itself: start it on an empty directory, as a \
                     new incarnation (docs/RECOVERY.md, rule 2)"
                ),
            ));
        }
        // Term and vote from the newest hard state; the commit index from the kept
        // prefix's own: entries after the damage may have replaced some of the
        // prefix's (a truncation the damage hid), so a later commit index can name
        // entries the prefix holds other versions of.
        if scan.region_term_open {
            scan.max_term = scan.max_term.max(scan.hard_state.term);
        }
        let mut hard_state = scan.hard_state;
        hard_state.commit_index = self.state.hard_state.commit_index.min(kept_through);
        if let Some(vote) = self.vote_file {
            // (A record found after the damage can be a copy, or bytes inside an
            // entry's command that look like a record: never a term or vote.)
            hard_state.term = vote.term;
            hard_state.voted_for = vote.voted_for;
        }
        // Always a mark, through at least the kept prefix: what the damage hid may have
        // replaced kept entries too (a truncation, then newer entries at the same
        // indexes), so even a log that lost no index may hold stale versions of some.
        let mark = Some(RepairMark {
            through: scan.bound.max(kept_through),
            term: scan.max_term,
        });

        // Decided: keep the damaged files aside, cut the segment at the damage, drop
        // the later ones.
        let mut preserved = Vec::new();
        for (step, name) in names[position..].iter().enumerate() {
            let path = name.path(&self.dir);
            let aside = free_aside_name(&self.dir, &name.file_name());
            if step == 0 && (offset as usize) < SEGMENT_HEADER_BYTES {
                // Dropped whole (it may not even be readable): set aside as it is.
                fs::rename(&path, &aside).map_err(|error| WalError::io(&path, error))?;
            } else if step == 0 {
                let _bytes =
                    fs::copy(&path, &aside).map_err(|error| WalError::io(&aside, error))?;
                {
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|error| WalError::io(&path, error))?;
                    file.set_len(offset)
                        .and_then(|()| file.sync_all())
                        .map_err(|error| WalError::io(&path, error))?;
                    self.segments.push(Segment {
                        name: name.clone(),
                        path: path.clone(),
                        length: offset,
                        max_entry_index: kept_through,
                    });
                }
            } else {
                fs::rename(&path, &aside).map_err(|error| WalError::io(&path, error))?;
            }
            preserved.push(aside);
        }
        sync_dir(&self.dir)?;
        // The next sync opens a new segment with the repaired state in its preamble.
        self.active = None;
        self.state.hard_state = hard_state;
        self.state.repair_mark = mark;
        self.synced_boundary = self.state.boundary;
        self.synced_hard_state = hard_state;
        self.synced_repair_mark = mark;
        self.sync_batch()?;
        Ok(RepairReport {
            segment,
            offset,
            reason,
            kept_through,
            mark,
            preserved,
        })
    }
}

/// `NAME.damaged` in `dir`, or `NAME.damaged-N` with the first N free: a segment
/// damaged again after an earlier repair keeps both copies (and an earlier copy that
/// is not a plain file cannot make the repair fail).
fn free_aside_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(format!("{name}.damaged"));
    if fs::symlink_metadata(&first).is_err() {
        return first;
    }
    (1u64..)
        .map(|n| dir.join(format!("{name}.damaged-{n}")))
        .find(|path| fs::symlink_metadata(path).is_err())
        .expect("some name is free")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a second damaged copy of a segment does not replace the first, whatever
    // the first is (a file, or a directory standing in for an unreadable segment).
    #[test]
    fn damaged_copies_never_replace_each_other() {
        let dir = std::env::temp_dir().join(format!("raft-wal-aside-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let first = free_aside_name(&dir, "seg.wal");
        assert_eq!(first, dir.join("seg.wal.damaged"));
        fs::create_dir(&first).unwrap();
        let second = free_aside_name(&dir, "seg.wal");
        assert_eq!(second, dir.join("seg.wal.damaged-1"));
        fs::write(&second, b"x").unwrap();
        assert_eq!(
            free_aside_name(&dir, "seg.wal"),
            dir.join("seg.wal.damaged-2")
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
