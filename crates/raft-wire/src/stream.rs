//! Decoding frames from a byte stream that arrives in arbitrary pieces.

use alloc::vec::Vec;

use raft_core::Message;

use crate::error::WireError;
use crate::frame::{FrameLimits, HEADER_BYTES, Header, open_payload, parse_header};

/// Decodes a stream of frames fed in pieces of any size: every split of the same bytes
/// yields the same messages and errors.
///
/// It buffers at most one frame (header plus the payload the header declares, which
/// the limit bounds before anything is allocated). A frame that is well delimited but
/// does not hold a valid message is reported and skipped; a broken header or checksum
/// is *stream-fatal* ([`WireError::is_stream_fatal`]): the decoder then refuses
/// further input and the connection should be closed.
///
/// ```
/// use raft_core::{Message, TimeoutNow};
/// use raft_wire::{FrameDecoder, FrameLimits};
///
/// let message = Message::TimeoutNow(TimeoutNow { term: 1, leader: 3 });
/// let mut bytes = raft_wire::encode(&message).unwrap();
/// bytes.extend(raft_wire::encode(&message).unwrap());
///
/// let mut decoder = FrameDecoder::new(FrameLimits::default());
/// let mut received = Vec::new();
/// for piece in bytes.chunks(5) {
///     let mut input = piece;
///     while let Some(result) = decoder.decode(&mut input) {
///         received.push(result.unwrap());
///     }
/// }
/// assert_eq!(received, vec![message.clone(), message]);
/// ```
#[derive(Debug)]
pub struct FrameDecoder {
    limits: FrameLimits,
    header: [u8; HEADER_BYTES],
    header_filled: usize,
    parsed: Option<Header>,
    payload: Vec<u8>,
    failed: bool,
}

impl FrameDecoder {
    /// A decoder applying `limits`.
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            limits,
            header: [0; HEADER_BYTES],
            header_filled: 0,
            parsed: None,
            payload: Vec::new(),
            failed: false,
        }
    }

    /// Bytes of an incomplete frame currently held.
    pub fn buffered_bytes(&self) -> usize {
        self.header_filled + self.payload.len()
    }

    /// Consumes bytes from the front of `input` until one frame completes or `input`
    /// runs out. Returns `None` when more input is needed, `Some(Ok(message))` for a
    /// frame, `Some(Err(_))` for a bad one. Call it again while `input` is not empty.
    pub fn decode(&mut self, input: &mut &[u8]) -> Option<Result<Message, WireError>> {
        if self.failed {
            return Some(Err(WireError::StreamFailed));
        }
        if self.parsed.is_none() {
            let take = (HEADER_BYTES - self.header_filled).min(input.len());
            self.header[self.header_filled..self.header_filled + take]
                .copy_from_slice(&input[..take]);
            self.header_filled += take;
            *input = &input[take..];
            if self.header_filled < HEADER_BYTES {
                return None;
            }
            match parse_header(&self.header, &self.limits) {
                Ok(parsed) => {
                    self.parsed = Some(parsed);
                    self.payload.clear();
                    // Bounded by the limit, which parse_header enforced.
                    self.payload.reserve_exact(parsed.payload_bytes);
                }
                Err(error) => return Some(Err(self.fail(error))),
            }
        }
        let parsed = self.parsed?;
        let take = (parsed.payload_bytes - self.payload.len()).min(input.len());
        self.payload.extend_from_slice(&input[..take]);
        *input = &input[take..];
        if self.payload.len() < parsed.payload_bytes {
            return None;
        }
        self.parsed = None;
        self.header_filled = 0;
        let result = open_payload(&self.header, parsed, &self.payload);
        self.payload.clear();
        if self.payload.capacity() > 64 << 10 {
            // Do not keep a large frame's buffer alive between frames.
            self.payload = Vec::new();
        }
        Some(result.map_err(|error| {
            if error.is_stream_fatal() {
                self.fail(error)
            } else {
                error
            }
        }))
    }

    fn fail(&mut self, error: WireError) -> WireError {
        self.failed = true;
        self.payload = Vec::new();
        error
    }
}
