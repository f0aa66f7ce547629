//! Replication on a follower: the consistency check, appends, truncation.

use super::*;

impl<L: RaftLog> RaftNode<L> {
    /// AppendEntries in this node's term (Figure 2, receiver implementation): follow
    /// its sender, check consistency, append, advance commit.
    pub(super) fn handle_append(
        &mut self,
        request: AppendEntries,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        self.follow(request.leader)?;
        let commit_before = self.commit_index;
        let carried_entries = !request.entries.is_empty();
        let AppendEntries {
            leader,
            prev_log_index,
            leader_commit,
            mut entries,
            ..
        } = request;
        let original_prev = prev_log_index;
        let (mut prev_index, mut prev_term) = (prev_log_index, request.prev_log_term);

        // Entries at or below this node's snapshot are committed and covered by it.
        let floor = self.log.snapshot_index();
        if prev_index < floor {
            let skip = (floor - prev_index).min(entries.len() as u64) as usize;
            if skip == entries.len() {
                let covered = prev_index + skip as u64;
                self.reply_append(leader, true, original_prev, covered, (0, 0), out);
                return Ok(());
            }
            let floor_term = self.log.term_at(floor).ok_or_else(|| {
                Error::storage_of_kind(
                    "checking an append against the snapshot",
                    StorageErrorKind::Contract,
                    alloc::format!("the log has no term for its snapshot index {floor}"),
                )
            })?;
            // The entry at the snapshot's index is committed: the leader's must be it,
            // or what follows it cannot follow this log.
            if entries[skip - 1].term != floor_term {
                return Err(Error::InvalidMessage {
                    from: leader,
                    reason: "contradicts the snapshot this node installed",
                });
            }
            let _ = entries.drain(..skip);
            prev_index = floor;
            prev_term = floor_term;
        }

        // Entries at or below our commit index are committed, so they must equal ours
        // (Leader Completeness + Log Matching). Check the last of them, then skip them.
        if prev_index < self.commit_index {
            let skip = (self.commit_index - prev_index).min(entries.len() as u64) as usize;
            let (check_index, check_term) = match skip {
                0 => (prev_index, prev_term),
                _ => (prev_index + skip as u64, entries[skip - 1].term),
            };
            if self.log.term_at(check_index) != Some(check_term) {
                return Err(Error::InvalidMessage {
                    from: leader,
                    reason: "contradicts entries this node knows are committed",
                });
            }
            let _ = entries.drain(..skip);
            prev_index = check_index;
            prev_term = check_term;
        }

        if self.log.term_at(prev_index) != Some(prev_term) {
            let hint = self.conflict_hint(prev_index, prev_term);
            self.reply_append(leader, false, original_prev, 0, hint, out);
            return Ok(());
        }

        // Find the first entry we do not already hold. By Log Matching, if the last
        // one matches, all do.
        let last_new = prev_index + entries.len() as u64;
        let mut first_new = entries.len();
        let mut config_changed = false;
        let all_match = entries
            .last()
            .is_none_or(|last| self.log.term_at(last.index) == Some(last.term));
        if !all_match {
            for (position, entry) in entries.iter().enumerate() {
                match self.log.term_at(entry.index) {
                    Some(term) if term == entry.term => {}
                    Some(_) => {
                        // prev_index >= commit_index, so this never cuts committed entries.
                        assert!(
                            entry.index > self.commit_index,
                            "a committed entry would be cut"
                        );
                        let cut = entry.index;
                        self.write_log(|log| log.truncate(cut))?;
                        config_changed |= self.config_log.truncate_from(cut);
                        first_new = position;
                        break;
                    }
                    None => {
                        first_new = position;
                        break;
                    }
                }
            }
        }
        if first_new < entries.len() {
            let _ = entries.drain(..first_new);
            for entry in entries
                .iter()
                .filter(|entry| entry.kind == EntryKind::Config)
            {
                // validate_append decoded it already.
                if let Some(membership) = Membership::decode(&entry.command) {
                    self.config_log.push(entry.index, membership);
                    config_changed = true;
                }
            }
            self.write_log(|log| log.append_owned(entries))?;
        }
        if self.mutated(Mutant::TruncateWithoutConflict) && self.log.last_index() > last_new {
            // Drops whatever follows the message's entries, conflict or not (never
            // below the commit index, which the node's own checks would refuse).
            let cut = last_new.max(self.commit_index) + 1;
            if cut <= self.log.last_index() {
                self.write_log(|log| log.truncate(cut))?;
                config_changed |= self.config_log.truncate_from(cut);
            }
        }
        if config_changed {
            self.refresh_membership(out);
        }
        self.commit_index = self.commit_index.max(leader_commit.min(last_new));
        self.repaired_through(last_new, out)?;
        // Every AppendEntries is answered (Figure 2), heartbeats included: the leader's
        // check-quorum counts these answers, and a follower whose clock runs slower
        // than the leader's must still be heard. The one exception is a commit notice:
        // an empty append that moved this node's commit index, anchored at or below
        // what it already reported to this leader in this term. Its answer would tell
        // the leader nothing new, and the next heartbeat (which moves no commit index)
        // is answered.
        let notice_only = !carried_entries
            && self.commit_index > commit_before
            && self.reported_through(leader) >= Some(original_prev);
        if !notice_only {
            self.report_match(leader, last_new);
            self.reply_append(leader, true, original_prev, last_new, (0, 0), out);
        }
        Ok(())
    }

