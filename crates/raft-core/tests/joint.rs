//! Joint consensus (Raft thesis §4.3): changes of any size through `C_old,new`, guarded
//! changes, leaving the joint configuration, and a leader outside `C_new` handing over.

#[path = "support/cluster.rs"]
mod cluster;

use std::collections::BTreeMap;

use bytes::Bytes;
use cluster::Cluster;
use raft_core::{
    Action, ConfigChange, Error, Event, Membership, MembershipChange, RaftConfig, Role,
};

/// Voters 1..=3 led by node 1, learners 4 and 5 added in one (plain) change and caught
/// up, one command committed.
fn three_voters_two_learners(seed: u64) -> Cluster {
    let mut configs: BTreeMap<u64, RaftConfig> = (1..=3)
        .map(|id| (id, RaftConfig::new(id, 1..=3).with_seed(id + seed)))
        .collect();
    for id in [4, 5] {
        let _ = configs.insert(id, RaftConfig::learner(id, 1..=3).with_seed(id + seed));
    }
    let mut cluster = Cluster::with_configs(configs, seed);
    cluster.elect(1);
    let _ = cluster.propose(1, "first").unwrap();
    let learners = ConfigChange::new([
        MembershipChange::AddLearner(4),
        MembershipChange::AddLearner(5),
    ]);
    let _ = cluster.step(1, Event::ChangeConfig(learners)).unwrap();
    for _ in 0..10 {
        cluster.round();
    }
    assert_eq!(
        cluster.node(1).membership(),
        &Membership::new([1, 2, 3], [4, 5])
    );
    assert!(
        !cluster.node(1).membership().is_joint(),
        "learners only: no joint phase"
    );
    assert_eq!(cluster.applied_commands(5), vec!["first"]);
    cluster
}

fn change_config(cluster: &mut Cluster, leader: u64, change: ConfigChange) -> Vec<Action> {
    cluster.step(leader, Event::ChangeConfig(change)).unwrap()
}

/// Blocks every link between the two groups, both ways.
fn cut(cluster: &mut Cluster, group: &[u64], others: &[u64]) {
    for &a in group {
        for &b in others {
            let _ = cluster.blocked.insert((a, b));
            let _ = cluster.blocked.insert((b, a));
        }
    }
}

// While C_old,new is in force, a majority of the new voters alone commits nothing,
// elects nobody and confirms no read; with a majority of the old voters too, it does.
#[test]
fn joint_decisions_need_both_majorities() {
    let mut cluster = three_voters_two_learners(1);
    // Old voters 2 and 3 hear nothing (not even each other): {1, 4, 5} is a new
    // majority, {1} no old one.
    cluster.isolate(2);
    cluster.isolate(3);
    let actions = change_config(&mut cluster, 1, ConfigChange::set_voters([1, 4, 5]));
    assert!(actions.iter().any(|action| matches!(
        action,
        Action::MembershipChanged { membership } if membership.is_joint()
    )));
    let joint_index = cluster.node(1).config_index();
    for _ in 0..5 {
        cluster.round();
    }
    assert!(
        cluster.node(1).commit_index() < joint_index,
        "new majority alone committed"
    );
    assert!(cluster.node(4).membership().is_joint());
    // No read is confirmed by the new majority alone.
    let _ = cluster
        .step(1, Event::ReadIndex(Bytes::from_static(b"r")))
        .unwrap();
    cluster.deliver_all();
    assert!(cluster.reads_ready.is_empty());
    // The leader dies: {4, 5} are a new majority but no old one, so nobody is elected.
    cluster.crash(1);
    for _ in 0..300 {
        cluster.round();
        assert_eq!(cluster.leader(), None, "elected without an old majority");
    }
    // Nodes 2 and 3 come back. They never saw the joint entry, so they may elect one
    // of themselves in {1, 2, 3} (the uncommitted joint entry is then overwritten), or
    // 4 or 5 wins a majority of both and leaves the joint configuration on its own.
    cluster.heal();
    cut(&mut cluster, &[1], &[2, 3, 4, 5]);
    cluster.run_until(500, |c| c.leader().is_some());
    let leader = cluster.leader().unwrap();
    assert_ne!(leader, 1);
    let _ = cluster.propose(leader, "settled").unwrap();
    cluster.run_until(200, |c| {
        let node = c.node(leader);
        !node.membership().is_joint()
            && node.commit_index() >= node.config_index()
            && c.applied_commands(leader).contains(&"settled".to_string())
    });
    cluster.check_log_matching();
}

