//! Single-server membership changes (thesis §4.1, the 2015 correction).

use super::*;

impl<L: RaftLog> RaftNode<L> {
    pub(super) fn change_membership(
        &mut self,
        change: MembershipChange,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        self.check_taking_requests()?;
        let in_flight = self
            .config_log
            .last_index()
            .is_some_and(|index| index > self.commit_index);
        if in_flight || self.queued_change.is_some() {
            return Err(Error::ConfigInProgress);
        }
        let _ = self.check_change(change)?;
        if self.log.term_at(self.commit_index) == Some(self.term) {
            return self.append_change(change, out);
        }
        // The 2015 correction: commit an entry of this term first. Hold the change,
        // and append a no-op if this term has no entry yet.
        self.queued_change = Some(change);
        if self.log.last_term() < self.term {
            let noop = LogEntry::noop(self.term, self.next_indexes(1)?);
            self.write_log(|log| log.append(core::slice::from_ref(&noop)))?;
            let _ = self.maybe_commit();
            for position in 0..self.progress.len() {
                self.replicate_to(position, out);
            }
        }
        Ok(())
    }

    /// Whether `change` applies to the configuration in force, learner catch-up
    /// included.
    pub(super) fn check_change(&self, change: MembershipChange) -> Result<Membership> {
        let node = change.node();
        let next = self
            .membership
            .apply(change)
            .map_err(|reason| Error::InvalidMembershipChange { node, reason })?;
        let promotes = next.is_voter(node) && self.membership.is_learner(node);
        if promotes {
            let caught_up = self
                .progress_position(node)
                .is_some_and(|position| self.progress[position].match_index >= self.commit_index);
            if !caught_up {
                return Err(Error::InvalidMembershipChange {
                    node,
                    reason: "the learner has not caught up",
                });
            }
        }
        Ok(next)
    }

    pub(super) fn append_change(
        &mut self,
        change: MembershipChange,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let next = self.check_change(change)?;
        let index = self.next_indexes(1)?;
        let entry = LogEntry {
            term: self.term,
            index,
            kind: EntryKind::Config,
            command: next.encode().into(),
        };
        self.write_log(|log| log.append(core::slice::from_ref(&entry)))?;
        self.config_log.push(index, next);
        self.refresh_membership(out);
        let _ = self.maybe_commit();
        for position in 0..self.progress.len() {
            self.replicate_to(position, out);
        }
        Ok(())
    }

    /// Puts the last configuration entry (or the base) in force, reporting a change and
    /// adjusting the leader's per-follower progress.
    pub(super) fn refresh_membership(&mut self, out: &mut Vec<Action>) {
        let current = self.config_log.current();
        if *current == self.membership {
            return;
        }
        self.membership = current.clone();
        out.push(Action::MembershipChanged {
            membership: self.membership.clone(),
        });
        if self.state == State::Leader {
            let next_index = self.log.last_index() + 1;
            let id = self.config.id();
            let members: Vec<NodeId> = self
                .membership
                .members()
                .filter(|&member| member != id)
                .collect();
            let mut progress: Vec<Progress> = members
                .into_iter()
                .map(|member| match self.progress_position(member) {
                    Some(position) => self.progress[position].clone(),
                    None => Progress::new(member, next_index),
                })
                .collect();
            progress.sort_by_key(|progress| progress.id);
            self.progress = progress;
            if let Some(transfer) = self
                .transfer
                .filter(|transfer| !self.membership.is_voter(transfer.target))
            {
                let _ = transfer;
                self.transfer = None;
            }
        }
    }
}
