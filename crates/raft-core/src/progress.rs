//! The leader's view of one follower: how far its log matches, what is in flight.

use crate::inflights::Inflights;
use crate::types::{Index, NodeId};

/// How the leader currently replicates to a follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplicationState {
    /// The match point is unknown: one AppendEntries at a time until one succeeds.
    Probe,
    /// The match point is known: AppendEntries are pipelined, up to the in-flight cap.
    Replicate,
    /// The follower needs compacted entries: snapshot chunks go one at a time.
    Snapshot,
}

/// Per-follower replication progress (Raft Figure 2's `nextIndex` / `matchIndex`, plus
/// flow control).
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    pub(crate) id: NodeId,
    // Invariant: match_index < next_index.
    pub(crate) match_index: Index,
    pub(crate) next_index: Index,
    /// The highest index this leader sent to the follower in its term (the last entry
    /// of an AppendEntries, the anchor of an empty one, a snapshot's index): no honest
    /// reply acknowledges more.
    // Invariant: match_index <= sent_index_max.
    sent_index_max: Index,
    /// The highest commit index the follower can have learned from what was sent to
    /// it (a commit notice counts only up to the entries the message vouches for).
    commit_sent: Index,
    pub(crate) state: ReplicationState,
    /// In `Probe`: an AppendEntries is out and unanswered.
    pub(crate) probe_sent: bool,
    /// In `Replicate`: the last index of each unacknowledged AppendEntries, ascending.
    inflight: Inflights,
    /// Heard from this follower since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// The node's tick count when this follower last answered in this term.
    last_heard_tick: Option<u64>,
    /// `match_index` advanced since the last heartbeat round.
    pub(crate) progressed: bool,
    /// The highest read-confirmation round this follower answered.
    pub(crate) read_round_acked: u64,
    /// In `Snapshot`: the snapshot being sent, the next chunk's offset, and whether a
    /// chunk is out and unanswered.
    pub(crate) snapshot_index: Index,
    pub(crate) snapshot_offset: u64,
    pub(crate) chunk_sent: bool,
}

impl Progress {
    pub(crate) fn new(id: NodeId, next_index: Index) -> Self {
        Self {
            id,
            match_index: 0,
            next_index,
            sent_index_max: 0,
            commit_sent: 0,
            state: ReplicationState::Probe,
            probe_sent: false,
            inflight: Inflights::default(),
            recent_active: true,
            last_heard_tick: None,
            progressed: false,
            read_round_acked: 0,
            snapshot_index: 0,
            snapshot_offset: 0,
            chunk_sent: false,
        }
    }

    /// Whether another AppendEntries carrying entries may be sent now.
    pub(crate) fn can_send(&self, inflight_max: usize) -> bool {
        match self.state {
            ReplicationState::Probe => !self.probe_sent,
            ReplicationState::Replicate => !self.inflight.is_full(inflight_max),
            ReplicationState::Snapshot => !self.chunk_sent,
        }
    }

    /// The follower answered at tick `now`: it counts as active for check-quorum.
    pub(crate) fn heard(&mut self, now: u64) {
        self.recent_active = true;
        self.last_heard_tick = Some(now);
    }

    /// The tick of the follower's last answer in this term, if any.
    pub(crate) fn last_heard_tick(&self) -> Option<u64> {
        self.last_heard_tick
    }

    /// How many AppendEntries carrying entries are out and unanswered (only in
    /// `Replicate`: every change of state empties the window).
    pub(crate) fn inflight_count(&self) -> usize {
        self.inflight.count()
    }

    /// The highest index sent to this follower in this term.
    pub(crate) fn sent_index_max(&self) -> Index {
        self.sent_index_max
    }

    /// Records that a message told the follower the commit index `commit`, which it
    /// can use up to `through` (the last entry the message lets it check).
    pub(crate) fn record_commit_sent(&mut self, commit: Index, through: Index) {
        self.commit_sent = self.commit_sent.max(commit.min(through));
    }

    /// The highest commit index the follower can have learned from what was sent.
    pub(crate) fn commit_sent(&self) -> Index {
        self.commit_sent
    }

    /// Whether the follower has not been told the part of `commit` it could use.
    pub(crate) fn needs_commit_notice(&self, commit: Index) -> bool {
        self.match_index.min(commit) > self.commit_sent
    }

