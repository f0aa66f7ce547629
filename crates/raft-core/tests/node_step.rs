//! The `node_step` fuzz target's checks on stable Rust: every input of the checked-in
//! corpus (fuzz/corpus/node_step/), then seeded random inputs, each building a node in
//! some role and stepping hostile and ordinary events through it (see
//! support/node_step.rs for what is checked after every step).

#[path = "support/node_step.rs"]
mod node_step;

use std::path::PathBuf;

use raft_core::testing::SplitMix64;

fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/node_step");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus for node_step");
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("corpus file");
            (path, bytes)
        })
        .collect()
}

// Every input fuzzing kept passes the target's checks.
#[test]
fn node_step_corpus_replays_clean() {
    for (path, bytes) in corpus() {
        let outcome = std::panic::catch_unwind(|| node_step::node_step(&bytes));
        assert!(outcome.is_ok(), "node_step: {} fails", path.display());
    }
}

// Seeded random inputs of every length up to 2 KiB pass the checks: the part of the
// fuzzer's work that runs on stable Rust in every test run.
#[test]
fn node_step_random_inputs_hold_the_checks() {
    // The pinned generator, so the inputs are the same on every run and platform.
    let mut rng = SplitMix64::new(0x6e6f_6465_5f73_7465);
    for case in 0..3_000 {
        let length = rng.below(2048) as usize;
        let input: Vec<u8> = (0..length).map(|_| rng.next_u64() as u8).collect();
        let outcome = std::panic::catch_unwind(|| node_step::node_step(&input));
        assert!(outcome.is_ok(), "case {case} ({length} bytes) fails");
    }
}
