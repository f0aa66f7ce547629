//! Durability inside the step: every write goes through `write_log`, a changed term or
//! vote is written first, and `finish_step` syncs once before anything that depends on
//! the writes leaves the node (the step contract in ARCHITECTURE.md).

use super::*;

impl<L: RaftLog> RaftNode<L> {
    /// After a refused event: persist a changed term or vote and sync what must not
    /// outlive the step, so the durability invariants hold whatever was refused.
    pub(super) fn settle_after_error(&mut self) -> Result<()> {
        self.persist_term_and_vote()?;
        // With async persistence what waits keeps waiting (with the messages held for
        // it): the next step asks for the sync, or a tick makes it.
        if self
            .sync
            .must_sync_now(self.may_defer_sync(), self.config.async_persistence())
        {
            self.sync_log()?;
        }
        Ok(())
    }

    /// Whether unsynced proposals may outlive this step: a leader with deferred sync.
    pub(super) fn may_defer_sync(&self) -> bool {
        self.config.deferred_leader_sync() && self.state == State::Leader
    }

    /// Every write to the log goes through here: a changed term or vote is written
    /// first, so a crash in the middle of the step's batch can never keep entries of a
    /// term without the term itself; and the step will sync.
    pub(super) fn write_log<T>(&mut self, write: impl FnOnce(&mut L) -> Result<T>) -> Result<T> {
        self.persist_term_and_vote()?;
        let written = write(&mut self.log)?;
        // (A refused write, such as an unsupported snapshot, left nothing to sync.)
        self.sync.wrote_required();
        Ok(written)
    }

    /// A leader's append of client proposals: like [`RaftNode::write_log`], but with
    /// deferred leader sync on, the step may return before syncing it (the leader then
    /// does not count its own copy until [`Event::SyncLog`]).
    pub(super) fn append_proposals<T>(
        &mut self,
        write: impl FnOnce(&mut L) -> Result<T>,
    ) -> Result<T> {
        if !self.config.deferred_leader_sync() {
            return self.write_log(write);
        }
        self.persist_term_and_vote()?;
        let written = write(&mut self.log)?;
        self.sync.wrote_deferrable();
        Ok(written)
    }

    /// Like [`RaftNode::write_log`] for a write that is synced within its step even
    /// with async persistence (a snapshot, which the application restores at once).
    pub(super) fn write_log_barrier<T>(
        &mut self,
        write: impl FnOnce(&mut L) -> Result<T>,
    ) -> Result<T> {
        let written = self.write_log(write)?;
        self.sync.wrote_barrier();
        Ok(written)
    }

    /// Syncs the log; everything written so far is durable.
    pub(super) fn sync_log(&mut self) -> Result<()> {
        self.log.sync()?;
        self.sync.synced(self.log.last_index());
        Ok(())
    }

    /// `Event::SyncLog` (or a tick after an unanswered `Action::SyncLog`): sync, then
    /// let the leader count its own copy and tell followers what that committed.
    pub(super) fn sync_log_requested(&mut self, out: &mut Vec<Action>) -> Result<()> {
        self.sync.request_answered();
        if self.sync.needs_sync() {
            self.sync_log()?;
        }
        if self.state == State::Candidate {
            // A candidate that won before its own vote was durable leads now.
            self.count_votes(out)?;
        }
        if self.maybe_commit() {
            for position in 0..self.progress.len() {
                self.replicate_to(position, out);
            }
        }
        Ok(())
    }

    /// Writes a changed term or vote (before any other write of the step).
    pub(super) fn persist_term_and_vote(&mut self) -> Result<()> {
        let persisted = self.sync.persisted();
        if self.term != persisted.term || self.voted_for != persisted.voted_for {
            let state = HardState {
                term: self.term,
                voted_for: self.voted_for,
                commit_index: persisted.commit_index,
            };
            self.log.set_hard_state(state)?;
            self.sync.hard_state_written(state);
        }
        Ok(())
    }

