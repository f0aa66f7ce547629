//! Single-server membership changes (Raft thesis §4.1 and the 2015 mailing-list
//! correction), learners, and leaders that remove themselves.

#[path = "support/cluster.rs"]
mod cluster;

use std::collections::BTreeMap;

use cluster::{Cluster, log_with_terms};
use raft_core::{
    Action, Error, Event, Membership, MembershipChange, Message, RaftConfig, RaftLog, RaftNode,
    Role,
};

/// Nodes 1..=3 voters, node 4 started as a learner-to-be (not yet in anyone's config).
fn cluster_with_spare(seed: u64) -> Cluster {
    let mut configs: BTreeMap<u64, RaftConfig> = (1..=3)
        .map(|id| (id, RaftConfig::new(id, 1..=3).with_seed(id + seed)))
        .collect();
    let _ = configs.insert(4, RaftConfig::learner(4, 1..=3).with_seed(4 + seed));
    let mut cluster = Cluster::with_configs(configs, seed);
    cluster.elect(1);
    let _ = cluster.propose(1, "first").unwrap();
    for _ in 0..5 {
        cluster.round();
    }
    cluster
}

fn change(
    cluster: &mut Cluster,
    leader: u64,
    change: MembershipChange,
) -> Result<Vec<Action>, Error> {
    cluster.step(leader, Event::ChangeMembership(change))
}

// A learner receives the log but never votes or counts toward a quorum; promoted once
// caught up, it does.
#[test]
fn learner_replicates_then_promotes() {
    let mut cluster = cluster_with_spare(1);
    let actions = change(&mut cluster, 1, MembershipChange::AddLearner(4)).unwrap();
    assert!(actions.iter().any(
        |a| matches!(a, Action::MembershipChanged { membership } if membership.learners() == [4])
    ));
    for _ in 0..10 {
        cluster.round();
    }
    assert_eq!(cluster.applied_commands(4), vec!["first"]);
    assert!(cluster.node(4).membership().is_learner(4));
    // With both other voters cut off, the leader and the learner cannot commit.
    cluster.isolate(2);
    cluster.isolate(3);
    let commit = cluster.node(1).commit_index();
    let _ = cluster.propose(1, "needs a voter").unwrap();
    cluster.deliver_all();
    assert_eq!(
        cluster.node(1).commit_index(),
        commit,
        "a learner does not count toward the quorum"
    );
    cluster.heal();
    for _ in 0..10 {
        cluster.round();
    }
    let leader = cluster.leader().unwrap();
    let _ = change(&mut cluster, leader, MembershipChange::PromoteLearner(4)).unwrap();
    for _ in 0..10 {
        cluster.round();
    }
    assert_eq!(cluster.node(1).membership().voters(), &[1, 2, 3, 4]);
    assert_eq!(cluster.node(4).members(), &[1, 2, 3, 4]);
}

// Promotion waits for the learner to catch up; a second change waits for the first.
#[test]
fn promotion_needs_catch_up_and_one_change_at_a_time() {
    let mut cluster = cluster_with_spare(2);
    cluster.isolate(4);
    let _ = change(&mut cluster, 1, MembershipChange::AddLearner(4)).unwrap();
    assert_eq!(
        change(&mut cluster, 1, MembershipChange::RemoveMember(3)).unwrap_err(),
        Error::ConfigInProgress,
        "the learner's entry is not committed yet"
    );
    for _ in 0..5 {
        cluster.round();
    }
    assert!(matches!(
        change(&mut cluster, 1, MembershipChange::PromoteLearner(4)),
        Err(Error::InvalidMembershipChange {
            node: 4,
            reason: "the learner has not caught up"
        })
    ));
    assert!(matches!(
        change(&mut cluster, 1, MembershipChange::AddLearner(2)),
        Err(Error::InvalidMembershipChange { node: 2, .. })
    ));
    assert!(matches!(
        change(&mut cluster, 2, MembershipChange::AddLearner(5)),
        Err(Error::NotLeader { .. })
    ));
}

