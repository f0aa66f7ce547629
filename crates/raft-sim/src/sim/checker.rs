//! The safety checks after every event: Election Safety, Leader Append-Only, Log Matching, Leader Completeness, State Machine Safety, and their state.

use super::*;

impl Simulation {
    /// Election Safety, Leader Append-Only, Leader Completeness, terms never decrease,
    /// one durable vote per term, applied <= commit, and a Log Matching spot check
    /// against every other node, after every step of `id`.
    pub(super) fn check_node(&mut self, id: NodeId) -> Result<(), Violation> {
        let Some(raft) = self.nodes[&id].raft() else {
            return Ok(());
        };
        let (term, role, last_index, last_term) = (
            raft.term(),
            raft.role(),
            raft.log().last_index(),
            raft.log().last_term(),
        );
        if raft.last_applied() > raft.commit_index() {
            return Err(self.violation(
                "Applied <= commit",
                format!(
                    "n{id} applied {} past commit {}",
                    raft.last_applied(),
                    raft.commit_index()
                ),
            ));
        }
        let membership = raft.membership();
        if membership.voters().len() < 3
            || (membership.is_joint() && membership.outgoing_voters().len() < 3)
        {
            self.small_config_seen = true;
        }
        // A term counts once it is durable: with async persistence a term no message
        // depended on may die with a crash before its sync.
        let durable = raft.log().durable_hard_state();
        let seen = self.terms_seen.get(&id).copied().unwrap_or(0);
        if durable.term < seen {
            return Err(self.violation(
                "Terms never decrease",
                format!("n{id} went from durable term {seen} to {}", durable.term),
            ));
        }
        let _ = self.terms_seen.insert(id, durable.term);
        if let Some(vote) = durable.voted_for {
            let previous = *self.votes.entry((id, durable.term)).or_insert(vote);
            if previous != vote {
                return Err(self.violation(
                    "One vote per term",
                    format!(
                        "n{id} voted for {previous} and {vote} in term {}",
                        durable.term
                    ),
                ));
            }
        }
        let was_leading = self.nodes[&id].leading;
        if role == Role::Leader {
            match self.leaders.get(&term) {
                Some(&other) if other != id => {
                    return Err(self.violation(
                        "Election Safety",
                        format!("n{other} and n{id} both lead term {term}"),
                    ));
                }
                Some(_) => {}
                None => {
                    let _ = self.leaders.insert(term, id);
                    let _ = self.elected_at.insert(term, self.queue.now());
                    self.note(Some(id), || format!("becomes leader of term {term}"));
                    // Leader Completeness: every committed entry is in the new leader's log.
                    // (Entries below its snapshot are covered by the snapshot.)
                    let raft = self.nodes[&id].raft().expect("node is up");
                    let floor = raft.log().snapshot_index();
                    if let Some((index, (entry_term, _))) =
                        self.committed
                            .range(floor + 1..)
                            .find(|(index, (entry_term, _))| {
                                raft.log().term_at(**index) != Some(*entry_term)
                            })
                    {
                        return Err(self.violation(
                            "Leader Completeness",
                            format!("n{id} leads term {term} without committed entry {index} (term {entry_term})"),
                        ));
                    }
                }
            }
            if let Some(Leading {
                term: leading_term,
                index,
                index_term,
            }) = was_leading.filter(|leading| leading.term == term)
            {
                let raft = self.nodes[&id].raft().expect("node is up");
                let compacted = index < raft.log().snapshot_index();
                if last_index < index
                    || (!compacted && raft.log().term_at(index) != Some(index_term))
                {
                    return Err(self.violation(
                        "Leader Append-Only",
                        format!(
                            "n{id} leader of term {leading_term} lost or changed entry {index}"
                        ),
                    ));
                }
            }
            self.nodes.get_mut(&id).expect("node exists").leading = Some(Leading {
                term,
                index: last_index,
                index_term: last_term,
            });
            self.check_leader_rules(id, term)?;
        } else {
            let node = self.nodes.get_mut(&id).expect("node exists");
            node.leading = None;
            node.led = None;
        }
        self.check_log_matching(id)
    }

