//! Snapshots (Raft §7): the application compacts the log; a follower that needs
//! compacted entries receives the snapshot in chunks, restores from it and resumes;
//! lost and duplicated chunks do no harm; a node restarts from its snapshot.

#[path = "support/cluster.rs"]
mod cluster;

use std::collections::BTreeMap;

use cluster::{Cluster, CrashLog};
use raft_core::{Action, Bytes, Event, Message, RaftConfig, RaftLog, RaftNode, Snapshot};

fn cluster(seed: u64) -> Cluster {
    let configs: BTreeMap<u64, RaftConfig> = (1..=3)
        .map(|id| {
            (
                id,
                RaftConfig::new(id, 1..=3)
                    .with_seed(id + seed)
                    .with_snapshot_chunk_bytes_max(7),
            )
        })
        .collect();
    let mut cluster = Cluster::with_configs(configs, seed);
    cluster.elect(1);
    cluster
}

fn restored(actions: &[Action]) -> Option<(u64, Bytes)> {
    actions.iter().find_map(|a| match a {
        Action::RestoreSnapshot { index, data, .. } => Some((*index, data.clone())),
        _ => None,
    })
}

// A follower cut off while the leader compacted catches up through a chunked
// InstallSnapshot, restores from it, and then applies the entries after it.
#[test]
fn lagging_follower_catches_up_from_a_chunked_snapshot() {
    let mut cluster = cluster(1);
    cluster.isolate(3);
    for i in 0..10 {
        let _ = cluster.propose(1, &format!("c{i}")).unwrap();
        cluster.deliver_all();
    }
    let applied = cluster.node(1).last_applied();
    let data = Bytes::from_static(b"state through ten commands: abcdefghijklmnop");
    let _ = cluster
        .step(
            1,
            Event::Snapshot {
                index: applied,
                data: data.clone(),
            },
        )
        .unwrap();
    assert_eq!(cluster.node(1).log().snapshot_index(), applied);
    assert_eq!(
        cluster.node(1).log().term_at(applied - 1),
        None,
        "compacted"
    );
    cluster.heal();
    cluster.trace.clear();
    for _ in 0..20 {
        cluster.round();
    }
    let chunks = cluster
        .trace
        .iter()
        .filter(|line| line.starts_with("1->3 InstallSnapshot"))
        .count();
    assert!(
        chunks >= data.len() / 7,
        "sent in chunks of 7 bytes ({chunks} messages)"
    );
    assert_eq!(cluster.node(3).log().snapshot_index(), applied);
    assert_eq!(cluster.applied[&3][0], (applied, data));
    let _ = cluster.propose(1, "after").unwrap();
    for _ in 0..5 {
        cluster.round();
    }
    assert_eq!(
        cluster.applied_commands(3).last().map(String::as_str),
        Some("after")
    );
    cluster.check_log_matching();
}

// Lost and duplicated chunks: the follower says where to resume and the leader
// resends; the snapshot still arrives whole.
#[test]
fn lost_and_duplicated_chunks_are_harmless() {
    let mut cluster = cluster(2);
    cluster.isolate(3);
    for i in 0..6 {
        let _ = cluster.propose(1, &format!("c{i}")).unwrap();
        cluster.deliver_all();
    }
    let applied = cluster.node(1).last_applied();
    let data = Bytes::from(vec![9u8; 60]);
    let _ = cluster
        .step(
            1,
            Event::Snapshot {
                index: applied,
                data: data.clone(),
            },
        )
        .unwrap();
    cluster.heal();
    cluster.faults = cluster::Faults {
        drop_percent: 30,
        duplicate_percent: 30,
        reorder_percent: 0,
    };
    for _ in 0..200 {
        cluster.round();
        if cluster.node(3).log().snapshot_index() == applied {
            break;
        }
    }
    assert_eq!(cluster.node(3).log().snapshot_index(), applied);
    assert_eq!(cluster.node(3).log().snapshot().unwrap().data, data);
}