// Removing a voter shrinks the quorum; the removed node (which may never hear of its
// removal: nobody replicates to it any more) cannot disrupt the new configuration.
#[test]
fn removed_voter_stops_counting_and_cannot_disrupt() {
    let mut cluster = cluster_with_spare(3);
    let _ = change(&mut cluster, 1, MembershipChange::RemoveMember(3)).unwrap();
    for _ in 0..10 {
        cluster.round();
    }
    assert_eq!(cluster.node(2).members(), &[1, 2]);
    // With node 2 away, 1 of 2 voters cannot commit; node 3 does not matter any more.
    cluster.isolate(3);
    let _ = cluster.propose(1, "with two").unwrap();
    for _ in 0..3 {
        cluster.round();
    }
    assert_eq!(
        cluster.applied_commands(2).last().map(String::as_str),
        Some("with two")
    );
    cluster.heal();
    let term = cluster.node(1).term();
    for _ in 0..100 {
        cluster.round();
    }
    assert_eq!(cluster.leader(), Some(1));
    assert_eq!(
        cluster.node(1).term(),
        term,
        "the removed node's campaigns are refused"
    );
    assert_ne!(cluster.node(3).role(), Role::Leader);
}

// A leader that removes itself keeps leading until the change commits, then steps
// down; the remaining voters elect a leader among themselves.
#[test]
fn leader_removing_itself_steps_down_after_commit() {
    let mut cluster = cluster_with_spare(4);
    let _ = change(&mut cluster, 1, MembershipChange::RemoveMember(1)).unwrap();
    assert!(
        cluster.node(1).is_leader(),
        "leads until the change commits"
    );
    cluster.deliver_all();
    assert!(!cluster.node(1).is_leader());
    cluster.run_until(200, |c| c.leader().is_some_and(|leader| leader != 1));
    let leader = cluster.leader().unwrap();
    assert_eq!(cluster.node(leader).members(), &[2, 3]);
}

/// Node 1 leading a new term over entries of term 2 it cannot know are committed, with
/// its no-op not yet acknowledged by anyone; returns it and its term.
fn fresh_leader_with_an_uncommitted_tail() -> (RaftNode<cluster::CrashLog>, u64) {
    let log = log_with_terms(&[1, 2], 2);
    let mut node = RaftNode::with_log(RaftConfig::new(1, [2, 3]).with_pre_vote(false), log);
    cluster::win_election(&mut node);
    let term = node.term();
    (node, term)
}

// The 2015 correction: a leader that has not committed an entry of its own term holds
// a change (appending a no-op) until one commits; only then is the change appended.
#[test]
fn fresh_leader_commits_its_term_before_changing_configuration() {
    let (mut node, term) = fresh_leader_with_an_uncommitted_tail();
    let before = node.log().last_index();
    let actions = node
        .step(Event::ChangeMembership(MembershipChange::RemoveMember(3)))
        .unwrap();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::MembershipChanged { .. }))
    );
    assert_eq!(
        node.log().last_index(),
        before,
        "nothing appended: the term's no-op is already there"
    );
    assert_eq!(node.members(), &[1, 2, 3]);
    assert_eq!(
        node.step(Event::ChangeMembership(MembershipChange::AddLearner(9)))
            .unwrap_err(),
        Error::ConfigInProgress
    );
    // Once the no-op commits, the held change goes in.
    let ack = raft_core::AppendEntriesReply {
        term,
        success: true,
        from: 2,
        prev_log_index: 2,
        match_index: before,
        conflict_index: 0,
        conflict_term: 0,
        incarnation: 0,
    };
    let actions = node
        .step(Event::Message(Message::AppendEntriesReply(ack)))
        .unwrap();
    assert!(actions.iter().any(
        |a| matches!(a, Action::MembershipChanged { membership } if membership.voters() == [1, 2])
    ));
    assert_eq!(node.log().last_index(), before + 1);
}

// A fresh single-node cluster grows: the held change gets a no-op to commit under.
#[test]
fn single_node_cluster_adds_a_learner_without_a_proposal() {
    let mut node = RaftNode::new(RaftConfig::single(1));
    while !node.is_leader() {
        let _ = node.step(Event::Tick).unwrap();
    }
    let actions = node
        .step(Event::ChangeMembership(MembershipChange::AddLearner(2)))
        .unwrap();
    assert!(actions.iter().any(
        |a| matches!(a, Action::MembershipChanged { membership } if membership.learners() == [2])
    ));
    assert_eq!(
        node.log().last_index(),
        2,
        "a no-op, then the configuration entry"
    );
}

