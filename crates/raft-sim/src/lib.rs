//! raft-sim: the deterministic cluster simulator that tries to break raft-io.
//!
//! One thread, a virtual clock, an event queue ordered by (time, sequence) and a pinned
//! PRNG: a seed replays bit for bit. Each run starts a 3- or 5-node cluster, drives a
//! replicated key-value store from a few clients, injects faults drawn from the seed
//! (loss, duplication, delay and reordering, partitions of every shape, crashes that
//! lose unsynced writes or keep a torn prefix of them, disk errors that fail a sync,
//! clock skew, leadership transfers, membership churn, snapshots), and checks after
//! every event: Election Safety, Leader Append-Only, Log Matching (a spot check per
//! step, in full at the end), Leader Completeness, State Machine Safety, terms never
//! decreasing, one durable vote per term, applied <= commit. Every message goes through
//! the raft-wire codec; one seed in five stores its nodes' logs in real `WalLog`s, which
//! are reopened (and so recovered) at every restart. When the faults heal, a leader must emerge and every replica
//! converge; the client history must be linearizable.
//!
//! ```
//! use raft_sim::{Profile, SimConfig, run_seed};
//! let stats = run_seed(7, SimConfig::for_seed(7, Profile::All)).expect("seed 7 is safe");
//! assert!(stats.operations > 0);
//! ```
//!
//! `cargo xtask sim --seeds N` runs many seeds; `cargo xtask repro --seed S` prints one
//! run's trace. With feature `mutants`, `--mutant NAME` runs with one classic protocol
//! bug switched on and `raft-sim mutants` shows the checker catches every one
//! ([`mutants::find_failing_seed`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::unwrap_used, unused_results)]

mod config;
mod kv;
mod linearizability;
mod log;
#[cfg(feature = "mutants")]
pub mod mutants;
mod schedule;
mod shrink;
mod sim;
mod timeline;
mod trace;

pub use config::{Faults, Profile, SimConfig, TIME_PER_TICK};
pub use kv::{Command, Key, Kv, Op, Outcome, Value};
pub use linearizability::{Recorded, check as check_linearizability};
pub use log::{SimLog, SimStorage};
/// The simulator's PRNG: raft-core's pinned SplitMix64, so a seed printed today replays
/// identically later.
pub type SimRng = raft_core::testing::SplitMix64;
pub use schedule::Schedule;
pub use shrink::{Shrunk, shrink};
pub use sim::{RunStats, Simulation, Violation, record_seed, run_seed, trace_seed};
pub use timeline::timeline_html;
pub use trace::{Fate, Timed, TraceEvent};
