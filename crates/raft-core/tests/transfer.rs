//! Leadership transfer (Raft thesis §3.10): the leader brings the target up to date,
//! sends TimeoutNow, and the target wins the next term at once; proposals are refused
//! meanwhile; a transfer that does not complete within an election timeout is abandoned.

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;
use raft_core::{Error, Event, Message, RaftLog};

fn elected(seed: u64) -> Cluster {
    let mut cluster = Cluster::new(3, seed);
    cluster.elect(1);
    for _ in 0..5 {
        cluster.round();
    }
    cluster
}

// An up-to-date target takes over in the next term without waiting for a timeout.
#[test]
fn transfer_to_an_up_to_date_follower_completes_at_once() {
    let mut cluster = elected(1);
    let term = cluster.node(1).term();
    let actions = cluster.step(1, Event::TransferLeadership(2)).unwrap();
    assert!(actions.iter().any(|a| matches!(
        a,
        raft_core::Action::Send {
            to: 2,
            message: Message::TimeoutNow(_)
        }
    )));
    assert_eq!(cluster.node(1).transfer_target(), Some(2));
    cluster.deliver_all();
    assert_eq!(cluster.leader(), Some(2));
    assert_eq!(cluster.node(2).term(), term + 1);
    assert!(!cluster.node(1).is_leader());
    // The new leader serves proposals; everyone applies them.
    let _ = cluster.propose(2, "after").unwrap();
    for _ in 0..5 {
        cluster.round();
    }
    assert_eq!(
        cluster.applied_commands(1).last().map(String::as_str),
        Some("after")
    );
}

// A lagging target is brought up to date first: it never wins without the whole log.
#[test]
fn lagging_target_is_caught_up_before_timeout_now() {
    let mut cluster = elected(2);
    let _ = cluster.blocked.insert((1, 3));
    for i in 0..20 {
        let _ = cluster.propose(1, &format!("c{i}")).unwrap();
        cluster.deliver_all();
    }
    let last = cluster.node(1).log().last_index();
    cluster.heal();
    let actions = cluster.step(1, Event::TransferLeadership(3)).unwrap();
    assert!(
        !actions.iter().any(|a| matches!(
            a,
            raft_core::Action::Send {
                message: Message::TimeoutNow(_),
                ..
            }
        )),
        "no TimeoutNow before the target has the log"
    );
    cluster.run_until(50, |c| c.leader() == Some(3));
    assert!(cluster.node(3).log().last_index() >= last);
    assert_eq!(cluster.applied_commands(3).len(), 20);
}

// During a transfer the leader refuses proposals with a clear error; a transfer to an
// unreachable node is abandoned within the minimum election timeout and proposals
// resume.
#[test]
fn unreachable_target_is_abandoned_and_proposals_resume() {
    let mut cluster = elected(3);
    cluster.isolate(3);
    let _ = cluster.blocked.remove(&(1, 2));
    let _ = cluster.blocked.remove(&(2, 1));
    let _ = cluster.step(1, Event::TransferLeadership(3)).unwrap();
    assert_eq!(
        cluster.propose(1, "refused").unwrap_err(),
        Error::TransferInProgress { target: 3 }
    );
    let mut ticks = 0;
    while cluster.node(1).transfer_target().is_some() {
        cluster.round();
        ticks += 1;
        assert!(ticks <= 10, "transfer still pending after {ticks} ticks");
    }
    assert!(
        cluster.node(1).is_leader(),
        "the leader keeps leading after an abandoned transfer"
    );
    assert!(cluster.propose(1, "accepted").is_ok());
}

// Transfers that cannot work are errors, not silent no-ops.
#[test]
fn invalid_transfers_are_refused() {
    let mut cluster = elected(4);
    assert_eq!(
        cluster.step(1, Event::TransferLeadership(1)).unwrap_err(),
        Error::InvalidTransfer {
            target: 1,
            reason: "it is already the leader"
        }
    );
    assert!(matches!(
        cluster.step(1, Event::TransferLeadership(9)),
        Err(Error::InvalidTransfer { target: 9, .. })
    ));
    assert!(matches!(
        cluster.step(2, Event::TransferLeadership(3)),
        Err(Error::NotLeader { leader: Some(1) })
    ));
    let _ = cluster.step(1, Event::TransferLeadership(2)).unwrap();
    assert_eq!(
        cluster.step(1, Event::TransferLeadership(3)).unwrap_err(),
        Error::TransferInProgress { target: 2 }
    );
}
