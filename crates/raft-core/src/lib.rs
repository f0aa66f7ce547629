//! The deterministic, I/O-free core of [raft-io]: the Raft consensus protocol as a pure
//! state machine.
//!
//! A [`RaftNode`] takes [`Event`]s (logical ticks, peer [`Message`]s, client proposals)
//! through [`RaftNode::step`] and returns [`Action`]s (messages to send, committed
//! commands to apply). It has no clock, no threads and no I/O: storage comes in through
//! the [`RaftLog`] trait and the caller moves messages however it likes, so a whole
//! cluster replays bit for bit from its seeds and event order.
//!
//! ```
//! use raft_core::{Action, Event, RaftConfig, RaftNode};
//!
//! let mut node = RaftNode::new(RaftConfig::single(1));
//! while !node.is_leader() {
//!     node.step(Event::Tick).unwrap();
//! }
//! let actions = node.step(Event::Propose(b"set x = 1".to_vec())).unwrap();
//! assert!(matches!(actions[0], Action::Apply { index: 1, .. }));
//! ```
//!
//! # The driver loop
//! 1. Call `step` with the next event: a tick from your timer, a message from the
//!    network, a proposal from a client.
//! 2. Carry out the returned actions in order: [`Action::Send`] through your transport,
//!    [`Action::Apply`] to your state machine. Anything a message depends on is already
//!    durable in the log when `step` returns (one `sync` per step at most).
//!
//! # Features
//! - `std` (default): `std::error::Error` and [`RaftConfig::with_random_seed`]. Without
//!   it the crate is `#![no_std]` and needs only `alloc`.
//! - `serde`: `Serialize`/`Deserialize` for messages, entries and states.
//!
//! [raft-io]: https://docs.rs/raft-io

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, unused_results)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod config;
mod error;
mod event;
mod log;
mod membership;
mod memory_log;
mod message;
mod node;
mod progress;
mod rng;
mod transport;
mod types;

pub use bytes::Bytes;
pub use config::RaftConfig;
pub use error::{Error, Result};
pub use event::{Action, Event};
pub use log::RaftLog;
pub use membership::{Membership, MembershipChange};
pub use memory_log::MemoryLog;
pub use message::{
    AppendEntries, AppendEntriesReply, InstallSnapshot, InstallSnapshotReply, Message, PreVote,
    PreVoteReply, ReadConfirm, ReadConfirmReply, RequestVote, RequestVoteReply, TimeoutNow,
};
pub use node::RaftNode;
pub use transport::{MemoryTransport, RaftTransport};
pub use types::{EntryKind, HardState, Index, LogEntry, NodeId, Role, Snapshot, Term};
