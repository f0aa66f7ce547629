//! Log replication and commitment rules from the Raft paper (§5.3, §5.4.2, Figures 7
//! and 8), flow control, and the replication defects of raft-io 0.8.

#[path = "support/cluster.rs"]
mod cluster;

use std::collections::BTreeMap;

use cluster::{Cluster, CrashLog, log_with_terms};
use raft_core::{
    Action, AppendEntries, AppendEntriesReply, Bytes, EntryKind, Error, Event, LogEntry, Message,
    RaftConfig, RaftLog, RaftNode, Term,
};

fn append(term: Term, prev: (u64, Term), entries: &[(u64, Term)], leader_commit: u64) -> Event {
    Event::Message(Message::AppendEntries(AppendEntries {
        term,
        leader: 2,
        prev_log_index: prev.0,
        prev_log_term: prev.1,
        entries: entries
            .iter()
            .map(|&(i, t)| LogEntry::new(t, i, format!("{t}@{i}").into_bytes()))
            .collect(),
        leader_commit,
    }))
}

fn reply_of(actions: &[Action]) -> AppendEntriesReply {
    actions
        .iter()
        .find_map(|action| match action {
            Action::Send {
                message: Message::AppendEntriesReply(reply),
                ..
            } => Some(reply.clone()),
            _ => None,
        })
        .expect("an AppendEntries reply")
}

fn terms_of(log: &impl RaftLog) -> Vec<Term> {
    (1..=log.last_index())
        .map(|i| log.term_at(i).unwrap())
        .collect()
}

fn follower(terms: &[Term], term: Term) -> RaftNode<CrashLog> {
    RaftNode::with_log(RaftConfig::new(1, [2, 3]), log_with_terms(terms, term))
}

// §5.3: the consistency check — a follower refuses entries whose predecessor it does
// not hold, and says where to retry.
#[test]
fn append_consistency_check_rejects_missing_predecessor() {
    let mut node = follower(&[1, 1, 2], 2);
    let reply = reply_of(&node.step(append(3, (5, 2), &[(6, 3)], 0)).unwrap());
    assert!(!reply.success);
    assert_eq!(
        (reply.conflict_index, reply.conflict_term),
        (3, 2),
        "past the end: our last entry"
    );
    let reply = reply_of(&node.step(append(3, (3, 3), &[(4, 3)], 0)).unwrap());
    assert!(!reply.success);
    assert_eq!((reply.conflict_index, reply.conflict_term), (3, 2));
    assert_eq!(node.log().last_index(), 3, "nothing appended on rejection");
}

// §5.3: an existing entry that conflicts with a new one (same index, other term) is
// deleted with all that follow, then the new entries are appended.
#[test]
fn append_conflict_truncates_and_replaces() {
    let mut node = follower(&[1, 1, 2, 2], 3);
    let reply = reply_of(&node.step(append(3, (2, 1), &[(3, 3)], 0)).unwrap());
    assert!(reply.success);
    assert_eq!(reply.match_index, 3);
    assert_eq!(terms_of(node.log()), vec![1, 1, 3]);
}

// §5.3: appending entries already present is idempotent (no truncation of a longer,
// matching log by a stale, shorter message).
#[test]
fn append_of_present_entries_keeps_longer_log() {
    let mut node = follower(&[1, 1, 1, 1], 1);
    let reply = reply_of(&node.step(append(1, (1, 1), &[(2, 1)], 0)).unwrap());
    assert!(reply.success);
    assert_eq!(reply.match_index, 2);
    assert_eq!(node.log().last_index(), 4);
}

// §5.3: commit on a follower is min(leaderCommit, index of last new entry).
#[test]
fn follower_commit_is_bounded_by_last_new_entry() {
    let mut node = follower(&[1, 1, 1, 1], 1);
    let _ = node.step(append(1, (1, 1), &[(2, 1)], 4)).unwrap();
    assert_eq!(node.commit_index(), 2);
}

// Defect 0.8: the follower commit index went backwards after a reordered message.
#[test]
fn follower_commit_never_decreases_on_reorder() {
    let mut node = follower(&[], 0);
    let entries: Vec<(u64, Term)> = (1..=10).map(|i| (i, 1)).collect();
    let _ = node.step(append(1, (0, 0), &entries, 10)).unwrap();
    assert_eq!(node.commit_index(), 10);
    let _ = node.step(append(1, (0, 0), &entries[..3], 3)).unwrap();
    assert_eq!(node.commit_index(), 10);
    assert_eq!(node.last_applied(), 10);
}

