//! Replication on the leader: commitment, flow control, AppendEntries and their replies.

use super::*;

impl<L: RaftLog> RaftNode<L> {
    /// The progress slot of the follower a reply came from, or `UnknownNode`.
    pub(super) fn follower_position(&self, from: NodeId) -> Result<usize> {
        self.progress_position(from)
            .ok_or_else(|| Error::UnknownNode { node: from })
    }

    pub(super) fn progress_position(&self, peer: NodeId) -> Option<usize> {
        self.progress
            .binary_search_by_key(&peer, |progress| progress.id)
            .ok()
    }

    /// Advances the commit index to the highest index a quorum stores, if that entry
    /// is from this term (Raft §5.4.2). O(voters · log voters).
    pub(super) fn maybe_commit(&mut self) -> bool {
        if self.state != State::Leader {
            return false;
        }
        let own = if self.config.deferred_leader_sync() {
            self.sync.durable_index().min(self.log.last_index())
        } else {
            // Synced before the step returns, and nothing commits before then.
            self.log.last_index()
        };
        let mut scratch = core::mem::take(&mut self.scratch);
        let candidate = self.quorum().committed_index(
            |voter| {
                if voter == self.id() {
                    own
                } else {
                    self.progress_position(voter)
                        .map_or(0, |position| self.progress[position].match_index)
                }
            },
            &mut scratch,
        );
        self.scratch = scratch;
        // (The term lookup only for an index that would move the commit.)
        if candidate > self.commit_index
            && (self.log.term_at(candidate) == Some(self.term)
                || self.mutated(Mutant::CommitOldTermByCount))
        {
            self.commit_index = candidate;
            self.reads.set_ready();
            return true;
        }
        false
    }

    /// Sends what the flow-control window allows to one follower; if nothing carried
    /// entries and the follower has not been told the latest commit it can use, tells it.
    pub(super) fn replicate_to(&mut self, position: usize, out: &mut Vec<Action>) {
        let mut sent = false;
        // Bounded: each pass fills one in-flight slot (or sends one probe or chunk).
        for _ in 0..=self.config.inflight_appends_max() {
            if !self.send_append(position, out) {
                break;
            }
            sent = true;
            let progress = &self.progress[position];
            if progress.state != ReplicationState::Replicate
                || progress.next_index > self.log.last_index()
            {
                break;
            }
        }
        if !sent {
            let progress = &self.progress[position];
            if progress.needs_commit_notice(self.commit_index) {
                self.send_empty_append(position, out);
            }
        }
    }

    /// Sends one AppendEntries with entries from the follower's `next_index` (an empty
    /// one when probing an up-to-date follower). Returns whether anything was sent.
    pub(super) fn send_append(&mut self, position: usize, out: &mut Vec<Action>) -> bool {
        let last_index = self.log.last_index();
        let progress = &self.progress[position];
        if !progress.can_send(self.config.inflight_appends_max()) {
            return false;
        }
        if progress.state == ReplicationState::Snapshot {
            return self.send_snapshot_chunk(position, out);
        }
        let next_index = progress.next_index;
        if progress.state == ReplicationState::Replicate && next_index > last_index {
            return false;
        }
        let prev_log_index = next_index - 1;
        let Some(prev_log_term) = self.log.term_at(prev_log_index) else {
            // Compacted away: only the snapshot can bring this follower up to date.
            let Some(snapshot_index) = self.log.snapshot().map(|snapshot| snapshot.index) else {
                return false;
            };
            self.progress[position].become_snapshot(snapshot_index);
            return self.send_snapshot_chunk(position, out);
        };
        let entries = if next_index <= last_index {
            let span = self.config.append_entries_max() as u64 - 1;
            let to = last_index.min(next_index.saturating_add(span));
            self.log
                .entries_limited(next_index, to, self.config.append_bytes_max())
        } else {
            Vec::new()
        };
        let contiguous = entries
            .iter()
            .zip(next_index..)
            .all(|(entry, index)| entry.index == index);
        if (entries.is_empty() && next_index <= last_index) || !contiguous {
            // The log claims the entries exist but does not return them in order: a
            // RaftLog breaking its contract. The step fails with a storage error.
            self.log_fault = Some(alloc::boxed::Box::new(Error::storage_of_kind(
                "reading entries to replicate",
                StorageErrorKind::Contract,
                alloc::format!("the log did not return entries {next_index}..={last_index}"),
            )));
            return false;
        }
        let sent_last = prev_log_index + entries.len() as u64;
        let to = progress.id;
        let inflight_max = self.config.inflight_appends_max();
        let commit_index = self.commit_index;
        let progress = &mut self.progress[position];
        progress.sent(sent_last, !entries.is_empty(), inflight_max);
        progress.record_commit_sent(commit_index, sent_last);
        out.push(Action::Send {
            to,
            message: Message::AppendEntries(AppendEntries {
                term: self.term,
                leader: self.id(),
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit: self.commit_index,
            }),
        });
        true
    }

