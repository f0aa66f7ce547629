//! The payload: one [`Message`] in postcard's encoding, strictly decoded.

use alloc::boxed::Box;
use alloc::vec::Vec;

use raft_core::{Bytes, Index, InstallSnapshot, Membership, Message, NodeId, Term};

use crate::error::WireError;

/// Number of message kinds this codec knows: kind tags `0..MESSAGE_KINDS`.
pub const MESSAGE_KINDS: u64 = 16;

/// The kind tag of an [`InstallSnapshot`] chunk whose configuration is joint. Kind 9
/// carries a plain configuration exactly as before joint configurations existed; a
/// joint one needs two more fields, which kind 9's frozen layout has no room for.
const JOINT_SNAPSHOT_KIND: u8 = 11;

/// The kind tags of a follower's forwarded read and its answer. Tags from 11 on are
/// written here by hand rather than by `Message`'s derived encoding, whose variant
/// numbers stop matching the wire's at tag 11.
const READ_INDEX_REQUEST_KIND: u8 = 12;
const READ_INDEX_REPLY_KIND: u8 = 13;

/// The kind tag of a reply from a node whose incarnation is not 0 (docs/RECOVERY.md,
/// rule 2): the tag, the incarnation (a varint, never 0), then the reply's own
/// encoding (kind 1, 3, 5, 8 or 10) unchanged. A reply of incarnation 0 keeps its own
/// kind, byte for byte.
const INCARNATED_REPLY_KIND: u8 = 14;

/// The kind tag of an [`InstallSnapshot`] chunk whose configuration names
/// incarnations or rejoining learners: kind 9's fields with the configuration in its
/// configuration-entry encoding ([`Membership::encode`], version 2).
const INCARNATED_SNAPSHOT_KIND: u8 = 15;

/// Kind 11's payload after the tag: kind 9's fields in the same order, the
/// configuration spelled out (incoming voters, learners, outgoing voters, auto-leave).
#[derive(serde::Serialize, serde::Deserialize)]
struct JointSnapshotChunk {
    term: Term,
    leader: NodeId,
    last_included_index: Index,
    last_included_term: Term,
    voters: Vec<NodeId>,
    learners: Vec<NodeId>,
    outgoing: Vec<NodeId>,
    auto_leave: bool,
    offset: u64,
    data: Bytes,
    done: bool,
}

/// Kind 15's payload after the tag.
#[derive(serde::Serialize, serde::Deserialize)]
struct IncarnatedSnapshotChunk {
    term: Term,
    leader: NodeId,
    last_included_index: Index,
    last_included_term: Term,
    membership: Vec<u8>,
    offset: u64,
    data: Bytes,
    done: bool,
}

/// Whether a configuration needs kind 15: it names an incarnation or a rejoining
/// learner, which kinds 9 and 11 have no room for.
fn names_incarnations(membership: &Membership) -> bool {
    !membership.incarnations().is_empty() || !membership.rejoining().is_empty()
}

impl JointSnapshotChunk {
    fn from_request(request: &InstallSnapshot) -> Self {
        let membership = &request.membership;
        Self {
            term: request.term,
            leader: request.leader,
            last_included_index: request.last_included_index,
            last_included_term: request.last_included_term,
            voters: membership.voters().to_vec(),
            learners: membership.learners().to_vec(),
            outgoing: membership.outgoing_voters().to_vec(),
            auto_leave: membership.auto_leave(),
            offset: request.offset,
            data: request.data.clone(),
            done: request.done,
        }
    }

    /// The message, if the configuration is a canonical joint one.
    fn into_message(self) -> Option<Message> {
        let outgoing = Membership::new(self.outgoing.iter().copied(), []);
        let incoming = Membership::new(self.voters.iter().copied(), self.learners.iter().copied());
        let membership = outgoing.enter_joint(&incoming, self.auto_leave).ok()?;
        let canonical = membership.is_joint()
            && membership.voters() == self.voters
            && membership.learners() == self.learners
            && membership.outgoing_voters() == self.outgoing;
        canonical.then(|| {
            Message::InstallSnapshot(Box::new(InstallSnapshot {
                term: self.term,
                leader: self.leader,
                last_included_index: self.last_included_index,
                last_included_term: self.last_included_term,
                membership,
                offset: self.offset,
                data: self.data,
                done: self.done,
            }))
        })
    }
}

