//! Bad input from outside never panics: arbitrary messages, in any order, mixed with
//! ticks and proposals, leave every node with its invariants intact (the node checks
//! them after each step in debug builds) and either act on the message or refuse it
//! with a non-fatal error.

use proptest::prelude::*;
use raft_core::{
    AppendEntries, AppendEntriesReply, Bytes, Event, LogEntry, Message, PreVote, PreVoteReply,
    RaftConfig, RaftNode, RequestVote, RequestVoteReply, TimeoutNow,
};

/// Numbers biased toward the interesting ones: small, boundary, huge.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..8,
        1 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        1 => any::<u64>(),
    ]
}

fn node_id() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1u64..=4, 1 => number()]
}

fn entries() -> impl Strategy<Value = Vec<LogEntry>> {
    (
        number(),
        proptest::collection::vec((number(), number(), 0usize..4), 0..4),
    )
        .prop_map(|(_, specs)| {
            specs
                .into_iter()
                .map(|(term, index, len)| LogEntry::new(term, index, vec![7u8; len]))
                .collect()
        })
}

/// Contiguous entries after `prev`, so that some messages pass validation.
fn plausible_append() -> impl Strategy<Value = Message> {
    (1u64..6, node_id(), 0u64..6, 0u64..4, 0usize..5, 0u64..10).prop_map(
        |(term, leader, prev_log_index, prev_log_term, count, leader_commit)| {
            let prev_log_term = if prev_log_index == 0 {
                0
            } else {
                prev_log_term.min(term)
            };
            let entries = (1..=count as u64)
                .map(|offset| LogEntry::new(term, prev_log_index + offset, vec![1u8; 3]))
                .collect();
            Message::AppendEntries(AppendEntries {
                term,
                leader,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            })
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (number(), node_id(), number(), number()).prop_map(|(term, candidate, i, t)| {
            Message::PreVote(PreVote {
                term,
                candidate,
                last_log_index: i,
                last_log_term: t,
            })
        }),
        (number(), any::<bool>(), node_id()).prop_map(|(term, vote_granted, from)| {
            Message::PreVoteReply(PreVoteReply {
                term,
                vote_granted,
                from,
            })
        }),
        (number(), node_id(), number(), number(), any::<bool>()).prop_map(
            |(term, candidate, i, t, force)| {
                Message::RequestVote(RequestVote {
                    term,
                    candidate,
                    last_log_index: i,
                    last_log_term: t,
                    force,
                })
            }
        ),
        (number(), any::<bool>(), node_id()).prop_map(|(term, vote_granted, from)| {
            Message::RequestVoteReply(RequestVoteReply {
                term,
                vote_granted,
                from,
            })
        }),
        (number(), node_id(), number(), number(), entries(), number()).prop_map(
            |(term, leader, prev_log_index, prev_log_term, entries, leader_commit)| {
                Message::AppendEntries(AppendEntries {
                    term,
                    leader,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                })
            }
        ),
        plausible_append(),
        (
            number(),
            any::<bool>(),
            node_id(),
            number(),
            number(),
            number(),
            number()
        )
            .prop_map(|(term, success, from, prev, m, ci, ct)| {
                Message::AppendEntriesReply(AppendEntriesReply {
                    term,
                    success,
                    from,
                    prev_log_index: prev,
                    match_index: m,
                    conflict_index: ci,
                    conflict_term: ct,
                })
            }),
        (number(), node_id())
            .prop_map(|(term, leader)| { Message::TimeoutNow(TimeoutNow { term, leader }) }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => Just(Event::Tick),
        6 => message().prop_map(Event::Message),
        1 => Just(Event::Propose(b"p".to_vec())),
        1 => Just(Event::ProposeBatch(vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(512),
    ))]

    // Arbitrary event sequences never panic and never produce a fatal error.
    #[test]
    fn arbitrary_events_never_panic(events in proptest::collection::vec(event(), 1..80)) {
        for config in [RaftConfig::new(1, [2, 3, 4]), RaftConfig::single(1)] {
            let mut node = RaftNode::new(config.with_election_timeout(3, 5).with_heartbeat_interval(1));
            let mut commit = 0;
            for event in events.clone() {
                if let Err(error) = node.step(event) {
                    prop_assert!(!error.is_fatal(), "fatal error from bad input: {error}");
                }
                prop_assert!(node.commit_index() >= commit);
                commit = node.commit_index();
            }
        }
    }
}