// The configuration survives a restart: it is rebuilt from the log.
#[test]
fn configuration_survives_restart() {
    let mut cluster = cluster_with_spare(5);
    let _ = change(&mut cluster, 1, MembershipChange::AddLearner(4)).unwrap();
    for _ in 0..5 {
        cluster.round();
    }
    cluster.crash(2);
    cluster.restart(2);
    assert_eq!(
        cluster.node(2).membership(),
        &Membership::new([1, 2, 3], [4])
    );
}

// An uncommitted configuration entry that a new leader overwrites is undone on the
// follower that held it.
#[test]
fn truncated_configuration_entry_is_undone() {
    let mut cluster = cluster_with_spare(6);
    // Only node 2 hears about the change; then node 1 dies and node 3 leads.
    let _ = cluster.blocked.insert((1, 3));
    let _ = change(&mut cluster, 1, MembershipChange::RemoveMember(3)).unwrap();
    cluster.deliver_all();
    assert_eq!(cluster.node(2).members(), &[1, 2]);
    cluster.crash(1);
    cluster.queue.clear();
    cluster.heal();
    // Whoever wins, every member of the winner's configuration ends up agreeing on it,
    // and logs match (the entry survives if node 2 or 1 leads, is overwritten if 3 does).
    cluster.restart(1);
    cluster.run_until(300, |c| c.leader().is_some());
    for _ in 0..20 {
        cluster.round();
    }
    let leader = cluster.leader().unwrap();
    let membership = cluster.node(leader).membership().clone();
    for id in membership.members() {
        assert_eq!(cluster.node(id).membership(), &membership, "node {id}");
    }
    cluster.check_log_matching();
}

// A change held for the 2015 rule is reported, not silently lost, when the leader steps
// down before it could go in.
#[test]
fn held_change_abandoned_by_a_step_down_is_reported() {
    let (mut node, term) = fresh_leader_with_an_uncommitted_tail();
    let held = node
        .step(Event::ChangeMembership(MembershipChange::RemoveMember(3)))
        .unwrap();
    assert!(
        !held
            .iter()
            .any(|a| matches!(a, Action::MembershipChangeDropped { .. }))
    );
    // A newer leader appears before the no-op commits.
    let heartbeat = raft_core::AppendEntries {
        term: term + 1,
        leader: 2,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: Vec::new(),
        leader_commit: 0,
    };
    let actions = node
        .step(Event::Message(Message::AppendEntries(heartbeat)))
        .unwrap();
    assert!(!node.is_leader());
    assert!(actions.contains(&Action::MembershipChangeDropped {
        change: MembershipChange::RemoveMember(3)
    }));
    assert_eq!(node.members(), &[1, 2, 3]);
}

// A node that may not campaign (a learner here) stops counting as having heard from
// the leader once the election timeout passes without a word: it does not refuse a
// candidate's pre-vote for the rest of the outage. (It used to restart its timer each
// timeout and refuse for ten ticks out of every ten to twenty: a removed voter added
// back by a configuration it had not seen yet could stall an election that needed it.)
#[test]
fn a_node_that_cannot_campaign_does_not_stay_sticky_to_a_silent_leader() {
    use raft_core::{AppendEntries, PreVote};
    let mut learner = RaftNode::new(RaftConfig::learner(2, [1, 3]).with_seed(9));
    let heartbeat = Message::AppendEntries(AppendEntries {
        term: 1,
        leader: 1,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: Vec::new(),
        leader_commit: 0,
    });
    let _ = learner.step(Event::Message(heartbeat)).unwrap();
    assert_eq!(learner.leader(), Some(1));
    let (_, timeout_max) = learner.config().election_timeout_ticks();
    for _ in 0..=timeout_max {
        let _ = learner.step(Event::Tick).unwrap();
    }
    for tick in 0..3 * timeout_max {
        let probe = Message::PreVote(PreVote {
            term: 2,
            candidate: 3,
            last_log_index: 0,
            last_log_term: 0,
        });
        let actions = learner.step(Event::Message(probe)).unwrap();
        let granted = actions.iter().any(|action| {
            matches!(action, Action::Send { message: Message::PreVoteReply(reply), .. } if reply.vote_granted)
        });
        assert!(granted, "pre-vote refused {tick} ticks past the timeout");
        let _ = learner.step(Event::Tick).unwrap();
    }
}