/// The kind tag of a message: its position in [`Message`], frozen on the wire.
///
/// # Errors
/// [`WireError::UnsupportedMessage`] for a kind added to `Message` after this codec.
pub fn message_kind(message: &Message) -> Result<u64, WireError> {
    if message
        .sender_incarnation()
        .is_some_and(|incarnation| incarnation != 0)
    {
        return Ok(u64::from(INCARNATED_REPLY_KIND));
    }
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
        Message::InstallSnapshot(request) if names_incarnations(&request.membership) => {
            u64::from(INCARNATED_SNAPSHOT_KIND)
        }
        Message::InstallSnapshot(request) if request.membership.is_joint() => {
            u64::from(JOINT_SNAPSHOT_KIND)
        }
        Message::InstallSnapshot(_) => 9,
        Message::InstallSnapshotReply(_) => 10,
        Message::ReadIndexRequest(_) => u64::from(READ_INDEX_REQUEST_KIND),
        Message::ReadIndexReply(_) => u64::from(READ_INDEX_REPLY_KIND),
        _ => return Err(WireError::UnsupportedMessage),
    })
}

/// Appends the payload encoding of `message` to `out`.
///
/// # Errors
/// [`WireError::UnsupportedMessage`] for a message kind this codec does not know.
pub fn encode_message_into(message: &Message, out: &mut Vec<u8>) -> Result<(), WireError> {
    let kind = message_kind(message)?;
    if kind == u64::from(INCARNATED_REPLY_KIND) {
        let incarnation = message.sender_incarnation().unwrap_or_default();
        out.push(INCARNATED_REPLY_KIND);
        let buffer = postcard::to_extend(&incarnation, core::mem::take(out));
        *out = buffer.map_err(|error| WireError::Malformed {
            detail: alloc::format!("encoding: {error}"),
        })?;
        // The reply's own kind and fields follow: its derived encoding, which leaves
        // the incarnation out.
        let buffer = postcard::to_extend(message, core::mem::take(out));
        *out = buffer.map_err(|error| WireError::Malformed {
            detail: alloc::format!("encoding: {error}"),
        })?;
        return Ok(());
    }
    let buffer = core::mem::take(out);
    let tagged = |tag: u8, mut buffer: Vec<u8>| {
        buffer.push(tag);
        buffer
    };
    let encoded = match message {
        Message::InstallSnapshot(request) if kind == u64::from(JOINT_SNAPSHOT_KIND) => {
            postcard::to_extend(
                &JointSnapshotChunk::from_request(request),
                tagged(JOINT_SNAPSHOT_KIND, buffer),
            )
        }
        Message::InstallSnapshot(request) if kind == u64::from(INCARNATED_SNAPSHOT_KIND) => {
            let chunk = IncarnatedSnapshotChunk {
                term: request.term,
                leader: request.leader,
                last_included_index: request.last_included_index,
                last_included_term: request.last_included_term,
                membership: request.membership.encode(),
                offset: request.offset,
                data: request.data.clone(),
                done: request.done,
            };
            postcard::to_extend(&chunk, tagged(INCARNATED_SNAPSHOT_KIND, buffer))
        }
        Message::ReadIndexRequest(request) => {
            postcard::to_extend(request, tagged(READ_INDEX_REQUEST_KIND, buffer))
        }
        Message::ReadIndexReply(reply) => {
            postcard::to_extend(reply, tagged(READ_INDEX_REPLY_KIND, buffer))
        }
        _ => postcard::to_extend(message, buffer),
    };
    match encoded {
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
        Some(kind) if kind == u64::from(JOINT_SNAPSHOT_KIND) => {
            return decode_joint_snapshot(payload);
        }
        Some(kind) if kind == u64::from(READ_INDEX_REQUEST_KIND) => {
            return decode_tagged(payload).map(Message::ReadIndexRequest);
        }
        Some(kind) if kind == u64::from(READ_INDEX_REPLY_KIND) => {
            return decode_tagged(payload).map(Message::ReadIndexReply);
        }
        Some(kind) if kind == u64::from(INCARNATED_REPLY_KIND) => {
            return decode_incarnated_reply(payload);
        }
        Some(kind) if kind == u64::from(INCARNATED_SNAPSHOT_KIND) => {
            return decode_incarnated_snapshot(payload);
        }
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

/// Decodes a kind written by hand (one tag byte, then the struct): strictly, as every
/// other kind.
fn decode_tagged<T: serde::de::DeserializeOwned + serde::Serialize>(
    payload: &[u8],
) -> Result<T, WireError> {
    let malformed = |error: postcard::Error| WireError::Malformed {
        detail: alloc::format!("{error}"),
    };
    let body = payload.get(1..).unwrap_or_default();
    let (value, rest): (T, &[u8]) = postcard::take_from_bytes(body).map_err(malformed)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes { count: rest.len() });
    }
    if postcard::experimental::serialized_size(&value).map_err(malformed)? != body.len() {
        return Err(WireError::NonCanonical);
    }
    Ok(value)
}

