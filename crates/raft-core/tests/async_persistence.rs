//! Async persistence on every role (`RaftConfig::with_async_persistence`): a step may
//! end with writes not yet durable; every message that depends on them waits inside the
//! node until `Event::SyncLog`, so one sync covers many messages and the durability
//! contract is exactly as strict (the support cluster checks every released message
//! against the log's durable state). And backpressure: a leader's uncommitted bytes are
//! bounded.

#[path = "support/cluster.rs"]
mod cluster;

use std::collections::BTreeMap;

use cluster::{Cluster, check_sends_are_durable, sends};
use raft_core::testing::CrashLog;
use raft_core::{
    Action, AppendEntries, Error, Event, LogEntry, Message, RaftConfig, RaftLog, RaftNode,
    RequestVote,
};

fn follower() -> RaftNode<CrashLog> {
    let config = RaftConfig::new(2, [1, 2, 3]).with_async_persistence(true);
    RaftNode::with_log(config, CrashLog::default())
}

fn append(prev: u64, entries: Vec<LogEntry>) -> Event {
    Event::Message(Message::AppendEntries(AppendEntries {
        term: 1,
        leader: 1,
        prev_log_index: prev,
        prev_log_term: if prev == 0 { 0 } else { 1 },
        entries,
        leader_commit: 0,
    }))
}

fn entry(index: u64) -> LogEntry {
    LogEntry::new(1, index, vec![index as u8])
}

// A follower steps three appends and answers none of them; one sync then makes all
// three durable and releases the three acknowledgements, in order.
#[test]
fn a_follower_holds_its_acknowledgements_until_one_sync_covers_them() {
    let mut node = follower();
    let mut sync_requests = 0;
    for index in 1..=3 {
        let actions = node.step(append(index - 1, vec![entry(index)])).unwrap();
        assert!(
            sends(&actions).is_empty(),
            "an acknowledgement left before its sync"
        );
        sync_requests += actions.iter().filter(|a| **a == Action::SyncLog).count();
    }
    assert_eq!(sync_requests, 1, "asked once");
    assert_eq!(node.log().syncs(), 0);
    assert_eq!(node.log().durable().last_index(), 0);
    let actions = node.step(Event::SyncLog).unwrap();
    assert_eq!(node.log().syncs(), 1, "one sync for three messages");
    check_sends_are_durable(2, node.log(), &actions);
    let matches: Vec<u64> = sends(&actions)
        .into_iter()
        .filter_map(|(_, message)| match message {
            Message::AppendEntriesReply(reply) if reply.success => Some(reply.match_index),
            _ => None,
        })
        .collect();
    assert_eq!(matches, vec![1, 2, 3]);
}

// A vote waits for its sync too; a crash before the sync loses the vote and nothing
// that depended on it ever left.
#[test]
fn a_vote_waits_for_its_sync_and_a_crash_before_it_sends_nothing() {
    let mut node = follower();
    let request = Event::Message(Message::RequestVote(RequestVote {
        term: 4,
        candidate: 3,
        last_log_index: 0,
        last_log_term: 0,
        force: false,
    }));
    let actions = node.step(request).unwrap();
    assert!(sends(&actions).is_empty() && actions.contains(&Action::SyncLog));
    assert_eq!(node.log().durable_hard_state().voted_for, None);
    // A crash here: the vote is gone, and so is the reply (never returned).
    let crashed = node.log().clone().after_crash(0);
    assert_eq!(crashed.durable_hard_state().term, 0);
    let actions = node.step(Event::SyncLog).unwrap();
    check_sends_are_durable(2, node.log(), &actions);
    assert!(sends(&actions).iter().any(|(to, message)| *to == 3
        && matches!(message, Message::RequestVoteReply(reply) if reply.vote_granted)));
}

// A commit notice that reaches a follower while its acknowledgement is still held
// (unsynced) is not answered: the held acknowledgement already says more. The notice
// commits nothing the log does not hold, nothing is applied before the sync, and the
// sync releases exactly the held acknowledgement.
#[test]
fn a_commit_notice_behind_a_held_acknowledgement_adds_no_answer() {
    let mut node = follower();
    let actions = node.step(append(0, vec![entry(1), entry(2)])).unwrap();
    assert!(sends(&actions).is_empty());
    let notice = Event::Message(Message::AppendEntries(AppendEntries {
        term: 1,
        leader: 1,
        prev_log_index: 2,
        prev_log_term: 1,
        entries: Vec::new(),
        leader_commit: 2,
    }));
    let actions = node.step(notice).unwrap();
    assert!(sends(&actions).is_empty(), "{actions:?}");
    assert_eq!(node.commit_index(), 2);
    assert!(
        !actions
            .iter()
            .any(|action| matches!(action, Action::Apply { .. })),
        "applied before the entries were durable"
    );
    let actions = node.step(Event::SyncLog).unwrap();
    check_sends_are_durable(2, node.log(), &actions);
    let replies: Vec<(bool, u64)> = sends(&actions)
        .into_iter()
        .filter_map(|(_, message)| match message {
            Message::AppendEntriesReply(reply) => Some((reply.success, reply.match_index)),
            _ => None,
        })
        .collect();
    assert_eq!(replies, vec![(true, 2)]);
    assert_eq!(
        actions
            .iter()
            .filter(|action| matches!(action, Action::Apply { .. }))
            .count(),
        2
    );
}