// A snapshot the follower already covers (commit at or past it) is acknowledged and
// not restored.
#[test]
fn old_snapshot_is_acknowledged_not_restored() {
    let mut node = RaftNode::new(RaftConfig::new(2, [1, 3]));
    let entries: Vec<_> = (1..=5)
        .map(|i| raft_core::LogEntry::new(1, i, vec![i as u8]))
        .collect();
    let append = raft_core::AppendEntries {
        term: 1,
        leader: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries,
        leader_commit: 5,
    };
    let _ = node
        .step(Event::Message(Message::AppendEntries(append)))
        .unwrap();
    let install = raft_core::InstallSnapshot {
        term: 1,
        leader: 1,
        last_included_index: 3,
        last_included_term: 1,
        membership: raft_core::Membership::new([1, 2, 3], []),
        offset: 0,
        data: Bytes::from_static(b"old"),
        done: true,
    };
    let actions = node
        .step(Event::Message(Message::InstallSnapshot(Box::new(install))))
        .unwrap();
    assert!(restored(&actions).is_none());
    assert!(actions.iter().any(
        |a| matches!(a, Action::Send { message: Message::InstallSnapshotReply(r), .. } if r.done)
    ));
    assert_eq!(node.log().last_index(), 5);
}

// A node restarts from a log holding a snapshot: it first restores, then applies the
// committed entries after it.
#[test]
fn restart_restores_the_snapshot_then_applies_the_rest() {
    let mut node = RaftNode::with_log(RaftConfig::single(1), CrashLog::default());
    while !node.is_leader() {
        let _ = node.step(Event::Tick).unwrap();
    }
    for i in 0..5 {
        let _ = node.step(Event::Propose(vec![i])).unwrap();
    }
    let _ = node
        .step(Event::Snapshot {
            index: 3,
            data: Bytes::from_static(b"s3"),
        })
        .unwrap();
    assert!(
        node.step(Event::Snapshot {
            index: 9,
            data: Bytes::new()
        })
        .is_ok(),
        "past applied: ignored"
    );
    assert_eq!(node.log().snapshot_index(), 3);
    let log = node.into_log();
    let mut restarted = RaftNode::with_log(RaftConfig::single(1), log);
    let actions = restarted.step(Event::Tick).unwrap();
    assert_eq!(restored(&actions), Some((3, Bytes::from_static(b"s3"))));
    let applied: Vec<u64> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Apply { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(applied, vec![4, 5]);
    let snapshot: Snapshot = restarted.log().snapshot().unwrap();
    assert_eq!(snapshot.membership.voters(), &[1]);
}

// Regression (raft-sim seed 135443): a node restarting from a snapshot whose first
// event installs a newer one restores the old one first, then the new one, never the
// other way round (which would leave the state machine behind its applied index).
#[test]
fn startup_restore_comes_before_an_install_in_the_same_step() {
    let mut node = RaftNode::with_log(RaftConfig::new(2, [1, 3]), CrashLog::default());
    let entries: Vec<_> = (1..=5)
        .map(|i| raft_core::LogEntry::new(1, i, vec![i as u8]))
        .collect();
    let append = raft_core::AppendEntries {
        term: 1,
        leader: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries,
        leader_commit: 5,
    };
    let _ = node
        .step(Event::Message(Message::AppendEntries(append)))
        .unwrap();
    let _ = node
        .step(Event::Snapshot {
            index: 4,
            data: Bytes::from_static(b"old"),
        })
        .unwrap();
    let mut restarted = RaftNode::with_log(RaftConfig::new(2, [1, 3]), node.into_log());
    let install = raft_core::InstallSnapshot {
        term: 2,
        leader: 1,
        last_included_index: 9,
        last_included_term: 2,
        membership: raft_core::Membership::new([1, 2, 3], []),
        offset: 0,
        data: Bytes::from_static(b"new"),
        done: true,
    };
    let actions = restarted
        .step(Event::Message(Message::InstallSnapshot(Box::new(install))))
        .unwrap();
    let restores: Vec<u64> = actions
        .iter()
        .filter_map(|a| match a {
            Action::RestoreSnapshot { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(restores, vec![4, 9]);
    assert_eq!(restarted.last_applied(), 9);
}