/// Decodes kind 11 (the tag is one byte): strictly, as every other kind.
fn decode_joint_snapshot(payload: &[u8]) -> Result<Message, WireError> {
    let malformed = |error: postcard::Error| WireError::Malformed {
        detail: alloc::format!("{error}"),
    };
    let body = payload.get(1..).unwrap_or_default();
    let (chunk, rest): (JointSnapshotChunk, &[u8]) =
        postcard::take_from_bytes(body).map_err(malformed)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes { count: rest.len() });
    }
    let canonical = postcard::experimental::serialized_size(&chunk).map_err(malformed)?;
    if canonical != body.len() {
        return Err(WireError::NonCanonical);
    }
    chunk.into_message().ok_or(WireError::Malformed {
        detail: alloc::string::String::from(
            "joint snapshot configuration not canonical (unsorted, overlapping or not joint)",
        ),
    })
}

/// Decodes kind 14: the incarnation (canonical varint, not 0), then exactly one reply
/// of incarnation 0's kinds.
fn decode_incarnated_reply(payload: &[u8]) -> Result<Message, WireError> {
    let body = payload.get(1..).unwrap_or_default();
    let (incarnation, rest): (u64, &[u8]) =
        postcard::take_from_bytes(body).map_err(|error| WireError::Malformed {
            detail: alloc::format!("{error}"),
        })?;
    let varint_bytes = body.len() - rest.len();
    let canonical = postcard::experimental::serialized_size(&incarnation)
        .is_ok_and(|size| size == varint_bytes);
    if !canonical {
        return Err(WireError::NonCanonical);
    }
    if incarnation == 0 {
        // Incarnation 0 is carried by the reply's own kind.
        return Err(WireError::NonCanonical);
    }
    // Checked before decoding, so a forged frame cannot nest kind 14 in itself.
    if !matches!(peek_varint(rest), Some(1 | 3 | 5 | 8 | 10)) {
        return Err(WireError::Malformed {
            detail: alloc::string::String::from(
                "kind 14 must carry one reply (kind 1, 3, 5, 8 or 10)",
            ),
        });
    }
    let mut message = decode_message(rest)?;
    if message.sender_incarnation() != Some(0) {
        return Err(WireError::Malformed {
            detail: alloc::string::String::from(
                "kind 14 must carry one reply (kind 1, 3, 5, 8 or 10)",
            ),
        });
    }
    message.set_sender_incarnation(incarnation);
    Ok(message)
}

/// Decodes kind 15: strictly, and only for a configuration that needs it.
fn decode_incarnated_snapshot(payload: &[u8]) -> Result<Message, WireError> {
    let chunk: IncarnatedSnapshotChunk = decode_tagged(payload)?;
    let membership = Membership::decode(&chunk.membership).ok_or(WireError::Malformed {
        detail: alloc::string::String::from("kind 15 configuration does not decode"),
    })?;
    if !names_incarnations(&membership) {
        return Err(WireError::NonCanonical);
    }
    Ok(Message::InstallSnapshot(Box::new(InstallSnapshot {
        term: chunk.term,
        leader: chunk.leader,
        last_included_index: chunk.last_included_index,
        last_included_term: chunk.last_included_term,
        membership,
        offset: chunk.offset,
        data: chunk.data,
        done: chunk.done,
    })))
}
