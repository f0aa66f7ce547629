//! The protocol messages nodes exchange.
//!
//! Every message names its sender (`candidate`, `leader` or `from`), so a transport
//! does not need to carry it separately. Field names follow the Raft paper.

use alloc::vec::Vec;

use bytes::Bytes;

use crate::membership::Membership;
use crate::types::{Incarnation, Index, LogEntry, NodeId, Term};

/// A candidate's pre-vote probe (Raft thesis §9.6), sent before it commits to a
/// real election. Receiving one never changes the receiver's term or vote.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PreVote {
    /// The term the candidate would campaign in (its current term + 1).
    pub term: Term,
    /// The node asking.
    pub candidate: NodeId,
    /// Index of the candidate's last log entry.
    pub last_log_index: Index,
    /// Term of the candidate's last log entry.
    pub last_log_term: Term,
}

/// The answer to a [`PreVote`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PreVoteReply {
    /// The probe's term when granted; the responder's current term when refused.
    pub term: Term,
    /// Whether the responder would vote for the candidate.
    pub vote_granted: bool,
    /// The responder.
    pub from: NodeId,
    /// The responder's incarnation ([`RaftLog::incarnation`](crate::RaftLog::incarnation)):
    /// the reply counts only if the configuration names it. Not part of the frozen
    /// serde form; `raft-wire` carries a nonzero one under a message kind of its own.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub incarnation: Incarnation,
}

/// A candidate's request for a vote (Raft Figure 2).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RequestVote {
    /// The candidate's term.
    pub term: Term,
    /// The candidate requesting the vote.
    pub candidate: NodeId,
    /// Index of the candidate's last log entry.
    pub last_log_index: Index,
    /// Term of the candidate's last log entry.
    pub last_log_term: Term,
    /// Set when the election follows a leadership transfer ([`TimeoutNow`]): voters
    /// then ignore leader stickiness.
    pub force: bool,
}

/// The answer to a [`RequestVote`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RequestVoteReply {
    /// The responder's current term, for the candidate to update itself.
    pub term: Term,
    /// Whether the candidate received the vote.
    pub vote_granted: bool,
    /// The responder.
    pub from: NodeId,
    /// The responder's incarnation ([`RaftLog::incarnation`](crate::RaftLog::incarnation)):
    /// the reply counts only if the configuration names it. Not part of the frozen
    /// serde form; `raft-wire` carries a nonzero one under a message kind of its own.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub incarnation: Incarnation,
}

/// The leader's replicate-and-heartbeat RPC (Raft Figure 2). Empty `entries` is a
/// heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AppendEntries {
    /// The leader's term.
    pub term: Term,
    /// The leader, so followers can redirect clients.
    pub leader: NodeId,
    /// Index of the entry immediately preceding `entries`.
    pub prev_log_index: Index,
    /// Term of the entry at `prev_log_index`.
    pub prev_log_term: Term,
    /// Entries to store, contiguous from `prev_log_index + 1`.
    pub entries: Vec<LogEntry>,
    /// The leader's commit index.
    pub leader_commit: Index,
}

/// The answer to an [`AppendEntries`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AppendEntriesReply {
    /// The responder's current term, for the leader to update itself.
    pub term: Term,
    /// Whether the follower's log matched at `prev_log_index`.
    pub success: bool,
    /// The responder.
    pub from: NodeId,
    /// The request's `prev_log_index`, so the leader can discard stale answers.
    pub prev_log_index: Index,
    /// On success: the highest index known to match the leader's log. 0 on failure.
    pub match_index: Index,
    /// On failure: the highest index at or below `prev_log_index` whose term is at
    /// most `prev_log_term` in the follower's log (fast back-off hint). 0 on success.
    pub conflict_index: Index,
    /// On failure: the follower's term at `conflict_index`. 0 on success.
    pub conflict_term: Term,
    /// The responder's incarnation ([`RaftLog::incarnation`](crate::RaftLog::incarnation)):
    /// the reply counts only if the configuration names it. Not part of the frozen
    /// serde form; `raft-wire` carries a nonzero one under a message kind of its own.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub incarnation: Incarnation,
}

/// A leader's signal telling its recipient to start an election at once, bypassing
/// pre-vote and leader stickiness (the last step of a leadership transfer).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TimeoutNow {
    /// The leader's term.
    pub term: Term,
    /// The leader handing over.
    pub leader: NodeId,
}

/// A leader's request to confirm it still leads, for linearizable reads (Raft thesis
/// §6.4): a quorum answering round `round` proves leadership at the time it was sent.
/// Followers also take it as contact from their leader.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReadConfirm {
    /// The leader's term.
    pub term: Term,
    /// The leader.
    pub leader: NodeId,
    /// The confirmation round, increasing per leader term.
    pub round: u64,
}

