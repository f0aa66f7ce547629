//! Records: the unit written to a segment.
//!
//! ```text
//! offset  size  field
//! 0       4     body length n (u32 LE), kind byte included
//! 4       4     CRC-32 (IEEE) of bytes 0..4 then the body (u32 LE)
//! 8       n     body: kind (u8), then the kind's fields (u64 LE unless noted)
//! ```
//!
//! Kinds: 1 BatchStart { seq }, 2 Entry { term, index, entry kind u8, command bytes to
//! the end of the body }, 3 HardState { term, voted flag u8, voted_for, commit_index },
//! 4 Truncate { from }, 5 Compact { index, term }, 6 RepairMark { present flag u8,
//! through, term } (written only by a repaired log; a reader older than it refuses
//! such a directory as malformed, never misreads it), 7 BatchStartAt { seq, offset }
//! (format 2's batch start: it names the byte offset in its segment where it was
//! written, so a batch copied elsewhere by a misdirected write is recognised; kind 1
//! is only read, in segments written before).

use bytes::Bytes;
use raft_core::{EntryKind, HardState, Index, LogEntry, RepairMark, Term};

/// Bytes before a record's body.
pub(crate) const RECORD_HEADER_BYTES: usize = 8;

const KIND_BATCH_START: u8 = 1;
const KIND_ENTRY: u8 = 2;
const KIND_HARD_STATE: u8 = 3;
const KIND_TRUNCATE: u8 = 4;
const KIND_COMPACT: u8 = 5;
const KIND_REPAIR_MARK: u8 = 6;
const KIND_BATCH_START_AT: u8 = 7;

/// A decoded record. Entry payloads borrow from the segment's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// A batch starts; `offset`: where in its segment it was written (kind 7), `None`
    /// for a kind-1 record (written before format 2).
    BatchStart {
        seq: u64,
        offset: Option<u64>,
    },
    Entry(LogEntry),
    HardState(HardState),
    Truncate {
        from: Index,
    },
    Compact {
        index: Index,
        term: Term,
    },
    RepairMark(Option<RepairMark>),
}

/// The stored code of an entry kind. A kind added to `EntryKind` later has no code
/// until the WAL format learns it: writing one is refused rather than mislabelled.
fn entry_kind_code(kind: EntryKind) -> Option<u8> {
    match kind {
        EntryKind::Normal => Some(0),
        EntryKind::Noop => Some(1),
        EntryKind::Config => Some(2),
        _ => None,
    }
}

/// Whether `kind` can be stored.
pub(crate) fn storable(kind: EntryKind) -> bool {
    entry_kind_code(kind).is_some()
}

/// Appends one record with `body` (kind byte first) to `out`.
fn push_record(out: &mut Vec<u8>, body: &[&[u8]]) {
    let length: usize = body.iter().map(|part| part.len()).sum();
    let length = u32::try_from(length).expect("records are bounded by the record size limit");
    let length_bytes = length.to_le_bytes();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&length_bytes);
    for part in body {
        hasher.update(part);
    }
    out.extend_from_slice(&length_bytes);
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    for part in body {
        out.extend_from_slice(part);
    }
}

/// A kind-1 batch start (format 1: no offset). Kept for the golden bytes; the writer
/// uses [`encode_batch_start_at`].
#[cfg(test)]
pub(crate) fn encode_batch_start(out: &mut Vec<u8>, seq: u64) {
    push_record(out, &[&[KIND_BATCH_START], &seq.to_le_bytes()]);
}

/// A batch start written at byte `offset` of its segment.
pub(crate) fn encode_batch_start_at(out: &mut Vec<u8>, seq: u64, offset: u64) {
    push_record(
        out,
        &[
            &[KIND_BATCH_START_AT],
            &seq.to_le_bytes(),
            &offset.to_le_bytes(),
        ],
    );
}

pub(crate) fn encode_entry(out: &mut Vec<u8>, entry: &LogEntry) {
    push_record(
        out,
        &[
            &[KIND_ENTRY],
            &entry.term.to_le_bytes(),
            &entry.index.to_le_bytes(),
            &[entry_kind_code(entry.kind).expect("checked by storable before encoding")],
            &entry.command,
        ],
    );
}

/// Size on disk of an entry record.
pub(crate) fn entry_record_bytes(entry: &LogEntry) -> usize {
    RECORD_HEADER_BYTES + 18 + entry.command.len()
}

pub(crate) fn encode_hard_state(out: &mut Vec<u8>, state: &HardState) {
    push_record(
        out,
        &[
            &[KIND_HARD_STATE],
            &state.term.to_le_bytes(),
            &[u8::from(state.voted_for.is_some())],
            &state.voted_for.unwrap_or(0).to_le_bytes(),
            &state.commit_index.to_le_bytes(),
        ],
    );
}