// Defect 0.8: non-contiguous entries from the wire are a refused message, not a fatal
// storage error, and the node keeps working.
#[test]
fn malformed_append_is_refused_not_fatal() {
    let mut node = follower(&[1], 1);
    let bad = [
        append(1, (1, 1), &[(2, 1), (4, 1)], 0), // gap
        append(1, (1, 1), &[(3, 1)], 0),         // not after prev
        append(1, (1, 1), &[(2, 1), (3, 0)], 0), // decreasing terms
        append(1, (1, 1), &[(2, 5)], 0),         // entry term past message term
        append(1, (0, 1), &[], 0),               // index 0 with a term
    ];
    for event in bad {
        let error = node.step(event).unwrap_err();
        assert!(
            matches!(error, Error::InvalidMessage { from: 2, .. }),
            "{error}"
        );
        assert!(!error.is_fatal());
    }
    assert_eq!(node.log().last_index(), 1);
    assert!(reply_of(&node.step(append(1, (1, 1), &[(2, 1)], 0)).unwrap()).success);
}

// Defect 0.8: a same-term AppendEntries must never truncate committed entries; a
// message that contradicts them is refused and reported.
#[test]
fn append_contradicting_committed_entries_is_refused() {
    let mut node = follower(&[], 0);
    let _ = node
        .step(append(2, (0, 0), &[(1, 1), (2, 1), (3, 2)], 3))
        .unwrap();
    assert_eq!(node.commit_index(), 3);
    let error = node.step(append(2, (1, 1), &[(2, 2)], 3)).unwrap_err();
    assert!(matches!(error, Error::InvalidMessage { .. }));
    assert_eq!(terms_of(node.log()), vec![1, 1, 2]);
}

/// Builds a 3-node cluster: node 1 leads with `leader_terms` in term `term`, node 2
/// holds `follower_terms`, node 3 mirrors the leader (so it votes for it).
fn figure_cluster(leader_terms: &[Term], follower_terms: &[Term], term: Term) -> Cluster {
    let configs: BTreeMap<u64, RaftConfig> = (1..=3)
        .map(|id| (id, RaftConfig::new(id, 1..=3).with_seed(id)))
        .collect();
    let logs = BTreeMap::from([
        (1, log_with_terms(leader_terms, term - 1)),
        (
            2,
            log_with_terms(
                follower_terms,
                follower_terms
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(0)
                    .max(term - 1),
            ),
        ),
        (3, log_with_terms(leader_terms, term - 1)),
    ]);
    Cluster::with_logs(configs, logs, term)
}

// Figure 7: whatever a follower's log (missing entries a, b; extra uncommitted entries
// c, d; both e, f), the leader's log replaces it and the follower converges.
#[test]
fn figure_7_each_follower_converges_to_the_leader() {
    let leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let followers: [(&str, &[Term]); 6] = [
        ("a", &[1, 1, 1, 4, 4, 5, 5, 6, 6]),
        ("b", &[1, 1, 1, 4]),
        ("c", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]),
        ("d", &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]),
        ("e", &[1, 1, 1, 4, 4, 4, 4]),
        ("f", &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]),
    ];
    for (name, terms) in followers {
        let mut cluster = figure_cluster(&leader, terms, 8);
        cluster.elect(1);
        for _ in 0..20 {
            cluster.round();
        }
        let leader_log = terms_of(cluster.node(1).log());
        assert_eq!(
            terms_of(cluster.node(2).log()),
            leader_log,
            "follower ({name})"
        );
        assert_eq!(
            leader_log.len(),
            11,
            "the leader's ten entries plus its no-op"
        );
        assert_eq!(cluster.node(2).commit_index(), 11, "follower ({name})");
        cluster.check_log_matching();
    }
}

