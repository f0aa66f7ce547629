//! Timers: the election timeout, heartbeats and check-quorum, driven by ticks.

use super::*;

impl<L: RaftLog> RaftNode<L> {
    /// The common tick, in a few comparisons: a node that does not lead, whose
    /// election timeout is not due after this tick and that has nothing under way
    /// (nothing to sync, hold, apply, report or expire; its hard state handed to the
    /// log) only advances its clock. Returns whether it did; if not, nothing changed
    /// and the tick takes the full path. What the full path would do here is nothing
    /// else, so the step's invariants, which held after the last step, still hold.
    #[inline]
    pub(super) fn quiet_tick(&mut self) -> bool {
        let quiet = self.state != State::Leader
            && !self.timers.election_due_next_tick()
            && self.pending_restore.is_none()
            && !self.sync.needs_sync()
            && !self.sync.is_requested()
            && self.held.is_empty()
            && self.last_applied == self.commit_index
            && self.reads.is_idle_follower()
            && self.log_fault.is_none()
            && self.dropped_change.is_none()
            && !self.mutated(Mutant::ApplyBeforeCommit)
            && self.sync.persisted()
                == (HardState {
                    term: self.term,
                    voted_for: self.voted_for,
                    commit_index: self.commit_index,
                });
        if quiet {
            self.timers.tick();
        }
        quiet
    }

    pub(super) fn tick(&mut self, out: &mut Vec<Action>) -> Result<()> {
        if self.sync.is_requested() {
            // The driver did not step `Event::SyncLog` within a tick: do it now.
            self.sync_log_requested(out)?;
        }
        self.timers.tick();
        if self.state != State::Leader {
            // A forwarded read unanswered for an election timeout is dropped.
            let (_, election_max) = self.config.election_timeout_ticks();
            self.reads
                .expire_forwarded(self.timers.ticks(), u64::from(election_max));
            if self.timers.election_due() {
                self.campaign(out)?;
            }
            return Ok(());
        }
        let (election_min, _) = self.config.election_timeout_ticks();
        if let Some(transfer) = self.transfer.as_mut() {
            transfer.elapsed = transfer.elapsed.saturating_add(1);
            if transfer.elapsed >= election_min {
                // The target did not take over in time: abandon, take proposals again
                // (or, handing over after a removal, step down).
                let leaving = transfer.leaving;
                self.transfer = None;
                if leaving {
                    self.become_follower(self.term, None);
                    return Ok(());
                }
            }
        }
        if self.config.check_quorum() && self.timers.check_quorum_due() {
            if !self.quorum_recently_active() {
                self.become_follower(self.term, None);
                return Ok(());
            }
            for progress in &mut self.progress {
                progress.recent_active = false;
            }
        }
        if self.timers.heartbeat_due() {
            self.heartbeat(out);
        }
        Ok(())
    }

    pub(super) fn quorum_recently_active(&self) -> bool {
        self.quorum().is_active(|voter| {
            voter == self.id()
                || self
                    .progress_position(voter)
                    .is_some_and(|position| self.progress[position].recent_active)
        })
    }

    /// Leader: every heartbeat interval, probe followers whose match point is unknown
    /// or who made no progress (lost messages), and heartbeat the rest.
    pub(super) fn heartbeat(&mut self, out: &mut Vec<Action>) {
        let last_index = self.log.last_index();
        for position in 0..self.progress.len() {
            let progress = &mut self.progress[position];
            let stalled = progress.state == ReplicationState::Replicate
                && progress.match_index < last_index
                && !progress.progressed;
            progress.progressed = false;
            if stalled {
                let next = progress.match_index + 1;
                progress.become_probe(next);
            }
            if progress.state == ReplicationState::Snapshot {
                // Resend the chunk in flight (it may be lost).
                progress.chunk_sent = false;
                let _ = self.send_append(position, out);
            } else if progress.state == ReplicationState::Probe {
                progress.probe_sent = false;
                let _ = self.send_append(position, out);
            } else {
                self.send_empty_append(position, out);
            }
        }
        // A lost TimeoutNow is sent again with the heartbeat.
        let _ = self.maybe_send_timeout_now(out);
        // Lease reads stay fresh with a confirmation round per heartbeat.
        if self.config.lease_read_drift_ticks().is_some() && self.reads.is_ready() {
            let _ = self.start_read_round(out);
        }
    }
}
