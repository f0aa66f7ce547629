//! Rule 2 of docs/RECOVERY.md: a node that lost its durable state (a wiped data
//! directory, a lost vote) comes back as a new incarnation. Until the configuration
//! names that incarnation its votes, acknowledgements and read confirmations count for
//! nothing and it never campaigns; the leader names it on its own, lets it catch up as
//! a learner and promotes it back.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use raft_core::{
    AppendEntriesReply, Event, Membership, MembershipChange, Message, RaftConfig, RaftLog,
    RaftNode, RequestVoteReply, Role,
};

/// Three nodes led by 1, with `entries` commands committed everywhere.
fn settled_cluster(seed: u64, entries: usize) -> Cluster {
    let mut cluster = Cluster::new(3, seed);
    cluster.elect(1);
    for n in 0..entries {
        let _ = cluster.propose(1, &format!("c{n}")).unwrap();
    }
    cluster.run_until(200, |c| c.applied_commands(3).len() == entries);
    cluster
}

fn names_as_voter(node: &RaftNode<cluster::CrashLog>, id: u64, incarnation: u64) -> bool {
    node.membership().votes_as(id, incarnation)
}

// A wiped follower restarts empty as a new incarnation: the leader names it (as a
// learner), sends it the whole log and promotes it back, with no operator.
#[test]
fn a_wiped_voter_is_named_caught_up_and_promoted_back() {
    let mut cluster = settled_cluster(7, 5);
    cluster.crash(3);
    cluster.restart_wiped(3, 77);
    assert_eq!(cluster.node(3).log().last_index(), 0);
    cluster.run_until(400, |c| {
        names_as_voter(c.node(1), 3, 77) && c.node(1).membership().rejoining().is_empty()
    });
    let leader = cluster.node(1);
    assert_eq!(leader.role(), Role::Leader, "the leader did not change");
    assert!(names_as_voter(leader, 3, 77));
    cluster.run_until(200, |c| c.applied_commands(3).len() == 5);
    assert_eq!(
        cluster.applied_commands(3),
        ["c0", "c1", "c2", "c3", "c4"],
        "the new incarnation holds every committed command"
    );
    let _ = cluster.propose(1, "after").unwrap();
    cluster.run_until(200, |c| c.applied_commands(3).len() == 6);
    cluster.check_log_matching();
}

// The counterexample of RECOVERY.md section 3: with the leader down, the two others
// are a majority only if the wiped node's vote counts. It must not: the new
// incarnation never voted before, but the old one may have voted in any term. No
// leader is elected until the old leader is back; then the node is re-added.
#[test]
fn a_wiped_voter_elects_nobody_before_it_is_named() {
    let mut cluster = settled_cluster(11, 3);
    cluster.crash(1);
    cluster.crash(3);
    cluster.restart_wiped(3, 5);
    for _ in 0..300 {
        cluster.round();
        assert_eq!(cluster.leader(), None, "a leader elected with a lost vote");
    }
    assert_ne!(cluster.node(3).role(), Role::Leader);
    cluster.restart(1);
    let _ = cluster.elect_any();
    cluster.run_until(600, |c| {
        c.leader()
            .is_some_and(|leader| names_as_voter(c.node(leader), 3, 5))
    });
    cluster.run_until(200, |c| c.applied_commands(3).len() == 3);
    cluster.check_log_matching();
}

// A leader counts no acknowledgement from an incarnation its configuration does not
// name: a new incarnation's reply (or, once it is named, a late one of the lost
// incarnation) cannot commit anything.
#[test]
fn an_acknowledgement_from_another_incarnation_commits_nothing() {
    let mut cluster = settled_cluster(3, 1);
    cluster.isolate(2);
    cluster.isolate(3);
    let _ = cluster.propose(1, "x").unwrap();
    for _ in 0..5 {
        cluster.tick(1);
        cluster.deliver_all();
    }
    let leader = cluster.node(1);
    let (last, before, term) = (
        leader.log().last_index(),
        leader.commit_index(),
        leader.term(),
    );
    assert!(before < last);
    let reply = |incarnation| {
        Message::AppendEntriesReply(AppendEntriesReply {
            term,
            success: true,
            from: 2,
            prev_log_index: last,
            match_index: last,
            conflict_index: 0,
            conflict_term: 0,
            incarnation,
        })
    };
    let _ = cluster.step(1, Event::Message(reply(9))).unwrap();
    assert_eq!(
        cluster.node(1).commit_index(),
        before,
        "another incarnation's ack counted"
    );
    // The leader names the new incarnation at once (its term's entry committed), as
    // a rejoining learner: the lost one's acknowledgements stop counting, and the new
    // one's count toward nothing until it is promoted back.
    let membership = cluster.node(1).membership().clone();
    assert_eq!(membership.incarnation(2), 9);
    assert_eq!(membership.rejoining(), &[2]);
    assert!(membership.is_learner(2));
    let _ = cluster.step(1, Event::Message(reply(0))).unwrap();
    assert_eq!(cluster.node(1).commit_index(), before);
    assert_eq!(cluster.node(1).match_index(2), Some(0));
    // That late reply of the replaced incarnation 0 does not take the node back to it:
    // a replaced incarnation is retired, never named again.
    assert_eq!(cluster.node(1).membership().retired(), &[(2, 0)]);
    // (Here node 2 never lost anything: the reply of "incarnation 9" was forged. Its
    // real replies, of the retired incarnation 0, now count for nothing and never name
    // it back, once the change commits too. An authenticated transport keeps forged
    // replies out.)
    cluster.heal();
    for _ in 0..50 {
        cluster.round();
    }
    assert!(
        cluster.node(1).commit_index() > before,
        "the change committed"
    );
    assert_eq!(cluster.node(1).membership().incarnation(2), 9);
}

