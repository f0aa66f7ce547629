//! Linearizable reads (thesis §6.4): ReadIndex rounds and leases on the leader, and a
//! follower's reads forwarded to its leader (etcd-style).

use super::*;
use crate::read_only::Read;

impl<L: RaftLog> RaftNode<L> {
    pub(super) fn read_index(&mut self, context: Bytes, out: &mut Vec<Action>) -> Result<()> {
        if self.state != State::Leader {
            return self.forward_read(context, out);
        }
        self.admit_read(
            Read {
                context,
                origin: None,
            },
            out,
        )
    }

    /// A follower that knows its leader forwards the read; the answer comes back as
    /// [`ReadIndexReply`] and is released as [`Action::ReadReady`].
    fn forward_read(&mut self, context: Bytes, out: &mut Vec<Action>) -> Result<()> {
        let leader = match (self.state, self.leader) {
            (State::Follower, Some(leader))
                if leader != self.id() && self.config.follower_reads() =>
            {
                leader
            }
            _ => {
                return Err(Error::NotLeader {
                    leader: self.leader,
                });
            }
        };
        self.reads.forward(context.clone(), self.timers.ticks())?;
        let request = ReadIndexRequest {
            term: self.term,
            from: self.id(),
            context,
        };
        self.send(leader, Message::ReadIndexRequest(request), out);
        Ok(())
    }

    /// Leader: a read a follower forwarded is served like the leader's own.
    pub(super) fn handle_read_index_request(
        &mut self,
        request: ReadIndexRequest,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if !self.replicates_to(request.from) {
            return Err(Error::UnknownNode { node: request.from });
        }
        self.admit_read(
            Read {
                context: request.context,
                origin: Some(request.from),
            },
            out,
        )
    }

    /// Follower: its leader answered a forwarded read.
    pub(super) fn handle_read_index_reply(
        &mut self,
        reply: ReadIndexReply,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if self.leader == Some(reply.leader) && self.reads.answered(&reply.context) {
            out.push(Action::ReadReady {
                index: reply.index,
                context: reply.context,
            });
        }
        Ok(())
    }

    fn admit_read(&mut self, read: Read, out: &mut Vec<Action>) -> Result<()> {
        self.reads.admit()?;
        if self.reads.is_ready() {
            self.serve_read(read, out);
        } else {
            self.reads.hold_until_ready(read);
        }
        Ok(())
    }

    pub(super) fn serve_read(&mut self, read: Read, out: &mut Vec<Action>) {
        assert!(self.state == State::Leader && self.reads.is_ready());
        let index = self.commit_index;
        let lease_valid = self.config.lease_read_drift_ticks().is_some()
            && self.transfer.is_none()
            && self.reads.lease_covers(self.timers.ticks());
        if self.quorum().is_only(self.id())
            || lease_valid
            || self.mutated(Mutant::ReadWithoutQuorum)
        {
            read.release(index, self.term, self.id(), out);
            return;
        }
        let round = self.start_read_round(out);
        self.reads.wait_for_round(read, index, round);
    }

    /// Starts a confirmation round: every voter is asked to acknowledge this leader.
    pub(super) fn start_read_round(&mut self, out: &mut Vec<Action>) -> u64 {
        let round = self.reads.start_round(self.timers.ticks());
        let message = ReadConfirm {
            term: self.term,
            leader: self.id(),
            round,
        };
        self.send_to_other_voters(&Message::ReadConfirm(message), out);
        round
    }

    /// A leader's read confirmation round: follow it and acknowledge the round.
    pub(super) fn handle_read_confirm(
        &mut self,
        request: ReadConfirm,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        self.follow(request.leader)?;
        self.reply_read_confirm(request.leader, request, out);
        Ok(())
    }

    /// Acknowledges `request`'s round in this node's term (a stale leader learns the
    /// newer term from it).
    pub(super) fn reply_read_confirm(
        &self,
        to: NodeId,
        request: ReadConfirm,
        out: &mut Vec<Action>,
    ) {
        let reply = ReadConfirmReply {
            term: self.term,
            from: self.id(),
            round: request.round,
            incarnation: self.log.incarnation(),
        };
        self.send(to, Message::ReadConfirmReply(reply), out);
    }

    pub(super) fn handle_read_confirm_reply(
        &mut self,
        reply: ReadConfirmReply,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let position = self.follower_position(reply.from)?;
        if reply.round == 0 || reply.round > self.reads.round() {
            return Err(Error::InvalidMessage {
                from: reply.from,
                reason: "answers a read round this leader never started",
            });
        }
        let now = self.timers.ticks();
        let progress = &mut self.progress[position];
        progress.heard(now);
        progress.read_round_acked = progress.read_round_acked.max(reply.round);
        // The highest round a quorum (this leader included) has answered.
        let mut scratch = core::mem::take(&mut self.scratch);
        let confirmed = self.quorum().committed_index(
            |voter| {
                if voter == self.id() {
                    self.reads.round()
                } else {
                    self.progress_position(voter)
                        .map_or(0, |p| self.progress[p].read_round_acked)
                }
            },
            &mut scratch,
        );
        self.scratch = scratch;
        // A confirmation holds for the minimum election timeout less the clock drift.
        let (election_min, _) = self.config.election_timeout_ticks();
        let lease_ticks = self
            .config
            .lease_read_drift_ticks()
            .map(|drift| u64::from(election_min - drift));
        self.reads
            .confirm(confirmed, lease_ticks, (self.term, self.id()), out);
        Ok(())
    }
}
