//! Validation of inbound messages: every rule a message must meet before it can touch
//! any state (ceilings on terms and indexes, senders, contiguity of entries).

use super::*;

impl<L: RaftLog> RaftNode<L> {
    /// Checks a message against the protocol's rules before it can touch any state.
    pub(super) fn validate(&self, message: &Message) -> Result<()> {
        let from = message.from();
        let invalid = |reason| Err(Error::InvalidMessage { from, reason });
        if from == self.id() {
            return invalid("claims to come from the receiving node");
        }
        let term = message.term();
        if term > TERM_MAX {
            return invalid("term is past the ceiling TERM_MAX");
        }
        if term > self.term.saturating_add(TERM_ADVANCE_MAX) {
            return invalid("term is further ahead than any run of elections could take it");
        }
        if Self::index_max(message).is_none_or(|index| index > INDEX_MAX) {
            return invalid("an index is past the ceiling INDEX_MAX");
        }
        match message {
            // Only voters of this node's configuration are counted. Requests are
            // answered whoever asks (Raft thesis §4.2.3): a candidate may hold a newer
            // configuration than this node, and refusing to answer it can deadlock
            // elections after a membership change; a leader is known by its term, so
            // appends are taken from any sender too.
            Message::PreVoteReply(_) | Message::RequestVoteReply(_) if !self.is_voter(from) => {
                Err(Error::UnknownNode { node: from })
            }
            // Learners answer replication too.
            Message::AppendEntriesReply(_)
            | Message::ReadConfirmReply(_)
            | Message::InstallSnapshotReply(_)
                if !self.replicates_to(from) =>
            {
                Err(Error::UnknownNode { node: from })
            }
            Message::PreVote(PreVote {
                term,
                last_log_term,
                ..
            })
            | Message::RequestVote(RequestVote {
                term,
                last_log_term,
                ..
            }) if last_log_term > term => invalid("candidate's last log term is past its term"),
            Message::AppendEntries(request) => Self::validate_append(request),
            Message::InstallSnapshot(request)
                if request.last_included_index == 0
                    || request.last_included_term > request.term
                    || request.membership.voters().is_empty() =>
            {
                invalid("a snapshot must cover an entry of a past term and name voters")
            }
            _ => Ok(()),
        }
    }

    /// The largest index a message names (`None` if computing it overflows), checked
    /// against [`INDEX_MAX`] before any index arithmetic.
    pub(super) fn index_max(message: &Message) -> Option<Index> {
        Some(match message {
            Message::PreVote(request) => request.last_log_index,
            Message::RequestVote(request) => request.last_log_index,
            Message::AppendEntries(request) => {
                // (Entries must be contiguous after prev_log_index, which
                // validate_append checks next, so their last index is this.)
                let count = u64::try_from(request.entries.len()).ok()?;
                let last = request.prev_log_index.checked_add(count)?;
                last.max(request.leader_commit)
            }
            Message::AppendEntriesReply(reply) => reply
                .prev_log_index
                .max(reply.match_index)
                .max(reply.conflict_index),
            Message::InstallSnapshot(request) => request.last_included_index,
            Message::InstallSnapshotReply(reply) => reply.last_included_index,
            Message::ReadIndexReply(reply) => reply.index,
            Message::ReadIndexRequest(_)
            | Message::PreVoteReply(_)
            | Message::RequestVoteReply(_)
            | Message::TimeoutNow(_)
            | Message::ReadConfirm(_)
            | Message::ReadConfirmReply(_) => 0,
        })
    }

    pub(super) fn validate_append(request: &AppendEntries) -> Result<()> {
        let invalid = |reason| {
            Err(Error::InvalidMessage {
                from: request.leader,
                reason,
            })
        };
        if request.prev_log_index == 0 && request.prev_log_term != 0 {
            return invalid("names a term for index 0");
        }
        if request.prev_log_term > request.term {
            return invalid("previous entry's term is past the leader's term");
        }
        let mut expected_term = request.prev_log_term;
        let mut expected_index = request.prev_log_index;
        for entry in &request.entries {
            let Some(index) = expected_index.checked_add(1) else {
                return invalid("entry index overflows");
            };
            if entry.index != index {
                return invalid("entries are not contiguous after the previous entry");
            }
            if entry.term < expected_term || entry.term > request.term {
                return invalid("entry terms decrease or pass the leader's term");
            }
            if entry.kind == EntryKind::Config && Membership::decode(&entry.command).is_none() {
                return invalid("a configuration entry does not decode");
            }
            expected_index = index;
            expected_term = entry.term;
        }
        Ok(())
    }
}