// Without the old voters the joint entry never commits; healing one old voter (a
// majority of {1, 2, 3} with the leader) lets it commit, and the leader then leaves the
// joint configuration by itself.
#[test]
fn joint_entry_commits_with_both_majorities_then_auto_leaves() {
    let mut cluster = three_voters_two_learners(2);
    cut(&mut cluster, &[2, 3], &[1, 4, 5]);
    let _ = change_config(&mut cluster, 1, ConfigChange::set_voters([1, 4, 5]));
    let joint_index = cluster.node(1).config_index();
    for _ in 0..5 {
        cluster.round();
    }
    assert!(cluster.node(1).commit_index() < joint_index);
    cluster.heal();
    cut(&mut cluster, &[3], &[1, 2, 4, 5]);
    cluster.run_until(50, |c| {
        c.node(1).membership() == &Membership::new([1, 4, 5], [])
            && c.node(1).commit_index() > joint_index
    });
    assert!(
        cluster.node(1).config_index() > joint_index,
        "C_new is a later entry"
    );
    // Old voters 2 and 3 no longer count: with them cut off, commands still commit.
    cut(&mut cluster, &[2], &[1, 4, 5]);
    let _ = cluster.propose(1, "after").unwrap();
    cluster.run_until(20, |c| c.applied_commands(5).contains(&"after".to_string()));
}

// A guarded change built against a configuration no longer in force is refused with
// both indexes; built against the one in force, it goes in.
#[test]
fn guarded_change_against_another_configuration_is_refused() {
    let mut cluster = three_voters_two_learners(3);
    let seen = cluster.node(1).config_index();
    let _ = change_config(
        &mut cluster,
        1,
        ConfigChange::new([MembershipChange::RemoveMember(5)]).guarded(seen),
    );
    for _ in 0..5 {
        cluster.round();
    }
    let now = cluster.node(1).config_index();
    assert!(now > seen);
    let refused = cluster.step(
        1,
        Event::ChangeConfig(ConfigChange::set_voters([1, 2, 4]).guarded(seen)),
    );
    assert_eq!(
        refused.unwrap_err(),
        Error::ConfigChanged {
            expected: seen,
            actual: now
        }
    );
    assert_eq!(
        cluster.node(1).membership(),
        &Membership::new([1, 2, 3], [4])
    );
    let _ = change_config(
        &mut cluster,
        1,
        ConfigChange::set_voters([1, 2, 4]).guarded(now),
    );
    cluster.run_until(50, |c| {
        c.node(1).membership() == &Membership::new([1, 2, 4], [])
    });
}