pub(crate) fn encode_truncate(out: &mut Vec<u8>, from: Index) {
    push_record(out, &[&[KIND_TRUNCATE], &from.to_le_bytes()]);
}

pub(crate) fn encode_compact(out: &mut Vec<u8>, index: Index, term: Term) {
    push_record(
        out,
        &[&[KIND_COMPACT], &index.to_le_bytes(), &term.to_le_bytes()],
    );
}

pub(crate) fn encode_repair_mark(out: &mut Vec<u8>, mark: Option<RepairMark>) {
    let (through, term) = mark.map_or((0, 0), |mark| (mark.through, mark.term));
    push_record(
        out,
        &[
            &[KIND_REPAIR_MARK],
            &[u8::from(mark.is_some())],
            &through.to_le_bytes(),
            &term.to_le_bytes(),
        ],
    );
}

/// Why the bytes at an offset are not a valid record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Fewer bytes left than the header or the declared body needs.
    Incomplete,
    /// The declared length is zero or above the limit.
    BadLength(u64),
    /// The checksum does not match.
    Checksum,
    /// The body's kind or fields are malformed.
    BadBody(&'static str),
}

fn u64_at(body: &[u8], at: usize) -> Option<u64> {
    body.get(at..at + 8).map(|bytes| {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        u64::from_le_bytes(word)
    })
}

