//! Leader election rules from the Raft paper (§5.1, §5.2, §5.4.1) and the thesis
//! (pre-vote §9.6, stickiness §4.2.3, check-quorum §6.2), each test named after its rule.

#[path = "support/cluster.rs"]
mod cluster;

use std::collections::BTreeMap;

use cluster::{Cluster, log_with_terms, sends};
use raft_core::{
    Action, AppendEntries, Error, Event, Message, PreVote, PreVoteReply, RaftConfig, RaftLog,
    RaftNode, RequestVote, RequestVoteReply, Role, TERM_ADVANCE_MAX, TERM_MAX, Term,
};

fn vote_request(term: Term, candidate: u64, last_log_index: u64, last_log_term: Term) -> Event {
    Event::Message(Message::RequestVote(RequestVote {
        term,
        candidate,
        last_log_index,
        last_log_term,
        force: false,
    }))
}

fn vote_granted(actions: &[Action]) -> Option<bool> {
    sends(actions)
        .into_iter()
        .find_map(|(_, message)| match message {
            Message::RequestVoteReply(reply) => Some(reply.vote_granted),
            _ => None,
        })
}

/// Ticks a node until it sends its first campaign messages and returns them.
fn tick_until_campaign(node: &mut RaftNode) -> Vec<Action> {
    for _ in 0..1000 {
        let actions = node.step(Event::Tick).unwrap();
        if !actions.is_empty() {
            return actions;
        }
    }
    panic!("node never campaigned");
}

// Figure 2, all servers: a higher term in any RPC makes the receiver adopt it and
// become a follower.
#[test]
fn term_rule_higher_term_converts_to_follower() {
    let mut cluster = Cluster::new(3, 1);
    cluster.elect(1);
    let term = cluster.node(1).term();
    let actions = cluster
        .step(
            1,
            Event::Message(Message::AppendEntries(AppendEntries {
                term: term + 3,
                leader: 2,
                prev_log_index: 0,
                prev_log_term: 0,
                entries: vec![],
                leader_commit: 0,
            })),
        )
        .unwrap();
    let node = cluster.node(1);
    assert_eq!(
        (node.role(), node.term(), node.leader()),
        (Role::Follower, term + 3, Some(2))
    );
    assert!(!sends(&actions).is_empty());
}

// Figure 2, all servers: a request from a stale term is rejected with the current term.
#[test]
fn term_rule_stale_request_is_rejected_with_current_term() {
    let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]));
    let _ = node.step(vote_request(5, 2, 0, 0)).unwrap();
    let actions = node.step(vote_request(4, 3, 9, 4)).unwrap();
    match &sends(&actions)[..] {
        [(3, Message::RequestVoteReply(reply))] => {
            assert_eq!((reply.term, reply.vote_granted), (5, false));
        }
        other => panic!("unexpected {other:?}"),
    }
}

// §5.2: a one-node cluster elects itself in one round.
#[test]
fn election_one_node_wins_alone() {
    let mut node = RaftNode::new(RaftConfig::single(1));
    let _ = tick_until_campaign_or_lead(&mut node);
    assert!(node.is_leader());
    assert_eq!(node.term(), 1);
}

fn tick_until_campaign_or_lead(node: &mut RaftNode) -> usize {
    for ticks in 1..1000 {
        let _ = node.step(Event::Tick).unwrap();
        if node.is_leader() {
            return ticks;
        }
    }
    panic!("never led");
}

// §5.2: one election round in clusters of 3 and 5 — a majority of grants wins, a
// majority of refusals loses, anything less keeps the candidate waiting.
#[test]
fn election_one_round_outcomes_for_3_and_5() {
    for size in [3u64, 5] {
        let quorum = size / 2 + 1;
        // (grants, refusals) from other voters -> expected role.
        for grants in 0..size {
            for refusals in 0..(size - grants) {
                let config = RaftConfig::new(1, 1..=size).with_pre_vote(false);
                let mut node = RaftNode::new(config);
                let _ = tick_until_campaign(&mut node);
                assert_eq!(node.role(), Role::Candidate);
                let term = node.term();
                let voters: Vec<u64> = (2..=size).collect();
                for (position, &voter) in voters.iter().enumerate() {
                    let granted = if (position as u64) < grants {
                        true
                    } else if (position as u64) < grants + refusals {
                        false
                    } else {
                        continue;
                    };
                    let reply = RequestVoteReply {
                        term,
                        vote_granted: granted,
                        from: voter,
                        incarnation: 0,
                    };
                    let _ = node
                        .step(Event::Message(Message::RequestVoteReply(reply)))
                        .unwrap();
                }
                let expected = if grants + 1 >= quorum {
                    Role::Leader
                } else if refusals >= quorum {
                    Role::Follower
                } else {
                    Role::Candidate
                };
                assert_eq!(
                    node.role(),
                    expected,
                    "size {size}, {grants} grants, {refusals} refusals"
                );
            }
        }
    }
}

