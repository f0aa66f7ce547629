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
//!    [`Action::Apply`] to your state machine, [`Action::RestoreSnapshot`] by replacing
//!    it, [`Action::ReadReady`] by answering the read once your state machine has
//!    applied its index. Anything a message depends on is already durable in the log
//!    when `step` returns (one `sync` per step at most). With
//!    [`RaftConfig::with_deferred_leader_sync`] a leader may also return
//!    [`Action::SyncLog`] after its AppendEntries: send them, then step
//!    [`Event::SyncLog`].
//!
//! Ticks are logical: call `Event::Tick` on a timer (say every 10 ms); election
//! timeouts and heartbeats are counted in ticks ([`RaftConfig::with_election_timeout`],
//! [`RaftConfig::with_heartbeat_interval`]).
//!
//! # A cluster in one function
//! Three nodes, messages carried by hand: the same loop a real driver runs over a
//! network.
//!
//! ```
//! use std::collections::VecDeque;
//! use raft_core::{Action, Event, Message, NodeId, RaftConfig, RaftNode};
//!
//! let mut nodes: Vec<RaftNode> =
//!     (1..=3).map(|id| RaftNode::new(RaftConfig::new(id, [1, 2, 3]))).collect();
//! let mut network: VecDeque<(NodeId, Message)> = VecDeque::new();
//! let mut applied = vec![Vec::new(); 3];
//! let mut run = |nodes: &mut Vec<RaftNode>, id: NodeId, event: Event, net: &mut VecDeque<_>| {
//!     for action in nodes[id as usize - 1].step(event).unwrap_or_default() {
//!         match action {
//!             Action::Send { to, message } => net.push_back((to, message)),
//!             Action::Apply { command, .. } => applied[id as usize - 1].push(command),
//!             _ => {}
//!         }
//!     }
//! };
//! for _ in 0..100 {
//!     for id in 1..=3 {
//!         run(&mut nodes, id, Event::Tick, &mut network);
//!     }
//!     while let Some((to, message)) = network.pop_front() {
//!         run(&mut nodes, to, Event::Message(message), &mut network);
//!     }
//! }
//! let leader = nodes.iter().position(|n| n.is_leader()).unwrap() as NodeId + 1;
//! run(&mut nodes, leader, Event::Propose(b"x = 1".to_vec()), &mut network);
//! while let Some((to, message)) = network.pop_front() {
//!     run(&mut nodes, to, Event::Message(message), &mut network);
//! }
//! assert!(applied.iter().all(|list| list.len() == 1));
//! ```
//!
//! # Restarting
//! Build the node over the same log with [`RaftNode::with_log`]: term, vote, commit
//! index, configuration and snapshot come back. Committed entries are applied again
//! (after a [`Action::RestoreSnapshot`] if the log holds a snapshot) unless the state
//! machine is durable itself and says how far it got with
//! [`RaftConfig::with_applied_index`].
//!
//! # Linearizable reads
//! [`Event::ReadIndex`] on the leader answers with [`Action::ReadReady`] once a quorum
//! confirmed it still leads (or at once with [`RaftConfig::with_lease_reads`] and a
//! fresh lease): read your state machine when it has applied `index`.
//!
//! ```
//! use raft_core::{Action, Bytes, Event, RaftConfig, RaftNode};
//! let mut node = RaftNode::new(RaftConfig::single(1));
//! while !node.is_leader() {
//!     node.step(Event::Tick).unwrap();
//! }
//! let actions = node.step(Event::ReadIndex(Bytes::from_static(b"request 7"))).unwrap();
//! assert!(matches!(&actions[..], [Action::ReadReady { index: 0, .. }]));
//! ```
//!
//! # Membership changes and snapshots
//! One server at a time: [`Event::ChangeMembership`] with a [`MembershipChange`] (add a
//! learner, let it catch up, promote it; remove a member). The change takes effect when
//! appended; [`Action::MembershipChanged`] reports it. When your state machine is large
//! enough, capture it and hand it over with [`Event::Snapshot`]: the log forgets what it
//! covers, and followers that need those entries get the snapshot instead.
//!
//! ```
//! use raft_core::{Action, Bytes, Event, MembershipChange, RaftConfig, RaftNode};
//! let mut node = RaftNode::new(RaftConfig::single(1));
//! while !node.is_leader() {
//!     node.step(Event::Tick).unwrap();
//! }
//! let actions = node.step(Event::ChangeMembership(MembershipChange::AddLearner(2))).unwrap();
//! assert!(actions.iter().any(|a| matches!(a, Action::MembershipChanged { .. })));
//! node.step(Event::Propose(b"x = 1".to_vec())).unwrap();
//! let applied = node.last_applied();
//! node.step(Event::Snapshot { index: applied, data: Bytes::from_static(b"{x: 1}") }).unwrap();
//! ```
//!
//! # Bad input
//! Every message is checked before it touches any state, and a refused one returns an
//! ordinary error ([`Error::InvalidMessage`], [`Error::UnknownNode`]) that the driver
//! logs and moves past: terms past [`TERM_MAX`] or more than [`TERM_ADVANCE_MAX`] ahead,
//! indexes past [`INDEX_MAX`], replies acknowledging what this leader never sent, read
//! confirmations for rounds it never started. Proposals larger than
//! [`RaftConfig::with_entry_bytes_max`] and queues past their `_max` are refused with
//! [`Error::EntryTooLarge`] and [`Error::LimitExceeded`]. No message panics a node; the
//! `node_step` fuzz target checks it. (A peer that sends well-formed lies under another
//! node's id is a matter for authentication at the transport.)
//!
//! ```
//! use raft_core::{Error, Event, Message, RaftConfig, RaftNode, RequestVote};
//! let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]));
//! let forged = RequestVote {
//!     term: u64::MAX - 1,
//!     candidate: 2,
//!     last_log_index: 0,
//!     last_log_term: 0,
//!     force: true,
//! };
//! let refused = node.step(Event::Message(Message::RequestVote(forged)));
//! assert!(matches!(refused, Err(Error::InvalidMessage { .. })));
//! assert_eq!(node.term(), 0);
//! ```
//!
//! # Features
//! - `std` (default): `std::error::Error` and [`RaftConfig::with_random_seed`]. Without
//!   it the crate is `#![no_std]` and needs only `alloc`.
//! - `serde`: `Serialize`/`Deserialize` for messages, entries and states.
//! - `tracing`: a span per step (node, term, role) and events through the `tracing`
//!   crate: info for role and term changes, leadership transfers, membership changes
//!   and snapshots installed; debug for every message handled. Compiled out without it.
//! - `mutants`: [`RaftConfig::with_mutant`] switches on one classic protocol bug, for
//!   proving a simulation's checker (raft-sim's `--mutant`). Never for real nodes.
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