// A leader outside C_new keeps leading the joint phase, and once C_new commits hands
// leadership to the most caught-up new voter (one election, no timeout) and stops.
#[test]
fn leader_outside_the_new_configuration_hands_over() {
    let mut cluster = three_voters_two_learners(4);
    let term = cluster.node(1).term();
    let _ = change_config(&mut cluster, 1, ConfigChange::set_voters([2, 4, 5]));
    assert!(cluster.node(1).is_leader());
    // Deliver without ticking: joint commits, C_new is appended and commits, the leader
    // sends TimeoutNow and the target wins at once.
    for _ in 0..10 {
        cluster.deliver_all();
    }
    let leader = cluster.leader().expect("a new leader without any timeout");
    assert!([2, 4, 5].contains(&leader), "leader {leader}");
    assert_eq!(cluster.node(leader).term(), term + 1);
    assert_eq!(cluster.node(1).role(), Role::Follower);
    assert_eq!(
        cluster.node(leader).membership(),
        &Membership::new([2, 4, 5], [])
    );
    // Node 1, outside the configuration, was told and never campaigns again.
    cluster.run_until(20, |c| c.removed.contains_key(&1));
    assert_eq!(cluster.removed.keys().copied().collect::<Vec<_>>(), [1, 3]);
    for _ in 0..300 {
        cluster.round();
    }
    assert_eq!(cluster.leader(), Some(leader));
    assert_eq!(cluster.node(leader).term(), term + 1);
}

// With an explicit leave the joint configuration stays in force after it commits until
// asked to leave; leaving when not joint is refused; changes wait for the leave.
#[test]
fn explicit_leave_waits_to_be_asked() {
    let mut cluster = three_voters_two_learners(5);
    let leave_refused = cluster.step(1, Event::ChangeConfig(ConfigChange::leave_joint()));
    assert!(matches!(
        leave_refused,
        Err(Error::InvalidConfigChange { .. })
    ));
    let _ = change_config(
        &mut cluster,
        1,
        ConfigChange::set_voters([1, 2, 4]).explicit_leave(),
    );
    for _ in 0..10 {
        cluster.round();
    }
    let node = cluster.node(1);
    assert!(node.membership().is_joint() && node.commit_index() >= node.config_index());
    let busy = cluster.step(1, Event::ChangeMembership(MembershipChange::AddLearner(9)));
    assert_eq!(busy.unwrap_err(), Error::ConfigInProgress);
    let busy = cluster.step(1, Event::ChangeConfig(ConfigChange::set_voters([1, 2])));
    assert_eq!(busy.unwrap_err(), Error::ConfigInProgress);
    // In the joint configuration reads are confirmed by both halves and a new leader
    // is elected by both (every voter of either half is asked).
    let _ = cluster
        .step(1, Event::ReadIndex(Bytes::from_static(b"joint read")))
        .unwrap();
    cluster.run_until(5, |c| {
        c.reads_ready
            .contains(&(1, Bytes::from_static(b"joint read")))
    });
    cluster.crash(1);
    cluster.run_until(500, |c| c.leader().is_some());
    let leader = cluster.leader().unwrap();
    assert!(cluster.node(leader).membership().is_joint());
    cluster.run_until(100, |c| {
        let node = c.node(leader);
        node.commit_index() >= node.config_index()
    });
    let _ = change_config(&mut cluster, leader, ConfigChange::leave_joint());
    cluster.run_until(20, |c| {
        let node = c.node(leader);
        node.membership() == &Membership::new([1, 2, 4], [5])
            && node.commit_index() >= node.config_index()
    });
}

// A joint entry that reached nobody is truncated by the next leader: the old
// configuration is back in force on the node that had appended it.
#[test]
fn truncated_joint_entry_reverts_the_configuration() {
    let mut cluster = three_voters_two_learners(6);
    cut(&mut cluster, &[1], &[2, 3, 4, 5]);
    let _ = change_config(&mut cluster, 1, ConfigChange::set_voters([3, 4, 5]));
    assert!(cluster.node(1).membership().is_joint());
    cluster.queue.clear();
    cluster.crash(1);
    cluster.run_until(500, |c| c.leader().is_some());
    let leader = cluster.leader().unwrap();
    let _ = cluster.propose(leader, "overwrites").unwrap();
    cluster.restart(1);
    cluster.heal();
    cluster.run_until(100, |c| {
        c.applied_commands(1).contains(&"overwrites".to_string())
    });
    assert_eq!(
        cluster.node(1).membership(),
        &Membership::new([1, 2, 3], [4, 5])
    );
    cluster.check_log_matching();
}