// Figure 8 / §5.4.2: a leader never commits an entry from an earlier term by counting
// replicas; it commits it only with an entry of its own term.
#[test]
fn figure_8_no_commit_by_counting_old_term_replicas() {
    // Node 1 leads term 3 holding [1, 2]; index 2 (term 2) is replicated nowhere else.
    let mut node = RaftNode::with_log(
        RaftConfig::new(1, [2, 3]).with_pre_vote(false),
        log_with_terms(&[1, 2], 2),
    );
    while node.role() != raft_core::Role::Candidate {
        let _ = node.step(Event::Tick).unwrap();
    }
    let term = node.term();
    let grant = raft_core::RequestVoteReply {
        term,
        vote_granted: true,
        from: 2,
        incarnation: 0,
    };
    let _ = node
        .step(Event::Message(Message::RequestVoteReply(grant)))
        .unwrap();
    assert!(node.is_leader());
    assert_eq!(
        node.log().entry(3).unwrap().kind,
        EntryKind::Noop,
        "no-op at term start"
    );
    let ack = |match_index, prev_log_index| {
        Event::Message(Message::AppendEntriesReply(AppendEntriesReply {
            term,
            success: true,
            from: 2,
            prev_log_index,
            match_index,
            conflict_index: 0,
            conflict_term: 0,
            incarnation: 0,
        }))
    };
    // A majority (1 and 2) now stores index 2 from term 2: still not committed.
    let _ = node.step(ack(2, 2)).unwrap();
    assert_eq!(node.match_index(2), Some(2));
    assert_eq!(node.commit_index(), 0);
    // Once the term-3 no-op is on a majority, everything up to it commits.
    let actions = node.step(ack(3, 2)).unwrap();
    assert_eq!(node.commit_index(), 3);
    let applied: Vec<u64> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Apply { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(
        applied,
        vec![1, 2],
        "the no-op is not handed to the application"
    );
}

// Figure 8's full history in a 5-node cluster: S1 replicates a term-2 entry to S2 and
// crashes; S5 wins term 3 with an entry of its own; S1 returns in term 4 and spreads its
// term-2 entry to a majority but must not commit it; S5 can still win and overwrite it.
#[test]
fn figure_8_scenario_old_entry_on_majority_is_overwritten_safely() {
    let configs: BTreeMap<u64, RaftConfig> = (1..=5)
        .map(|id| (id, RaftConfig::new(id, 1..=5).with_seed(id)))
        .collect();
    let logs = BTreeMap::from([
        (1, log_with_terms(&[1, 2], 3)),
        (2, log_with_terms(&[1, 2], 3)),
        (3, log_with_terms(&[1], 3)),
        (4, log_with_terms(&[1], 3)),
        (5, log_with_terms(&[1, 3], 3)),
    ]);
    let mut cluster = Cluster::with_logs(configs, logs, 8);
    // S1 wins term 4 (votes from S2..S4) but every AppendEntries it sends is lost, so
    // its term-2 entry sits on S1 and S2 only, uncommitted; then S1 crashes.
    cluster.isolate(5);
    while !cluster.node(1).is_leader() {
        cluster.tick(1);
        loop {
            cluster
                .queue
                .retain(|(_, m)| !matches!(m, Message::AppendEntries(_)));
            if !cluster.deliver_one() {
                break;
            }
        }
    }
    assert_eq!(cluster.node(1).term(), 4);
    assert_eq!(cluster.node(1).commit_index(), 0);
    cluster.crash(1);
    cluster.queue.clear();
    cluster.heal();
    // S5 (last term 3) is more up to date than S2..S4 and wins.
    cluster.elect(5);
    for _ in 0..20 {
        cluster.round();
    }
    // S5's term-3 entry replaced the uncommitted term-2 entry everywhere it reached.
    for id in 2..=5 {
        assert_eq!(cluster.node(id).log().term_at(2), Some(3), "node {id}");
    }
    cluster.check_log_matching();
}

// §5.3: a leader appends commands, replicates, and every node applies each committed
// command once, in log order.
#[test]
fn committed_entries_apply_in_order_exactly_once() {
    let mut cluster = Cluster::new(3, 5);
    let leader = cluster.elect_any();
    let mut expected = Vec::new();
    for i in 0..50 {
        let command = format!("cmd-{i}");
        let _ = cluster.propose(leader, &command).unwrap();
        expected.push(command);
        if i % 7 == 0 {
            cluster.deliver_all();
        }
    }
    for _ in 0..10 {
        cluster.round();
    }
    for id in 1..=3 {
        assert_eq!(cluster.applied_commands(id), expected, "node {id}");
    }
}

// A batch of proposals is one append and one AppendEntries per follower.
#[test]
fn batch_is_one_append_per_follower() {
    let mut cluster = Cluster::new(3, 2);
    cluster.elect(1);
    for _ in 0..5 {
        cluster.round();
    }
    let batch: Vec<Bytes> = (0..100).map(|i| Bytes::from(format!("b{i}"))).collect();
    let actions = cluster.step(1, Event::ProposeBatch(batch)).unwrap();
    let appends: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                to,
                message: Message::AppendEntries(m),
            } => Some((*to, m.entries.len())),
            _ => None,
        })
        .collect();
    assert_eq!(appends, vec![(2, 100), (3, 100)]);
}

