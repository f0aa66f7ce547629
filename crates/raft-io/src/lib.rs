//! raft-io: a deterministic, embeddable Raft consensus library.
//!
//! The protocol core is a state machine: feed a [`RaftNode`] [`Event`]s (logical
//! ticks, peer [`Message`]s, client proposals) and carry out the [`Action`]s it returns
//! (send these messages, apply these committed commands). There is no clock and no I/O
//! inside, so a whole cluster replays from a seed. Storage and networking plug in
//! through the [`RaftLog`] and [`RaftTransport`] traits.
//!
//! ```
//! use raft_io::{Action, Event, RaftConfig, RaftNode};
//!
//! // One node, no peers: it reaches quorum (itself) the moment it times out.
//! let mut node = RaftNode::new(RaftConfig::single(1));
//!
//! // Drive logical ticks until the node becomes leader.
//! while !node.is_leader() {
//!     let _ = node.step(Event::Tick).expect("tick never fails in memory");
//! }
//! assert_eq!(node.leader(), Some(1));
//!
//! // A leader commits its own proposals immediately (quorum of one).
//! let actions = node.step(Event::Propose(b"set x = 1".to_vec())).unwrap();
//! assert!(actions.iter().any(|a| matches!(a, Action::Apply { .. })));
//! assert_eq!(node.commit_index(), 1);
//! ```
//!
//! # Three tiers
//! 1. [`RaftNode::new`] with [`RaftConfig::single`] or [`RaftConfig::new`] and the
//!    default in-memory [`MemoryLog`]: no generic to name.
//! 2. [`RaftConfig`]'s `with_*` methods tune timing, pre-vote, check-quorum and flow
//!    control; [`RaftConfig::validate`] / [`RaftNode::try_new`] report bad values.
//! 3. Implement [`RaftLog`] for a durable store and drive [`RaftTransport`] (or any
//!    network) from [`Action::Send`]; build the node with [`RaftNode::with_log`].
//!
//! # Features
//! - `std` (default): `std::error::Error` for [`Error`] and
//!   [`RaftConfig::with_random_seed`].
//! - `serde`: `Serialize` / `Deserialize` for messages, entries and states.
//! - `persistence`: [`WalLog`], a durable [`RaftLog`] in a directory of checksummed
//!   segments (crate raft-wal), and its [`WalOptions`] and [`WalError`].
//! - `framing`: the [`framing`] module, the frozen wire codec (frames with a magic,
//!   version, length and CRC-32 around each message; a streaming decoder).
//! - `tcp`: the [`tcp`] module, a [`RaftTransport`] over TCP on std threads (with
//!   `framing`): bounded queues, reconnects, a handshake that binds each connection
//!   to its cluster and node.
//! - `tls`: mutual TLS 1.3 for the `tcp` transport (rustls), node identity proven by
//!   certificate.
//!
//! docs/API.md in the repository lists the whole surface and where it departs from
//! raft-io 0.8.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, unused_results)]

pub use raft_core::*;

#[cfg(feature = "persistence")]
#[doc(inline)]
pub use raft_wal::{Claim, DirOwner, WalError, WalLog, WalOptions};

/// The frozen wire codec (crate `raft-wire`): [`framing::encode`] /
/// [`framing::decode`] one framed message, [`framing::FrameDecoder`] for a byte stream.
///
/// ```
/// use raft_io::{Message, TimeoutNow, framing};
/// let message = Message::TimeoutNow(TimeoutNow { term: 2, leader: 1 });
/// let frame = framing::encode(&message)?;
/// assert_eq!(framing::decode(&frame)?, message);
/// # Ok::<(), framing::WireError>(())
/// ```
#[cfg(feature = "framing")]
pub mod framing {
    #[doc(inline)]
    pub use raft_wire::*;
}

#[cfg(feature = "tcp")]
pub mod tcp;

/// The everyday surface, for `use raft_io::prelude::*;`.
pub mod prelude {
    #[doc(no_inline)]
    pub use raft_core::{
        Action, Bytes, Error, Event, Index, MemoryLog, Message, NodeId, RaftConfig, RaftLog,
        RaftNode, RaftTransport, Result, Role, Term,
    };

    #[cfg(feature = "persistence")]
    #[doc(no_inline)]
    pub use raft_wal::WalLog;
}

/// The README's examples, compiled and run as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
