//! `RaftNode::status()`: the snapshot dashboards and tests read.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use raft_core::{PeerReplication, RaftLog, Role};

// A leader reports every peer's replication; a follower reports none and names the
// leader; a silent peer's "last heard" grows with the leader's ticks.
#[test]
fn status_reports_roles_indexes_and_peers() {
    let mut cluster = Cluster::new(3, 11);
    cluster.elect(1);
    cluster.deliver_all();
    for command in ["a", "b", "c"] {
        let _ = cluster.propose(1, command).unwrap();
        cluster.deliver_all();
    }
    let leader = cluster.node(1).status();
    let last_index = cluster.node(1).log().last_index();
    assert_eq!(leader.role, Role::Leader);
    assert_eq!(leader.leader, Some(1));
    assert_eq!(
        (leader.commit_index, leader.last_applied, leader.last_index),
        (last_index, last_index, last_index)
    );
    assert_eq!(leader.membership.voters(), [1, 2, 3]);
    assert_eq!(leader.config_index, 0, "the initial configuration");
    let ids: Vec<u64> = leader.peers.iter().map(|peer| peer.id).collect();
    assert_eq!(ids, [2, 3]);
    for peer in &leader.peers {
        assert!(peer.voter);
        assert_eq!(peer.match_index, last_index);
        assert_eq!(peer.next_index, last_index + 1);
        assert_eq!(peer.replication, PeerReplication::Replicate);
        assert_eq!(peer.appends_in_flight, 0);
        assert_eq!(peer.heard_ticks_ago, Some(0));
    }
    assert_eq!((leader.pending_reads, leader.transfer_target), (0, None));

    let follower = cluster.node(2).status();
    assert_eq!(follower.role, Role::Follower);
    assert_eq!(follower.leader, Some(1));
    assert!(follower.peers.is_empty());
    assert_eq!(follower.commit_index, last_index);

    // Node 3 goes silent; the leader keeps ticking (and hearing from node 2).
    cluster.isolate(3);
    for _ in 0..5 {
        cluster.tick(1);
        cluster.deliver_all();
    }
    let leader = cluster.node(1).status();
    let heard = |id| {
        leader
            .peers
            .iter()
            .find(|peer| peer.id == id)
            .and_then(|peer| peer.heard_ticks_ago)
    };
    // Node 2 answers every heartbeat (every 3 ticks by default); node 3 answered last
    // before it was cut off.
    assert!(heard(2).is_some_and(|ago| ago < 3), "{leader:?}");
    assert!(heard(3).is_some_and(|ago| ago >= 5), "{leader:?}");
    assert!(leader.ticks >= 5);
}