    /// Records that a message naming entries up to `index` went to this follower.
    pub(crate) fn record_sent(&mut self, index: Index) {
        self.sent_index_max = self.sent_index_max.max(index);
    }

    /// Records an AppendEntries whose entries end at `last` (optimistically advancing
    /// `next_index` when pipelining; at most `inflight_max` in flight).
    pub(crate) fn sent(&mut self, last: Index, carried_entries: bool, inflight_max: usize) {
        self.record_sent(last);
        match self.state {
            ReplicationState::Probe => self.probe_sent = true,
            ReplicationState::Replicate if carried_entries => {
                self.inflight.add(last, inflight_max);
                self.next_index = last + 1;
            }
            ReplicationState::Replicate | ReplicationState::Snapshot => {}
        }
    }

    /// A success reply reported `match_index`. Returns whether anything advanced.
    ///
    /// # Panics
    /// If `match_index` is past what was sent: the caller refuses such a reply first.
    pub(crate) fn acknowledge(&mut self, match_index: Index) -> bool {
        assert!(
            match_index <= self.sent_index_max,
            "acknowledgement of {match_index} past the highest index sent {}",
            self.sent_index_max
        );
        let advanced = match_index > self.match_index;
        if advanced {
            self.match_index = match_index;
            self.progressed = true;
        }
        self.next_index = self.next_index.max(match_index + 1);
        self.inflight.free_to(match_index);
        let snapshot_covered =
            self.state == ReplicationState::Snapshot && self.match_index >= self.snapshot_index;
        if self.state == ReplicationState::Probe || snapshot_covered {
            self.become_replicate();
        }
        advanced
    }

    /// Whether a rejection of the append anchored at `prev_log_index` answers something
    /// already superseded (a snapshot under way, an older pipelined append, a probe
    /// other than the one out), and so changes nothing.
    pub(crate) fn is_stale_rejection(&self, prev_log_index: Index) -> bool {
        match self.state {
            ReplicationState::Snapshot => true,
            ReplicationState::Replicate => prev_log_index <= self.match_index,
            ReplicationState::Probe => prev_log_index.checked_add(1) != Some(self.next_index),
        }
    }

    /// Whether a rejection at `prev_log_index` says the follower lost entries it had
    /// acknowledged: it rejects an append at or below its match point (the pipelined
    /// append or the probe out, not a snapshot's). A follower whose disk was damaged
    /// does this after its restart (docs/RECOVERY.md); so does, rarely, an old
    /// rejection a reordering network delivers after the acknowledgement that
    /// followed it. [`Progress::regress`] is right for both.
    pub(crate) fn is_regression(&self, prev_log_index: Index) -> bool {
        prev_log_index <= self.match_index
            && match self.state {
                ReplicationState::Snapshot => false,
                ReplicationState::Replicate => true,
                ReplicationState::Probe => prev_log_index.checked_add(1) == Some(self.next_index),
            }
    }

    /// The follower does not hold `prev_log_index` after all (see
    /// [`Progress::is_regression`]); it holds the leader's entries through `hint`
    /// (below the rejected point: a prefix of what it once acknowledged). Lowers the
    /// match point there, which can only delay a commit, and probes again after it.
    pub(crate) fn regress(&mut self, prev_log_index: Index, hint: Index) {
        assert!(prev_log_index > 0, "index 0 always matches");
        self.match_index = self.match_index.min(hint).min(prev_log_index - 1);
        self.become_probe(self.match_index + 1);
    }

    /// The fast back-off after a rejection at `prev_log_index`: probe again after
    /// `hint` (the leader's last index whose term is at most the follower's hint),
    /// never at or above the rejected point, never at or below the match point.
    pub(crate) fn back_off(&mut self, prev_log_index: Index, hint: Index) {
        assert!(prev_log_index > 0, "index 0 always matches");
        let next_index = hint.saturating_add(1).min(prev_log_index);
        self.become_probe(next_index);
    }

    /// Switches to pipelined replication right after the match point.
    pub(crate) fn become_replicate(&mut self) {
        self.state = ReplicationState::Replicate;
        self.next_index = self.match_index + 1;
        self.probe_sent = false;
        self.inflight.reset();
    }