// A candidate counts no vote from an incarnation its configuration does not name.
#[test]
fn a_vote_from_another_incarnation_is_not_counted() {
    let mut node = RaftNode::new(RaftConfig::new(1, [1, 2, 3]).with_pre_vote(false));
    while node.role() != Role::Candidate {
        let _ = node.step(Event::Tick).unwrap();
    }
    let term = node.term();
    let vote = |incarnation| {
        Message::RequestVoteReply(RequestVoteReply {
            term,
            vote_granted: true,
            from: 2,
            incarnation,
        })
    };
    let stranger = vote(3);
    let _ = node.step(Event::Message(stranger)).unwrap();
    assert_eq!(node.role(), Role::Candidate);
    let named = vote(0);
    let _ = node.step(Event::Message(named)).unwrap();
    assert_eq!(node.role(), Role::Leader);
}

// A node whose storage is a new incarnation never campaigns while the configuration
// names another, however long it waits.
#[test]
fn a_new_incarnation_never_campaigns_before_it_is_named() {
    let log = raft_core::MemoryLog::with_incarnation(42);
    let mut node = RaftNode::with_log(RaftConfig::new(1, [1, 2, 3]), log);
    for _ in 0..1_000 {
        let actions = node.step(Event::Tick).unwrap();
        assert!(actions.is_empty(), "campaigned: {actions:?}");
    }
    assert_eq!(node.term(), 0);
}

// The change the leader makes: a voter becomes a rejoining learner named with its new
// incarnation, and only a caught-up promotion makes it a voter again.
#[test]
fn reincarnate_makes_a_voter_a_rejoining_learner() {
    let base = Membership::new([1, 2, 3], [4]);
    let renamed = base
        .apply(MembershipChange::Reincarnate {
            node: 3,
            incarnation: 8,
        })
        .unwrap();
    assert_eq!(renamed.voters(), &[1, 2]);
    assert_eq!(renamed.learners(), &[3, 4]);
    assert_eq!(renamed.rejoining(), &[3]);
    assert_eq!(renamed.incarnation(3), 8);
    assert_eq!(renamed.retired(), &[(3, 0)]);
    // The replaced incarnation is never named again.
    assert!(
        renamed
            .apply(MembershipChange::Reincarnate {
                node: 3,
                incarnation: 0
            })
            .is_err()
    );
    assert!(!renamed.votes_as(3, 8) && !renamed.votes_as(3, 0));
    let promoted = renamed.apply(MembershipChange::PromoteLearner(3)).unwrap();
    assert!(promoted.votes_as(3, 8) && promoted.rejoining().is_empty());
    // A learner stays a learner, and is not rejoining.
    let learner = base
        .apply(MembershipChange::Reincarnate {
            node: 4,
            incarnation: 2,
        })
        .unwrap();
    assert!(learner.is_learner(4) && learner.rejoining().is_empty());
    // Removal keeps the incarnation (added back, the node is named as it was last);
    // the same incarnation twice, a non-member and the last voter are refused.
    let removed = promoted.apply(MembershipChange::RemoveMember(3)).unwrap();
    assert_eq!(removed.incarnation(3), 8);
    let back = removed.apply(MembershipChange::AddLearner(3)).unwrap();
    assert_eq!(back.incarnation(3), 8);
    assert!(
        promoted
            .apply(MembershipChange::Reincarnate {
                node: 3,
                incarnation: 8
            })
            .is_err()
    );
    assert!(
        base.apply(MembershipChange::Reincarnate {
            node: 9,
            incarnation: 1
        })
        .is_err()
    );
    assert!(
        Membership::new([1], [])
            .apply(MembershipChange::Reincarnate {
                node: 1,
                incarnation: 1
            })
            .is_err()
    );
    for membership in [renamed, promoted, learner] {
        assert_eq!(Membership::decode(&membership.encode()), Some(membership));
    }
}