    /// The highest match index this node reported to `leader` in this term.
    fn reported_through(&self, leader: NodeId) -> Option<Index> {
        match self.reported_match {
            Some((term, to, index)) if term == self.term && to == leader => Some(index),
            _ => None,
        }
    }

    /// Records a success answer to `leader` (see `reported_through`).
    fn report_match(&mut self, leader: NodeId, index: Index) {
        let index = self
            .reported_through(leader)
            .map_or(index, |known| known.max(index));
        self.reported_match = Some((self.term, leader, index));
    }

    /// Clears the repair mark once this term's leader has given this node its log
    /// through the mark (`held`: the log agrees with the leader's through here), and
    /// reports it. Written after the entries, so a crash keeps the clearing only with
    /// them.
    ///
    /// Also once the log agrees with the leader through an entry of a term above the
    /// mark's: every entry the node may have lost has a term at most the mark's, so a
    /// committed one sits below that entry in the leader's log (which holds it: Leader
    /// Completeness) and is in this node's log again; and the log now ends past any
    /// log the damaged one could have been, so the mark adds nothing to the vote rule.
    /// A mark that over-estimated (damage at the log's end) then clears as soon as the
    /// leader has an entry of its own term here, instead of waiting for the cluster's
    /// log to grow past it (docs/RECOVERY.md §2).
    pub(super) fn repaired_through(&mut self, held: Index, out: &mut Vec<Action>) -> Result<()> {
        let Some(RepairMark { through, term }) = self.log.repair_mark() else {
            return Ok(());
        };
        if held < through
            && self
                .log
                .term_at(held)
                .is_none_or(|held_term| held_term <= term)
        {
            return Ok(());
        }
        self.write_log(|log| log.set_repair_mark(None))?;
        info!(
            through,
            "repaired: the leader sent back every entry the disk lost"
        );
        out.push(Action::Repaired { through });
        Ok(())
    }

    /// The fast back-off hint (after etcd): the largest index at or below the rejected
    /// `prev_index` whose term is at most `prev_term`, with that term. Entries above it
    /// cannot match the leader's.
    pub(super) fn conflict_hint(&self, prev_index: Index, prev_term: Term) -> (Index, Term) {
        let last_index = self.log.last_index();
        if prev_index > last_index {
            return (last_index, self.log.last_term());
        }
        let index = self.last_index_with_term_at_most(prev_index, prev_term);
        (index, self.log.term_at(index).unwrap_or(0))
    }

    pub(super) fn reply_append(
        &self,
        leader: NodeId,
        success: bool,
        prev_log_index: Index,
        match_index: Index,
        (conflict_index, conflict_term): (Index, Term),
        out: &mut Vec<Action>,
    ) {
        self.send(
            leader,
            Message::AppendEntriesReply(AppendEntriesReply {
                term: self.term,
                success,
                from: self.id(),
                prev_log_index,
                match_index,
                conflict_index,
                conflict_term,
                incarnation: self.log.incarnation(),
            }),
            out,
        );
    }
}
