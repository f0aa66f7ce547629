//! Replays the fuzz corpus (fuzz/corpus/<target>/) through the same checks the fuzz
//! targets run, so the stable test suite exercises every input fuzzing ever kept.

#[path = "support/checks.rs"]
mod checks;

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus for {target}");
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("corpus file");
            (path, bytes)
        })
        .collect()
}

// Every corpus input for each target passes that target's checks.
#[test]
fn corpus_replays_clean() {
    type Check = fn(&[u8]);
    let targets: [(&str, Check); 3] = [
        ("frame_decode", checks::frame_decode),
        ("stream_decode", checks::stream_decode),
        ("message_decode", checks::message_decode),
    ];
    for (target, check) in targets {
        let inputs = corpus(target);
        for (path, bytes) in &inputs {
            let outcome = std::panic::catch_unwind(|| check(bytes));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        }
    }
}
