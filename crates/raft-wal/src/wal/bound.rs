//! How far a damaged log went: the bound on its last index that a repair mark carries
//! (docs/RECOVERY.md, section 1), from the records walked after the damage. A pure
//! function of what was walked, so that it can be tested on its own.

use std::collections::BTreeMap;

use raft_core::Index;

use crate::record::RECORD_HEADER_BYTES;

/// The smallest entry record on disk: header, kind, term, index, entry kind, no command.
const ENTRY_RECORD_BYTES_MIN: usize = RECORD_HEADER_BYTES + 18;

/// One item walked after the damage.
#[derive(Clone, Copy, Debug)]
pub(super) enum Walked {
    /// A damaged region of this many bytes.
    Damaged(usize),
    /// A valid record and its size.
    Record(Kind, usize),
}

/// What a walked record says about the log's extent.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
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

/// Bounds the last index of the log as it was, from what was walked after the damage
/// (`prefix_seq`, `kept_through`: the kept prefix's last batch and entry). The batches
/// in place are a longest run of batch starts whose sequence numbers grow (each sync
/// writes the next one), above the kept prefix's, each where it says it was written; a
/// batch outside that run is a copy written where it does not belong (valid, and still
/// hiding what it overwrote), and entries after damage before any batch start are not
/// known to be in place either. Replaying the records in place gives the log's last
/// index, except what the stretches between them hid: a stretch held at most one entry
/// per minimal entry record after the last index before it, unless an entry in place
/// after it has a higher index (an entry of the log with a higher index would have
/// been appended after that one: appending index `j` removes every index from `j` on).
pub(super) fn last_index(walked: &[Walked], prefix_seq: u64, kept_through: Index) -> Index {
    // A sequence number seen more than once is a copy and its original (or copies
    // of a copy), and which is which cannot be told from the records: the bound
    // is the largest over each choice of the k-th occurrence as the one in place.
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    let occurrence: Vec<Option<(u64, usize)>> = walked
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
    (0..choices)
        .map(|choice| last_index_if(walked, prefix_seq, kept_through, &occurrence, &seen, choice))
        .max()
        .unwrap_or(kept_through)
}

/// The bound when the `choice`-th occurrence of each repeated sequence number is
/// the one in place.
fn last_index_if(
    walked: &[Walked],
    prefix_seq: u64,
    kept_through: Index,
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
            (seq > prefix_seq && chosen).then_some((position, seq))
        })
        .collect();
    let seqs: Vec<u64> = starts.iter().map(|&(_, seq)| seq).collect();
    let mut in_place = vec![false; walked.len()];
    for run_position in longest_increasing(&seqs) {
        in_place[starts[run_position].0] = true;
    }
    let mut last = kept_through;
    let mut stretch: Option<Stretch> = None;
    let mut open: Vec<Stretch> = Vec::new();
    let mut batch = Batch::Orphan;
    for (position, item) in walked.iter().enumerate() {
        let (kind, size) = match *item {
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
        match (batch, kind) {
            (Batch::InPlace, _) => {}
            (Batch::Copy, _) | (Batch::Orphan, Kind::Entry(_)) => {
                let current = stretch.get_or_insert(Stretch::after(last));
                current.bytes += size;
                if let Kind::Entry(index) = kind {
                    current.seen_max = current.seen_max.max(index);
                }
                continue;
            }
            (Batch::Orphan, _) => continue,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn start(seq: u64) -> Walked {
        Walked::Record(Kind::Start { seq, placed: true }, 25)
    }

    fn entry(index: Index) -> Walked {
        Walked::Record(Kind::Entry(index), 40)
    }

    // Proves the bound: records in place replayed, a copy counted as hiding what it
    // overwrote, a stretch superseded by a later entry, the rest of a damaged batch's
    // non-entry records counting for nothing.
    #[test]
    fn bounds_follow_the_records_in_place() {
        // Damage, then batches 6 and 7 in place with entries 11..=14: the damage is
        // superseded, the log went to 14.
        let walked = [
            Walked::Damaged(100),
            start(6),
            entry(11),
            entry(12),
            start(7),
            entry(13),
            entry(14),
        ];
        assert_eq!(last_index(&walked, 5, 10), 14);
        // The same, but the tail is damaged: 14 plus what 260 bytes could hold.
        let mut tail = walked.to_vec();
        tail.push(Walked::Damaged(260));
        assert_eq!(last_index(&tail, 5, 10), 14 + 10);
        // A copy of batch 3 (older than the prefix) at the end hid what it overwrote.
        let mut copied = walked.to_vec();
        copied.extend([Walked::Damaged(3), start(3), entry(5), entry(6)]);
        assert_eq!(
            last_index(&copied, 5, 10),
            14 + (3 + 25 + 80_usize).div_ceil(26) as u64
        );
        // A truncation in place: the log ends where the replay ends (below the kept
        // prefix: the repair mark still covers the prefix, whose entry 10 is stale).
        let truncated = [
            Walked::Damaged(10),
            start(6),
            entry(11),
            Walked::Record(Kind::Truncate(9), 17),
            entry(9),
        ];
        assert_eq!(last_index(&truncated, 5, 10), 9);
        // Only a damaged batch start: its other records count for nothing.
        let orphans = [
            Walked::Damaged(25),
            Walked::Record(Kind::Other, 34),
            Walked::Record(Kind::Other, 25),
        ];
        assert_eq!(last_index(&orphans, 1, 0), 1);
        // A batch found away from where it was written is never in place.
        let misplaced = [
            Walked::Damaged(5),
            Walked::Record(
                Kind::Start {
                    seq: 9,
                    placed: false,
                },
                25,
            ),
            entry(30),
        ];
        assert_eq!(
            last_index(&misplaced, 1, 0),
            30.max((5 + 25 + 40_usize).div_ceil(26) as u64)
        );
    }

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
