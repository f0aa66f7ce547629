//! Properties of the codec: round trips, one canonical encoding, strict rejection of
//! anything else, streaming that ignores how the input is split, and limits enforced
//! before allocation.

#[path = "support/messages.rs"]
mod messages;

use messages::samples;
use proptest::prelude::*;
use raft_core::testing::arbitrary::message;
use raft_core::{Message, TimeoutNow};
use raft_wire::{
    FrameDecoder, FrameLimits, HEADER_BYTES, WireError, decode, decode_message, decode_with_limits,
    encode, encode_frame_into, encode_message,
};

/// Re-frames `payload` with a correct header and checksum, to test the payload
/// decoder through the frame path.
fn frame_of(payload: &[u8]) -> Vec<u8> {
    let mut header = vec![b'R', b'W', 1, 0];
    header.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[2..8]);
    hasher.update(payload);
    header.extend_from_slice(&hasher.finalize().to_le_bytes());
    header.extend_from_slice(payload);
    header
}

/// Feeds `bytes` to a fresh decoder in pieces at the given cut points.
fn stream_decode(
    bytes: &[u8],
    cuts: &[usize],
    limits: FrameLimits,
) -> Vec<Result<Message, WireError>> {
    let mut decoder = FrameDecoder::new(limits);
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|&cut| cut % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    for window in points.windows(2) {
        let mut input = &bytes[window[0]..window[1]];
        while !input.is_empty() {
            match decoder.decode(&mut input) {
                Some(result) => {
                    let fatal = result.as_ref().is_err_and(WireError::is_stream_fatal);
                    out.push(result);
                    if fatal {
                        return out;
                    }
                }
                None => assert!(input.is_empty(), "decoder stopped early"),
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(512),
    ))]

    // decode(encode(m)) == m, for frames and bare payloads.
    #[test]
    fn round_trip(message in message()) {
        prop_assert_eq!(decode(&encode(&message).unwrap()).unwrap(), message.clone());
        prop_assert_eq!(decode_message(&encode_message(&message).unwrap()).unwrap(), message);
    }

    // Canonical form: every payload that decodes re-encodes to the same bytes.
    #[test]
    fn decodable_payloads_are_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(message) = decode_message(&bytes) {
            prop_assert_eq!(encode_message(&message).unwrap(), bytes);
        }
    }

    // The same for near-misses: valid payloads with one byte changed or inserted.
    #[test]
    fn mutated_payloads_are_canonical_or_refused(
        message in message(),
        position in any::<usize>(),
        value in any::<u8>(),
        insert in any::<bool>(),
    ) {
        let mut bytes = encode_message(&message).unwrap();
        let at = position % (bytes.len() + usize::from(insert));
        if insert {
            bytes.insert(at, value);
        } else {
            bytes[at] = value;
        }
        if let Ok(decoded) = decode_message(&bytes) {
            prop_assert_eq!(encode_message(&decoded).unwrap(), bytes);
        }
    }

    // Random bytes never panic, through the frame path or the stream path.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
        let _ = decode(&frame_of(&bytes));
        let _ = stream_decode(&bytes, &[3, 17], FrameLimits::default());
    }

    // Any single flipped bit in a valid frame is detected.
    #[test]
    fn single_bit_flips_are_detected(message in message(), position in any::<usize>(), bit in 0u8..8) {
        let mut frame = encode(&message).unwrap();
        let at = position % frame.len();
        frame[at] ^= 1 << bit;
        prop_assert!(decode(&frame).is_err());
    }

    // Any truncation or extension of a valid frame is detected.
    #[test]
    fn truncation_and_trailing_bytes_are_detected(message in message(), cut in any::<usize>(), extra in 1usize..8) {
        let frame = encode(&message).unwrap();
        let cut = cut % frame.len();
        let truncated = decode(&frame[..cut]);
        prop_assert!(
            matches!(truncated, Err(WireError::Truncated { .. })),
            "cut at {} gave {:?}", cut, truncated
        );
        let mut extended = frame.clone();
        extended.extend(std::iter::repeat_n(0u8, extra));
        prop_assert_eq!(decode(&extended), Err(WireError::TrailingBytes { count: extra }));
    }

    // Any split of a stream of frames gives the same messages.
    #[test]
    fn any_split_gives_the_same_frames(
        batch in proptest::collection::vec(message(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut bytes = Vec::new();
        for message in &batch {
            encode_frame_into(message, &FrameLimits::default(), &mut bytes).unwrap();
        }
        let decoded: Vec<Message> = stream_decode(&bytes, &cuts, FrameLimits::default())
            .into_iter()
            .map(Result::unwrap)
            .collect();
        prop_assert_eq!(decoded, batch);
    }
}

// An unknown message kind (from a newer peer) is reported by tag and skipped without
// losing the stream; the next frame still decodes.
#[test]
fn unknown_kind_is_skipped_not_fatal() {
    let unknown = frame_of(&[16, 1, 2]);
    assert_eq!(
        decode(&unknown),
        Err(WireError::UnknownMessageKind { kind: 16 })
    );
    let known = Message::TimeoutNow(TimeoutNow { term: 1, leader: 2 });
    let mut stream = unknown.clone();
    stream.extend(encode(&known).unwrap());
    let results = stream_decode(&stream, &[5], FrameLimits::default());
    assert_eq!(
        results,
        vec![Err(WireError::UnknownMessageKind { kind: 16 }), Ok(known)]
    );
}

// An overlong varint decodes under postcard but is refused as non-canonical.
#[test]
fn overlong_varint_is_refused() {
    // TimeoutNow { term: 7, leader: 2 } with the term written as 0x87 0x00.
    assert!(decode_message(&[6, 7, 2]).is_ok());
    assert_eq!(
        decode_message(&[6, 0x87, 0x00, 2]),
        Err(WireError::NonCanonical)
    );
    assert_eq!(
        decode(&frame_of(&[6, 0x87, 0x00, 2])),
        Err(WireError::NonCanonical)
    );
}

// Bad magic, version and flags are named as such.
#[test]
fn header_errors_say_which() {
    let good = encode(&samples()[0].1).unwrap();
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(decode(&bad), Err(WireError::BadMagic { .. })));
    let mut bad = good.clone();
    bad[2] = 9;
    assert_eq!(
        decode(&bad),
        Err(WireError::UnsupportedVersion {
            version: 9,
            supported: 1
        })
    );
    let mut bad = good.clone();
    bad[3] = 0x80;
    assert_eq!(decode(&bad), Err(WireError::ReservedFlags { flags: 0x80 }));
    let mut bad = good;
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert!(matches!(
        decode(&bad),
        Err(WireError::ChecksumMismatch { .. })
    ));
}

