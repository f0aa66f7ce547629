//! Repair mode: opening a log whose synced data is damaged (docs/RECOVERY.md). The
//! valid prefix is kept, everything from the first damaged record on is dropped (a log
//! must stay contiguous), the damaged files are kept aside for inspection, and a
//! repair mark records how far the lost entries may have gone, so the node refuses to
//! help elect a leader that could lack one of them until a leader has sent them back.

use std::collections::BTreeMap;

use super::recovery::classify_damage;
use super::*;

/// The smallest entry record on disk: header, kind, term, index, entry kind, no command.
const ENTRY_RECORD_BYTES_MIN: usize = RECORD_HEADER_BYTES + 18;

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

/// One item walked after the damage.
#[derive(Clone, Copy, Debug)]
enum Walked {
    /// A damaged region of this many bytes.
    Damaged(usize),
    /// A valid record and its size.
    Record(Kind, usize),
}

/// What a walked record says about the log's extent.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A batch starts, with this sequence number; `placed`: it is where it was
    /// written (or, written before format 2, does not say where).
    Start { seq: u64, placed: bool },
    /// An entry with this index.
    Entry(Index),
    /// Entries from this index on are removed.
    Truncate(Index),
    /// Anything else.
    Other,
}

/// Whose the records being walked are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Batch {
    /// A batch in place.
    InPlace,
    /// A batch that is not in place: a copy.
    Copy,
    /// Unknown: records after damage, before any batch start.
    Orphan,
}

/// A stretch of walked bytes that may hide entries.
#[derive(Clone, Copy, Debug)]
struct Stretch {
    /// The last index of the log before it.
    base: Index,
    /// Its bytes.
    bytes: usize,
    /// The highest index of the entries seen in it.
    seen_max: Index,
}

impl Stretch {
    fn after(base: Index) -> Self {
        Self {
            base,
            bytes: 0,
            seen_max: 0,
        }
    }
}

