//! A segmented, crash-safe durable [`RaftLog`](raft_core::RaftLog) for [raft-io]:
//! [`WalLog`].
//!
//! The log lives in one directory: a format marker, a lock file, and segment files of
//! checksummed records. Writes are buffered and made durable by `sync` with a single
//! `fdatasync` (group commit: the node syncs at most once per step). Recovery on open
//! cuts a torn final write and refuses damaged acknowledged data with an error naming
//! the segment and offset. Compaction drops entries below a snapshot index and deletes
//! whole segments.
//!
//! ```
//! use raft_core::{Event, RaftConfig, RaftNode};
//! use raft_wal::WalLog;
//!
//! let dir = std::env::temp_dir().join(format!("raft-wal-lib-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let mut node = RaftNode::with_log(RaftConfig::single(1), WalLog::open(&dir)?);
//! while !node.is_leader() {
//!     node.step(Event::Tick)?;
//! }
//! node.step(Event::Propose(b"x = 1".to_vec()))?;
//! drop(node); // a crash would do the same: everything acknowledged was synced
//!
//! let node = RaftNode::with_log(RaftConfig::single(1), WalLog::open(&dir)?);
//! assert_eq!((node.term(), node.commit_index()), (1, 1));
//! # drop(node);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The on-disk format is documented in docs/PROTOCOL.md.
//!
//! [raft-io]: https://docs.rs/raft-io

#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, unused_results)]

mod dir;
mod error;
mod incarnation_file;
mod mark_file;
mod mmap;
mod owner;
mod record;
mod segment;
mod snapshot_file;
mod state;
mod vote_file;
mod wal;

pub use dir::WAL_FORMAT_VERSION;
pub use error::WalError;
pub use owner::{Claim, DirOwner};
pub use wal::{RepairReport, WalLog, WalOptions};