    /// Two rules a leader follows as it goes, checked when it acts rather than through
    /// their rare consequences: it commits by counting replicas only an entry of its own
    /// term (Figure 8, §5.4.2), and it appends a configuration entry only once an entry
    /// of its own term has committed (the 2015 single-server correction).
    fn check_leader_rules(&mut self, id: NodeId, term: Term) -> Result<(), Violation> {
        let raft = self.nodes[&id].raft().expect("node is up");
        let (commit, config_index) = (raft.commit_index(), raft.config_index());
        let commit_term = raft.log().term_at(commit);
        let config_term = raft.log().term_at(config_index);
        let before = self.nodes[&id].led.filter(|led| led.term == term);
        if let Some(before) = before {
            if commit > before.commit && commit_term.is_some_and(|t| t != term) {
                return Err(self.violation(
                    "Commit rule (Figure 8)",
                    format!(
                        "n{id} leader of term {term} committed {commit} of term {commit_term:?} by counting"
                    ),
                ));
            }
            if config_index > before.config_index
                && config_term == Some(term)
                && commit_term != Some(term)
            {
                return Err(self.violation(
                    "Configuration rule (2015)",
                    format!(
                        "n{id} leader of term {term} appended configuration {config_index} before committing an entry of its term"
                    ),
                ));
            }
        }
        self.nodes.get_mut(&id).expect("node exists").led = Some(Led {
            term,
            commit,
            config_index,
        });
        Ok(())
    }

    /// A read is served only if no leader of a later term had been elected when it
    /// reached its leader (ReadIndex and leases, §6.4): otherwise the answer may miss a
    /// write that new leader already committed.
    pub(super) fn check_read(
        &self,
        id: NodeId,
        client: u64,
        seq: u64,
        term: Term,
    ) -> Result<(), Violation> {
        let Some(&arrived) = self.read_arrivals.get(&(id, client, seq)) else {
            return Ok(());
        };
        if let Some((later, _)) = self
            .elected_at
            .range(term + 1..)
            .find(|&(_, &elected)| elected < arrived)
        {
            return Err(self.violation(
                "Reads by a deposed leader",
                format!(
                    "n{id} (term {term}) served client {client} #{seq}'s read, which reached it after a leader of term {later} was elected"
                ),
            ));
        }
        Ok(())
    }

    /// Log Matching spot check: where `id` and another node agree on the term at the
    /// last index they share, the entries there and at the halfway point agree.
    pub(super) fn check_log_matching(&self, id: NodeId) -> Result<(), Violation> {
        let Some(mine) = self.nodes[&id].raft().map(|r| r.log()) else {
            return Ok(());
        };
        for (&other, node) in &self.nodes {
            let Some(theirs) = node.raft().map(|r| r.log()).filter(|_| other != id) else {
                continue;
            };
            let shared = mine.last_index().min(theirs.last_index());
            let floor = mine.snapshot_index().max(theirs.snapshot_index());
            if shared <= floor || mine.term_at(shared) != theirs.term_at(shared) {
                continue;
            }
            for index in [shared, floor + (shared - floor).div_ceil(2)] {
                if mine.entry(index) != theirs.entry(index) {
                    return Err(self.violation(
                        "Log Matching",
                        format!(
                            "n{id} and n{other} agree on the term at {shared} but differ at {index}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Full Log Matching over every pair: below the highest index with equal terms,
    /// every entry is equal.
    pub(super) fn check_log_matching_all(&self) -> Result<(), Violation> {
        let logs: Vec<(NodeId, &SimStorage)> = self
            .nodes
            .iter()
            .filter_map(|(&id, n)| n.raft().map(|r| (id, r.log())))
            .collect();
        for (position, &(a, log_a)) in logs.iter().enumerate() {
            for &(b, log_b) in &logs[position + 1..] {
                let shared = log_a.last_index().min(log_b.last_index());
                // Below either node's snapshot, entries are compacted away.
                let floor = log_a.snapshot_index().max(log_b.snapshot_index());
                let Some(top) = (floor + 1..=shared)
                    .rev()
                    .find(|&i| log_a.term_at(i) == log_b.term_at(i))
                else {
                    continue;
                };
                if log_a.entries(floor + 1, top) != log_b.entries(floor + 1, top) {
                    return Err(self.violation(
                        "Log Matching",
                        format!("n{a} and n{b} share term at {top} but not the prefix"),
                    ));
                }
            }
        }
        Ok(())
    }
}