/// Positions (in `seqs`) of a longest strictly increasing subsequence.
fn longest_increasing(seqs: &[u64]) -> Vec<usize> {
    // tails[k]: the position of the smallest tail of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut previous: Vec<Option<usize>> = vec![None; seqs.len()];
    for (position, &seq) in seqs.iter().enumerate() {
        let length = tails.partition_point(|&tail| seqs[tail] < seq);
        previous[position] = length.checked_sub(1).map(|before| tails[before]);
        if length == tails.len() {
            tails.push(position);
        } else {
            tails[length] = position;
        }
    }
    let mut run = Vec::with_capacity(tails.len());
    let mut cursor = tails.last().copied();
    while let Some(position) = cursor {
        run.push(position);
        cursor = previous[position];
    }
    run.reverse();
    run
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

    /// Bounds the last index of the log as it was, from what was walked after the
    /// damage. The batches in place are a longest run of batch starts whose sequence
    /// numbers grow (each sync writes the next one), above the kept prefix's; a batch
    /// outside that run is a copy written where it does not belong (it
    /// is valid and still hides what it overwrote), and records after the damage whose
    /// batch start is gone are not known to be in place either. Replaying the records in place
    /// gives the log's last index, except what the stretches between them (damaged
    /// bytes, records not in place) hid: a stretch held at most one entry per minimal
    /// entry record, after the last index before it; and an entry in place after a
    /// stretch, above that last index, supersedes it: an entry of the log as it was
    /// with a higher index would have been appended after that entry (appending index
    /// `j` removes every index at or above it first).
    fn settle(&mut self) {
        // A sequence number seen more than once is a copy and its original (or copies
        // of a copy), and which is which cannot be told from the records: the bound
        // is the largest over each choice of the k-th occurrence as the one in place.
        let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
        let occurrence: Vec<Option<(u64, usize)>> = self
            .walked
            .iter()
            .map(|walked| match *walked {
                // (A batch start found away from where it was written is a copy: never
                // in place, and no choice to make.)
                Walked::Record(Kind::Start { seq, placed: true }, _) => {
                    let count = seen.entry(seq).or_insert(0);
                    *count += 1;
                    Some((seq, *count - 1))
                }
                _ => None,
            })
            .collect();
        let choices = seen.values().copied().max().unwrap_or(1);
        let bound = (0..choices)
            .map(|choice| self.bound_if(&occurrence, &seen, choice))
            .max()
            .unwrap_or(0);
        self.bound = self.bound.max(bound);
    }

    /// The bound when the `choice`-th occurrence of each repeated sequence number is
    /// the one in place.
    fn bound_if(
        &self,
        occurrence: &[Option<(u64, usize)>],
        counts: &BTreeMap<u64, usize>,
        choice: usize,
    ) -> Index {
        let starts: Vec<(usize, u64)> = occurrence
            .iter()
            .enumerate()
            .filter_map(|(position, found)| {
                let (seq, nth) = (*found)?;
                let chosen = counts.get(&seq) == Some(&1) || nth == choice;
                (seq > self.prefix_seq && chosen).then_some((position, seq))
            })
            .collect();
        let seqs: Vec<u64> = starts.iter().map(|&(_, seq)| seq).collect();
        let mut in_place = vec![false; self.walked.len()];
        for run_position in longest_increasing(&seqs) {
            in_place[starts[run_position].0] = true;
        }
        let mut last = self.kept_through;
        // A stretch: the last index before it, its bytes, the highest index of the
        // entries seen in it (copies, or records whose batch start is gone).
        let mut stretch: Option<Stretch> = None;
        let mut open: Vec<Stretch> = Vec::new();
        let mut batch = Batch::Orphan;
        for (position, walked) in self.walked.iter().enumerate() {
            let (kind, size) = match *walked {
                Walked::Damaged(length) => {
                    // Records after damage are in place only from the next batch start
                    // in place on: a copy of the middle of a batch has no start of its
                    // own, and would pass for the rest of the batch before it.
                    batch = Batch::Orphan;
                    stretch.get_or_insert(Stretch::after(last)).bytes += length;
                    continue;
                }
                Walked::Record(kind, size) => (kind, size),
            };
            if let Kind::Start { .. } = kind {
                batch = if in_place[position] {
                    Batch::InPlace
                } else {
                    Batch::Copy
                };
            }
            // A batch that is not in place hid what it overwrote; records whose batch
            // start is gone may be the rest of their batch (then they hide nothing) or
            // a copy of the middle of another: their entries count (a copy of
            // non-entry records alone would take many hard states in one batch).
            let hides = match (batch, kind) {
                (Batch::InPlace, _) => false,
                (Batch::Copy, _) | (Batch::Orphan, Kind::Entry(_)) => true,
                (Batch::Orphan, _) => {
                    continue;
                }
            };
            if hides {
                let current = stretch.get_or_insert(Stretch::after(last));
                current.bytes += size;
                if let Kind::Entry(index) = kind {
                    current.seen_max = current.seen_max.max(index);
                }
                continue;
            }
            open.extend(stretch.take());
            match kind {
                Kind::Entry(index) => {
                    // (An entry below what a stretch visibly held supersedes nothing:
                    // it may itself be a copy taken for the batch in place.)
                    open.retain(|stretch| index <= stretch.base.max(stretch.seen_max));
                    last = index;
                }
                Kind::Truncate(from) => last = last.min(from.saturating_sub(1)),
                Kind::Start { .. } | Kind::Other => {}
            }
        }
        open.extend(stretch);
        let hidden = open
            .iter()
            .map(|stretch| {
                (stretch.base + stretch.bytes.div_ceil(ENTRY_RECORD_BYTES_MIN) as u64)
                    .max(stretch.seen_max)
            })
            .max()
            .unwrap_or(0);
        last.max(hidden)
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

    /// Ends a damaged region (what it may have held is bounded by `settle`): it may
    /// have been a hard state unless it is exactly one record (its length field
    /// intact) of another size.
    fn close_region(&mut self, buffer: &Bytes) {
        let Some((start, length)) = self.region.take() else {
            return;
        };
        self.anchored = false;
        self.walked.push(Walked::Damaged(length));
        self.max_term = self.max_term.max(self.hard_state.term);
        self.region_term_open = true;
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
        Self::open_inner(dir.as_ref(), options, true)
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
                         went is unknown, so it must not vote again as itself: add it back \
                         as a new node (docs/RECOVERY.md, rule 2)"
                    ),
                ));
            }
            _ => {}
        }
        for (step, name) in names[position..].iter().enumerate() {
            let path = name.path(&self.dir);
            let buffer = Bytes::from(fs::read(&path).map_err(|error| WalError::io(&path, error))?);
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
                     so it must not vote again as itself: add it back to the cluster as a new \
                     node (docs/RECOVERY.md, rule 2)"
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
            let aside = self.dir.join(format!("{}.damaged", name.file_name()));
            if step == 0 {
                let _bytes =
                    fs::copy(&path, &aside).map_err(|error| WalError::io(&aside, error))?;
                if offset as usize >= SEGMENT_HEADER_BYTES {
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
                } else {
                    fs::remove_file(&path).map_err(|error| WalError::io(&path, error))?;
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

#[cfg(test)]
mod tests {
    use super::longest_increasing;

    // Proves the run found is increasing and as long as any: copies of older or newer
    // batches are left out of it.
    #[test]
    fn longest_increasing_run_skips_copies() {
        let pick = |seqs: &[u64]| -> Vec<u64> {
            longest_increasing(seqs)
                .into_iter()
                .map(|position| seqs[position])
                .collect()
        };
        assert_eq!(pick(&[]), Vec::<u64>::new());
        assert_eq!(pick(&[5, 6, 7]), vec![5, 6, 7]);
        // A copy of older batches in the middle: as long as the batches in place, so
        // either run may be taken (a tie goes to the later elements); the run always
        // ends with the batches after the copy.
        assert_eq!(pick(&[10, 11, 4, 5, 12, 13]), vec![4, 5, 12, 13]);
        assert_eq!(pick(&[10, 11, 12, 4, 5, 13]), vec![10, 11, 12, 13]);
        // A copy of newer batches early on.
        assert_eq!(
            pick(&[20, 21, 12, 13, 14, 15, 20, 21, 22]),
            vec![12, 13, 14, 15, 20, 21, 22]
        );
        assert_eq!(pick(&[3, 3, 3]).len(), 1);
    }
}
