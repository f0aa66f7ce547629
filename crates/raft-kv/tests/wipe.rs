//! A follower whose data directory is wiped (docs/RECOVERY.md, rule 2), across
//! processes: restarted as it was, it is refused before it runs, so it never votes or
//! acknowledges as the node it was (it may have voted in terms it no longer remembers);
//! the other two keep serving every acknowledged write. The documented way back, a new
//! identity, then works: the wiped node is removed and a new node added and promoted.

mod support;

use std::time::{Duration, Instant};

use raft_kv::local::LocalCluster;
use raft_kv::protocol::Request;
use support::{exe, put, put_all, read_all, until_done, wait_for};

#[test]
fn a_follower_with_a_wiped_directory_does_not_rejoin_as_itself() {
    // Voters 1-3; node 4 is the new identity the wiped node comes back as.
    let mut cluster = LocalCluster::new(exe(), 4, None).unwrap();
    cluster.voters = vec![1, 2, 3];
    for id in 1..=3 {
        cluster.start(id).unwrap();
    }
    let mut client = cluster.client();
    put_all(&mut client, 30, |i| format!("v{i}"));
    let _ = cluster.wait_converged(Duration::from_secs(20)).unwrap();
    let (leader, term) = cluster.leader().expect("a leader");
    let follower = [1, 2, 3].into_iter().find(|&id| id != leader).unwrap();
    cluster.kill(follower);
    std::fs::remove_dir_all(cluster.dir().join(format!("node-{follower}"))).unwrap();

    // Restarted the way it always is: refused, and it exits.
    cluster.start(follower).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = cluster.exit_status(follower) {
            break status;
        }
        assert!(Instant::now() < deadline, "the wiped node kept running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "{status}");
    let output = cluster.output_of(follower);
    assert!(output.contains("holds no log"), "{output}");
    assert!(output.contains("under a new id"), "{output}");
    assert!(
        !cluster.dir().join(format!("node-{follower}")).exists(),
        "nothing was created in its place"
    );

    // The two others still serve every write, and take new ones; the leader and its
    // term did not move (the wiped node never asked for a vote).
    read_all(&mut client, 30, |i| format!("v{i}"));
    put(&mut client, "after", "wipe");
    assert_eq!(cluster.leader(), Some((leader, term)));

    // The way back: the wiped node is removed, and comes back as node 4 (a new
    // directory, `--init`, a learner), promoted once it has caught up.
    let mut admin = cluster.client();
    until_done(&mut admin, &Request::Remove { id: follower });
    cluster.start(4).unwrap();
    let member = cluster.members()[&4];
    until_done(
        &mut admin,
        &Request::AddLearner {
            id: 4,
            raft: member.raft.to_string(),
            client: member.client.to_string(),
        },
    );
    until_done(&mut admin, &Request::Promote { id: 4 });
    let mut voters: Vec<u64> = [1, 2, 3, 4]
        .into_iter()
        .filter(|&id| id != follower)
        .collect();
    voters.sort_unstable();
    wait_for("node 4 to be a voter", Duration::from_secs(30), || {
        cluster
            .status(leader)
            .is_some_and(|status| status.voters == voters)
    });
    // With the old leader's partner down, node 4 is part of every quorum: it holds
    // every write.
    let other = voters
        .iter()
        .copied()
        .find(|&id| id != leader && id != 4)
        .unwrap();
    cluster.kill(other);
    read_all(&mut client, 30, |i| format!("v{i}"));
}