/// A follower's answer to a [`ReadConfirm`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReadConfirmReply {
    /// The responder's current term.
    pub term: Term,
    /// The responder.
    pub from: NodeId,
    /// The round answered.
    pub round: u64,
    /// The responder's incarnation ([`RaftLog::incarnation`](crate::RaftLog::incarnation)):
    /// the reply counts only if the configuration names it. Not part of the frozen
    /// serde form; `raft-wire` carries a nonzero one under a message kind of its own.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub incarnation: Incarnation,
}

/// One chunk of a leader's snapshot, for a follower that needs entries the leader has
/// compacted away (Raft Figure 13). Chunks are sent in order, one at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InstallSnapshot {
    /// The leader's term.
    pub term: Term,
    /// The leader.
    pub leader: NodeId,
    /// The last entry the snapshot covers.
    pub last_included_index: Index,
    /// That entry's term.
    pub last_included_term: Term,
    /// The configuration in force at `last_included_index`.
    pub membership: Membership,
    /// Where this chunk starts in the snapshot's data.
    pub offset: u64,
    /// The chunk.
    pub data: Bytes,
    /// Whether this is the last chunk.
    pub done: bool,
}

/// A follower's answer to an [`InstallSnapshot`] chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InstallSnapshotReply {
    /// The responder's current term.
    pub term: Term,
    /// The responder.
    pub from: NodeId,
    /// The snapshot the answer is about.
    pub last_included_index: Index,
    /// The offset of the next chunk the follower expects.
    pub next_offset: u64,
    /// Whether the follower now holds everything up to `last_included_index`.
    pub done: bool,
    /// The responder's incarnation ([`RaftLog::incarnation`](crate::RaftLog::incarnation)):
    /// the reply counts only if the configuration names it. Not part of the frozen
    /// serde form; `raft-wire` carries a nonzero one under a message kind of its own.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub incarnation: Incarnation,
}

/// A follower's linearizable read, forwarded to its leader (etcd's ReadIndex from a
/// follower): the leader confirms its leadership as for its own reads and answers with
/// the index the read may run at.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReadIndexRequest {
    /// The follower's term.
    pub term: Term,
    /// The follower.
    pub from: NodeId,
    /// The caller's context, returned with the answer.
    pub context: Bytes,
}

/// The leader's answer to a [`ReadIndexRequest`]: the read is linearizable on the
/// follower once its state machine has applied `index`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ReadIndexReply {
    /// The leader's term.
    pub term: Term,
    /// The leader.
    pub leader: NodeId,
    /// The commit index the leader confirmed.
    pub index: Index,
    /// The context from the request.
    pub context: Bytes,
}

/// Any message a node can send or receive.
///
/// The declaration order is the wire order: new kinds are appended at the end and never
/// reorder the existing ones.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Message {
    /// See [`PreVote`].
    PreVote(PreVote),
    /// See [`PreVoteReply`].
    PreVoteReply(PreVoteReply),
    /// See [`RequestVote`].
    RequestVote(RequestVote),
    /// See [`RequestVoteReply`].
    RequestVoteReply(RequestVoteReply),
    /// See [`AppendEntries`].
    AppendEntries(AppendEntries),
    /// See [`AppendEntriesReply`].
    AppendEntriesReply(AppendEntriesReply),
    /// See [`TimeoutNow`].
    TimeoutNow(TimeoutNow),
    /// See [`ReadConfirm`].
    ReadConfirm(ReadConfirm),
    /// See [`ReadConfirmReply`].
    ReadConfirmReply(ReadConfirmReply),
    /// See [`InstallSnapshot`]. Boxed: it is rare and large, and every other message
    /// (and every [`Action`](crate::Action) carrying one) stays small to move.
    InstallSnapshot(alloc::boxed::Box<InstallSnapshot>),
    /// See [`InstallSnapshotReply`].
    InstallSnapshotReply(InstallSnapshotReply),
    /// See [`ReadIndexRequest`].
    ReadIndexRequest(ReadIndexRequest),
    /// See [`ReadIndexReply`].
    ReadIndexReply(ReadIndexReply),
}

impl Message {
    /// The term carried by whichever message this is.
    pub fn term(&self) -> Term {
        match self {
            Message::PreVote(m) => m.term,
            Message::PreVoteReply(m) => m.term,
            Message::RequestVote(m) => m.term,
            Message::RequestVoteReply(m) => m.term,
            Message::AppendEntries(m) => m.term,
            Message::AppendEntriesReply(m) => m.term,
            Message::TimeoutNow(m) => m.term,
            Message::ReadConfirm(m) => m.term,
            Message::ReadConfirmReply(m) => m.term,
            Message::InstallSnapshot(m) => m.term,
            Message::InstallSnapshotReply(m) => m.term,
            Message::ReadIndexRequest(m) => m.term,
            Message::ReadIndexReply(m) => m.term,
        }
    }

