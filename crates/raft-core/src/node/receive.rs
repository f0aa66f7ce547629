//! Inbound messages: validation, the term rule, and the dispatch by kind.

use super::*;

impl<L: RaftLog> RaftNode<L> {
    pub(super) fn receive(&mut self, message: Message, out: &mut Vec<Action>) -> Result<()> {
        let from = message.from();
        let term = message.term();
        self.validate(&message)?;

        if term > self.term {
            match &message {
                // A pre-vote never moves the receiver's term; a granted answer echoes
                // the probe's hypothetical term.
                Message::PreVote(_) => {}
                Message::PreVoteReply(reply) if reply.vote_granted => {}
                // Leader stickiness: neither grant nor adopt the term.
                Message::RequestVote(request) if self.stickiness_refuses(request.force) => {
                    return Ok(());
                }
                Message::AppendEntries(_)
                | Message::TimeoutNow(_)
                | Message::ReadConfirm(_)
                | Message::InstallSnapshot(_) => {
                    self.become_follower(term, Some(from));
                }
                _ => self.become_follower(term, None),
            }
        } else if term < self.term {
            // Answer stale requests with our term so their sender catches up; drop
            // stale replies.
            match message {
                Message::AppendEntries(request) => self.reply_append(
                    request.leader,
                    false,
                    request.prev_log_index,
                    0,
                    (0, 0),
                    out,
                ),
                Message::RequestVote(request) => self.send(
                    request.candidate,
                    Message::RequestVoteReply(RequestVoteReply {
                        term: self.term,
                        vote_granted: false,
                        from: self.id(),
                    }),
                    out,
                ),
                Message::PreVote(request) => self.send(
                    request.candidate,
                    Message::PreVoteReply(PreVoteReply {
                        term: self.term,
                        vote_granted: false,
                        from: self.id(),
                    }),
                    out,
                ),
                Message::ReadConfirm(request) => self.send(
                    request.leader,
                    Message::ReadConfirmReply(ReadConfirmReply {
                        term: self.term,
                        from: self.id(),
                        round: request.round,
                    }),
                    out,
                ),
                Message::InstallSnapshot(request) => self.send(
                    request.leader,
                    Message::InstallSnapshotReply(InstallSnapshotReply {
                        term: self.term,
                        from: self.id(),
                        last_included_index: request.last_included_index,
                        next_offset: 0,
                        done: false,
                    }),
                    out,
                ),
                _ => {}
            }
            return Ok(());
        }

        match message {
            Message::PreVote(request) => {
                let grant = request.term > self.term
                    && !self.stickiness_refuses(false)
                    && self.log_up_to_date(request.last_log_index, request.last_log_term);
                let term = if grant { request.term } else { self.term };
                self.send(
                    request.candidate,
                    Message::PreVoteReply(PreVoteReply {
                        term,
                        vote_granted: grant,
                        from: self.id(),
                    }),
                    out,
                );
                Ok(())
            }
            Message::PreVoteReply(reply) => {
                if self.state == State::PreCandidate {
                    let current = reply.vote_granted
                        && Some(reply.term) == Self::next_term(self.term)
                        || !reply.vote_granted && reply.term == self.term;
                    if current {
                        self.record_vote(reply.from, reply.vote_granted);
                        return self.count_votes(out);
                    }
                }
                Ok(())
            }
            Message::RequestVote(request) => {
                let can_vote = self.voted_for == Some(request.candidate)
                    || (self.voted_for.is_none() && self.leader.is_none());
                let grant =
                    can_vote && self.log_up_to_date(request.last_log_index, request.last_log_term);
                if grant {
                    self.voted_for = Some(request.candidate);
                    self.election_elapsed = 0;
                }
                self.send(
                    request.candidate,
                    Message::RequestVoteReply(RequestVoteReply {
                        term: self.term,
                        vote_granted: grant,
                        from: self.id(),
                    }),
                    out,
                );
                Ok(())
            }
            Message::RequestVoteReply(reply) => {
                if self.state == State::Candidate {
                    self.record_vote(reply.from, reply.vote_granted);
                    return self.count_votes(out);
                }
                Ok(())
            }
            Message::AppendEntries(request) => {
                self.follow(from)?;
                self.handle_append(request, out)
            }
            Message::AppendEntriesReply(reply) => {
                if self.state == State::Leader {
                    return self.handle_append_reply(reply, out);
                }
                Ok(())
            }
            Message::TimeoutNow(_) => {
                if self.state != State::Leader
                    && self.leader == Some(from)
                    && self.is_voter(self.id())
                {
                    return self.start_election(true, out);
                }
                Ok(())
            }
            Message::ReadConfirm(request) => {
                self.follow(from)?;
                let reply = ReadConfirmReply {
                    term: self.term,
                    from: self.id(),
                    round: request.round,
                };
                self.send(from, Message::ReadConfirmReply(reply), out);
                Ok(())
            }
            Message::ReadConfirmReply(reply) => {
                if self.state == State::Leader {
                    return self.handle_read_confirm_reply(reply, out);
                }
                Ok(())
            }
            Message::InstallSnapshot(request) => {
                self.follow(from)?;
                self.handle_install_snapshot(*request, out)
            }
            Message::InstallSnapshotReply(reply) => {
                if self.state == State::Leader {
                    return self.handle_install_snapshot_reply(reply, out);
                }
                Ok(())
            }
        }
    }

    /// Takes a message from `from`, the leader of this node's term: follow it and reset
    /// the election timer. Another leader in the same term is refused: Election Safety
    /// says it cannot exist.
    pub(super) fn follow(&mut self, from: NodeId) -> Result<()> {
        if self.state == State::Leader || self.leader.is_some_and(|leader| leader != from) {
            return Err(Error::InvalidMessage {
                from,
                reason: "a second leader in this node's term",
            });
        }
        if self.state != State::Follower || self.leader != Some(from) {
            self.become_follower(self.term, Some(from));
        }
        self.election_elapsed = 0;
        Ok(())
    }

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
                if !self.membership.is_member(from) =>
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
            Message::PreVoteReply(_)
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

    pub(super) fn log_up_to_date(&self, last_log_index: Index, last_log_term: Term) -> bool {
        let our_term = self.log.last_term();
        last_log_term > our_term
            || (last_log_term == our_term && last_log_index >= self.log.last_index())
    }

    /// Sends `message` to every voter but this node.
    pub(super) fn send_to_other_voters(&self, message: &Message, out: &mut Vec<Action>) {
        let id = self.config.id();
        for &peer in self
            .membership
            .voters()
            .iter()
            .filter(|&&voter| voter != id)
        {
            out.push(Action::Send {
                to: peer,
                message: message.clone(),
            });
        }
    }

    pub(super) fn send(&self, to: NodeId, message: Message, out: &mut Vec<Action>) {
        out.push(Action::Send { to, message });
    }
}
