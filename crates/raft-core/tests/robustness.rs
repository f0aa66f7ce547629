//! Bad input from outside never panics: arbitrary messages, in any order, mixed with
//! ticks and proposals, leave every node with its invariants intact (the node checks
//! them after each step in debug builds) and either act on the message or refuse it
//! with a non-fatal error.

use proptest::prelude::*;
use raft_core::testing::arbitrary::message;
use raft_core::{Bytes, Event, RaftConfig, RaftNode};

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
