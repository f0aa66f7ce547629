//! The nemesis: faults drawn from the seed (crash, restart, partitions, churn, transfers) and the heal.

use super::*;

impl Simulation {
    pub(super) fn inject_fault(&mut self) -> Result<(), Violation> {
        if self.healed {
            return Ok(());
        }
        let next = self.rng.between(10 * TIME_PER_TICK, 60 * TIME_PER_TICK);
        self.schedule(next, Ev::Fault);
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
            7 if faults.membership => self.churn(&ids)?,
            _ => {
                self.blocked.clear();
                self.note(None, || "partitions heal".into());
            }
        }
        Ok(())
    }

    /// Asks the current leader for one membership change: add a non-member as a
    /// learner, promote a learner, or remove a voter (possibly itself).
    pub(super) fn churn(&mut self, ids: &[NodeId]) -> Result<(), Violation> {
        let Some(leader) = self.live_leader(ids) else {
            return Ok(());
        };
        let membership = self.nodes[&leader]
            .raft()
            .expect("leader is up")
            .membership()
            .clone();
        let outsiders: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|&id| !membership.is_member(id))
            .collect();
        let change = if let Some(&learner) = membership.learners().first() {
            MembershipChange::PromoteLearner(learner)
        } else if !outsiders.is_empty() && (membership.voters().len() <= 2 || self.rng.chance(500))
        {
            MembershipChange::AddLearner(outsiders[self.rng.below(outsiders.len() as u64) as usize])
        } else if membership.voters().len() > 2 {
            let voters = membership.voters();
            MembershipChange::RemoveMember(voters[self.rng.below(voters.len() as u64) as usize])
        } else {
            return Ok(());
        };
        self.note(Some(leader), || format!("asked for {change:?}"));
        let result = self
            .nodes
            .get_mut(&leader)
            .and_then(|n| n.raft_mut())
            .map(|raft| raft.step(Event::ChangeMembership(change)));
        match result {
            Some(Ok(actions)) => self.after_step(leader, actions),
            // Refusals are part of the protocol: one change at a time, catch-up first.
            Some(Err(
                Error::ConfigInProgress
                | Error::InvalidMembershipChange { .. }
                | Error::TransferInProgress { .. },
            ))
            | None => Ok(()),
            Some(Err(error)) => Err(self.violation(
                "Node error",
                format!("membership change on n{leader}: {error}"),
            )),
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

    pub(super) fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        if !node.is_up() {
            return;
        }
        // (A placeholder for the moment the storage is taken from the RaftNode.)
        let placeholder = Life::Down(Down::Wal(std::path::PathBuf::new()));
        let Life::Up(raft) = std::mem::replace(&mut node.life, placeholder) else {
            unreachable!("checked up above");
        };
        let (down, unsynced, torn) = match raft.into_log() {
            SimStorage::Memory(log) => {
                let unsynced = log.unsynced_writes();
                let torn = if unsynced > 0 {
                    self.rng.below(unsynced as u64 + 1) as usize
                } else {
                    0
                };
                (
                    Down::Memory(Box::new(log.after_crash(torn))),
                    unsynced,
                    torn,
                )
            }
            // Dropping a WalLog loses exactly its unwritten buffer, as a crash does.
            SimStorage::Wal(log) => (Down::Wal(log.dir().to_path_buf()), 0, 0),
        };
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.life = Life::Down(down);
        node.kv = Kv::default();
        node.waiting.clear();
        node.reads.clear();
        node.leading = None;
        self.stats.crashes += 1;
        self.note(Some(id), || {
            format!("crashes (keeps {torn} of {unsynced} unsynced writes)")
        });
    }

    pub(super) fn restart(&mut self, id: NodeId) -> Result<(), Violation> {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let config = Self::node_config(self.seed, &self.config, id, &ids);
        let node = self.nodes.get_mut(&id).expect("node exists");
        if node.is_up() {
            return Ok(());
        }
        // (A placeholder until the storage is opened again.)
        let placeholder = Down::Wal(std::path::PathBuf::new());
        let Life::Down(down) = std::mem::replace(&mut node.life, Life::Down(placeholder)) else {
            unreachable!("checked down above");
        };
        let storage = match down {
            Down::Memory(log) => SimStorage::Memory(*log),
            Down::Wal(dir) => match raft_wal::WalLog::open_with(&dir, Self::wal_options()) {
                Ok(log) => SimStorage::Wal(log),
                Err(error) => return Err(self.violation("WAL recovery", format!("n{id}: {error}"))),
            },
        };
        let raft = RaftNode::try_with_log(config, storage)
            .map_err(|error| self.violation("Restart", format!("n{id}: {error}")))?;
        self.nodes.get_mut(&id).expect("node exists").life = Life::Up(Box::new(raft));
        self.note(Some(id), || "restarts from its durable log".into());
        Ok(())
    }

    pub(super) fn partition(&mut self, ids: &[NodeId]) {
        self.blocked.clear();
        let leader = self.live_leader(ids);
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
    }

    pub(super) fn heal(&mut self) -> Result<(), Violation> {
        self.healed = true;
        self.blocked.clear();
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