// §5.2: each server votes for at most one candidate per term, first come first served.
#[test]
fn election_one_vote_per_term() {
    let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]));
    assert_eq!(
        vote_granted(&node.step(vote_request(1, 2, 0, 0)).unwrap()),
        Some(true)
    );
    assert_eq!(
        vote_granted(&node.step(vote_request(1, 3, 0, 0)).unwrap()),
        Some(false)
    );
    // A duplicate request from the same candidate is granted again.
    assert_eq!(
        vote_granted(&node.step(vote_request(1, 2, 0, 0)).unwrap()),
        Some(true)
    );
}

// §5.4.1: the election restriction — a voter refuses a candidate whose log is less
// up to date (lower last term, or same last term and shorter).
#[test]
fn election_restriction_refuses_stale_logs() {
    let build = || {
        let log = log_with_terms(&[1, 1, 2], 2);
        RaftNode::with_log(RaftConfig::new(1, [2, 3]), log)
    };
    let cases = [
        ((3, 1), false), // older last term, longer
        ((2, 2), false), // same last term, shorter
        ((3, 2), true),  // identical
        ((4, 2), true),  // same term, longer
        ((1, 3), true),  // newer last term, shorter
    ];
    for ((last_index, last_term), expected) in cases {
        let mut node = build();
        let actions = node
            .step(vote_request(3, 2, last_index, last_term))
            .unwrap();
        assert_eq!(
            vote_granted(&actions),
            Some(expected),
            "candidate log ({last_index}, {last_term})"
        );
    }
}

// Durability: a vote survives a restart, so a node never votes twice in one term.
#[test]
fn vote_persists_across_restart() {
    let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]));
    assert_eq!(
        vote_granted(&node.step(vote_request(7, 2, 0, 0)).unwrap()),
        Some(true)
    );
    let log = node.into_log();
    let mut restarted = RaftNode::with_log(RaftConfig::new(1, [2, 3]), log);
    assert_eq!((restarted.term(), restarted.voted_for()), (7, Some(2)));
    assert_eq!(
        vote_granted(&restarted.step(vote_request(7, 3, 5, 5)).unwrap()),
        Some(false)
    );
}

// Defect 0.8: votes from nodes outside the configuration must not count. (Requests
// from them are still answered: a candidate may know a newer configuration.)
#[test]
fn votes_from_non_members_are_not_counted() {
    let config = RaftConfig::new(1, [2, 3]).with_pre_vote(false);
    let mut node = RaftNode::new(config);
    let _ = tick_until_campaign(&mut node);
    let term = node.term();
    let reply = RequestVoteReply {
        term,
        vote_granted: true,
        from: 99,
        incarnation: 0,
    };
    let error = node
        .step(Event::Message(Message::RequestVoteReply(reply)))
        .unwrap_err();
    assert_eq!(error, Error::UnknownNode { node: 99 });
    assert_eq!(node.role(), Role::Candidate);
    let pre_vote_reply = PreVoteReply {
        term: term + 1,
        vote_granted: true,
        from: 98,
        incarnation: 0,
    };
    let error = node
        .step(Event::Message(Message::PreVoteReply(pre_vote_reply)))
        .unwrap_err();
    assert_eq!(error, Error::UnknownNode { node: 98 });
    let mut voter = RaftNode::new(RaftConfig::new(1, [2, 3]));
    let request = PreVote {
        term: 1,
        candidate: 99,
        last_log_index: 0,
        last_log_term: 0,
    };
    let actions = voter
        .step(Event::Message(Message::PreVote(request)))
        .unwrap();
    assert!(matches!(
        &actions[..],
        [Action::Send {
            to: 99,
            message: Message::PreVoteReply(_)
        }]
    ));
}

// Thesis §9.6: a pre-vote round changes no term and sends no real vote request until a
// majority says it could win.
#[test]
fn pre_vote_does_not_bump_term() {
    let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]));
    let actions = tick_until_campaign(&mut node);
    assert_eq!(node.term(), 0);
    assert_eq!(node.role(), Role::Follower);
    assert!(
        sends(&actions)
            .iter()
            .all(|(_, m)| matches!(m, Message::PreVote(p) if p.term == 1))
    );
    // One grant is a majority with itself: the real election starts in term 1.
    let reply = PreVoteReply {
        term: 1,
        vote_granted: true,
        from: 2,
        incarnation: 0,
    };
    let actions = node
        .step(Event::Message(Message::PreVoteReply(reply)))
        .unwrap();
    assert_eq!((node.role(), node.term()), (Role::Candidate, 1));
    assert!(
        sends(&actions)
            .iter()
            .all(|(_, m)| matches!(m, Message::RequestVote(_)))
    );
}

