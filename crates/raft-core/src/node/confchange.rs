//! Membership changes: single-server changes (thesis §4.1, with the 2015 correction)
//! and changes of any size through a joint configuration (thesis §4.3), guarded changes,
//! leaving the joint configuration, and a removed leader handing over.

use super::*;

/// A membership change asked of the leader, held while it first commits an entry of its
/// own term.
#[derive(Clone, Debug)]
pub(super) enum ChangeRequest {
    /// [`Event::ChangeMembership`].
    Single(MembershipChange),
    /// [`Event::ChangeConfig`].
    Config(ConfigChange),
}

impl ChangeRequest {
    /// What the driver is told when the held request is abandoned.
    pub(super) fn dropped(self) -> Action {
        match self {
            ChangeRequest::Single(change) => Action::MembershipChangeDropped { change },
            ChangeRequest::Config(change) => Action::ConfigChangeDropped { change },
        }
    }
}

impl<L: RaftLog> RaftNode<L> {
    /// The index of the configuration in force: its entry's index, or for the
    /// configuration below the log, 0 for the initial one and otherwise the index it is
    /// known by (its entry's, or the snapshot's when it came with an installed snapshot).
    /// A guarded [`ConfigChange`] names it.
    pub fn config_index(&self) -> Index {
        self.config_log.index_in_force()
    }

    pub(super) fn request_change(
        &mut self,
        request: ChangeRequest,
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
        let _ = self.next_configuration(&request)?;
        if self.log.term_at(self.commit_index) == Some(self.term)
            || self.mutated(Mutant::ForgetMembershipRule)
        {
            return self.append_change(&request, out);
        }
        // The 2015 correction: commit an entry of this term first. Hold the change,
        // and append a no-op if this term has no entry yet.
        self.queued_change = Some(alloc::boxed::Box::new(request));
        self.commit_own_term_first(out)
    }

    /// Appends a no-op if this term has no entry yet, so that an entry of this term
    /// can commit before a membership change goes in (the 2015 correction).
    fn commit_own_term_first(&mut self, out: &mut Vec<Action>) -> Result<()> {
        if self.log.last_term() < self.term {
            let noop = LogEntry::noop(self.term, self.next_indexes(1)?);
            self.write_log(|log| log.append_entry(noop))?;
            let _ = self.maybe_commit();
            for position in 0..self.progress.len() {
                self.replicate_to(position, out);
            }
        }
        Ok(())
    }

    /// The configuration `request` leads to from the one in force, or why it cannot
    /// apply (the guard, the joint phase, each step's rules, learner catch-up).
    pub(super) fn next_configuration(&self, request: &ChangeRequest) -> Result<Membership> {
        let change = match request {
            ChangeRequest::Single(change) => {
                if self.membership.is_joint() {
                    return Err(Error::ConfigInProgress);
                }
                let node = change.node();
                let next = self
                    .membership
                    .apply(*change)
                    .map_err(|reason| Error::InvalidMembershipChange { node, reason })?;
                self.check_promotions(&next)?;
                return Ok(next);
            }
            ChangeRequest::Config(change) => change,
        };
        if let Some(expected) = change.expected_config_index() {
            let actual = self.config_index();
            if expected != actual {
                return Err(Error::ConfigChanged { expected, actual });
            }
        }
        if change.is_leave() {
            return if self.membership.is_joint() {
                Ok(self.membership.leave_joint())
            } else {
                Err(Error::InvalidConfigChange {
                    reason: "no joint configuration to leave",
                })
            };
        }
        if self.membership.is_joint() {
            return Err(Error::ConfigInProgress);
        }
        let next = change.next_configuration(&self.membership)?;
        self.check_promotions(&next)?;
        Ok(next)
    }

