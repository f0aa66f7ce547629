//! Elections: pre-vote, votes, and becoming follower or leader (Raft §5.2, thesis §9.6).

use super::*;

impl<L: RaftLog> RaftNode<L> {
    /// The quorum of the configuration in force (both majorities when joint): the one
    /// quorum every decision asks.
    pub(super) fn quorum(&self) -> Quorum<'_> {
        Quorum::new(&self.membership)
    }

    pub(super) fn is_voter(&self, node: NodeId) -> bool {
        self.membership.is_voter(node)
    }

    /// Whether `membership` counts this node's vote: it names this node as a voter
    /// *with this log's incarnation*. A node that lost its durable state runs as a new
    /// incarnation and waits to be named again (docs/RECOVERY.md, rule 2).
    pub(super) fn votes_in(&self, membership: &Membership) -> bool {
        if self.mutated(Mutant::IgnoreIncarnation) {
            return membership.is_voter(self.id());
        }
        membership.votes_as(self.id(), self.log.incarnation())
    }

    /// Whether a reply from `from` as `incarnation` may count: from the incarnation the
    /// configuration names, or from a node it does not name at all (validation decides
    /// about those).
    pub(super) fn counts_incarnation(&self, from: NodeId, incarnation: Incarnation) -> bool {
        // (The named incarnation first: with none named, as nearly always, that is one
        // comparison.)
        self.membership.incarnation(from) == incarnation
            || !self.membership.is_member(from)
            || self.mutated(Mutant::IgnoreIncarnation)
    }

    /// Leader stickiness (Raft thesis §4.2.3), decided here for both vote kinds:
    /// whether a (pre-)vote request must be refused because this node heard from a
    /// live leader recently. A forced request (after TimeoutNow) is never refused.
    pub(super) fn stickiness_refuses(&self, forced: bool) -> bool {
        !forced && self.in_lease()
    }

    /// Whether this node heard from a live leader recently enough to refuse to help
    /// depose it.
    fn in_lease(&self) -> bool {
        // With lease reads, a node that just started may have promised a leader its
        // vote before a crash it does not remember: it waits out one election timeout.
        let just_started =
            self.config.lease_read_drift_ticks().is_some() && self.timers.just_started();
        self.state == State::Leader
            || just_started
            || (self.leader.is_some() && self.timers.heard_recently())
    }

    /// Whether this node is repairing entries a damaged disk lost (docs/RECOVERY.md,
    /// rule 1): it may have acknowledged them, so until a leader has sent them again
    /// it never campaigns. Its acknowledgements still count: they describe what it
    /// holds now, and its term is intact.
    pub(super) fn repairing(&self) -> bool {
        self.log.repair_mark().is_some() && !self.mutated(Mutant::IgnoreRepairMark)
    }

    /// Whether a candidate whose log ends at (`last_log_term`, `last_log_index`) may
    /// have this node's (pre-)vote: at least as up to date as this node's log (§5.4.1)
    /// and, while repairing, as the log it lost ([`RepairMark::allows_vote`]).
    pub(super) fn log_allows_vote(&self, last_log_index: Index, last_log_term: Term) -> bool {
        if self.mutated(Mutant::VoteWithoutLogCheck) {
            return true;
        }
        let repair_allows = match self.log.repair_mark() {
            Some(mark) if !self.mutated(Mutant::IgnoreRepairMark) => {
                mark.allows_vote(last_log_term, last_log_index)
            }
            _ => true,
        };
        repair_allows && self.log_up_to_date(last_log_index, last_log_term)
    }

    /// The term after `term`, unless it would pass [`TERM_MAX`] (which every node
    /// refuses in messages).
    pub(super) fn next_term(term: Term) -> Option<Term> {
        term.checked_add(1).filter(|&next| next <= TERM_MAX)
    }

    /// Whether this node may start an election: it votes in the configuration in
    /// force, or that configuration is not committed yet and it votes in the committed
    /// one. A node being removed may still be needed until the removal commits (thesis
    /// §4.2.2): when the only nodes holding the latest configuration are the ones it
    /// leaves out, one of them must lead to commit it. Its own vote counts only where
    /// it is a voter.
    pub(super) fn may_campaign(&self) -> bool {
        if self.repairing() {
            return false;
        }
        self.votes_in(&self.membership)
            || (self
                .config_log
                .last_index()
                .is_some_and(|index| index > self.commit_index)
                && self.votes_in(self.config_log.at(self.commit_index)))
    }

    pub(super) fn campaign(&mut self, out: &mut Vec<Action>) -> Result<()> {
        if !self.may_campaign() {
            // The timer is not restarted: past the timeout, this node no longer counts
            // as having heard from a leader, so it does not refuse candidates the
            // (pre-)votes they may need from it (a learner, or a node removed and added
            // back by a configuration it has not seen yet).
            return Ok(());
        }
        self.timers.restart_campaign();
        if self.config.pre_vote() {
            self.start_pre_vote(out)
        } else {
            self.start_election(false, out)
        }
    }

    pub(super) fn start_pre_vote(&mut self, out: &mut Vec<Action>) -> Result<()> {
        let Some(probe_term) = Self::next_term(self.term) else {
            return Ok(());
        };
        self.state = State::PreCandidate;
        self.leader = None;
        self.reads.drop_forwarded();
        self.progress.clear();
        self.votes.clear();
        self.votes.push((self.id(), true));
        let request = PreVote {
            term: probe_term,
            candidate: self.id(),
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        self.send_to_other_voters(&Message::PreVote(request), out);
        self.count_votes(out)
    }

    pub(super) fn start_election(&mut self, force: bool, out: &mut Vec<Action>) -> Result<()> {
        let Some(term) = Self::next_term(self.term) else {
            return Ok(());
        };
        info!(term, forced = force, "campaigning");
        self.state = State::Candidate;
        self.term = term;
        self.voted_for = Some(self.id());
        self.leader = None;
        self.reads.drop_forwarded();
        self.timers.restart_election();
        self.progress.clear();
        self.votes.clear();
        self.votes.push((self.id(), true));
        let request = RequestVote {
            term,
            candidate: self.id(),
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            force,
        };
        self.send_to_other_voters(&Message::RequestVote(request), out);
        self.count_votes(out)
    }

    /// A pre-vote in this node's term or later (stickiness already decided by the
    /// prologue): granted to a later term with a log at least as up to date. The
    /// node's own term and vote do not move.
    pub(super) fn handle_pre_vote(
        &mut self,
        request: PreVote,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let grant = request.term > self.term
            && self.log_allows_vote(request.last_log_index, request.last_log_term);
        let term = if grant { request.term } else { self.term };
        self.reply_pre_vote(request.candidate, term, grant, out);
        Ok(())
    }

    /// Counts a pre-vote answer to this node's current probe: a grant echoes the
    /// probe's term, a refusal carries this node's term.
    pub(super) fn handle_pre_vote_reply(
        &mut self,
        reply: PreVoteReply,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if self.state != State::PreCandidate {
            return Ok(());
        }
        let current = reply.vote_granted && Some(reply.term) == Self::next_term(self.term)
            || !reply.vote_granted && reply.term == self.term;
        if !current {
            return Ok(());
        }
        self.record_vote(reply.from, reply.vote_granted);
        self.count_votes(out)
    }

    /// A vote request in this node's term (§5.2, §5.4.1): one vote per term, only for
    /// a log at least as up to date, and not while following a known leader.
    pub(super) fn handle_request_vote(
        &mut self,
        request: RequestVote,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let can_vote = self.voted_for == Some(request.candidate)
            || (self.voted_for.is_none() && self.leader.is_none());
        let grant = can_vote && self.log_allows_vote(request.last_log_index, request.last_log_term);
        if grant {
            self.voted_for = Some(request.candidate);
            self.timers.restart_election();
        }
        self.reply_vote(request.candidate, self.term, grant, out);
        Ok(())
    }

    pub(super) fn handle_request_vote_reply(
        &mut self,
        reply: RequestVoteReply,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if self.state != State::Candidate {
            return Ok(());
        }
        self.record_vote(reply.from, reply.vote_granted);
        self.count_votes(out)
    }

    pub(super) fn reply_vote(&self, to: NodeId, term: Term, grant: bool, out: &mut Vec<Action>) {
        let reply = RequestVoteReply {
            term,
            vote_granted: grant,
            from: self.id(),
            incarnation: self.log.incarnation(),
        };
        self.send(to, Message::RequestVoteReply(reply), out);
    }

    pub(super) fn reply_pre_vote(
        &self,
        to: NodeId,
        term: Term,
        grant: bool,
        out: &mut Vec<Action>,
    ) {
        let reply = PreVoteReply {
            term,
            vote_granted: grant,
            from: self.id(),
            incarnation: self.log.incarnation(),
        };
        self.send(to, Message::PreVoteReply(reply), out);
    }

    pub(super) fn record_vote(&mut self, from: NodeId, granted: bool) {
        let counted = self.votes.iter().any(|&(voter, _)| voter == from);
        if self.is_voter(from) && (!counted || self.mutated(Mutant::CountVoteTwice)) {
            self.votes.push((from, granted));
        }
    }

    pub(super) fn count_votes(&mut self, out: &mut Vec<Action>) -> Result<()> {
        let votes = &self.votes;
        let mut result = self.quorum().vote_result(|voter| {
            votes
                .iter()
                .find(|&&(from, _)| from == voter)
                .map(|&(_, granted)| granted)
        });
        if self.mutated(Mutant::CountVoteTwice) {
            // Counts replies, not voters: a duplicated grant counts twice.
            let granted = votes.iter().filter(|&&(_, granted)| granted).count();
            if granted > self.membership.voters().len() / 2 {
                result = VoteResult::Won;
            }
        }
        match result {
            VoteResult::Won => match self.state {
                State::PreCandidate => return self.start_election(false, out),
                // A vote counts once durable, the candidate's own too: with async
                // persistence a candidate that wins at once (a single voter) waits for
                // the sync of its term and vote (`sync_log_requested` counts again).
                State::Candidate if !self.own_vote_durable() => {}
                State::Candidate => return self.become_leader(out),
                State::Follower | State::Leader => {}
            },
            VoteResult::Lost => self.become_follower(self.term, None),
            VoteResult::Pending => {}
        }
        Ok(())
    }

    /// Whether this candidate's term and vote for itself are durable. Without async
    /// persistence the step syncs them before anything it does is seen, so they count
    /// as durable within it.
    fn own_vote_durable(&self) -> bool {
        let persisted = self.sync.persisted();
        !self.config.async_persistence()
            || (persisted.term == self.term
                && persisted.voted_for == self.voted_for
                && !self.sync.holds_answers())
    }

    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        assert!(term >= self.term, "terms never go back");
        if term > self.term || leader != self.leader {
            // Reads forwarded to the old leader will not be answered.
            self.reads.drop_forwarded();
        }
        if self.state == State::Leader {
            info!(term, "stepped down");
            self.uncommitted.clear();
        }
        if term > self.term {
            info!(from = self.term, to = term, ?leader, "new term");
            self.term = term;
            self.voted_for = None;
        }
        self.state = State::Follower;
        self.leader = leader;
        self.timers.restart_all();
        self.votes.clear();
        self.progress.clear();
        self.transfer = None;
        self.rejoin = None;
        if let Some(change) = self.queued_change.take() {
            self.dropped_change = Some(change);
        }
        self.reads.step_down();
    }

    pub(super) fn become_leader(&mut self, out: &mut Vec<Action>) -> Result<()> {
        assert_eq!(self.state, State::Candidate);
        info!(term = self.term, "became leader");
        self.state = State::Leader;
        self.leader = Some(self.id());
        self.transfer = None;
        self.timers.restart_as_leader();
        self.votes.clear();
        self.uncommitted.clear();
        let next_index = self.log.last_index() + 1;
        // With nothing uncommitted, the commit index is already current (Leader
        // Completeness); otherwise reads wait for an entry of this term to commit.
        self.reads
            .begin_term(self.log.last_index() == self.commit_index);
        self.progress = self
            .membership
            .members()
            .filter(|&member| member != self.config.id())
            .map(|member| Progress::new(member, next_index))
            .collect();
        self.progress.sort_by_key(|progress| progress.id);
        // Entries of earlier terms commit only under an entry of this term (Figure 8):
        // without one, a tail this leader cannot know is committed would wait for the
        // next client proposal. An empty or fully committed log needs none.
        // (A log at the index ceiling takes no more entries, not even this one.)
        if self.log.last_index() > self.commit_index && next_index <= INDEX_MAX {
            let noop = LogEntry::noop(self.term, next_index);
            self.write_log(|log| log.append_entry(noop))?;
        }
        let _ = self.maybe_commit();
        for position in 0..self.progress.len() {
            self.replicate_to(position, out);
        }
        Ok(())
    }
}