// Defect 0.8: a pre-vote for the receiver's own term (a candidate a term behind) is
// refused; only a strictly higher term can be granted.
#[test]
fn pre_vote_requires_a_strictly_higher_term() {
    let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]));
    let _ = node.step(vote_request(4, 3, 0, 0)).unwrap();
    assert_eq!(node.term(), 4);
    for (term, expected) in [(4, false), (5, true)] {
        let request = PreVote {
            term,
            candidate: 2,
            last_log_index: 0,
            last_log_term: 0,
        };
        let actions = node
            .step(Event::Message(Message::PreVote(request)))
            .unwrap();
        let granted = sends(&actions)
            .into_iter()
            .find_map(|(_, message)| match message {
                Message::PreVoteReply(reply) => Some(reply.vote_granted),
                _ => None,
            });
        assert_eq!(granted, Some(expected), "pre-vote for term {term}");
        assert_eq!(node.term(), 4, "a pre-vote never moves the receiver's term");
    }
}

// Thesis §9.6: a node partitioned away keeps timing out, but with pre-vote it never
// bumps its term, and on rejoining it does not depose the leader.
#[test]
fn pre_vote_rejoining_node_does_not_depose_leader() {
    let mut cluster = Cluster::new(3, 7);
    cluster.elect(1);
    let term = cluster.node(1).term();
    cluster.isolate(3);
    for _ in 0..200 {
        cluster.round();
    }
    assert_eq!(
        cluster.node(3).term(),
        term,
        "isolated node must not inflate its term"
    );
    cluster.heal();
    for _ in 0..100 {
        cluster.round();
    }
    assert_eq!(cluster.leader(), Some(1));
    assert_eq!(cluster.node(1).term(), term);
    assert_eq!(cluster.node(3).leader(), Some(1));
}

// Without pre-vote the same partition does force a new term: the control experiment
// showing the previous test can fail.
#[test]
fn without_pre_vote_rejoining_node_disrupts() {
    let configs: BTreeMap<u64, RaftConfig> = (1..=3)
        .map(|id| {
            (
                id,
                RaftConfig::new(id, 1..=3)
                    .with_pre_vote(false)
                    .with_seed(id),
            )
        })
        .collect();
    let mut cluster = Cluster::with_configs(configs, 7);
    cluster.elect(1);
    let term = cluster.node(1).term();
    cluster.isolate(3);
    for _ in 0..200 {
        cluster.round();
    }
    assert!(cluster.node(3).term() > term);
}

// Thesis §4.2.3: a follower that heard from its leader within the minimum election
// timeout neither grants a vote nor adopts the higher term.
#[test]
fn leader_stickiness_refuses_votes_while_leader_is_fresh() {
    let mut cluster = Cluster::new(3, 3);
    cluster.elect(1);
    let term = cluster.node(1).term();
    let last_index = cluster.node(2).log().last_index();
    let actions = cluster
        .step(2, vote_request(term + 1, 3, last_index + 5, term))
        .unwrap();
    assert!(actions.is_empty());
    assert_eq!(cluster.node(2).term(), term);
    // Once the leader is silent for a full election timeout, the vote is granted.
    cluster.crash(1);
    for _ in 0..25 {
        cluster.tick(2);
        cluster.queue.clear();
    }
    let last_index = cluster.node(2).log().last_index();
    let actions = cluster
        .step(2, vote_request(term + 5, 3, last_index + 5, term))
        .unwrap();
    assert_eq!(vote_granted(&actions), Some(true));
}

// A forced election (leadership transfer) bypasses stickiness.
#[test]
fn forced_vote_request_bypasses_stickiness() {
    let mut cluster = Cluster::new(3, 3);
    cluster.elect(1);
    let term = cluster.node(1).term();
    let last_index = cluster.node(2).log().last_index();
    let request = RequestVote {
        term: term + 1,
        candidate: 3,
        last_log_index: last_index,
        last_log_term: term,
        force: true,
    };
    let actions = cluster
        .step(2, Event::Message(Message::RequestVote(request)))
        .unwrap();
    assert_eq!(vote_granted(&actions), Some(true));
}

// Thesis §6.2 / defect 0.8: an isolated leader steps down within an election timeout
// instead of accepting proposals it can never commit.
#[test]
fn check_quorum_isolated_leader_steps_down() {
    let mut cluster = Cluster::new(3, 11);
    cluster.elect(1);
    cluster.isolate(1);
    let mut rounds = 0;
    while cluster.node(1).is_leader() {
        cluster.round();
        rounds += 1;
        assert!(
            rounds <= 2 * 20,
            "isolated leader kept leading for {rounds} ticks"
        );
    }
    let error = cluster.propose(1, "lost").unwrap_err();
    assert!(matches!(error, Error::NotLeader { .. }));
    // The majority side elects a new leader meanwhile.
    cluster.run_until(200, |c| c.leader().is_some_and(|leader| leader != 1));
}