// A header declaring more than the limit is refused before the payload is buffered,
// and the stream decoder then refuses further input.
#[test]
fn oversized_frames_are_refused_before_allocation() {
    let limits = FrameLimits::new(1024);
    let mut header = vec![b'R', b'W', 1, 0];
    header.extend_from_slice(&(1u32 << 30).to_le_bytes());
    header.extend_from_slice(&[0; 4]);
    assert_eq!(
        decode_with_limits(&header, &limits),
        Err(WireError::FrameTooLarge {
            length: 1 << 30,
            limit: 1024
        })
    );
    let mut decoder = FrameDecoder::new(limits);
    let mut input = &header[..];
    assert!(matches!(
        decoder.decode(&mut input),
        Some(Err(WireError::FrameTooLarge { .. }))
    ));
    assert!(decoder.buffered_bytes() <= HEADER_BYTES);
    let mut more: &[u8] = &[0; 8];
    assert_eq!(
        decoder.decode(&mut more),
        Some(Err(WireError::StreamFailed))
    );
    // Encoding refuses what a peer with the same limit would refuse.
    let big = Message::AppendEntries(raft_core::AppendEntries {
        term: 1,
        leader: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: vec![raft_core::LogEntry::new(1, 1, vec![0u8; 2048])],
        leader_commit: 0,
    });
    let mut out = vec![1, 2, 3];
    assert!(matches!(
        encode_frame_into(&big, &limits, &mut out),
        Err(WireError::FrameTooLarge { .. })
    ));
    assert_eq!(
        out,
        vec![1, 2, 3],
        "a refused encode leaves the buffer as it was"
    );
}

// Wire errors convert into the protocol's Encoding error for `?` in driver code.
#[test]
fn wire_errors_convert_to_core_errors() {
    let error: raft_core::Error = WireError::NonCanonical.into();
    assert!(matches!(error, raft_core::Error::Encoding { .. }));
}

// Kind 14 (a reply with its sender's incarnation) carries exactly one reply of a
// nonzero incarnation: incarnation 0 (its own kind carries it), a request, or kind 14
// nested in itself (which could otherwise recurse once per two bytes of a forged
// frame) are refused.
#[test]
fn incarnated_reply_is_strict() {
    let reply = Message::ReadConfirmReply(raft_core::ReadConfirmReply {
        term: 3,
        from: 2,
        round: 1,
        incarnation: 9,
    });
    let payload = encode_message(&reply).unwrap();
    assert_eq!(payload[..2], [14, 9]);
    assert_eq!(decode_message(&payload), Ok(reply));
    let mut zero = payload.clone();
    zero[1] = 0;
    assert_eq!(decode_message(&zero), Err(WireError::NonCanonical));
    let timeout_now = encode_message(&Message::TimeoutNow(TimeoutNow { term: 1, leader: 2 }));
    let request = [&[14, 9][..], &timeout_now.unwrap()].concat();
    assert!(matches!(
        decode_message(&request),
        Err(WireError::Malformed { .. })
    ));
    let mut nested = vec![14, 9];
    nested.extend_from_slice(&payload);
    assert!(matches!(
        decode_message(&nested),
        Err(WireError::Malformed { .. })
    ));
    let deep: Vec<u8> = [14, 9].repeat(100_000);
    assert!(decode_message(&deep).is_err());
}
