//! The frame around each message: magic, version, flags, length, checksum.
//!
//! ```text
//! offset  size  field
//! 0       2     magic, the bytes "RW" (0x52 0x57)
//! 2       1     format version, 1
//! 3       1     flags, 0 (every bit reserved)
//! 4       4     payload length in bytes, u32 little-endian
//! 8       4     CRC-32 (IEEE) of bytes 2..8 then the payload, u32 little-endian
//! 12      n     payload: one message (see docs/PROTOCOL.md)
//! ```

use alloc::vec::Vec;

use raft_core::Message;

use crate::error::WireError;
use crate::message::{decode_message, encode_message_into};

/// The two bytes every frame starts with.
pub const MAGIC: [u8; 2] = *b"RW";
/// The frame format version this codec writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Size of the frame header in bytes.
pub const HEADER_BYTES: usize = 12;

/// Limits applied while decoding (and, symmetrically, encoding) frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// The largest payload accepted, checked against the header before any
    /// allocation. At most `u32::MAX`.
    pub payload_bytes_max: usize,
}

impl FrameLimits {
    /// The default payload limit: 16 MiB.
    pub const PAYLOAD_BYTES_MAX_DEFAULT: usize = 16 << 20;

    /// Limits with the given payload maximum (clamped to what the header can carry).
    pub fn new(payload_bytes_max: usize) -> Self {
        Self {
            payload_bytes_max: payload_bytes_max.min(u32::MAX as usize),
        }
    }
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self::new(Self::PAYLOAD_BYTES_MAX_DEFAULT)
    }
}

/// A parsed and checked frame header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub(crate) payload_bytes: usize,
    pub(crate) checksum: u32,
}

/// Checks the fixed part of a header: magic, version, flags and the length limit.
pub(crate) fn parse_header(
    header: &[u8; HEADER_BYTES],
    limits: &FrameLimits,
) -> Result<Header, WireError> {
    let magic = [header[0], header[1]];
    if magic != MAGIC {
        return Err(WireError::BadMagic {
            found: magic,
            expected: MAGIC,
        });
    }
    if header[2] != FORMAT_VERSION {
        return Err(WireError::UnsupportedVersion {
            version: header[2],
            supported: FORMAT_VERSION,
        });
    }
    if header[3] != 0 {
        return Err(WireError::ReservedFlags { flags: header[3] });
    }
    let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if length as usize > limits.payload_bytes_max {
        return Err(WireError::FrameTooLarge {
            length: u64::from(length),
            limit: limits.payload_bytes_max,
        });
    }
    let checksum = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    Ok(Header {
        payload_bytes: length as usize,
        checksum,
    })
}

/// The checksum a frame carries: CRC-32 over version, flags, length, then payload.
pub(crate) fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[2..8]);
    hasher.update(payload);
    hasher.finalize()
}

/// Verifies a payload against its header and decodes the message in it.
pub(crate) fn open_payload(
    header: &[u8; HEADER_BYTES],
    parsed: Header,
    payload: &[u8],
) -> Result<Message, WireError> {
    let computed = checksum(header, payload);
    if computed != parsed.checksum {
        return Err(WireError::ChecksumMismatch {
            expected: parsed.checksum,
            computed,
        });
    }
    decode_message(payload)
}

/// Appends one frame carrying `message` to `out`.
///
/// # Errors
/// [`WireError::FrameTooLarge`] when the encoded message exceeds
/// `limits.payload_bytes_max` (a peer with the same limits would refuse it);
/// [`WireError::UnsupportedMessage`] for an unknown kind. `out` is left as it was.
pub fn encode_frame_into(
    message: &Message,
    limits: &FrameLimits,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    if let Err(error) = encode_message_into(message, out) {
        out.truncate(start);
        return Err(error);
    }
    let payload_bytes = out.len() - start - HEADER_BYTES;
    if payload_bytes > limits.payload_bytes_max {
        out.truncate(start);
        return Err(WireError::FrameTooLarge {
            length: payload_bytes as u64,
            limit: limits.payload_bytes_max,
        });
    }
    let length = u32::try_from(payload_bytes).map_err(|_| WireError::FrameTooLarge {
        length: payload_bytes as u64,
        limit: limits.payload_bytes_max,
    })?;
    out[start + 4..start + 8].copy_from_slice(&length.to_le_bytes());
    let (header, payload) = out[start..].split_at(HEADER_BYTES);
    let crc = checksum(header, payload);
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// One frame carrying `message`, with the default limits.
///
/// ```
/// use raft_core::{Message, TimeoutNow};
/// let message = Message::TimeoutNow(TimeoutNow { term: 7, leader: 2 });
/// let frame = raft_wire::encode(&message).unwrap();
/// assert_eq!(raft_wire::decode(&frame).unwrap(), message);
/// ```
///
/// # Errors
/// As [`encode_frame_into`].
pub fn encode(message: &Message) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    encode_frame_into(message, &FrameLimits::default(), &mut out)?;
    Ok(out)
}

/// Decodes `bytes`, which must hold exactly one frame, with the default limits.
///
/// # Errors
/// Any [`WireError`] but `StreamFailed`: a bad header, a checksum mismatch, a
/// truncated frame, trailing bytes, or a payload that is not one canonical message.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    decode_with_limits(bytes, &FrameLimits::default())
}

/// Like [`decode`], with explicit limits.
///
/// # Errors
/// As [`decode`].
pub fn decode_with_limits(bytes: &[u8], limits: &FrameLimits) -> Result<Message, WireError> {
    let Some(header) = bytes.first_chunk::<HEADER_BYTES>() else {
        return Err(WireError::Truncated {
            needed: HEADER_BYTES,
            available: bytes.len(),
        });
    };
    let parsed = parse_header(header, limits)?;
    let needed = HEADER_BYTES + parsed.payload_bytes;
    if bytes.len() < needed {
        return Err(WireError::Truncated {
            needed,
            available: bytes.len(),
        });
    }
    if bytes.len() > needed {
        return Err(WireError::TrailingBytes {
            count: bytes.len() - needed,
        });
    }
    open_payload(header, parsed, &bytes[HEADER_BYTES..])
}