/// Decodes the record at the start of `buffer[offset..]`, returning it and its size.
/// Entry commands are zero-copy slices of `buffer`.
pub(crate) fn decode_record(
    buffer: &Bytes,
    offset: usize,
    record_bytes_max: usize,
) -> Result<(Record, usize), Invalid> {
    let bytes = &buffer[offset..];
    let Some(header) = bytes.first_chunk::<RECORD_HEADER_BYTES>() else {
        return Err(Invalid::Incomplete);
    };
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if length == 0 || length > record_bytes_max {
        return Err(Invalid::BadLength(length as u64));
    }
    let Some(body) = bytes.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + length) else {
        return Err(Invalid::Incomplete);
    };
    let expected = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[..4]);
    hasher.update(body);
    if hasher.finalize() != expected {
        return Err(Invalid::Checksum);
    }
    let fixed = |size: usize, name: &'static str| {
        if body.len() == size {
            Ok(())
        } else {
            Err(Invalid::BadBody(name))
        }
    };
    let word = |at: usize| u64_at(body, at).ok_or(Invalid::BadBody("short field"));
    let record = match body[0] {
        KIND_BATCH_START => {
            fixed(9, "batch start size")?;
            Record::BatchStart {
                seq: word(1)?,
                offset: None,
            }
        }
        KIND_BATCH_START_AT => {
            fixed(17, "batch start size")?;
            Record::BatchStart {
                seq: word(1)?,
                offset: Some(word(9)?),
            }
        }
        KIND_ENTRY => {
            if body.len() < 18 {
                return Err(Invalid::BadBody("entry size"));
            }
            let kind = match body[17] {
                0 => EntryKind::Normal,
                1 => EntryKind::Noop,
                2 => EntryKind::Config,
                _ => return Err(Invalid::BadBody("entry kind")),
            };
            let start = offset + RECORD_HEADER_BYTES + 18;
            let end = offset + RECORD_HEADER_BYTES + length;
            Record::Entry(LogEntry {
                term: word(1)?,
                index: word(9)?,
                kind,
                command: buffer.slice(start..end),
            })
        }
        KIND_HARD_STATE => {
            fixed(26, "hard state size")?;
            let voted_for = match body[9] {
                0 => None,
                1 => Some(word(10)?),
                _ => return Err(Invalid::BadBody("vote flag")),
            };
            Record::HardState(HardState {
                term: word(1)?,
                voted_for,
                commit_index: word(18)?,
            })
        }
        KIND_TRUNCATE => {
            fixed(9, "truncate size")?;
            Record::Truncate { from: word(1)? }
        }
        KIND_COMPACT => {
            fixed(17, "compact size")?;
            Record::Compact {
                index: word(1)?,
                term: word(9)?,
            }
        }
        KIND_REPAIR_MARK => {
            fixed(18, "repair mark size")?;
            let mark = RepairMark {
                through: word(2)?,
                term: word(10)?,
            };
            match body[1] {
                0 => Record::RepairMark(None),
                1 => Record::RepairMark(Some(mark)),
                _ => return Err(Invalid::BadBody("repair mark flag")),
            }
        }
        _ => return Err(Invalid::BadBody("unknown record kind")),
    };
    Ok((record, RECORD_HEADER_BYTES + length))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves every record kind round-trips, zero-copy for entry payloads.
    #[test]
    fn records_round_trip() {
        let mut out = Vec::new();
        let entry = LogEntry::new(3, 9, &b"payload"[..]);
        let state = HardState {
            term: 4,
            voted_for: Some(0),
            commit_index: 8,
        };
        encode_batch_start(&mut out, 77);
        encode_batch_start_at(&mut out, 78, 4096);
        encode_entry(&mut out, &entry);
        encode_entry(&mut out, &LogEntry::noop(3, 10));
        encode_hard_state(&mut out, &state);
        encode_hard_state(&mut out, &HardState::default());
        encode_truncate(&mut out, 5);
        encode_compact(&mut out, 4, 2);
        let mark = RepairMark {
            through: 12,
            term: 3,
        };
        encode_repair_mark(&mut out, Some(mark));
        encode_repair_mark(&mut out, None);
        let buffer = Bytes::from(out);
        let mut offset = 0;
        let mut records = Vec::new();
        while offset < buffer.len() {
            let (record, size) = decode_record(&buffer, offset, 1 << 20).unwrap();
            records.push(record);
            offset += size;
        }
        assert_eq!(
            records,
            vec![
                Record::BatchStart {
                    seq: 77,
                    offset: None
                },
                Record::BatchStart {
                    seq: 78,
                    offset: Some(4096)
                },
                Record::Entry(entry.clone()),
                Record::Entry(LogEntry::noop(3, 10)),
                Record::HardState(state),
                Record::HardState(HardState::default()),
                Record::Truncate { from: 5 },
                Record::Compact { index: 4, term: 2 },
                Record::RepairMark(Some(mark)),
                Record::RepairMark(None),
            ]
        );
        assert_eq!(entry_record_bytes(&entry), 8 + 18 + 7);
    }

    // Proves damage is classified: short input, bad length, bad checksum, bad kind.
    #[test]
    fn damage_is_classified() {
        let mut out = Vec::new();
        encode_truncate(&mut out, 5);
        let good = Bytes::from(out.clone());
        assert_eq!(
            decode_record(&good.slice(..10), 0, 1 << 20),
            Err(Invalid::Incomplete)
        );
        assert_eq!(decode_record(&good, 0, 4), Err(Invalid::BadLength(9)));
        let mut flipped = out.clone();
        flipped[12] ^= 1;
        assert_eq!(
            decode_record(&Bytes::from(flipped), 0, 1 << 20),
            Err(Invalid::Checksum)
        );
        let mut unknown = Vec::new();
        push_record(&mut unknown, &[&[99]]);
        assert_eq!(
            decode_record(&Bytes::from(unknown), 0, 1 << 20),
            Err(Invalid::BadBody("unknown record kind"))
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    // Golden bytes of every record kind (docs/PROTOCOL.md). A change to any of them is
    // a format change: it needs a new WAL format version, not an edit here.
    #[test]
    fn record_encodings_are_frozen() {
        type Encode = fn(&mut Vec<u8>);
        let cases: [(&str, Encode); 8] = [
            (
                "11000000094c8f2f0707000000000000000010000000000000",
                |out| encode_batch_start_at(out, 7, 4096),
            ),
            ("0900000030515f95010700000000000000", |out| {
                encode_batch_start(out, 7)
            }),
            (
                "140000002ecfcbe30202000000000000000500000000000000006869",
                |out| encode_entry(out, &LogEntry::new(2, 5, &b"hi"[..])),
            ),
            (
                "1200000079807bfa020200000000000000060000000000000001",
                |out| encode_entry(out, &LogEntry::noop(2, 6)),
            ),
            (
                "12000000c30eaff3020300000000000000070000000000000002",
                |out| {
                    let mut entry = LogEntry::noop(3, 7);
                    entry.kind = EntryKind::Config;
                    encode_entry(out, &entry)
                },
            ),
            (
                "1a00000048604a780302000000000000000103000000000000000400000000000000",
                |out| {
                    encode_hard_state(
                        out,
                        &HardState {
                            term: 2,
                            voted_for: Some(3),
                            commit_index: 4,
                        },
                    )
                },
            ),
            ("09000000e1146213040600000000000000", |out| {
                encode_truncate(out, 6)
            }),
            (
                "110000008ff380f70504000000000000000200000000000000",
                |out| encode_compact(out, 4, 2),
            ),
        ];
        for (expected, encode) in cases {
            let mut out = Vec::new();
            encode(&mut out);
            assert_eq!(hex(&out), expected);
        }
    }
}
