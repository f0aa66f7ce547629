//! The properties the fuzz targets check on arbitrary bytes. Shared with the stable
//! test suite (tests/corpus.rs replays the checked-in corpus through them), so CI
//! exercises them without a nightly toolchain.
#![allow(dead_code)]

use raft_wire::{
    FrameDecoder, FrameLimits, WireError, decode, decode_message, encode, encode_message,
};

/// A frame either fails to decode or is the canonical frame of what it decodes to.
pub fn frame_decode(data: &[u8]) {
    if let Ok(message) = decode(data) {
        assert_eq!(encode(&message).expect("a decoded message encodes"), data);
    }
}

/// A payload either fails to decode or is the canonical encoding of its message.
pub fn message_decode(data: &[u8]) {
    if let Ok(message) = decode_message(data) {
        assert_eq!(
            encode_message(&message).expect("a decoded message encodes"),
            data
        );
    }
}

/// Feeds `data` in pieces of `size` bytes, recording every result.
fn stream_results(
    data: &[u8],
    size: usize,
    limits: FrameLimits,
) -> Vec<Result<raft_wire::Message, WireError>> {
    let mut decoder = FrameDecoder::new(limits);
    let mut results = Vec::new();
    for piece in data.chunks(size.max(1)) {
        let mut input = piece;
        while !input.is_empty() {
            match decoder.decode(&mut input) {
                Some(result) => {
                    let fatal = result.as_ref().is_err_and(WireError::is_stream_fatal);
                    results.push(result);
                    if fatal {
                        return results;
                    }
                }
                None => assert!(input.is_empty(), "decoder asked for more with input left"),
            }
        }
        assert!(decoder.buffered_bytes() <= raft_wire::HEADER_BYTES + limits.payload_bytes_max);
    }
    results
}

/// Splitting the stream differently never changes what comes out. The first byte picks
/// a piece size; the rest is the stream. A small limit exercises the size checks.
pub fn stream_decode(data: &[u8]) {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let limits = FrameLimits::new(4096);
    let whole = stream_results(stream, stream.len(), limits);
    let pieces = stream_results(stream, usize::from(split % 17) + 1, limits);
    assert_eq!(whole, pieces);
}