// The control: without check-quorum, the isolated leader keeps leading.
#[test]
fn without_check_quorum_isolated_leader_stays() {
    let configs: BTreeMap<u64, RaftConfig> = (1..=3)
        .map(|id| {
            (
                id,
                RaftConfig::new(id, 1..=3)
                    .with_check_quorum(false)
                    .with_seed(id),
            )
        })
        .collect();
    let mut cluster = Cluster::with_configs(configs, 11);
    cluster.elect(1);
    cluster.isolate(1);
    for _ in 0..100 {
        cluster.round();
    }
    assert!(cluster.node(1).is_leader());
}

// Defect 0.8: term overflow, and the 2^64-2 frame that ended all elections. A term past
// TERM_MAX, or further ahead than TERM_ADVANCE_MAX, is refused and leaves the node as it
// was; a node at TERM_MAX never campaigns into an unanswerable term.
#[test]
fn term_ceiling_refuses_terms_no_election_could_follow() {
    let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]));
    for term in [Term::MAX, Term::MAX - 1, TERM_MAX + 1, TERM_ADVANCE_MAX + 1] {
        let error = node.step(vote_request(term, 2, 0, 0)).unwrap_err();
        assert!(
            matches!(error, Error::InvalidMessage { .. }),
            "term {term}: {error:?}"
        );
        assert_eq!(node.term(), 0, "term {term} was adopted");
        assert_eq!(node.log().hard_state().term, 0);
    }
    let _ = node.step(vote_request(TERM_ADVANCE_MAX, 2, 0, 0)).unwrap();
    assert_eq!(
        node.term(),
        TERM_ADVANCE_MAX,
        "a big but possible jump is taken"
    );

    // Restored at the ceiling (the only way to get there is 2^31 maximal jumps).
    let mut log = raft_core::MemoryLog::new();
    log.set_hard_state(raft_core::HardState {
        term: TERM_MAX,
        voted_for: None,
        commit_index: 0,
    })
    .unwrap();
    let mut node = RaftNode::with_log(RaftConfig::new(1, [2, 3]), log);
    for _ in 0..200 {
        let actions = node.step(Event::Tick).unwrap();
        assert!(actions.is_empty());
    }
    assert_eq!(node.term(), TERM_MAX);

    // A log poisoned past the ceiling by an older version is a clear error.
    let mut log = raft_core::MemoryLog::new();
    log.set_hard_state(raft_core::HardState {
        term: Term::MAX - 1,
        voted_for: None,
        commit_index: 0,
    })
    .unwrap();
    let error = RaftNode::try_with_log(RaftConfig::new(1, [2, 3]), log).unwrap_err();
    assert!(matches!(error, Error::Storage { .. }), "{error:?}");
}

// Defect 0.8: every cluster with ids 1..3 drew the same timeouts. Default seeds still
// replay (determinism), but different seeds elect at different ticks.
#[test]
fn seeds_change_election_timing() {
    let ticks_to_campaign = |seed: u64| {
        let mut node = RaftNode::new(RaftConfig::new(1, [2, 3]).with_seed(seed));
        (1..)
            .find(|_| !node.step(Event::Tick).unwrap().is_empty())
            .unwrap()
    };
    let draws: std::collections::BTreeSet<u32> = (0..50).map(ticks_to_campaign).collect();
    assert!(
        draws.len() > 3,
        "timeouts barely vary with the seed: {draws:?}"
    );
    assert_eq!(ticks_to_campaign(9), ticks_to_campaign(9));
}

// Election timeouts fall within the configured inclusive range.
#[test]
fn election_timeout_within_range() {
    for seed in 0..100 {
        let config = RaftConfig::new(1, [2, 3])
            .with_election_timeout(5, 8)
            .with_heartbeat_interval(1)
            .with_seed(seed);
        let mut node = RaftNode::new(config);
        let ticks = (1..)
            .find(|_| !node.step(Event::Tick).unwrap().is_empty())
            .unwrap();
        assert!((5..=8).contains(&ticks), "seed {seed}: {ticks}");
    }
}

// Clusters of 1, 3 and 5 elect exactly one leader with all messages delivered.
#[test]
fn clusters_of_1_3_5_elect_one_leader() {
    for size in [1u64, 3, 5] {
        for seed in 0..20 {
            let mut cluster = Cluster::new(size, seed);
            let leader = cluster.elect_any();
            for _ in 0..30 {
                cluster.round();
            }
            assert_eq!(cluster.leader(), Some(leader), "size {size} seed {seed}");
            for id in 1..=size {
                assert_eq!(cluster.node(id).leader(), Some(leader));
            }
        }
    }
}
