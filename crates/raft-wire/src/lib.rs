//! The frozen wire format of [raft-io] messages: each [`Message`] is encoded with
//! postcard and wrapped in a frame that carries a magic, a format version, the payload
//! length and a CRC-32, so a receiver can check it before decoding and refuse it
//! before allocating.
//!
//! ```
//! use raft_core::{AppendEntries, LogEntry, Message};
//!
//! let message = Message::AppendEntries(AppendEntries {
//!     term: 3,
//!     leader: 1,
//!     prev_log_index: 9,
//!     prev_log_term: 2,
//!     entries: vec![LogEntry::new(3, 10, b"set x = 1".to_vec())],
//!     leader_commit: 9,
//! });
//! let frame = raft_wire::encode(&message)?;
//! assert_eq!(&frame[..2], b"RW");
//! assert_eq!(raft_wire::decode(&frame)?, message);
//! # Ok::<(), raft_wire::WireError>(())
//! ```
//!
//! docs/PROTOCOL.md in the repository gives every byte and the compatibility rules:
//! message kinds and fields are never reordered; new kinds are appended.
//!
//! [raft-io]: https://docs.rs/raft-io

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, unused_results)]

extern crate alloc;

mod error;
mod frame;
mod message;
mod stream;

pub use error::WireError;
pub use frame::{
    FORMAT_VERSION, FrameLimits, HEADER_BYTES, MAGIC, decode, decode_with_limits, encode,
    encode_frame_into,
};
pub use message::{
    MESSAGE_KINDS, decode_message, encode_message, encode_message_into, message_kind,
};
pub use raft_core::Message;
pub use stream::FrameDecoder;
