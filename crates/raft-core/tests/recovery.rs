//! Recovery from a damaged disk (docs/RECOVERY.md, rule 1): a node that lost entries it
//! may have acknowledged refuses every vote and never campaigns until a leader has sent
//! them back; the cluster waits rather than elect a leader without a committed entry.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use raft_core::testing::CrashLog;
use raft_core::{
    Action, AppendEntries, Event, HardState, LogEntry, Message, PreVote, RaftConfig, RaftLog,
    RaftNode, RepairMark, RequestVote, Role, TimeoutNow,
};

/// Three nodes led by 1; "x" committed by 1 and 2 while 3 was cut off. Returns the
/// cluster and x's index.
fn x_committed_without_node_3(seed: u64) -> (Cluster, u64) {
    let mut cluster = Cluster::new(3, seed);
    cluster.elect(1);
    let _ = cluster.propose(1, "before").unwrap();
    cluster.run_until(50, |c| c.applied_commands(3) == ["before"]);
    cluster.isolate(3);
    let _ = cluster.propose(1, "x").unwrap();
    cluster.run_until(50, |c| c.applied_commands(2) == ["before", "x"]);
    let x = cluster.node(1).log().last_index();
    assert_eq!(cluster.node(1).commit_index(), x);
    assert!(cluster.node(3).log().last_index() < x, "3 never saw x");
    (cluster, x)
}

// The paper's case (Alagappan et al., FAST 2018): a follower loses an entry that was
// committed with its acknowledgement, then the leader crashes. The follower's log now
// looks no longer than the node that never had the entry; without the repair mark it
// would elect that node, which lacks a committed entry.
#[test]
fn a_follower_that_lost_a_committed_entry_does_not_elect_a_leader_without_it() {
    let (mut cluster, x) = x_committed_without_node_3(1);
    cluster.crash(1);
    cluster.crash(2);
    cluster.restart_damaged(2, x);
    assert_eq!(cluster.node(2).log().last_index(), x - 1);
    assert_eq!(cluster.node(2).status().repair_through(), Some(x));
    cluster.heal();
    cluster.isolate(1); // still down: nobody hears it
    for _ in 0..200 {
        cluster.round();
        assert_eq!(cluster.leader(), None, "elected a leader without x");
    }
    // The node with the only intact copy comes back: it leads and repairs node 2.
    cluster.restart(1);
    cluster.heal();
    let leader = cluster.elect_any();
    assert_eq!(leader, 1, "only node 1 holds x");
    cluster.run_until(100, |c| c.node(2).status().repair_through().is_none());
    assert_eq!(
        cluster.node(2).log().term_at(x),
        cluster.node(1).log().term_at(x)
    );
    let _ = cluster.propose(1, "after").unwrap();
    cluster.run_until(100, |c| {
        c.applied_commands(2).last().map(String::as_str) == Some("after")
    });
    cluster.check_log_matching();
}

// The leader's own entry is damaged: it restarts repairing, does not campaign, and a
// follower that holds the entry leads and sends it back.
#[test]
fn a_leader_whose_own_entry_is_damaged_is_repaired_by_the_next_leader() {
    let (mut cluster, x) = x_committed_without_node_3(2);
    cluster.crash(1);
    cluster.restart_damaged(1, x);
    cluster.heal();
    let leader = cluster.elect_any();
    assert_eq!(leader, 2, "2 holds x; 1 is repairing and 3 lacks x");
    cluster.run_until(100, |c| c.node(1).status().repair_through().is_none());
    assert_eq!(
        cluster.node(1).log().last_index(),
        cluster.node(2).log().last_index()
    );
    // Repaired, node 1 may lead again.
    let _ = cluster.step(2, Event::TransferLeadership(1)).unwrap();
    cluster.run_until(100, |c| c.leader() == Some(1));
    cluster.check_log_matching();
}