// A crash of the leader in every phase of a change (joint appended only locally,
// joint replicated but not known committed, joint committed with an explicit leave
// pending, C_new appended but not committed): the survivors settle on one plain
// configuration, old or new, and keep committing.
#[test]
fn leader_crash_in_every_phase_settles() {
    for phase in 0..4 {
        for seed in 0..8 {
            let mut cluster = three_voters_two_learners(100 + seed * 4 + phase);
            let change = ConfigChange::set_voters([2, 3, 4]);
            match phase {
                0 => {
                    cut(&mut cluster, &[1], &[2, 3, 4, 5]);
                    let _ = change_config(&mut cluster, 1, change);
                }
                1 => {
                    let _ = change_config(&mut cluster, 1, change);
                    // Replicated, but the acknowledgements are lost.
                    for _ in 0..cluster.queue.len() {
                        let _ = cluster.deliver_one();
                    }
                    cluster.queue.clear();
                }
                2 => {
                    let _ = change_config(&mut cluster, 1, change.explicit_leave());
                    for _ in 0..5 {
                        cluster.deliver_all();
                    }
                }
                _ => {
                    let _ = change_config(&mut cluster, 1, change);
                    cluster.deliver_all();
                    // The joint entry is committed on the leader, C_new appended; its
                    // replication is lost.
                    cluster.queue.clear();
                }
            }
            cluster.crash(1);
            cluster.queue.clear();
            cluster.heal();
            cluster.run_until(1000, |c| c.leader().is_some());
            let leader = cluster.leader().unwrap();
            if cluster.node(leader).membership().is_joint()
                && !cluster.node(leader).membership().auto_leave()
            {
                cluster.run_until(100, |c| {
                    let node = c.node(leader);
                    !node.is_leader() || node.commit_index() >= node.config_index()
                });
                let _ = cluster.step(leader, Event::ChangeConfig(ConfigChange::leave_joint()));
            }
            cluster.run_until(1000, |c| {
                c.leader().is_some_and(|leader| {
                    let node = c.node(leader);
                    !node.membership().is_joint() && node.commit_index() >= node.config_index()
                })
            });
            let leader = cluster.leader().unwrap();
            let settled = cluster.node(leader).membership().clone();
            assert!(
                settled == Membership::new([1, 2, 3], [4, 5])
                    || settled == Membership::new([2, 3, 4], [5]),
                "phase {phase} seed {seed}: {settled:?}"
            );
            let _ = cluster.propose(leader, "still serving").unwrap();
            cluster.run_until(200, |c| {
                settled.voters().iter().filter(|&&id| id != 1).all(|&id| {
                    c.applied_commands(id)
                        .contains(&"still serving".to_string())
                })
            });
            cluster.check_log_matching();
        }
    }
}

// Thesis §4.2.2: a node left out of its latest configuration still campaigns while
// that configuration is uncommitted. Here C_new = {3} reached node 2 but not node 3, and
// the leader died: node 3 (behind) cannot win, node 2 (up to date, not in C_new) must
// lead long enough to commit C_new, then hand over to 3.
#[test]
fn node_left_out_of_an_uncommitted_configuration_still_campaigns() {
    let mut cluster = Cluster::new(3, 7);
    cluster.elect(1);
    let _ = cluster.propose(1, "first").unwrap();
    cluster.deliver_all();
    let _ = change_config(&mut cluster, 1, ConfigChange::set_voters([3]));
    let is_new_config_for_3 = |to: u64, message: &raft_core::Message| {
        to == 3
            && matches!(message, raft_core::Message::AppendEntries(append)
            if append.entries.iter().any(|entry| {
                Membership::decode(&entry.command).is_some_and(|m| m == Membership::new([3], []))
            }))
    };
    while let Some((to, message)) = cluster.queue.front() {
        if is_new_config_for_3(*to, message) {
            let _ = cluster.queue.pop_front();
            let _ = cluster.blocked.insert((1, 3));
        } else {
            let _ = cluster.deliver_one();
        }
    }
    assert_eq!(cluster.node(2).membership(), &Membership::new([3], []));
    assert!(cluster.node(3).membership().is_joint());
    cluster.crash(1);
    cluster.heal();
    cluster.run_until(1000, |c| {
        c.leader() == Some(3) && c.node(3).commit_index() >= c.node(3).config_index()
    });
    assert_eq!(cluster.node(3).membership(), &Membership::new([3], []));
    let _ = cluster.propose(3, "alone").unwrap();
    cluster.run_until(10, |c| c.applied_commands(3).contains(&"alone".to_string()));
}

