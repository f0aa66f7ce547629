//! Snapshots: taking one, sending it in chunks, installing one (Raft §7).

use super::*;

impl<L: RaftLog> RaftNode<L> {
    /// The application captured its state through `index`: record it and compact.
    pub(super) fn take_snapshot(&mut self, index: Index, data: Bytes) -> Result<()> {
        if index <= self.log.snapshot_index() || index > self.last_applied {
            return Ok(());
        }
        let Some(term) = self.log.term_at(index) else {
            return Err(Error::storage_of_kind(
                "taking a snapshot",
                StorageErrorKind::Contract,
                alloc::format!("the log has no term for applied entry {index}"),
            ));
        };
        let snapshot = Snapshot {
            index,
            term,
            membership: self.config_log.at(index).clone(),
            data,
        };
        self.write_log_barrier(|log| log.save_snapshot(snapshot))?;
        let _ = self.config_log.compact_to(index);
        Ok(())
    }

    /// Sends the next chunk of the snapshot to a follower in `Snapshot` state.
    pub(super) fn send_snapshot_chunk(&mut self, position: usize, out: &mut Vec<Action>) -> bool {
        let Some(snapshot) = self.log.snapshot() else {
            let next = self.progress[position].match_index + 1;
            self.progress[position].become_probe(next);
            return false;
        };
        let progress = &mut self.progress[position];
        if progress.chunk_sent {
            return false;
        }
        if progress.snapshot_index != snapshot.index {
            // A newer snapshot replaced the one being sent: start over with it.
            progress.become_snapshot(snapshot.index);
        }
        let length = snapshot.data.len();
        let offset = (progress.snapshot_offset as usize).min(length);
        let end = length.min(offset.saturating_add(self.config.snapshot_chunk_bytes_max()));
        progress.chunk_sent = true;
        progress.record_sent(snapshot.index);
        let to = progress.id;
        out.push(Action::Send {
            to,
            message: Message::InstallSnapshot(alloc::boxed::Box::new(InstallSnapshot {
                term: self.term,
                leader: self.config.id(),
                last_included_index: snapshot.index,
                last_included_term: snapshot.term,
                membership: snapshot.membership,
                offset: offset as u64,
                data: snapshot.data.slice(offset..end),
                done: end == length,
            })),
        });
        true
    }

    pub(super) fn handle_install_snapshot_reply(
        &mut self,
        reply: InstallSnapshotReply,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        let position = self.follower_position(reply.from)?;
        if reply.last_included_index > self.progress[position].sent_index_max() {
            return Err(Error::InvalidMessage {
                from: reply.from,
                reason: "answers a snapshot this leader never sent it",
            });
        }
        let now = self.timers.ticks();
        let progress = &mut self.progress[position];
        progress.heard(now);
        if progress.state != ReplicationState::Snapshot
            || progress.snapshot_index != reply.last_included_index
        {
            return Ok(()); // stale
        }
        if reply.done {
            progress.match_index = progress.match_index.max(reply.last_included_index);
            progress.progressed = true;
            let next = reply.last_included_index + 1;
            progress.become_probe(next);
            if self.maybe_commit() {
                for position in 0..self.progress.len() {
                    self.replicate_to(position, out);
                }
            } else {
                self.replicate_to(position, out);
            }
        } else {
            progress.snapshot_offset = reply.next_offset;
            progress.chunk_sent = false;
            let _ = self.send_snapshot_chunk(position, out);
        }
        Ok(())
    }

    /// A follower receives one chunk; on the last, it installs the snapshot.
    pub(super) fn handle_install_snapshot(
        &mut self,
        request: InstallSnapshot,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        self.follow(request.leader)?;
        let leader = request.leader;
        let reply = |node: &Self, next_offset: u64, done: bool| {
            Message::InstallSnapshotReply(InstallSnapshotReply {
                term: node.term,
                from: node.config.id(),
                last_included_index: request.last_included_index,
                next_offset,
                done,
                incarnation: node.log.incarnation(),
            })
        };
        if request.last_included_index <= self.commit_index {
            // Everything it covers is already committed here.
            let message = reply(self, 0, true);
            self.send(leader, message, out);
            return Ok(());
        }
        let snapshot = match self
            .snapshot_receiver
            .receive(&request, self.config.snapshot_bytes_max())
        {
            Chunk::Complete(snapshot) => snapshot,
            Chunk::Accepted { received } => {
                let message = reply(self, received, false);
                self.send(leader, message, out);
                return Ok(());
            }
            Chunk::Resume { offset } => {
                // A lost, duplicated or out-of-order chunk: say where to resume.
                let message = reply(self, offset, false);
                self.send(leader, message, out);
                return Ok(());
            }
            Chunk::TooLarge => {
                return Err(Error::LimitExceeded {
                    what: "the incoming snapshot",
                    max: self.config.snapshot_bytes_max(),
                });
            }
        };
        let length = snapshot.data.len() as u64;
        info!(
            index = snapshot.index,
            term = snapshot.term,
            bytes = length,
            "snapshot installed"
        );
        let saved = snapshot.clone();
        self.write_log_barrier(|log| log.save_snapshot(saved))?;
        let last_index = self.log.last_index();
        self.config_log
            .install(snapshot.index, snapshot.membership, last_index);
        self.refresh_membership(out);
        self.commit_index = self.commit_index.max(snapshot.index);
        self.repaired_through(snapshot.index, out)?;
        if self.last_applied < snapshot.index {
            self.last_applied = snapshot.index;
            out.push(Action::RestoreSnapshot {
                index: snapshot.index,
                term: snapshot.term,
                data: snapshot.data,
            });
        }
        let message = reply(self, length, true);
        self.send(leader, message, out);
        Ok(())
    }
}
