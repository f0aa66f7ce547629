//! Segment files: naming and the fixed header.
//!
//! A segment is named `{seq:020}-{first_index:020}.wal`: `seq` orders segments (it
//! grows by one per segment), `first_index` is the index the first entry written to
//! it was expected to have. Its header:
//!
//! ```text
//! offset  size  field
//! 0       4     magic "RWAL"
//! 4       1     format version (1)
//! 5       3     reserved, zero
//! 8       8     seq (u64 LE)
//! 16      8     final length of the previous segment in bytes (u64 LE), 0 for none
//! 24      4     CRC-32 of bytes 0..24 (u32 LE)
//! ```

use std::path::{Path, PathBuf};

use raft_core::Index;

pub(crate) const SEGMENT_HEADER_BYTES: usize = 28;
/// The most a segment's first write can hold: the header and a batch of BatchStartAt,
/// Compact, HardState and RepairMark records (25, 25, 34 and 26 bytes). It is flushed
/// before anything else is written to the segment (format 2).
pub(crate) const PREAMBLE_BYTES_MAX: usize = SEGMENT_HEADER_BYTES + 25 + 25 + 34 + 26;
/// The segment layout's version: unchanged since directory format 1 (format 2 moved
/// only the term and vote to a file of their own).
const SEGMENT_FORMAT_VERSION: u8 = 1;
const SEGMENT_MAGIC: [u8; 4] = *b"RWAL";

/// A segment's identity, from its file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentName {
    pub(crate) seq: u64,
    pub(crate) first_index: Index,
}

impl SegmentName {
    pub(crate) fn file_name(&self) -> String {
        format!("{:020}-{:020}.wal", self.seq, self.first_index)
    }

    pub(crate) fn path(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        let stem = name.strip_suffix(".wal")?;
        let (seq, first_index) = stem.split_once('-')?;
        if seq.len() != 20 || first_index.len() != 20 {
            return None;
        }
        Some(Self {
            seq: seq.parse().ok()?,
            first_index: first_index.parse().ok()?,
        })
    }
}

pub(crate) fn encode_header(seq: u64, previous_length: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[0..4].copy_from_slice(&SEGMENT_MAGIC);
    header[4] = SEGMENT_FORMAT_VERSION;
    header[8..16].copy_from_slice(&seq.to_le_bytes());
    header[16..24].copy_from_slice(&previous_length.to_le_bytes());
    let crc = crc32fast::hash(&header[..24]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    header
}

/// The header's `(seq, previous_length)`, or why it is not a valid header.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<(u64, u64), &'static str> {
    let Some(header) = bytes.first_chunk::<SEGMENT_HEADER_BYTES>() else {
        return Err("segment shorter than its header");
    };
    let crc = u32::from_le_bytes([header[24], header[25], header[26], header[27]]);
    if crc32fast::hash(&header[..24]) != crc {
        return Err("segment header checksum mismatch");
    }
    if header[0..4] != SEGMENT_MAGIC {
        return Err("segment magic is not RWAL");
    }
    if header[4] != SEGMENT_FORMAT_VERSION {
        return Err("segment format version is not supported");
    }
    let word = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    Ok((word(8), word(16)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves names round-trip and foreign names are not mistaken for segments.
    #[test]
    fn names_round_trip() {
        let name = SegmentName {
            seq: 3,
            first_index: 1_000_001,
        };
        assert_eq!(SegmentName::parse(&name.file_name()), Some(name));
        assert_eq!(SegmentName::parse("3-1.wal"), None);
        assert_eq!(SegmentName::parse("LOCK"), None);
    }

    // Golden bytes of a segment header (docs/PROTOCOL.md).
    #[test]
    fn header_encoding_is_frozen() {
        let hex: String = encode_header(7, 4096)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5257414c0100000007000000000000000010000000000000b3dc80b0"
        );
    }

    // Proves the header round-trips and any flipped bit is caught.
    #[test]
    fn header_round_trips_and_detects_damage() {
        let header = encode_header(7, 4096);
        assert_eq!(decode_header(&header), Ok((7, 4096)));
        for bit in 0..SEGMENT_HEADER_BYTES * 8 {
            let mut damaged = header;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_header(&damaged).is_err(), "bit {bit}");
        }
    }
}
