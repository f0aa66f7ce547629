//! A damaged disk across processes (docs/RECOVERY.md): a byte flipped in a follower's
//! sealed log segment. The follower restarts, says what it lost, gets it back from the
//! leader, says so, and the cluster converges with every acknowledged write, with no
//! operator action.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use raft_kv::local::LocalCluster;
use support::{exe, put, put_all, read_all, wait_for};

/// The log segments of a data directory, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .collect();
    files.sort();
    files
}

#[test]
fn a_follower_with_a_flipped_byte_in_a_sealed_segment_repairs_itself_from_the_leader() {
    let mut cluster = LocalCluster::new(exe(), 3, None).unwrap();
    cluster.serve_args = vec!["--segment-bytes".into(), "4096".into()];
    cluster.start_all().unwrap();
    let mut client = cluster.client();
    let value = "v".repeat(100);
    put_all(&mut client, 120, |i| format!("{value}{i}"));
    let _ = cluster.wait_converged(Duration::from_secs(20)).unwrap();
    let (leader, _) = cluster.leader().expect("a leader");
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.kill(follower);

    let data = cluster.dir().join(format!("node-{follower}"));
    let files = segments(&data);
    assert!(
        files.len() >= 3,
        "the test needs sealed segments: {files:?}"
    );
    let sealed = &files[files.len() / 2];
    let mut bytes = std::fs::read(sealed).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x04;
    std::fs::write(sealed, &bytes).unwrap();

    cluster.start(follower).unwrap();
    wait_for("the repair to start", Duration::from_secs(10), || {
        cluster
            .output_of(follower)
            .contains("repairing: damaged write-ahead log")
    });
    wait_for("the repair to finish", Duration::from_secs(20), || {
        cluster
            .output_of(follower)
            .contains("repaired: the leader sent back every entry")
    });
    let output = cluster.output_of(follower);
    assert!(output.contains("lost entries"), "{output}");
    assert!(
        std::fs::read_dir(&data)
            .unwrap()
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".damaged")),
        "the damaged segment is kept aside"
    );
    // The cluster takes writes, and every replica converges with all of them.
    put(&mut client, "after", "repair");
    let _ = cluster.wait_converged(Duration::from_secs(20)).unwrap();
    // With one of the other two down, the repaired follower is part of every quorum:
    // every acknowledged write still reads back.
    let others: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != follower)
        .collect();
    cluster.kill(others[0]);
    read_all(&mut client, 120, |i| format!("{value}{i}"));
}
