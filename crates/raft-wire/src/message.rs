//! The payload: one [`Message`] in postcard's encoding, strictly decoded.

use alloc::vec::Vec;

use raft_core::Message;

use crate::error::WireError;

/// Number of message kinds this codec knows: kind tags `0..MESSAGE_KINDS`.
pub const MESSAGE_KINDS: u64 = 11;

/// The kind tag of a message: its position in [`Message`], frozen on the wire.
///
/// # Errors
/// [`WireError::UnsupportedMessage`] for a kind added to `Message` after this codec.
pub fn message_kind(message: &Message) -> Result<u64, WireError> {
    Ok(match message {
        Message::PreVote(_) => 0,
        Message::PreVoteReply(_) => 1,
        Message::RequestVote(_) => 2,
        Message::RequestVoteReply(_) => 3,
        Message::AppendEntries(_) => 4,
        Message::AppendEntriesReply(_) => 5,
        Message::TimeoutNow(_) => 6,
        Message::ReadConfirm(_) => 7,
        Message::ReadConfirmReply(_) => 8,
        Message::InstallSnapshot(_) => 9,
        Message::InstallSnapshotReply(_) => 10,
        _ => return Err(WireError::UnsupportedMessage),
    })
}

/// Appends the payload encoding of `message` to `out`.
///
/// # Errors
/// [`WireError::UnsupportedMessage`] for a message kind this codec does not know.
pub fn encode_message_into(message: &Message, out: &mut Vec<u8>) -> Result<(), WireError> {
    let _ = message_kind(message)?;
    let buffer = core::mem::take(out);
    match postcard::to_extend(message, buffer) {
        Ok(buffer) => {
            *out = buffer;
            Ok(())
        }
        // Encoding into a Vec cannot run out of room; any other failure is a bug in a
        // Serialize impl and is reported rather than unwrapped.
        Err(error) => Err(WireError::Malformed {
            detail: alloc::format!("encoding: {error}"),
        }),
    }
}

/// The payload encoding of `message`.
///
/// # Errors
/// As [`encode_message_into`].
pub fn encode_message(message: &Message) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    encode_message_into(message, &mut out)?;
    Ok(out)
}

/// Reads a LEB128 varint the way postcard writes it, for peeking at the kind tag.
fn peek_varint(bytes: &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (position, &byte) in bytes.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * position);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Decodes exactly one message from `payload`: no trailing bytes, known kind,
/// canonical encoding.
///
/// # Errors
/// [`WireError::UnknownMessageKind`], [`WireError::Malformed`],
/// [`WireError::TrailingBytes`] or [`WireError::NonCanonical`].
pub fn decode_message(payload: &[u8]) -> Result<Message, WireError> {
    match peek_varint(payload) {
        Some(kind) if kind >= MESSAGE_KINDS => return Err(WireError::UnknownMessageKind { kind }),
        _ => {}
    }
    let (message, rest): (Message, &[u8]) =
        postcard::take_from_bytes(payload).map_err(|error| WireError::Malformed {
            detail: alloc::format!("{error}"),
        })?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes { count: rest.len() });
    }
    // postcard accepts overlong varints; only the shortest form is ours, so that every
    // message has exactly one encoding.
    let canonical = postcard::experimental::serialized_size(&message).map_err(|error| {
        WireError::Malformed {
            detail: alloc::format!("{error}"),
        }
    })?;
    if canonical != payload.len() {
        return Err(WireError::NonCanonical);
    }
    Ok(message)
}