    /// An empty AppendEntries anchored at the follower's match point: it always passes
    /// the consistency check, so it serves as heartbeat and as commit notice.
    pub(super) fn send_empty_append(&mut self, position: usize, out: &mut Vec<Action>) {
        let progress = &mut self.progress[position];
        let prev_log_index = progress.match_index;
        let Some(prev_log_term) = self.log.term_at(prev_log_index) else {
            // Compacted away; see send_append.
            return;
        };
        progress.record_sent(prev_log_index);
        progress.record_commit_sent(self.commit_index, prev_log_index);
        out.push(Action::Send {
            to: progress.id,
            message: Message::AppendEntries(AppendEntries {
                term: self.term,
                leader: self.id(),
                prev_log_index,
                prev_log_term,
                entries: Vec::new(),
                leader_commit: self.commit_index,
            }),
        });
    }

    pub(super) fn handle_append_reply(
        &mut self,
        reply: AppendEntriesReply,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let position = self.follower_position(reply.from)?;
        // A reply counts only for what this leader sent that follower in its term: a
        // forged or buggy one can neither commit an entry nor keep check-quorum happy.
        let sent_index_max = self.progress[position].sent_index_max();
        if reply.success {
            if reply.match_index > sent_index_max {
                return Err(Error::InvalidMessage {
                    from: reply.from,
                    reason: "acknowledges entries this leader never sent it",
                });
            }
            self.progress[position].heard(self.timers.ticks());
            let advanced = self.progress[position].acknowledge(reply.match_index);
            // (An acknowledgement at or below the commit index cannot move it.)
            if advanced && reply.match_index > self.commit_index && self.maybe_commit() {
                for position in 0..self.progress.len() {
                    self.replicate_to(position, out);
                }
            } else {
                self.replicate_to(position, out);
            }
            if advanced
                && self
                    .transfer
                    .is_some_and(|transfer| transfer.target == reply.from)
            {
                let _ = self.maybe_send_timeout_now(out);
            }
            return Ok(());
        }
        if reply.prev_log_index == 0 {
            return Err(Error::InvalidMessage {
                from: reply.from,
                reason: "rejects an append at index 0, which always matches",
            });
        }
        if reply.prev_log_index > sent_index_max {
            return Err(Error::InvalidMessage {
                from: reply.from,
                reason: "rejects an append this leader never sent it",
            });
        }
        self.progress[position].heard(self.timers.ticks());
        let regression = self.progress[position].is_regression(reply.prev_log_index);
        if !regression && self.progress[position].is_stale_rejection(reply.prev_log_index) {
            return Ok(());
        }
        let hint = self.last_index_with_term_at_most(reply.conflict_index, reply.conflict_term);
        if regression {
            debug!(
                follower = reply.from,
                hint, "a follower rejects entries it had acknowledged"
            );
            self.progress[position].regress(reply.prev_log_index, hint);
        } else {
            self.progress[position].back_off(reply.prev_log_index, hint);
        }
        self.replicate_to(position, out);
        Ok(())
    }

    /// The largest index `<= index` whose term is `<= term`: a binary search, since log
    /// terms never decrease. Index 0 (term 0) always qualifies.
    pub(super) fn last_index_with_term_at_most(&self, index: Index, term: Term) -> Index {
        // Below the snapshot nothing is known: 0 sends the caller to the snapshot.
        let floor = self.log.snapshot_index();
        let high = index.min(self.log.last_index());
        if high < floor || self.log.term_at(floor).is_none_or(|found| found > term) {
            return 0;
        }
        let (mut low, mut high) = (floor, high);
        // Invariant: term_at(low) <= term; the answer lies in low..=high.
        while low < high {
            let middle = low + (high - low).div_ceil(2);
            match self.log.term_at(middle) {
                Some(found) if found <= term => low = middle,
                _ => high = middle - 1,
            }
        }
        low
    }
}
