//! The kitchen-sink suite in the test runner: seeds under every fault profile, the
//! replay guarantee, and pinned seeds. `cargo xtask sim --seeds N` explores many more
//! in release mode.

use raft_sim::{Profile, SimConfig, run_seed, trace_seed};

// Every profile, a spread of seeds (3- and 5-node clusters): every safety property
// after every event, convergence after healing, linearizable client histories.
#[test]
fn seeds_under_every_profile_are_safe_live_and_linearizable() {
    let seeds: u64 = std::env::var("RAFT_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    for profile in [
        Profile::None,
        Profile::Network,
        Profile::Partitions,
        Profile::Crashes,
        Profile::All,
    ] {
        for seed in 0..seeds {
            let stats = run_seed(seed, SimConfig::for_seed(seed, profile))
                .unwrap_or_else(|violation| panic!("{violation}"));
            assert!(
                stats.operations > 0,
                "seed {seed} ({profile}) completed no client operation"
            );
            assert!(stats.commit_index > 0);
        }
    }
}

// Seeds pinned for their fault density (many crashes and partitions, leader changes),
// and every seed that ever failed:
// - 4461, 10756 (all faults): after membership churn a node with a stale configuration
//   refused to answer vote requests from a node outside it, deadlocking elections
//   (fixed: requests are answered whoever asks; only replies are filtered).
// - 9 (snapshots, on WalLog): a compacted WalLog still claimed term 0 at index 0, so
//   the leader looped sending empty appends from index 1 until memory ran out.
// - 135443 (all faults): a node restarting from snapshot 40 installed the leader's
//   snapshot 120 in its first step and reported the restores in the wrong order,
//   reverting its state machine (reads returned a long-overwritten value).
// - 503923, 507337, 508713, 521087, 525496 (all faults), 600770 (crashes): a disk error
//   in a step that adopted a new term and appended its entries kept the entries but
//   not the term, and the node refused to restart (the term is now written first).
// Each runs both with and without deferred leader sync (the seeds were pinned before
// that option existed; `for_seed` turns it on for odd seeds).
#[test]
fn pinned_seeds() {
    let run = |seed: u64, profile: Profile| {
        for deferred_sync in [false, true] {
            let config = SimConfig {
                deferred_sync,
                ..SimConfig::for_seed(seed, profile)
            };
            if let Err(violation) = run_seed(seed, config) {
                panic!("deferred sync {deferred_sync}: {violation}");
            }
        }
    };
    for seed in [
        3, 97, 991, 1337, 4242, 4461, 10_756, 65_537, 135_443, 503_923, 507_337, 508_713, 521_087,
        525_496,
    ] {
        run(seed, Profile::All);
    }
    for seed in [9, 19, 29] {
        run(seed, Profile::Snapshots);
    }
    run(600_770, Profile::Crashes);
}

// Damaged disks: every seed here damages a disk (synced entries lost on a crash); each
// damaged node is repaired by a leader and the run converges with no violation.
#[test]
fn damaged_disks_are_repaired_from_the_peers() {
    let (mut damages, mut repairs) = (0, 0);
    for seed in 0..40 {
        let stats = run_seed(seed, SimConfig::for_seed(seed, Profile::Disk))
            .unwrap_or_else(|violation| panic!("{violation}"));
        damages += stats.disk_damages;
        repairs += stats.repairs;
    }
    assert!(damages >= 10, "only {damages} damaged disks in 40 seeds");
    assert!(
        repairs >= damages * 3 / 4,
        "{repairs} repairs for {damages} damaged disks"
    );
}

// A seed replays bit for bit: the same trace twice, a different one for another seed.
#[test]
fn traces_replay_identically() {
    let config = SimConfig::for_seed(11, Profile::All);
    let (first, result) = trace_seed(11, config);
    assert!(result.is_ok());
    let (second, _) = trace_seed(11, config);
    assert_eq!(first, second);
    assert!(first.lines().count() > 1000);
    let (other, _) = trace_seed(12, SimConfig::for_seed(12, Profile::All));
    assert_ne!(first, other);
}

// Faults really happen in the kitchen-sink profile (the suite is not vacuous).
#[test]
fn the_all_profile_injects_every_fault() {
    let (trace, _) = trace_seed(3, SimConfig::for_seed(3, Profile::All));
    for marker in [
        "crashes (keeps",
        "restarts from its durable log",
        "partition kind",
        "becomes leader",
    ] {
        assert!(
            trace.contains(marker),
            "no {marker:?} in the trace of seed 3"
        );
    }
    let (quiet, _) = trace_seed(3, SimConfig::for_seed(3, Profile::None));
    assert!(!quiet.contains("crashes (keeps") && !quiet.contains("partition kind"));
}