// One change promotes a learner and removes a voter; another demotes a voter to a
// learner (it votes until the joint configuration is left).
#[test]
fn promotion_with_removal_and_demotion_in_one_change() {
    let mut cluster = three_voters_two_learners(8);
    let _ = change_config(
        &mut cluster,
        1,
        ConfigChange::new([
            MembershipChange::PromoteLearner(4),
            MembershipChange::RemoveMember(2),
        ]),
    );
    cluster.run_until(50, |c| {
        let node = c.node(1);
        node.membership() == &Membership::new([1, 3, 4], [5])
            && node.commit_index() >= node.config_index()
    });
    let _ = change_config(
        &mut cluster,
        1,
        ConfigChange::new([
            MembershipChange::RemoveMember(3),
            MembershipChange::AddLearner(3),
        ])
        .explicit_leave(),
    );
    let joint = cluster.node(1).membership().clone();
    assert!(joint.is_joint() && joint.is_voter(3) && !joint.is_learner(3));
    cluster.run_until(50, |c| c.node(1).commit_index() >= c.node(1).config_index());
    let _ = change_config(&mut cluster, 1, ConfigChange::leave_joint());
    cluster.run_until(50, |c| {
        let node = c.node(1);
        node.membership() == &Membership::new([1, 4], [3, 5])
            && node.commit_index() >= node.config_index()
    });
    assert!(cluster.node(3).membership().is_learner(3));
    // A learner that has not caught up is not promoted by a joint change either.
    cluster.isolate(5);
    let _ = cluster.propose(1, "5 misses this").unwrap();
    cluster.deliver_all();
    let refused = cluster.step(1, Event::ChangeConfig(ConfigChange::set_voters([1, 4, 5])));
    assert!(matches!(
        refused,
        Err(Error::InvalidMembershipChange { node: 5, .. })
    ));
}

// A leader outside a one-voter C_new is not its own quorum: a read it takes must wait
// for that voter. (Found by the simulator, seed 99902 of 100,000: a cut-off leader
// that had just left C_old,new for C_new = {2} answered a read at once, after node 2's
// side had elected a new leader.)
#[test]
fn a_leader_outside_a_one_voter_configuration_serves_no_read_alone() {
    let mut cluster = Cluster::new(3, 11);
    cluster.elect(1);
    let _ = cluster.propose(1, "first").unwrap();
    let change = ConfigChange::set_voters([2]).explicit_leave();
    let _ = change_config(&mut cluster, 1, change);
    for _ in 0..10 {
        cluster.round();
    }
    assert!(
        cluster.node(1).membership().is_joint(),
        "waits for the explicit leave"
    );
    cluster.isolate(1);
    let _ = change_config(&mut cluster, 1, ConfigChange::leave_joint());
    assert_eq!(cluster.node(1).membership().voters(), &[2]);
    let actions = cluster
        .step(1, Event::ReadIndex(Bytes::from_static(b"alone")))
        .unwrap();
    assert!(
        !actions
            .iter()
            .any(|action| matches!(action, Action::ReadReady { .. })),
        "served a read without node 2"
    );
}