// Flow control: a follower that answers nothing costs the leader a bounded number of
// in-flight appends, each bounded in entries and bytes; it catches up once reachable.
#[test]
fn flow_control_bounds_a_silent_follower() {
    let configs: BTreeMap<u64, RaftConfig> = (1..=3)
        .map(|id| {
            let config = RaftConfig::new(id, 1..=3)
                .with_seed(id)
                .with_inflight_appends_max(4)
                .with_append_entries_max(8)
                .with_append_bytes_max(64);
            (id, config)
        })
        .collect();
    let mut cluster = Cluster::with_configs(configs, 4);
    cluster.elect(1);
    for _ in 0..5 {
        cluster.round();
    }
    let _ = cluster.blocked.insert((3, 1));
    let mut sent_to_3 = 0usize;
    for round in 0..200 {
        let actions = cluster.propose(1, &format!("{round:0>20}")).unwrap();
        for action in &actions {
            if let Action::Send {
                to: 3,
                message: Message::AppendEntries(m),
            } = action
            {
                sent_to_3 += 1;
                assert!(m.entries.len() <= 8);
                let bytes: usize = m.entries.iter().map(|e| e.command.len()).sum();
                assert!(m.entries.len() <= 1 || bytes <= 64);
            }
        }
        assert!(cluster.node(1).inflight_appends(3).unwrap() <= 4);
        cluster.deliver_all();
        if round % 3 == 0 {
            cluster.tick_all();
        }
    }
    assert!(
        sent_to_3 < 200,
        "one append per proposal means no flow control ({sent_to_3})"
    );
    cluster.heal();
    cluster.run_until(300, |c| {
        c.node(3).commit_index() == c.node(1).commit_index()
    });
    assert_eq!(cluster.applied_commands(3), cluster.applied_commands(1));
}

// Defect 0.8: a new leader with an uncommitted tail from an earlier term commits it
// without waiting for a client proposal; so does a restarted single node.
#[test]
fn new_leader_commits_inherited_tail_without_proposals() {
    let mut node = RaftNode::with_log(RaftConfig::single(1), log_with_terms(&[1, 1, 2, 2, 2], 2));
    let mut applied = Vec::new();
    while !node.is_leader() || node.last_applied() < 5 {
        for action in node.step(Event::Tick).unwrap() {
            if let Action::Apply { index, .. } = action {
                applied.push(index);
            }
        }
    }
    assert_eq!(applied, vec![1, 2, 3, 4, 5]);
    assert_eq!(node.log().last_index(), 6, "one no-op");
}

// The seed promise: a fresh leader does not append a no-op to an empty log.
#[test]
fn fresh_leader_appends_no_noop() {
    let mut cluster = Cluster::new(3, 9);
    let leader = cluster.elect_any();
    assert_eq!(cluster.node(leader).log().last_index(), 0);
}