    /// The message's kind by name (`"AppendEntries"`, ...), for logs and traces.
    ///
    /// ```
    /// use raft_core::{Message, TimeoutNow};
    /// assert_eq!(Message::TimeoutNow(TimeoutNow { term: 3, leader: 2 }).kind(), "TimeoutNow");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Message::PreVote(_) => "PreVote",
            Message::PreVoteReply(_) => "PreVoteReply",
            Message::RequestVote(_) => "RequestVote",
            Message::RequestVoteReply(_) => "RequestVoteReply",
            Message::AppendEntries(_) => "AppendEntries",
            Message::AppendEntriesReply(_) => "AppendEntriesReply",
            Message::TimeoutNow(_) => "TimeoutNow",
            Message::ReadConfirm(_) => "ReadConfirm",
            Message::ReadConfirmReply(_) => "ReadConfirmReply",
            Message::InstallSnapshot(_) => "InstallSnapshot",
            Message::InstallSnapshotReply(_) => "InstallSnapshotReply",
            Message::ReadIndexRequest(_) => "ReadIndexRequest",
            Message::ReadIndexReply(_) => "ReadIndexReply",
        }
    }

    /// The node that sent this message.
    ///
    /// ```
    /// use raft_core::{Message, TimeoutNow};
    /// let message = Message::TimeoutNow(TimeoutNow { term: 3, leader: 2 });
    /// assert_eq!(message.from(), 2);
    /// ```
    pub fn from(&self) -> NodeId {
        match self {
            Message::PreVote(m) => m.candidate,
            Message::PreVoteReply(m) => m.from,
            Message::RequestVote(m) => m.candidate,
            Message::RequestVoteReply(m) => m.from,
            Message::AppendEntries(m) => m.leader,
            Message::AppendEntriesReply(m) => m.from,
            Message::TimeoutNow(m) => m.leader,
            Message::ReadConfirm(m) => m.leader,
            Message::ReadConfirmReply(m) => m.from,
            Message::InstallSnapshot(m) => m.leader,
            Message::InstallSnapshotReply(m) => m.from,
            Message::ReadIndexRequest(m) => m.from,
            Message::ReadIndexReply(m) => m.leader,
        }
    }

    /// The responder's incarnation, for the replies that count toward a decision
    /// (votes, acknowledgements, read confirmations, snapshot completions); `None` for
    /// requests and forwarded reads.
    pub fn sender_incarnation(&self) -> Option<Incarnation> {
        match self {
            Message::PreVoteReply(m) => Some(m.incarnation),
            Message::RequestVoteReply(m) => Some(m.incarnation),
            Message::AppendEntriesReply(m) => Some(m.incarnation),
            Message::ReadConfirmReply(m) => Some(m.incarnation),
            Message::InstallSnapshotReply(m) => Some(m.incarnation),
            _ => None,
        }
    }

    /// Sets the responder's incarnation of a reply ([`Message::sender_incarnation`]);
    /// does nothing to a message that carries none.
    pub fn set_sender_incarnation(&mut self, incarnation: Incarnation) {
        match self {
            Message::PreVoteReply(m) => m.incarnation = incarnation,
            Message::RequestVoteReply(m) => m.incarnation = incarnation,
            Message::AppendEntriesReply(m) => m.incarnation = incarnation,
            Message::ReadConfirmReply(m) => m.incarnation = incarnation,
            Message::InstallSnapshotReply(m) => m.incarnation = incarnation,
            _ => {}
        }
    }
}

impl From<InstallSnapshot> for Message {
    fn from(message: InstallSnapshot) -> Self {
        Message::InstallSnapshot(alloc::boxed::Box::new(message))
    }
}

macro_rules! message_from {
    ($($variant:ident),*) => {$(
        impl From<$variant> for Message {
            fn from(message: $variant) -> Self {
                Message::$variant(message)
            }
        }
    )*};
}
message_from!(
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    AppendEntries,
    AppendEntriesReply,
    TimeoutNow,
    ReadConfirm,
    ReadConfirmReply,
    InstallSnapshotReply,
    ReadIndexRequest,
    ReadIndexReply
);

#[cfg(test)]
mod tests {
    use super::*;

    // Keeps the everyday messages small: every step moves them around.
    #[test]
    fn messages_stay_small() {
        assert!(
            core::mem::size_of::<Message>() <= 72,
            "{}",
            core::mem::size_of::<Message>()
        );
        assert!(
            core::mem::size_of::<crate::Action>() <= 88,
            "{}",
            core::mem::size_of::<crate::Action>()
        );
    }
}
