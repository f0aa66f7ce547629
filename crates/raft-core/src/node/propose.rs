//! Client proposals on the leader: size and index checks, one append per batch.

use super::*;

/// With coalescing, how many appends a follower may have in flight before new
/// proposals wait for its answer. Not one: a follower a message or two behind (still
/// syncing) must keep receiving each new entry at once, or a commit would wait on the
/// other follower alone (raft-kv's single-client writes lost a third of their rate
/// with one, and about a fifth with two); a burst beyond four is merged.
const COALESCE_AFTER: usize = 4;

impl<L: RaftLog> RaftNode<L> {
    /// Appends and replicates `commands` (`bytes` in all). The caller checked each
    /// command's size and that this node takes requests
    /// (`check_taking_requests`).
    pub(super) fn propose(
        &mut self,
        commands: impl ExactSizeIterator<Item = Bytes>,
        bytes: u64,
        out: &mut Vec<Action>,
    ) -> Result<()> {
        if commands.len() == 0 {
            return Ok(());
        }
        let max = self.config.uncommitted_bytes_max();
        if !self.uncommitted.admits(bytes, max) {
            return Err(Error::LimitExceeded {
                what: "the leader's uncommitted proposals (bytes)",
                max,
            });
        }
        // (Each command's size was checked by the caller, before anything changed.)
        let count = commands.len();
        let first = self.next_indexes(count)?;
        let term = self.term;
        let mut entries = commands.zip(first..).map(|(command, index)| LogEntry {
            term,
            index,
            kind: EntryKind::Normal,
            command,
        });
        if count == 1 {
            // One entry: moved in, with no Vec around it.
            let entry = entries.next().expect("length is one");
            self.append_proposals(|log| log.append_entry(entry))?;
        } else {
            let batch: Vec<LogEntry> = entries.collect();
            self.append_proposals(|log| log.append_owned(batch))?;
        }
        // A new commit (a leader that is its own quorum) is news for every follower;
        // otherwise, with coalescing, a follower with COALESCE_AFTER appends in flight
        // gets these entries with its next answer (see `with_append_coalescing`).
        let last = first + count as u64 - 1;
        let committed = self.maybe_commit();
        if self.commit_index < last {
            // (A leader that is its own quorum commits at once: nothing to hold.)
            self.uncommitted.appended(last, bytes);
        }
        let coalescing = self.config.append_coalescing();
        for position in 0..self.progress.len() {
            let held = coalescing && self.progress[position].inflight_count() >= COALESCE_AFTER;
            if committed || !held {
                self.replicate_to(position, out);
            }
        }
        Ok(())
    }

    /// Every entry must fit one AppendEntries (`entry_bytes_max`): a proposal with a
    /// larger command is refused before anything is appended.
    pub(super) fn check_entry_bytes(&self, bytes: usize) -> Result<()> {
        let max = self.config.entry_bytes_max();
        if bytes > max {
            return Err(Error::EntryTooLarge { bytes, max });
        }
        Ok(())
    }

    /// The index of the first of `count` new entries, or an error if the last of them
    /// would pass [`INDEX_MAX`].
    pub(super) fn next_indexes(&self, count: usize) -> Result<Index> {
        let last_index = self.log.last_index();
        let fits = u64::try_from(count)
            .ok()
            .and_then(|count| last_index.checked_add(count))
            .is_some_and(|last| last <= INDEX_MAX);
        if !fits {
            return Err(Error::LogFull { last_index });
        }
        Ok(last_index + 1)
    }
}
