//! Fuzz target: see `message_decode` in crates/raft-wire/tests/support/checks.rs, which the
//! stable test suite also runs over the checked-in corpus.
#![no_main]

#[path = "../../crates/raft-wire/tests/support/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::message_decode(data));
