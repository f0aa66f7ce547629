//! A follower whose data directory is wiped, or whose `vote` file is damaged
//! (docs/RECOVERY.md, rule 2), across processes: restarted the usual way (no `--init`), it comes back as a new
//! incarnation. It cannot help elect a leader before the cluster has named it (it may
//! have voted, as the node it was, in terms it no longer remembers): with the leader
//! down, it and the third node elect nobody. Once the old leader is back, the leader
//! names the new incarnation, catches it up and promotes it back with no operator
//! action, and it then holds every acknowledged write.

mod support;

use std::time::{Duration, Instant};

use raft_kv::local::LocalCluster;
use support::{exe, put, put_all, read_all, wait_for};

/// Waits until a leader's configuration names `id` as `incarnation` and every one of
/// nodes 1-3 is a voter again (the leader promoted it back).
fn wait_named_and_promoted(cluster: &LocalCluster, id: u64, incarnation: u64) {
    wait_for(
        "the node to be a voter again",
        Duration::from_secs(30),
        || {
            cluster.leader().is_some_and(|(leader, _)| {
                cluster.status(leader).is_some_and(|status| {
                    status.incarnations == [(id, incarnation)]
                        && status.voters == [1, 2, 3]
                        && status.learners.is_empty()
                })
            })
        },
    );
}

/// The incarnation `id` reports, once its client port answers (it logs what it is
/// before it binds the port).
fn incarnation_of(cluster: &LocalCluster, id: u64) -> u64 {
    let mut found = None;
    wait_for("the node to answer", Duration::from_secs(10), || {
        found = cluster.status(id).map(|status| status.incarnation);
        found.is_some()
    });
    found.expect("checked")
}

/// Three running voters holding `count` acknowledged writes `v0..` (values
/// `prefix{i}`), converged: the cluster, a client and the leader.
fn settled(count: usize, prefix: &'static str) -> (LocalCluster, raft_kv::client::Client, u64) {
    let mut cluster = LocalCluster::new(exe(), 3, None).unwrap();
    for id in 1..=3 {
        cluster.start(id).unwrap();
    }
    let mut client = cluster.client();
    put_all(&mut client, count, |i| format!("{prefix}{i}"));
    let _ = cluster.wait_converged(Duration::from_secs(20)).unwrap();
    let (leader, _) = cluster.leader().expect("a leader");
    (cluster, client, leader)
}

#[test]
fn a_follower_with_a_wiped_directory_rejoins_as_a_new_incarnation() {
    let (mut cluster, mut client, leader) = settled(30, "v");
    let wiped = [1, 2, 3].into_iter().find(|&id| id != leader).unwrap();
    let other = [1, 2, 3]
        .into_iter()
        .find(|&id| id != leader && id != wiped)
        .unwrap();
    cluster.kill(wiped);
    std::fs::remove_dir_all(cluster.dir().join(format!("node-{wiped}"))).unwrap();
    cluster.kill(leader);

    // Restarted the usual way: it runs, as a new incarnation, and says so.
    cluster.start(wiped).unwrap();
    wait_for(
        "the wiped node to say what it is",
        Duration::from_secs(10),
        || cluster.output_of(wiped).contains("new incarnation"),
    );
    assert!(
        cluster.exit_status(wiped).is_none(),
        "the wiped node exited"
    );
    // It and the third node are two of three voters, but its vote counts for nothing:
    // no leader for many election timeouts.
    let quiet_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < quiet_until {
        assert_eq!(cluster.leader(), None, "a leader elected with a lost vote");
        std::thread::sleep(Duration::from_millis(50));
    }

    let incarnation = incarnation_of(&cluster, wiped);
    assert_ne!(incarnation, 0);

    // The old leader comes back: a leader is elected, names the new incarnation,
    // catches it up and promotes it back, with no operator action.
    cluster.start(leader).unwrap();
    wait_named_and_promoted(&cluster, wiped, incarnation);
    let _ = cluster.wait_converged(Duration::from_secs(20)).unwrap();
    put(&mut client, "after", "wipe");
    // With the third node down, the new incarnation is in every quorum: it holds every
    // write.
    cluster.kill(other);
    read_all(&mut client, 30, |i| format!("v{i}"));
}

// A follower whose `vote` file is damaged cannot say in which terms it voted: its
// directory is set aside (kept, not deleted) and it starts as a new incarnation, which
// the leader names and promotes back, with no operator action.
#[test]
fn a_follower_whose_vote_file_is_damaged_rejoins_as_a_new_incarnation() {
    let (mut cluster, mut client, leader) = settled(20, "d");
    let damaged = [1, 2, 3].into_iter().find(|&id| id != leader).unwrap();
    cluster.kill(damaged);
    let dir = cluster.dir().join(format!("node-{damaged}"));
    let vote = dir.join("vote");
    let mut bytes = std::fs::read(&vote).unwrap();
    bytes[10] ^= 0x04;
    std::fs::write(&vote, &bytes).unwrap();

    cluster.start(damaged).unwrap();
    wait_for(
        "the node to start as a new incarnation",
        Duration::from_secs(10),
        || {
            cluster
                .output_of(damaged)
                .contains("starting as a new incarnation")
        },
    );
    let output = cluster.output_of(damaged);
    assert!(output.contains("term and vote file is damaged"), "{output}");
    let aside: Vec<_> = std::fs::read_dir(cluster.dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("node-{damaged}.lost-"))
        })
        .collect();
    assert_eq!(aside.len(), 1, "the refused directory is kept");
    let incarnation = incarnation_of(&cluster, damaged);
    assert_ne!(incarnation, 0);
    wait_named_and_promoted(&cluster, damaged, incarnation);
    let _ = cluster.wait_converged(Duration::from_secs(20)).unwrap();
    // With another node down, the new incarnation is in every quorum.
    let other = [1, 2, 3].into_iter().find(|&id| id != damaged).unwrap();
    cluster.kill(other);
    read_all(&mut client, 20, |i| format!("d{i}"));
}
