//! Leadership transfer (thesis §3.10): catch the target up, then TimeoutNow.

use super::*;

impl<L: RaftLog> RaftNode<L> {
    pub(super) fn transfer_leadership(
        &mut self,
        target: NodeId,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if self.state != State::Leader {
            return Err(Error::NotLeader {
                leader: self.leader,
            });
        }
        if target == self.id() {
            return Err(Error::InvalidTransfer {
                target,
                reason: "it is already the leader",
            });
        }
        if !self.is_voter(target) {
            return Err(Error::InvalidTransfer {
                target,
                reason: "it is not a voter",
            });
        }
        match self.transfer {
            Some(transfer) if transfer.target == target => return Ok(()),
            Some(transfer) => {
                return Err(Error::TransferInProgress {
                    target: transfer.target,
                });
            }
            None => {}
        }
        info!(target, "leadership transfer");
        self.transfer = Some(Transfer {
            target,
            elapsed: 0,
            leaving: false,
        });
        if !self.maybe_send_timeout_now(out)
            && let Some(position) = self.progress_position(target)
        {
            self.replicate_to(position, out);
        }
        Ok(())
    }

    /// Sends `TimeoutNow` to the transfer target once it holds the whole log. Returns
    /// whether it was sent.
    pub(super) fn maybe_send_timeout_now(&mut self, out: &mut Vec<Action>) -> bool {
        let Some(transfer) = self.transfer else {
            return false;
        };
        let caught_up = self
            .progress_position(transfer.target)
            .is_some_and(|position| self.progress[position].match_index == self.log.last_index());
        if caught_up {
            // The target's forced votes ignore stickiness, whenever they arrive (even
            // after the transfer is abandoned): no lease can be trusted in this term.
            self.reads.forfeit_lease();
            let message = Message::TimeoutNow(TimeoutNow {
                term: self.term,
                leader: self.id(),
            });
            self.send(transfer.target, message, out);
        }
        caught_up
    }

    /// TimeoutNow from this term's leader (thesis §3.10): a voter campaigns at once,
    /// with a forced vote request stickiness does not refuse.
    pub(super) fn handle_timeout_now(
        &mut self,
        request: TimeoutNow,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if self.state != State::Leader
            && self.leader == Some(request.leader)
            && self.votes_in(&self.membership)
            && !self.repairing()
        {
            return self.start_election(true, out);
        }
        Ok(())
    }

    /// Leader only: the node leadership is being handed to, if a transfer is under way.
    pub fn transfer_target(&self) -> Option<NodeId> {
        self.transfer.map(|transfer| transfer.target)
    }
}