    /// Async persistence: while something an answer depends on is unsynced, the step's
    /// messages wait inside the node, behind those already waiting; once it is
    /// durable, the waiting ones go out first, in order.
    fn hold_or_release(&mut self, out: &mut Vec<Action>) {
        if self.sync.holds_answers() {
            debug_assert!(
                self.config.async_persistence(),
                "held without async persistence"
            );
            // (In place: the step's other actions stay, in order.)
            self.held
                .extend(out.extract_if(.., |action| matches!(action, Action::Send { .. })));
        } else if !self.held.is_empty() {
            let _ = out.splice(0..0, self.held.drain(..));
        }
    }

    /// Tells the driver once when a configuration that leaves this node out commits.
    fn report_removal(&self, out: &mut Vec<Action>) {
        let before = self.sync.persisted().commit_index;
        let config_committed_now = self
            .config_log
            .last_index()
            .is_some_and(|index| index > before && index <= self.commit_index);
        let id = self.config.id();
        if config_committed_now
            && self.config_log.at(before).is_member(id)
            && !self.config_log.at(self.commit_index).is_member(id)
        {
            out.push(Action::Removed {
                index: self.commit_index,
            });
        }
    }

    /// Persists what changed, syncs once, then releases the applies the new commit
    /// index allows.
    pub(super) fn finish_step(&mut self, out: &mut Vec<Action>) -> Result<()> {
        if let Some(fault) = self.log_fault.take() {
            return Err(*fault);
        }
        // (Checked first: an empty queue's iterator still costs a call to drop.)
        if self.reads.has_dropped() {
            for context in self.reads.take_dropped() {
                out.push(Action::ReadDropped { context });
            }
        }
        if let Some(request) = self.dropped_change.take() {
            out.push(request.dropped());
        }
        self.advance_membership(out)?;
        if self.state == State::Leader && self.reads.has_unready() {
            for read in self.reads.take_unready() {
                self.serve_read(read, out);
            }
        }
        self.report_removal(out);
        let hard_state = HardState {
            term: self.term,
            voted_for: self.voted_for,
            commit_index: self.commit_index,
        };
        if hard_state != self.sync.persisted() {
            // (The commit index alone needs no barrier: losing it only delays applying.)
            self.log.set_hard_state(hard_state)?;
            self.sync.hard_state_written(hard_state);
        }
        if self.sync.needs_sync() {
            // Only a leader's appended proposals may wait: anything else, and anything
            // unsynced on a node that stopped leading, is synced before it answers.
            if self.mutated(Mutant::ReplyBeforeSync) {
                // Claims the writes durable without syncing them.
                self.sync.synced(self.log.last_index());
            } else if self
                .sync
                .must_sync_now(self.may_defer_sync(), self.config.async_persistence())
            {
                self.sync_log()?;
                if self.config.deferred_leader_sync() {
                    // Entries written through `write_log` this step count only now.
                    let _ = self.maybe_commit();
                }
            } else if self.sync.request(self.config.async_persistence()) {
                out.push(Action::SyncLog);
            }
        }
        self.hold_or_release(out);
        if self.state == State::Leader {
            self.uncommitted.committed(self.commit_index);
        }
        let apply_to = if self.mutated(Mutant::ApplyBeforeCommit) {
            self.log.last_index()
        } else if self.config.async_persistence() {
            // Applied commands are never ahead of the log's durable copy.
            self.commit_index.min(self.sync.durable_index())
        } else {
            self.commit_index
        };
        if self.last_applied + 1 == apply_to {
            // One entry (one proposal per step): read it, no visitor.
            let entry = self
                .log
                .entry(apply_to)
                .filter(|entry| entry.index == apply_to)
                .ok_or_else(|| missing(apply_to))?;
            if entry.kind == EntryKind::Normal {
                out.push(Action::Apply {
                    index: entry.index,
                    term: entry.term,
                    command: entry.command,
                });
            }
            self.last_applied = apply_to;
        } else if self.last_applied < apply_to {
            let (from, to) = (self.last_applied + 1, apply_to);
            // The log lends the entries; only the commands are cloned (a reference
            // count), with no batch copied into a vector first.
            let mark = out.len();
            out.reserve(usize::try_from(to - from + 1).unwrap_or(0).min(4096));
            let visited = self
                .log
                .for_each_entry(from, to, &mut |entry| push_apply(out, entry));
            if visited != to - from + 1 {
                out.truncate(mark);
                return Err(missing(from + visited));
            }
            self.last_applied = apply_to;
        }
        Ok(())
    }
}
