//! The codec's error type.

use alloc::string::String;

/// Why a frame or message could not be encoded or decoded.
///
/// Errors marked *stream-fatal* by [`WireError::is_stream_fatal`] mean the byte stream
/// can no longer be trusted to be in step with frame boundaries: close the connection.
/// The others concern one well-delimited frame, which was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The frame does not start with the magic bytes.
    #[error("bad frame magic {found:02x?}, expected {expected:02x?}")]
    BadMagic {
        /// The two bytes found.
        found: [u8; 2],
        /// The magic this codec speaks.
        expected: [u8; 2],
    },
    /// The frame's format version is not one this codec reads.
    #[error("unsupported frame format version {version} (this codec reads version {supported})")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
        /// The version this codec reads.
        supported: u8,
    },
    /// Reserved flag bits are set.
    #[error("reserved frame flags {flags:#04x} are set")]
    ReservedFlags {
        /// The flags byte found.
        flags: u8,
    },
    /// The declared payload is larger than the configured limit (checked before any
    /// allocation), or a message to encode is.
    #[error("frame payload of {length} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// The declared or encoded payload length.
        length: u64,
        /// The configured limit.
        limit: usize,
    },
    /// The checksum over the header and payload does not match.
    #[error("frame checksum mismatch: header says {expected:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The checksum the header carries.
        expected: u32,
        /// The checksum of the bytes received.
        computed: u32,
    },
    /// A one-shot decode was given fewer bytes than the frame needs.
    #[error("truncated frame: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// Bytes follow the frame (one-shot decode) or the message inside its payload.
    #[error("{count} unexpected trailing bytes")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// The payload names a message kind this codec does not know (perhaps from a
    /// newer version).
    #[error("unknown message kind {kind}")]
    UnknownMessageKind {
        /// The kind tag found.
        kind: u64,
    },
    /// The payload is not a valid encoding of a message of its kind.
    #[error("malformed message: {detail}")]
    Malformed {
        /// What the decoder reported.
        detail: String,
    },
    /// The payload decodes, but not from its one canonical encoding (an overlong
    /// varint, for example).
    #[error("message is not in canonical form")]
    NonCanonical,
    /// The message kind cannot be encoded by this version of the codec.
    #[error("message kind not supported by this codec version")]
    UnsupportedMessage,
    /// The stream decoder failed earlier and must be discarded with its connection.
    #[error("the stream decoder failed earlier; discard it with its connection")]
    StreamFailed,
}

impl WireError {
    /// Whether the stream lost track of frame boundaries (close the connection), as
    /// opposed to one bad but well-delimited frame that was skipped.
    pub fn is_stream_fatal(&self) -> bool {
        matches!(
            self,
            WireError::BadMagic { .. }
                | WireError::UnsupportedVersion { .. }
                | WireError::ReservedFlags { .. }
                | WireError::FrameTooLarge { .. }
                | WireError::ChecksumMismatch { .. }
                | WireError::StreamFailed
        )
    }
}

impl From<WireError> for raft_core::Error {
    fn from(error: WireError) -> Self {
        raft_core::Error::encoding("decoding a frame", error)
    }
}