// A driver that never steps SyncLog still makes progress: the next tick syncs and
// releases what was held.
#[test]
fn a_tick_syncs_for_a_driver_that_never_does() {
    let mut node = follower();
    let _ = node.step(append(0, vec![entry(1)])).unwrap();
    let actions = node.step(Event::Tick).unwrap();
    check_sends_are_durable(2, node.log(), &actions);
    assert_eq!(sends(&actions).len(), 1);
    assert_eq!(node.log().durable().last_index(), 1);
}

fn async_cluster(seed: u64, size: u64, configure: impl Fn(RaftConfig) -> RaftConfig) -> Cluster {
    let configs: BTreeMap<u64, RaftConfig> = (1..=size)
        .map(|id| {
            let config = RaftConfig::new(id, 1..=size)
                .with_seed(id + seed)
                .with_async_persistence(true);
            (id, configure(config))
        })
        .collect();
    Cluster::with_configs(configs, seed)
}

// A whole cluster in async mode under loss, duplication and reordering, with crashes:
// it elects, commits and converges, and every message any node released was backed
// by its durable state (checked on every step).
#[test]
fn a_cluster_with_async_persistence_stays_safe_under_faults_and_crashes() {
    for seed in 0..20 {
        let mut cluster = async_cluster(seed, 3, |config| config);
        cluster.faults.drop_percent = 5;
        cluster.faults.duplicate_percent = 5;
        cluster.faults.reorder_percent = 10;
        let mut proposed = 0;
        for round in 0..300 {
            cluster.round();
            if let Some(leader) = cluster.leader()
                && round % 3 == 0
                && cluster.propose(leader, &format!("c{round}")).is_ok()
            {
                proposed += 1;
            }
            if round % 50 == 25 {
                let victim = 1 + (seed + round as u64) % 3;
                cluster.crash(victim);
                cluster.round();
                cluster.restart(victim);
            }
        }
        cluster.faults.drop_percent = 0;
        cluster.faults.duplicate_percent = 0;
        cluster.faults.reorder_percent = 0;
        let leader = cluster.elect_any();
        let _ = cluster.propose(leader, "last").unwrap();
        cluster.run_until(300, |c| {
            (1..=3).all(|id| c.applied_commands(id).last().map(String::as_str) == Some("last"))
        });
        cluster.check_log_matching();
        assert!(proposed > 10, "seed {seed}: only {proposed} proposals");
    }
}

// Backpressure: past the cap on uncommitted bytes a proposal is refused (retryable)
// and nothing is appended; once the entries commit, proposals go in again. A leader
// with nothing uncommitted takes one batch larger than the cap.
#[test]
fn proposals_past_the_uncommitted_cap_are_refused_until_entries_commit() {
    let mut cluster = async_cluster(7, 3, |config| config.with_uncommitted_bytes_max(100));
    cluster.elect(1);
    cluster.isolate(1);
    let big = "x".repeat(150);
    let _ = cluster
        .propose(1, &big)
        .expect("one batch past the cap when empty");
    let last = cluster.node(1).log().last_index();
    let error = cluster.propose(1, "y").unwrap_err();
    assert!(
        matches!(error, Error::LimitExceeded { max: 100, .. }),
        "{error}"
    );
    assert!(error.is_retryable());
    assert_eq!(cluster.node(1).log().last_index(), last, "nothing appended");
    assert_eq!(cluster.node(1).status().uncommitted_bytes, 150);
    cluster.heal();
    cluster.run_until(100, |c| c.node(1).status().uncommitted_bytes == 0);
    let _ = cluster.propose(1, &"z".repeat(60)).unwrap();
    let error = cluster.propose(1, &"w".repeat(60)).unwrap_err();
    assert!(
        matches!(error, Error::LimitExceeded { .. }),
        "60 + 60 > 100"
    );
}

// A single voter wins its election with its own vote alone: with async persistence it
// leads only once that vote is durable (found by the simulator: a candidate that led
// at once and crashed before its sync came back in the old term and voted again).
#[test]
fn a_candidate_leads_only_once_its_own_vote_is_durable() {
    let config = RaftConfig::new(1, [1])
        .with_pre_vote(false)
        .with_async_persistence(true);
    let mut node = RaftNode::with_log(config, CrashLog::default());
    let mut actions = Vec::new();
    while !actions.contains(&Action::SyncLog) {
        actions = node.step(Event::Tick).unwrap();
    }
    assert!(!node.is_leader(), "led before its vote was durable");
    assert_eq!(node.log().durable_hard_state().voted_for, None);
    let _ = node.step(Event::SyncLog).unwrap();
    assert!(node.is_leader());
    assert_eq!(node.log().durable_hard_state().voted_for, Some(1));
}
