//! A RaftNode on a WalLog that crashes (dropped without any clean close) keeps its
//! term, vote, log and commit index when reopened.

#[path = "support/temp.rs"]
mod temp;

use raft_core::{
    Action, AppendEntries, Event, LogEntry, Message, RaftConfig, RaftLog, RaftNode, RequestVote,
};
use raft_wal::WalLog;
use temp::TempDir;

// A leader that crashes comes back with its term, log and commit, and re-applies its
// committed entries from the log.
#[test]
fn leader_keeps_term_log_and_commit_across_a_crash() {
    let temp = TempDir::new("node-leader");
    let dir = temp.child("wal");
    let (term, commit) = {
        let mut node = RaftNode::with_log(RaftConfig::single(1), WalLog::open(&dir).unwrap());
        while !node.is_leader() {
            let _ = node.step(Event::Tick).unwrap();
        }
        for i in 0..5 {
            let _ = node
                .step(Event::Propose(format!("cmd {i}").into_bytes()))
                .unwrap();
        }
        (node.term(), node.commit_index())
    };
    assert_eq!(commit, 5);
    let mut node = RaftNode::with_log(RaftConfig::single(1), WalLog::open(&dir).unwrap());
    assert_eq!(
        (node.term(), node.voted_for(), node.commit_index()),
        (term, Some(1), 5)
    );
    assert_eq!(node.log().last_index(), 5);
    let applied: Vec<u64> = node
        .step(Event::Tick)
        .unwrap()
        .into_iter()
        .filter_map(|action| match action {
            Action::Apply { index, .. } => Some(index),
            _ => None,
        })
        .collect();
    assert_eq!(applied, vec![1, 2, 3, 4, 5]);
}

// A follower that voted and appended, then crashed, still refuses a second vote in the
// same term and still holds the entries it acknowledged.
#[test]
fn follower_keeps_vote_and_entries_across_a_crash() {
    let temp = TempDir::new("node-follower");
    let dir = temp.child("wal");
    let config = || RaftConfig::new(1, [2, 3]);
    {
        let mut node = RaftNode::with_log(config(), WalLog::open(&dir).unwrap());
        let vote = RequestVote {
            term: 4,
            candidate: 2,
            last_log_index: 0,
            last_log_term: 0,
            force: false,
        };
        let _ = node
            .step(Event::Message(Message::RequestVote(vote)))
            .unwrap();
        let append = AppendEntries {
            term: 4,
            leader: 2,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: (1..=3)
                .map(|i| LogEntry::new(4, i, vec![i as u8; 32]))
                .collect(),
            leader_commit: 2,
        };
        let actions = node
            .step(Event::Message(Message::AppendEntries(append)))
            .unwrap();
        assert!(actions.iter().any(|a| matches!(a, Action::Send { message: Message::AppendEntriesReply(r), .. } if r.success)));
    }
    let mut node = RaftNode::with_log(config(), WalLog::open(&dir).unwrap());
    assert_eq!(
        (node.term(), node.voted_for(), node.commit_index()),
        (4, Some(2), 2)
    );
    assert_eq!(node.log().last_index(), 3);
    let other = RequestVote {
        term: 4,
        candidate: 3,
        last_log_index: 9,
        last_log_term: 4,
        force: false,
    };
    let actions = node
        .step(Event::Message(Message::RequestVote(other)))
        .unwrap();
    assert!(actions.iter().any(|a| matches!(a, Action::Send { message: Message::RequestVoteReply(r), .. } if !r.vote_granted)));
}
