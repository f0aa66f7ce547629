//! Fuzz target: see `node_step` in crates/raft-core/tests/support/node_step.rs (a node in
//! some role fed arbitrary events, checked after every step), which the stable test suite
//! also runs over the checked-in corpus.
#![no_main]

#[path = "../../crates/raft-core/tests/support/node_step.rs"]
mod node_step;

libfuzzer_sys::fuzz_target!(|data: &[u8]| node_step::node_step(data));