// A restarted follower with the applied index configured resumes applying after it.
#[test]
fn applied_index_skips_already_applied_entries() {
    let mut log = log_with_terms(&[1, 1, 1], 1);
    log.set_hard_state(raft_core::HardState {
        term: 1,
        voted_for: None,
        commit_index: 3,
    })
    .unwrap();
    let config = RaftConfig::single(1).with_applied_index(2);
    let mut node = RaftNode::with_log(config, log);
    let actions = node.step(Event::Tick).unwrap();
    let applied: Vec<u64> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Apply { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(applied, vec![3]);
    let bad = RaftNode::try_with_log(
        RaftConfig::single(1).with_applied_index(9),
        log_with_terms(&[1], 1),
    );
    assert!(matches!(bad, Err(Error::InvalidConfig { .. })));
}

// Fast back-off: a follower with a long divergent tail is repaired in a number of
// probes that does not grow with the tail's length.
#[test]
fn fast_backoff_needs_few_round_trips() {
    let mut leader_terms = vec![1; 5];
    leader_terms.extend(vec![3; 200]);
    let mut follower_terms = vec![1; 5];
    follower_terms.extend(vec![2; 400]);
    let mut cluster = figure_cluster(&leader_terms, &follower_terms, 4);
    cluster.elect(1);
    cluster.trace.clear();
    for _ in 0..5 {
        cluster.round();
    }
    let rejections = cluster
        .trace
        .iter()
        .filter(|line| line.starts_with("2->1") && line.contains("success: false"))
        .count();
    assert!(rejections <= 3, "{rejections} rejections");
    assert_eq!(
        terms_of(cluster.node(2).log()),
        terms_of(cluster.node(1).log())
    );
}

// Figure 2: every AppendEntries is answered, heartbeats included, except a commit
// notice whose answer would tell the leader nothing new (an empty append that moves the
// follower's commit index, anchored at what it already acknowledged). The heartbeats
// that follow are answered, so check-quorum still hears every follower.
#[test]
fn every_append_entries_is_answered_but_a_commit_notice() {
    let mut cluster = Cluster::new(3, 21);
    cluster.elect(1);
    for _ in 0..5 {
        cluster.round();
    }
    let count = |trace: &[String], what: &str| trace.iter().filter(|l| l.contains(what)).count();
    cluster.trace.clear();
    let _ = cluster.propose(1, "x").unwrap();
    cluster.deliver_all();
    let appends = count(&cluster.trace, "AppendEntries(AppendEntries");
    let replies = count(&cluster.trace, "AppendEntriesReply");
    // Two appends with the entry (answered), two commit notices (not answered).
    assert_eq!((appends, replies), (4, 2), "{:#?}", cluster.trace);
    assert!(
        cluster
            .nodes
            .values()
            .all(|node| node.commit_index() == cluster.node(1).commit_index())
    );
    // Heartbeats, many per tick of the followers' clocks, are all answered.
    cluster.trace.clear();
    for _ in 0..20 {
        cluster.tick(1);
        cluster.deliver_all();
    }
    let appends = count(&cluster.trace, "AppendEntries(AppendEntries");
    let replies = count(&cluster.trace, "AppendEntriesReply");
    assert!(appends >= 4, "{:#?}", cluster.trace);
    assert_eq!(appends, replies, "{:#?}", cluster.trace);
}

// The exception's bounds: a commit notice is left unanswered only when it moves the
// commit index and is anchored at or below what this follower already acknowledged to
// the same leader in the same term. Anything else is answered.
#[test]
fn a_commit_notice_is_answered_unless_it_only_repeats_an_acknowledgement() {
    let answered = |actions: &[Action]| {
        actions.iter().any(|action| {
            matches!(
                action,
                Action::Send {
                    message: Message::AppendEntriesReply(_),
                    ..
                }
            )
        })
    };
    // A log of term-1 entries 1..=3 it never acknowledged to anyone (restored).
    let mut node = follower(&[1, 1, 1], 1);
    // Leader 2 of term 2: an empty append anchored at 3 that commits 2. Nothing was
    // acknowledged to this leader yet: answered.
    assert!(answered(&node.step(append(2, (3, 1), &[], 2)).unwrap()));
    assert_eq!(node.commit_index(), 2);
    // The entry of term 2, then its commit notice: the notice is not answered.
    assert!(answered(
        &node.step(append(2, (3, 1), &[(4, 2)], 2)).unwrap()
    ));
    assert!(!answered(&node.step(append(2, (4, 2), &[], 4)).unwrap()));
    assert_eq!(node.commit_index(), 4);
    // A heartbeat that moves nothing: answered.
    assert!(answered(&node.step(append(2, (4, 2), &[], 4)).unwrap()));
    // Entry 5, then a notice anchored past what was acknowledged (5 was, 6 is not
    // held): the rejection is answered.
    assert!(answered(
        &node.step(append(2, (4, 2), &[(5, 2)], 4)).unwrap()
    ));
    assert!(answered(&node.step(append(2, (6, 2), &[], 5)).unwrap()));
    // A new term's leader: its first notice is answered even though it commits.
    let mut other = Event::Message(Message::AppendEntries(AppendEntries {
        term: 3,
        leader: 3,
        prev_log_index: 5,
        prev_log_term: 2,
        entries: vec![LogEntry::new(3, 6, b"x".to_vec())],
        leader_commit: 5,
    }));
    assert!(answered(&node.step(other.clone()).unwrap()));
    assert_eq!(node.commit_index(), 5);
    if let Event::Message(Message::AppendEntries(request)) = &mut other {
        request.prev_log_index = 6;
        request.prev_log_term = 3;
        request.entries.clear();
        request.leader_commit = 6;
    }
    // (Entry 6 was acknowledged to leader 3 in term 3: its notice is not answered.)
    assert!(!answered(&node.step(other).unwrap()));
    assert_eq!(node.commit_index(), 6);
}

/// The AppendEntries carrying entries that `actions` send to `to`, as (first, last).
fn appends_to(actions: &[Action], to: u64) -> Vec<(u64, u64)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Send {
                to: peer,
                message: Message::AppendEntries(request),
            } if *peer == to && !request.entries.is_empty() => Some((
                request.entries[0].index,
                request.entries[request.entries.len() - 1].index,
            )),
            _ => None,
        })
        .collect()
}