// While repairing, a node never campaigns (not even on TimeoutNow) and grants a
// (pre-)vote only to a log at least as up to date as the one it lost: (term 1, index
// 6) here. The mark is cleared (durably, with a Repaired action) only by an append
// that reaches it.
#[test]
fn a_repairing_node_votes_only_for_logs_as_good_as_the_lost_one() {
    let mut log = CrashLog::default();
    let entries: Vec<LogEntry> = (1..=6)
        .map(|i| LogEntry::new(1, i, vec![i as u8]))
        .collect();
    log.append(&entries).unwrap();
    log.set_hard_state(HardState {
        term: 1,
        voted_for: Some(2),
        commit_index: 6,
    })
    .unwrap();
    log.sync().unwrap();
    let log = log.after_disk_damage(4);
    assert_eq!(log.last_index(), 3);
    assert_eq!(
        log.repair_mark(),
        Some(RepairMark {
            through: 6,
            term: 1
        })
    );
    assert_eq!(log.hard_state().commit_index, 3);
    let mut node = RaftNode::with_log(RaftConfig::new(1, [2, 3]), log);
    for _ in 0..100 {
        let actions = node.step(Event::Tick).unwrap();
        assert!(
            cluster::sends(&actions).is_empty(),
            "a repairing node campaigned"
        );
    }
    let timeout_now = Message::TimeoutNow(TimeoutNow { term: 1, leader: 2 });
    let _ = node.step(Event::Message(timeout_now)).unwrap();
    assert_eq!(node.role(), Role::Follower);
    let granted = |node: &mut RaftNode<CrashLog>, term: u64, last_index: u64, last_term: u64| {
        let pre_vote = Message::PreVote(PreVote {
            term,
            candidate: 3,
            last_log_index: last_index,
            last_log_term: last_term,
        });
        let vote = Message::RequestVote(RequestVote {
            term,
            candidate: 3,
            last_log_index: last_index,
            last_log_term: last_term,
            force: true,
        });
        [pre_vote, vote].map(|request| {
            let actions = node.step(Event::Message(request)).unwrap();
            cluster::sends(&actions)
                .iter()
                .any(|(_, reply)| match reply {
                    Message::PreVoteReply(reply) => reply.vote_granted,
                    Message::RequestVoteReply(reply) => reply.vote_granted,
                    _ => false,
                })
        })
    };
    // Longer than what it holds now, shorter than what it lost: refused.
    assert_eq!(granted(&mut node, 2, 5, 1), [false, false]);
    // As long as what it lost: granted.
    assert_eq!(granted(&mut node, 3, 6, 1), [true, true]);
    // Leader 3 of term 3 sends entry 4 only: not yet through the mark.
    let append = |prev: u64, entries: Vec<LogEntry>| {
        Message::AppendEntries(AppendEntries {
            term: 3,
            leader: 3,
            prev_log_index: prev,
            prev_log_term: 1,
            entries,
            leader_commit: 3,
        })
    };
    let actions = node
        .step(Event::Message(append(
            3,
            vec![LogEntry::new(1, 4, vec![4])],
        )))
        .unwrap();
    assert!(!actions.iter().any(|a| matches!(a, Action::Repaired { .. })));
    assert_eq!(node.status().repair_through(), Some(6));
    let rest: Vec<LogEntry> = (5..=7)
        .map(|i| LogEntry::new(3, i, vec![i as u8]))
        .collect();
    let actions = node.step(Event::Message(append(4, rest))).unwrap();
    assert!(actions.contains(&Action::Repaired { through: 6 }));
    assert_eq!(node.status().repair, None);
    assert_eq!(node.log().durable().repair_mark(), None, "cleared durably");
}

// A crash during the repair keeps the mark: the node repairs again, it never forgets.
#[test]
fn the_repair_mark_survives_a_crash_before_the_repair_completes() {
    let (mut cluster, x) = x_committed_without_node_3(3);
    cluster.crash(2);
    cluster.restart_damaged(2, x - 1);
    cluster.crash(2);
    cluster.restart(2);
    assert_eq!(cluster.node(2).status().repair_through(), Some(x));
    cluster.heal();
    cluster.run_until(100, |c| c.node(2).status().repair_through().is_none());
    cluster.check_log_matching();
}

// A single node that lost entries has nobody to repair it from: it waits, and never
// leads with a log missing committed entries.
#[test]
fn a_single_node_that_lost_entries_never_leads() {
    let mut cluster = Cluster::new(1, 4);
    cluster.elect(1);
    let _ = cluster.propose(1, "x").unwrap();
    let x = cluster.node(1).log().last_index();
    cluster.crash(1);
    cluster.restart_damaged(1, x);
    for _ in 0..200 {
        cluster.round();
    }
    assert_eq!(cluster.node(1).role(), Role::Follower);
}

// A mark that over-estimates (damage at the end of the log: its bound is far past
// anything the cluster wrote) clears once the node agrees with a leader through an
// entry of a term above the mark's, instead of leaving the node abstaining until the
// cluster's log grows past the bound.
#[test]
fn an_over_estimated_mark_clears_once_a_newer_term_s_entry_arrives() {
    let mut cluster = Cluster::new(3, 21);
    cluster.elect(1);
    for command in ["a", "b", "c"] {
        let _ = cluster.propose(1, command).unwrap();
    }
    cluster.run_until(100, |c| c.applied_commands(3).len() == 3);
    let term = cluster.node(1).term();
    cluster.crash(3);
    cluster.restart_marked(
        3,
        RepairMark {
            through: 1_000,
            term,
        },
    );
    // Entries of the mark's own term do not clear it: they are no evidence that the
    // node holds what it lost.
    let _ = cluster.propose(1, "d").unwrap();
    cluster.run_until(100, |c| c.applied_commands(3).len() == 4);
    assert_eq!(cluster.node(3).status().repair_through(), Some(1_000));
    // A leader of a newer term: once its entry of that term reaches node 3, the mark
    // clears, far below 1,000.
    let _ = cluster.step(1, Event::TransferLeadership(2)).unwrap();
    cluster.run_until(100, |c| c.leader() == Some(2));
    let _ = cluster.propose(2, "e").unwrap();
    cluster.run_until(100, |c| c.node(3).status().repair_through().is_none());
    assert!(cluster.node(3).log().last_index() < 10);
    assert!(cluster.node(3).log().last_term() > term);
}
