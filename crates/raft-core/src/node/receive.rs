//! Inbound messages: the term prologue (the term rule and leader stickiness, decided
//! here once for every kind) and the dispatch table, one line per kind, to the area
//! that handles it. Validation lives in `validate.rs`.

use super::*;

/// What the term prologue decided about a valid message.
enum Admission {
    /// From a past term: answered with this node's term (requests) or dropped
    /// (replies).
    Stale,
    /// A (pre-)vote request for a later term while this node follows a live leader:
    /// refused without adopting the term (leader stickiness, thesis §4.2.3).
    Sticky,
    /// In this node's term (adopted first if the message was ahead): dispatched.
    Current,
}

impl<L: RaftLog> RaftNode<L> {
    pub(super) fn receive(&mut self, message: Message, out: &mut Vec<Action>) -> Result<()> {
        self.validate(&message)?;
        match self.admit(&message) {
            Admission::Stale => {
                self.answer_stale(message, out);
                Ok(())
            }
            Admission::Sticky => {
                self.refuse_while_sticky(message, out);
                Ok(())
            }
            Admission::Current => {
                if let Some(incarnation) = message.sender_incarnation()
                    && !self.counts_incarnation(message.from(), incarnation)
                {
                    self.note_new_incarnation(message.from(), incarnation);
                    return Ok(());
                }
                self.dispatch_message(message, out)
            }
        }
    }

    /// A member answered as an incarnation the configuration does not name: it lost
    /// its durable state (or a reply of a lost incarnation arrived late). The reply
    /// counts for nothing; a leader names the new incarnation with the next
    /// membership change it can make (`advance_membership`), after which the node
    /// catches up as a learner and, if it was a voter, is promoted back.
    fn note_new_incarnation(&mut self, from: NodeId, incarnation: Incarnation) {
        debug!(
            from,
            incarnation,
            named = self.membership.incarnation(from),
            "reply from an incarnation the configuration does not name"
        );
        // A replaced incarnation lost its state for good: never named again (its late
        // replies would otherwise take the node back and forth).
        if self.state == State::Leader && !self.membership.is_retired(from, incarnation) {
            self.rejoin = Some((from, incarnation));
        }
    }

    /// The term rule (Figure 2, "all servers"): a message from a later term makes
    /// this node a follower in that term first, except a pre-vote (which never moves
    /// terms) and a vote request leader stickiness refuses.
    fn admit(&mut self, message: &Message) -> Admission {
        let term = message.term();
        if term < self.term {
            return Admission::Stale;
        }
        if term == self.term {
            return Admission::Current;
        }
        let sticky = match message {
            Message::PreVote(_) => self.stickiness_refuses(false),
            Message::RequestVote(request) => self.stickiness_refuses(request.force),
            _ => false,
        };
        if sticky {
            return Admission::Sticky;
        }
        let from = message.from();
        match message {
            // A pre-vote never moves the receiver's term; a granted answer echoes the
            // probe's hypothetical term.
            Message::PreVote(_) => {}
            Message::PreVoteReply(reply) if reply.vote_granted => {}
            // Only the term's leader sends these: follow it at once.
            Message::AppendEntries(_)
            | Message::TimeoutNow(_)
            | Message::ReadConfirm(_)
            | Message::InstallSnapshot(_)
            | Message::ReadIndexReply(_) => self.become_follower(term, Some(from)),
            _ => self.become_follower(term, None),
        }
        Admission::Current
    }

    /// The dispatch table: each kind to the one function that handles it. Replies
    /// only a leader asked for are dropped by any other role.
    fn dispatch_message(&mut self, message: Message, out: &mut Vec<Action>) -> Result<()> {
        debug!(
            from = message.from(),
            term = message.term(),
            kind = message.kind(),
            "message"
        );
        let leader = self.state == State::Leader;
        match message {
            Message::PreVote(request) => self.handle_pre_vote(request, out),
            Message::PreVoteReply(reply) => self.handle_pre_vote_reply(reply, out),
            Message::RequestVote(request) => self.handle_request_vote(request, out),
            Message::RequestVoteReply(reply) => self.handle_request_vote_reply(reply, out),
            Message::AppendEntries(request) => self.handle_append(request, out),
            Message::AppendEntriesReply(reply) if leader => self.handle_append_reply(reply, out),
            Message::TimeoutNow(request) => self.handle_timeout_now(request, out),
            Message::ReadConfirm(request) => self.handle_read_confirm(request, out),
            Message::ReadConfirmReply(reply) if leader => {
                self.handle_read_confirm_reply(reply, out)
            }
            Message::InstallSnapshot(request) => self.handle_install_snapshot(*request, out),
            Message::InstallSnapshotReply(reply) if leader => {
                self.handle_install_snapshot_reply(reply, out)
            }
            Message::ReadIndexRequest(request) if leader => {
                self.handle_read_index_request(request, out)
            }
            Message::ReadIndexReply(reply) => self.handle_read_index_reply(reply, out),
            // A forwarded read reaching a node that no longer leads is dropped: its
            // follower drops it too once it learns of the next leader.
            Message::AppendEntriesReply(_)
            | Message::ReadConfirmReply(_)
            | Message::InstallSnapshotReply(_)
            | Message::ReadIndexRequest(_) => Ok(()),
        }
    }

    /// Answers a request from a past term with this node's term, so its sender
    /// catches up; drops a stale reply.
    fn answer_stale(&self, message: Message, out: &mut Vec<Action>) {
        match message {
            Message::AppendEntries(request) => self.reply_append(
                request.leader,
                false,
                request.prev_log_index,
                0,
                (0, 0),
                out,
            ),
            Message::RequestVote(request) => {
                self.reply_vote(request.candidate, self.term, false, out);
            }
            Message::PreVote(request) => {
                self.reply_pre_vote(request.candidate, self.term, false, out);
            }
            Message::ReadConfirm(request) => self.reply_read_confirm(request.leader, request, out),
            Message::InstallSnapshot(request) => self.send(
                request.leader,
                Message::InstallSnapshotReply(InstallSnapshotReply {
                    term: self.term,
                    from: self.id(),
                    last_included_index: request.last_included_index,
                    next_offset: 0,
                    done: false,
                    incarnation: self.log.incarnation(),
                }),
                out,
            ),
            Message::PreVoteReply(_)
            | Message::RequestVoteReply(_)
            | Message::AppendEntriesReply(_)
            | Message::TimeoutNow(_)
            | Message::ReadConfirmReply(_)
            | Message::InstallSnapshotReply(_)
            | Message::ReadIndexRequest(_)
            | Message::ReadIndexReply(_) => {}
        }
    }

    /// Refuses a vote request leader stickiness turned down: a pre-vote is answered
    /// "no" in this node's term; a vote request is dropped (answering it would leak
    /// nothing useful and adopting its term would depose the live leader).
    fn refuse_while_sticky(&self, message: Message, out: &mut Vec<Action>) {
        if let Message::PreVote(request) = message {
            self.reply_pre_vote(request.candidate, self.term, false, out);
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
        self.timers.restart_election();
        Ok(())
    }

    pub(super) fn log_up_to_date(&self, last_log_index: Index, last_log_term: Term) -> bool {
        let our_term = self.log.last_term();
        last_log_term > our_term
            || (last_log_term == our_term && last_log_index >= self.log.last_index())
    }

    /// Sends `message` to every voter but this node (both halves of a joint
    /// configuration).
    pub(super) fn send_to_other_voters(&self, message: &Message, out: &mut Vec<Action>) {
        let id = self.config.id();
        for peer in self.membership.all_voters().filter(|&voter| voter != id) {
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