mod arena;
mod config;
mod config_change;
mod config_log;
mod error;
mod event;
mod inflights;
mod instrument;
mod log;
mod membership;
mod memory_log;
mod message;
mod mutants;
mod node;
mod progress;
mod quorum;
mod read_only;
mod rng;
mod snapshot_receiver;
mod status;
mod sync_state;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod timers;
mod transport;
mod types;
mod uncommitted;

pub use bytes::Bytes;
pub use config::RaftConfig;
pub use config_change::ConfigChange;
pub use error::{Error, Result, StorageErrorKind, StorageSource};
pub use event::{Action, Event};
pub use log::RaftLog;
pub use membership::{Membership, MembershipChange};
pub use memory_log::MemoryLog;
pub use message::{
    AppendEntries, AppendEntriesReply, InstallSnapshot, InstallSnapshotReply, Message, PreVote,
    PreVoteReply, ReadConfirm, ReadConfirmReply, ReadIndexReply, ReadIndexRequest, RequestVote,
    RequestVoteReply, TimeoutNow,
};
#[cfg(feature = "mutants")]
#[cfg_attr(docsrs, doc(cfg(feature = "mutants")))]
pub use mutants::Mutant;
pub use node::RaftNode;
pub use status::{PeerReplication, PeerStatus, Status};
pub use transport::{MemoryTransport, RaftTransport};
pub use types::{
    EntryKind, HardState, INDEX_MAX, Incarnation, Index, LogEntry, NodeId, RepairMark, Role,
    Snapshot, TERM_ADVANCE_MAX, TERM_MAX, Term,
};
