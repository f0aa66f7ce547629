//! The example from the seed (spec/SEED.md), verbatim: the promise every user relies on.

use raft_io::{Action, Event, RaftConfig, RaftNode};

// Proves the seed example compiles and passes exactly as written.
#[test]
fn seed_example_passes_as_written() {
    // One node, no peers: it reaches quorum (itself) the moment it times out.
    let mut node = RaftNode::new(RaftConfig::single(1));

    // Drive logical ticks until the node becomes leader.
    while !node.is_leader() {
        let _ = node.step(Event::Tick).expect("tick never fails in memory");
    }
    assert_eq!(node.leader(), Some(1));

    // A leader commits its own proposals immediately (quorum of one).
    let actions = node.step(Event::Propose(b"set x = 1".to_vec())).unwrap();
    assert!(actions.iter().any(|a| matches!(a, Action::Apply { .. })));
    assert_eq!(node.commit_index(), 1);
}

// Proves the prelude carries what a driver loop needs.
#[test]
fn prelude_is_enough_for_a_driver_loop() {
    use raft_io::prelude::*;
    let mut node: RaftNode = RaftNode::new(RaftConfig::new(1, [2, 3]));
    let mut transport = raft_io::MemoryTransport::new();
    for _ in 0..100 {
        for action in node.step(Event::Tick).unwrap() {
            if let Action::Send { to, message } = action {
                transport.send(to, message).unwrap();
            }
        }
    }
    assert!(
        transport.pending() > 0,
        "a lone node of three keeps asking for votes"
    );
    assert_eq!(
        node.role(),
        Role::Follower,
        "pre-vote keeps it from becoming candidate"
    );
}