    /// Every learner `next` makes a voter must have caught up (its match index at least
    /// the commit index), so the new majority can commit at once.
    fn check_promotions(&self, next: &Membership) -> Result<()> {
        for &node in next.voters() {
            if !self.membership.is_learner(node) {
                continue;
            }
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
        Ok(())
    }

    /// Appends the configuration entry `request` leads to; it takes effect at once.
    pub(super) fn append_change(
        &mut self,
        request: &ChangeRequest,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let next = self.next_configuration(request)?;
        self.append_configuration(next, out)
    }

    fn append_configuration(&mut self, next: Membership, out: &mut Vec<Action>) -> Result<()> {
        let index = self.next_indexes(1)?;
        let entry = LogEntry {
            term: self.term,
            index,
            kind: EntryKind::Config,
            command: next.encode().into(),
        };
        self.write_log(|log| log.append_entry(entry))?;
        self.config_log.push(index, next);
        self.refresh_membership(out);
        let _ = self.maybe_commit();
        for position in 0..self.progress.len() {
            self.replicate_to(position, out);
        }
        Ok(())
    }

    /// Leader, at the end of a step: goes on with membership work that waited for a
    /// commit. A held change goes in once an entry of this term commits; a joint
    /// configuration that committed is left (`C_new` appended) when it leaves on its
    /// own; a leader outside the committed configuration hands over and steps down.
    pub(super) fn advance_membership(&mut self, out: &mut Vec<Action>) -> Result<()> {
        if self.state != State::Leader {
            return Ok(());
        }
        // The common case, checked in a few comparisons on every step: nothing held, not
        // joint, no removed node still replicated to, this leader a voter.
        let membership = &self.membership;
        let settled = self.queued_change.is_none()
            && !membership.is_joint()
            && self.progress.len() + 1 == membership.voters().len() + membership.learners().len()
            && membership.is_voter(self.config.id())
            && self.rejoin.is_none()
            && membership.rejoining().is_empty();
        if settled {
            return Ok(());
        }
        self.release_departed();
        let own_term_committed = self.log.term_at(self.commit_index) == Some(self.term);
        let config_committed = self
            .config_log
            .last_index()
            .is_none_or(|index| index <= self.commit_index);
        if own_term_committed && let Some(request) = self.queued_change.take() {
            // Checked when asked; the guard holds (no other change could go in), and
            // only the learner catch-up can have changed since.
            match self.append_change(&request, out) {
                Ok(()) => {}
                Err(error) if error.is_fatal() => return Err(error),
                Err(_) => out.push(request.dropped()),
            }
        } else if own_term_committed
            && config_committed
            && self.membership.is_joint()
            && self.membership.auto_leave()
        {
            let next = self.membership.leave_joint();
            self.append_configuration(next, out)?;
        } else if config_committed && !self.votes_in(&self.membership) {
            self.hand_over(out);
        } else if config_committed {
            self.rejoin_lost_incarnations(own_term_committed, out)?;
        }
        Ok(())
    }

    /// Rule 2 (docs/RECOVERY.md), on the leader once no other change is in flight: a
    /// member that answered as an incarnation the configuration does not name is named
    /// with it ([`MembershipChange::Reincarnate`]: a voter becomes a rejoining
    /// learner, so the lost incarnation's votes and acknowledgements stop counting and
    /// the new one's do not count yet); a rejoining learner that has caught up is
    /// promoted back (outside a joint configuration). One change at a time, each after
    /// the last committed, as any other; naming an incarnation is also the one change
    /// a joint configuration takes (`Membership::apply`), so a joint configuration
    /// that waits for an explicit leave does not hold a lost voter's replacement up.
    fn rejoin_lost_incarnations(
        &mut self,
        own_term_committed: bool,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if !own_term_committed {
            // The 2015 correction, as for a requested change: an entry of this term
            // commits first (a no-op if this term has none yet).
            return if self.rejoin.is_some() {
                self.commit_own_term_first(out)
            } else {
                Ok(())
            };
        }
        let change = if let Some((node, incarnation)) = self.rejoin.take() {
            MembershipChange::Reincarnate { node, incarnation }
        } else if self.membership.is_joint() {
            return Ok(());
        } else {
            let caught_up = self.membership.rejoining().iter().copied().find(|&node| {
                self.progress_position(node).is_some_and(|position| {
                    self.progress[position].match_index >= self.commit_index
                })
            });
            match caught_up {
                Some(node) => MembershipChange::PromoteLearner(node),
                None => return Ok(()),
            }
        };
        let next = self
            .membership
            .apply(change)
            .map_err(|reason| Error::InvalidMembershipChange {
                node: change.node(),
                reason,
            })
            .and_then(|next| self.check_promotions(&next).map(|()| next));
        match next {
            Ok(next) => {
                info!(change = ?change, "rejoining a member that lost its durable state");
                self.append_configuration(next, out)
            }
            // The node left the configuration, or the incarnation is named already.
            Err(error) if !error.is_fatal() => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// A leader removed by a committed configuration hands leadership to the most
    /// caught-up voter (lowest id on ties) before stepping down: `TimeoutNow` as soon as
    /// that voter holds the whole log. If the hand-over is abandoned (the target did not
    /// catch up within the minimum election timeout), or there is nobody to hand to, it
    /// steps down and the cluster elects as usual.
    fn hand_over(&mut self, out: &mut Vec<Action>) {
        if self.transfer.is_none() {
            let target = self
                .progress
                .iter()
                .filter(|progress| self.membership.is_voter(progress.id))
                .max_by(|a, b| a.match_index.cmp(&b.match_index).then(b.id.cmp(&a.id)))
                .map(|progress| progress.id);
            let Some(target) = target else {
                self.become_follower(self.term, None);
                return;
            };
            info!(
                target,
                "removed from the configuration: handing leadership over"
            );
            self.transfer = Some(Transfer {
                target,
                elapsed: 0,
                leaving: true,
            });
        }
        if self.maybe_send_timeout_now(out) {
            self.become_follower(self.term, None);
        }
    }

    /// Leader: a node removed from the configuration stays in replication until it has
    /// been sent the commit of its removal and acknowledged the entry (so it learns of
    /// it: [`Action::Removed`]), or has been silent for the maximum election timeout.
    /// Best effort: a removed node that is down then is not told, and stays quiet
    /// anyway (its pre-votes find no up-to-date voter willing).
    fn release_departed(&mut self) {
        let members =
            self.membership.members().count() - usize::from(self.membership.is_member(self.id()));
        if self.progress.len() == members {
            return;
        }
        let removal = self.config_index();
        if self.commit_index < removal {
            return;
        }
        let now = self.timers.ticks();
        let silence_max = u64::from(self.config.election_timeout_ticks().1);
        let membership = &self.membership;
        self.progress.retain(|progress| {
            let told = progress.match_index >= removal && progress.commit_sent() >= removal;
            let silent = progress
                .last_heard_tick()
                .is_none_or(|heard| now.saturating_sub(heard) > silence_max);
            membership.is_member(progress.id) || !(told || silent)
        });
    }

    /// Whether this leader replicates to `node`: a member, or a removed node not yet
    /// told of its removal.
    pub(super) fn replicates_to(&self, node: NodeId) -> bool {
        // (The progress lookup first: on a leader it answers for every member.)
        self.progress_position(node).is_some() || self.membership.is_member(node)
    }

    /// Puts the last configuration entry (or the base) in force, reporting a change and
    /// adjusting the leader's per-follower progress.
    pub(super) fn refresh_membership(&mut self, out: &mut Vec<Action>) {
        let current = self.config_log.current();
        if *current == self.membership {
            return;
        }
        let previous = core::mem::replace(&mut self.membership, current.clone());
        info!(
            voters = ?self.membership.voters(),
            outgoing = ?self.membership.outgoing_voters(),
            learners = ?self.membership.learners(),
            "configuration changed"
        );
        out.push(Action::MembershipChanged {
            membership: self.membership.clone(),
        });
        if self.state == State::Leader {
            let next_index = self.log.last_index() + 1;
            let id = self.config.id();
            // Members, and nodes just removed until they are told (`release_departed`).
            let members: Vec<NodeId> = self
                .membership
                .members()
                .chain(self.progress.iter().map(|progress| progress.id))
                .filter(|&member| member != id)
                .collect();
            let mut progress: Vec<Progress> = members
                .into_iter()
                .map(|member| match self.progress_position(member) {
                    // A member named with a new incarnation starts over: what the lost
                    // one acknowledged is not in the new one's log.
                    Some(position)
                        if previous.incarnation(member) == self.membership.incarnation(member) =>
                    {
                        self.progress[position].clone()
                    }
                    _ => Progress::new(member, next_index),
                })
                .collect();
            progress.sort_by_key(|progress| progress.id);
            progress.dedup_by_key(|progress| progress.id);
            self.progress = progress;
            if self
                .transfer
                .is_some_and(|transfer| !self.membership.is_voter(transfer.target))
            {
                self.transfer = None;
            }
        }
    }
}