// With coalescing (the default), proposals reaching a follower that has four appends in
// flight wait for its answer and then travel together in one AppendEntries; every
// entry still commits and applies everywhere.
#[test]
fn proposals_coalesce_while_an_append_is_in_flight() {
    let mut cluster = Cluster::new(3, 7);
    cluster.elect(1);
    cluster.deliver_all();
    let base = cluster.node(1).log().last_index();
    // The first four go at once: a follower a few messages behind keeps up.
    for (offset, command) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let actions = cluster.propose(1, command).unwrap();
        let index = base + 1 + offset as u64;
        assert_eq!(appends_to(&actions, 2), vec![(index, index)]);
    }
    for command in ["e", "f", "g"] {
        let actions = cluster.propose(1, command).unwrap();
        assert!(
            appends_to(&actions, 2).is_empty(),
            "held while four are in flight"
        );
    }
    // Follower 2's first answer releases the three held entries in one message.
    let take = |cluster: &mut Cluster, wanted: &dyn Fn(u64, &Message) -> bool| {
        let position = cluster
            .queue
            .iter()
            .position(|(to, message)| wanted(*to, message))
            .expect("the message is queued");
        cluster.queue.remove(position).expect("queued")
    };
    let (to, append) = take(&mut cluster, &|to, message| {
        to == 2 && matches!(message, Message::AppendEntries(_))
    });
    let _ = cluster.step(to, Event::Message(append)).unwrap();
    let (to, reply) = take(&mut cluster, &|to, message| {
        to == 1 && matches!(message, Message::AppendEntriesReply(reply) if reply.from == 2)
    });
    let actions = cluster.step(to, Event::Message(reply)).unwrap();
    assert_eq!(appends_to(&actions, 2), vec![(base + 5, base + 7)]);
    cluster.deliver_all();
    for id in 1..=3 {
        assert_eq!(
            cluster.applied_commands(id)[..],
            ["a", "b", "c", "d", "e", "f", "g"]
        );
    }
}

// Without coalescing every proposal step sends its own AppendEntries (pipelined).
#[test]
fn proposals_pipeline_without_coalescing() {
    let ids = [1, 2, 3];
    let configs = ids
        .iter()
        .map(|&id| {
            let config = RaftConfig::new(id, ids).with_append_coalescing(false);
            (id, config)
        })
        .collect();
    let mut cluster = Cluster::with_configs(configs, 7);
    cluster.elect(1);
    cluster.deliver_all();
    let base = cluster.node(1).log().last_index();
    for (offset, command) in ["a", "b", "c"].into_iter().enumerate() {
        let actions = cluster.propose(1, command).unwrap();
        let index = base + 1 + offset as u64;
        assert_eq!(appends_to(&actions, 2), vec![(index, index)]);
    }
    cluster.deliver_all();
    assert_eq!(cluster.applied_commands(3)[..], ["a", "b", "c"]);
}