    /// Starts sending snapshot `index` from its first chunk.
    pub(crate) fn become_snapshot(&mut self, index: Index) {
        self.state = ReplicationState::Snapshot;
        self.snapshot_index = index;
        self.snapshot_offset = 0;
        self.chunk_sent = false;
        self.probe_sent = false;
        self.inflight.reset();
    }

    /// Falls back to probing from `next_index` (clamped above the match point).
    pub(crate) fn become_probe(&mut self, next_index: Index) {
        self.state = ReplicationState::Probe;
        self.next_index = next_index.max(self.match_index + 1);
        self.probe_sent = false;
        self.inflight.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves pipelining records flights, acks free them and probes reset them.
    #[test]
    fn inflight_window() {
        let mut progress = Progress::new(2, 1);
        assert_eq!(progress.sent_index_max(), 0);
        assert!(progress.can_send(2));
        progress.sent(0, false, 2);
        assert!(!progress.can_send(2), "one probe at a time");
        assert!(!progress.acknowledge(0));
        assert_eq!(progress.state, ReplicationState::Replicate);
        progress.sent(10, true, 2);
        progress.sent(20, true, 2);
        assert!(!progress.can_send(2));
        assert_eq!(progress.next_index, 21);
        assert_eq!(progress.sent_index_max(), 20);
        assert!(progress.acknowledge(10));
        assert_eq!(progress.inflight_count(), 1);
        progress.become_probe(5);
        assert_eq!((progress.next_index, progress.inflight_count()), (11, 0));
        assert_eq!(progress.sent_index_max(), 20, "a probe never lowers it");
    }

    // Proves the back-off never retries at or above the rejected point nor at or below
    // the match point, and that superseded rejections are recognised.
    #[test]
    fn back_off_stays_between_the_match_point_and_the_rejection() {
        let mut progress = Progress::new(2, 11);
        progress.sent(10, false, 4);
        assert!(progress.is_stale_rejection(7), "not the probe out");
        assert!(!progress.is_stale_rejection(10));
        progress.back_off(10, 50);
        assert_eq!(progress.next_index, 10, "below the rejected point");
        progress.back_off(10, 3);
        assert_eq!(progress.next_index, 4);
        progress.become_replicate();
        assert!(progress.acknowledge(0) || progress.match_index == 0);
        progress.back_off(4, 0);
        assert_eq!(progress.next_index, 1, "never at or below the match point");
    }

    // Proves a rejection at or below the match point (a follower that lost entries)
    // lowers the match point below the rejection and probes after it, instead of
    // being ignored forever as stale.
    #[test]
    fn a_rejection_below_the_match_point_regresses_the_follower() {
        let mut progress = Progress::new(2, 1);
        progress.sent(8, true, 4);
        progress.become_replicate();
        assert!(progress.acknowledge(8));
        assert!(progress.is_regression(8) && progress.is_regression(5));
        assert!(
            !progress.is_regression(9),
            "above the match point: a normal rejection"
        );
        progress.regress(8, 3);
        assert_eq!((progress.match_index, progress.next_index), (3, 4));
        assert_eq!(progress.state, ReplicationState::Probe);
        progress.sent(3, false, 4);
        assert!(
            progress.is_regression(3),
            "the probe at the match point rejected"
        );
        progress.regress(3, 7);
        assert_eq!(
            progress.match_index, 2,
            "never at or above the rejected point"
        );
        assert!(!progress.is_regression(1), "not the probe out");
    }

    // Proves a commit notice is owed only for the commit the follower can use (up to
    // its match point) and not yet told.
    #[test]
    fn commit_notice_is_owed_up_to_the_match_point() {
        let mut progress = Progress::new(2, 1);
        progress.sent(5, true, 4);
        assert!(!progress.needs_commit_notice(5), "nothing matched yet");
        progress.become_replicate();
        assert!(progress.acknowledge(5));
        assert!(progress.needs_commit_notice(5));
        progress.record_commit_sent(9, 5);
        assert!(!progress.needs_commit_notice(9));
        progress.record_commit_sent(3, 4);
        assert!(!progress.needs_commit_notice(5), "never lowered");
    }
}
