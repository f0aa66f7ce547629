//! The nemesis: faults drawn from the seed (crash, restart, partitions, churn, transfers) and the heal.

use super::*;

impl Simulation {
    pub(super) fn inject_fault(&mut self) -> Result<(), Violation> {
        if self.healed {
            return Ok(());
        }
        let (gap_min, gap_max) = self.config.fault_gap_ticks;
        let next = self
            .rng
            .between(gap_min * TIME_PER_TICK, gap_max * TIME_PER_TICK);
        let number = self.faults_drawn;
        self.faults_drawn += 1;
        if self.faults_drawn < self.config.faults_max {
            self.schedule(next, Ev::Fault);
        }
        if number < 64 && self.config.skip_faults & (1 << number) != 0 {
            self.note(None, || format!("fault {number} skipped"));
            return Ok(());
        }
        let faults = self.config.faults;
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let down: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|id| !self.nodes[id].is_up())
            .collect();
        match self.rng.below(10) {
            0 | 1 if faults.crashes && ids.len() - down.len() > 1 => {
                let up: Vec<NodeId> = ids
                    .iter()
                    .copied()
                    .filter(|id| self.nodes[id].is_up())
                    .collect();
                // Prefer the leader half the time: it is where crashes hurt most.
                let leader = self.live_leader(&up);
                let victim = match leader {
                    Some(leader) if self.rng.chance(500) => leader,
                    _ => up[self.rng.below(up.len() as u64) as usize],
                };
                self.crash(victim);
            }
            2 | 3 if faults.crashes && !down.is_empty() => {
                let id = down[self.rng.below(down.len() as u64) as usize];
                self.restart(id)?;
            }
            4 | 5 if faults.partitions => self.partition(&ids),
            6 if faults.transfers => self.transfer(&ids)?,
            7 | 8 if faults.membership => self.churn(&ids)?,
            _ => {
                self.blocked.clear();
                self.note(None, || "partitions heal".into());
                self.record_partition();
            }
        }
        Ok(())
    }

    /// Asks the current leader for one membership change: half the time a
    /// single-server one (add a non-member as a learner, promote a learner, remove a
    /// voter, possibly itself), else a joint one ([`Simulation::joint_change`]); a joint
    /// configuration waiting for an explicit leave is asked to leave.
    pub(super) fn churn(&mut self, ids: &[NodeId]) -> Result<(), Violation> {
        let Some(leader) = self.live_leader(ids) else {
            return Ok(());
        };
        if self.any_disk_damaged() {
            // A change could leave the damaged nodes a majority of the voters, which
            // then waits for an operator, rightly, but no seed can check that.
            return Ok(());
        }
        let raft = self.nodes[&leader].raft().expect("leader is up");
        let membership = raft.membership().clone();
        let config_index = raft.config_index();
        let mut stale_guard = false;
        let event = if membership.is_joint() {
            if membership.auto_leave() {
                return Ok(());
            }
            Event::ChangeConfig(ConfigChange::leave_joint())
        } else if self.rng.chance(500) {
            let Some(mut change) = self.joint_change(ids, &membership) else {
                return Ok(());
            };
            if self.rng.chance(600) {
                change = change.explicit_leave();
            }
            match self.rng.below(10) {
                0..=4 => change = change.guarded(config_index),
                5 if config_index > 0 => {
                    stale_guard = true;
                    change = change.guarded(config_index - 1);
                }
                _ => {}
            }
            Event::ChangeConfig(change)
        } else {
            let Some(change) = self.single_change(ids, &membership) else {
                return Ok(());
            };
            Event::ChangeMembership(change)
        };
        self.note(Some(leader), || format!("asked for {event:?}"));
        let result = self
            .nodes
            .get_mut(&leader)
            .and_then(|n| n.raft_mut())
            .map(|raft| raft.step(event));
        match result {
            Some(Ok(_)) if stale_guard => Err(self.violation(
                "Guarded change",
                format!("n{leader} accepted a change guarded by a configuration not in force"),
            )),
            Some(Ok(actions)) => {
                let changed = actions
                    .iter()
                    .any(|action| matches!(action, Action::MembershipChanged { .. }));
                if !changed {
                    self.held_change = Some(leader);
                }
                self.after_step(leader, actions)?;
                // Now and then the voters being left are cut off as the change starts:
                // the new majority alone must not be able to commit it.
                let now = self.nodes[&leader]
                    .raft()
                    .map(|raft| raft.membership().clone());
                if let Some(joint) = now.filter(Membership::is_joint)
                    && self.rng.chance(300)
                {
                    self.split_joint(ids, &joint, true);
                }
                Ok(())
            }
            // Refusals are part of the protocol: one change at a time, catch-up first,
            // guards that no longer hold.
            Some(Err(
                Error::ConfigInProgress
                | Error::InvalidMembershipChange { .. }
                | Error::InvalidConfigChange { .. }
                | Error::ConfigChanged { .. }
                | Error::TransferInProgress { .. },
            ))
            | None => Ok(()),
            Some(Err(error)) => Err(self.violation(
                "Node error",
                format!("membership change on n{leader}: {error}"),
            )),
        }
    }

    /// One single-server change, drawn from the seed.
    fn single_change(
        &mut self,
        ids: &[NodeId],
        membership: &Membership,
    ) -> Option<MembershipChange> {
        let outsiders: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|&id| !membership.is_member(id))
            .collect();
        if let Some(&learner) = membership.learners().first() {
            Some(MembershipChange::PromoteLearner(learner))
        } else if !outsiders.is_empty() && (membership.voters().len() <= 2 || self.rng.chance(500))
        {
            Some(MembershipChange::AddLearner(
                outsiders[self.rng.below(outsiders.len() as u64) as usize],
            ))
        } else if membership.voters().len() > 2 {
            let voters = membership.voters();
            Some(MembershipChange::RemoveMember(
                voters[self.rng.below(voters.len() as u64) as usize],
            ))
        } else {
            None
        }
    }

    /// One change of several voters at once, drawn from the seed: swap one or two
    /// voters for other nodes (learners or non-members, who join as voters directly),
    /// promote a learner while removing a voter, or any voter set of one to five nodes.
    fn joint_change(&mut self, ids: &[NodeId], membership: &Membership) -> Option<ConfigChange> {
        let voters = membership.voters();
        let others: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|&id| !membership.is_voter(id))
            .collect();
        let pick = |rng: &mut SimRng, list: &[NodeId]| list[rng.below(list.len() as u64) as usize];
        match self.rng.below(3) {
            0 if !others.is_empty() => {
                let mut next: Vec<NodeId> = voters.to_vec();
                for _ in 0..=self.rng.below(2) {
                    if next.len() > 1 {
                        let out = pick(&mut self.rng, &next);
                        next.retain(|&voter| voter != out);
                    }
                    next.push(pick(&mut self.rng, &others));
                }
                Some(ConfigChange::set_voters(next))
            }
            1 if !membership.learners().is_empty() => {
                let learner = pick(&mut self.rng, membership.learners());
                let voter = pick(&mut self.rng, voters);
                Some(ConfigChange::new([
                    MembershipChange::PromoteLearner(learner),
                    MembershipChange::RemoveMember(voter),
                ]))
            }
            _ => {
                let size = 1 + self.rng.below(ids.len().min(5) as u64);
                let mut pool = ids.to_vec();
                let mut next = Vec::new();
                for _ in 0..size {
                    let at = self.rng.below(pool.len() as u64) as usize;
                    next.push(pool.swap_remove(at));
                }
                Some(ConfigChange::set_voters(next))
            }
        }
    }

    /// The first live node (in id order) that believes it leads.
    pub(super) fn live_leader(&self, ids: &[NodeId]) -> Option<NodeId> {
        ids.iter()
            .copied()
            .find(|id| self.nodes[id].raft().is_some_and(|r| r.is_leader()))
    }

    /// Asks the current leader to hand over to a random other node.
    pub(super) fn transfer(&mut self, ids: &[NodeId]) -> Result<(), Violation> {
        let Some(leader) = self.live_leader(ids) else {
            return Ok(());
        };
        let voters = self.nodes[&leader]
            .raft()
            .expect("leader is up")
            .membership()
            .voters()
            .to_vec();
        let others: Vec<NodeId> = voters.into_iter().filter(|&id| id != leader).collect();
        if others.is_empty() {
            return Ok(());
        }
        let target = others[self.rng.below(others.len() as u64) as usize];
        self.note(Some(leader), || {
            format!("asked to transfer leadership to n{target}")
        });
        let result = self
            .nodes
            .get_mut(&leader)
            .and_then(|n| n.raft_mut())
            .map(|raft| raft.step(Event::TransferLeadership(target)));
        match result {
            Some(Ok(actions)) => self.after_step(leader, actions),
            // Another transfer may already be under way.
            Some(Err(Error::TransferInProgress { .. })) | None => Ok(()),
            Some(Err(error)) => {
                Err(self.violation("Node error", format!("transfer on n{leader}: {error}")))
            }
        }
    }

    pub(super) fn partition(&mut self, ids: &[NodeId]) {
        self.blocked.clear();
        let leader = self.live_leader(ids);
        if let Some(leader) = leader
            && self.config.faults.membership
            && self.rng.chance(500)
        {
            let membership = self.nodes[&leader]
                .raft()
                .expect("leader is up")
                .membership()
                .clone();
            if membership.is_joint() {
                let outgoing_side = self.rng.chance(500);
                self.split_joint(ids, &membership, outgoing_side);
                return;
            }
        }
        let kind = self.rng.below(4);
        let victim = match (kind, leader) {
            (0, Some(leader)) => leader,
            _ => ids[self.rng.below(ids.len() as u64) as usize],
        };
        match kind {
            // Isolate one node (the leader when there is one), both ways.
            0 | 1 => {
                for &other in ids.iter().filter(|&&o| o != victim) {
                    let _ = self.blocked.insert((victim, other));
                    let _ = self.blocked.insert((other, victim));
                }
            }
            // One way: the victim hears nobody, everybody hears it.
            2 => {
                for &other in ids.iter().filter(|&&o| o != victim) {
                    let _ = self.blocked.insert((other, victim));
                }
            }
            // Majority / minority split.
            _ => {
                let minority: Vec<NodeId> = ids
                    .iter()
                    .copied()
                    .filter(|_| self.rng.chance(400))
                    .take(ids.len() / 2)
                    .collect();
                for &a in &minority {
                    for &b in ids.iter().filter(|b| !minority.contains(b)) {
                        let _ = self.blocked.insert((a, b));
                        let _ = self.blocked.insert((b, a));
                    }
                }
            }
        }
        let blocked = self.blocked.len();
        self.note(None, || {
            format!("partition kind {kind} around n{victim}: {blocked} links cut")
        });
        self.record_partition();
    }

    /// While a joint configuration is in force, cuts the two halves apart: the voters
    /// only in one half (the outgoing one or the incoming one) on one side, everybody
    /// else on the other, so one majority can be reached without the other.
    fn split_joint(&mut self, ids: &[NodeId], membership: &Membership, outgoing_side: bool) {
        self.blocked.clear();
        let side: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|&id| {
                let incoming = membership.voters().contains(&id);
                let outgoing = membership.outgoing_voters().contains(&id);
                if outgoing_side {
                    outgoing && !incoming
                } else {
                    incoming && !outgoing
                }
            })
            .collect();
        for &a in &side {
            for &b in ids.iter().filter(|b| !side.contains(b)) {
                let _ = self.blocked.insert((a, b));
                let _ = self.blocked.insert((b, a));
            }
        }
        self.note(None, || {
            format!("joint split: {side:?} cut off from the rest")
        });
        self.record_partition();
    }

    pub(super) fn heal(&mut self) -> Result<(), Violation> {
        self.healed = true;
        self.blocked.clear();
        self.record_partition();
        let down: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| !n.is_up())
            .map(|(&id, _)| id)
            .collect();
        for id in down {
            self.restart(id)?;
        }
        self.note(None, || {
            "faults heal: partitions lifted, nodes restarted, no more loss".into()
        });
        Ok(())
    }
}
