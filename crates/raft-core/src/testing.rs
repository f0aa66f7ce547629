//! Test support shared by raft-core's own tests, raft-sim and the fuzz targets
//! (feature `testing`): one crash-simulating log, the pinned PRNG, and (feature
//! `arbitrary`) proptest strategies over every message kind.
//!
//! Nothing here is needed to run a node; it exists so that every harness models a
//! crash, draws random numbers and generates hostile messages the same way.

mod crash_log;

#[cfg(feature = "arbitrary")]
pub mod arbitrary;

pub use crate::rng::SplitMix64;
pub use crash_log::CrashLog;
