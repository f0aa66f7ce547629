//! What the node has handed to its log and what of it is durable: the durability
//! barrier's bookkeeping (Raft Figure 2's "respond after stable storage"), with an
//! assertion on every transition.

use crate::types::{HardState, Index};

/// Writes not yet covered by a `sync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unsynced {
    /// Everything written is durable.
    Nothing,
    /// Only a leader's appended proposals, which may wait for `Event::SyncLog`
    /// (deferred leader sync, thesis §10.2.1).
    Deferrable,
    /// Something an answer depends on (term, vote, a follower's entries, a
    /// truncation, a snapshot): synced before the step returns.
    Required,
}

/// The durability state of one node.
#[derive(Clone, Debug)]
pub(crate) struct SyncState {
    /// The hard state last handed to the log.
    persisted: HardState,
    unsynced: Unsynced,
    /// An `Action::SyncLog` went out and its `Event::SyncLog` has not come back.
    requested: bool,
    /// A write that is synced within its step in every mode (a snapshot).
    barrier: bool,
    /// The last index known durable: what a leader counts as its own copy.
    durable_index: Index,
}

impl SyncState {
    /// A node restored from a log whose state is all durable.
    pub(crate) fn new(persisted: HardState, durable_index: Index) -> Self {
        Self {
            persisted,
            unsynced: Unsynced::Nothing,
            requested: false,
            barrier: false,
            durable_index,
        }
    }

    /// The hard state last handed to the log.
    pub(crate) fn persisted(&self) -> HardState {
        self.persisted
    }

    /// The last index known durable.
    pub(crate) fn durable_index(&self) -> Index {
        self.durable_index
    }

    /// Whether anything written is not yet durable.
    pub(crate) fn needs_sync(&self) -> bool {
        self.unsynced != Unsynced::Nothing
    }

    /// Whether something an answer depends on is unsynced: with async persistence the
    /// node holds its messages until the sync.
    pub(crate) fn holds_answers(&self) -> bool {
        self.unsynced == Unsynced::Required
    }

    /// A write synced within its step whatever the mode (a snapshot: the application
    /// restores from it at once).
    pub(crate) fn wrote_barrier(&mut self) {
        self.unsynced = Unsynced::Required;
        self.barrier = true;
    }

    /// Whether an `Action::SyncLog` is outstanding.
    pub(crate) fn is_requested(&self) -> bool {
        self.requested
    }

    /// Something an answer depends on was written: it is synced before the step
    /// returns.
    pub(crate) fn wrote_required(&mut self) {
        self.unsynced = Unsynced::Required;
    }

    /// A leader's proposals were appended and may wait for `Event::SyncLog`.
    pub(crate) fn wrote_deferrable(&mut self) {
        if self.unsynced == Unsynced::Nothing {
            self.unsynced = Unsynced::Deferrable;
        }
    }

    /// `state` was handed to the log; a changed term or vote is a barrier (a commit
    /// index alone is not: losing it only delays applying).
    pub(crate) fn hard_state_written(&mut self, state: HardState) {
        if state.term != self.persisted.term || state.voted_for != self.persisted.voted_for {
            assert!(
                state.term >= self.persisted.term,
                "a term written going back"
            );
            self.wrote_required();
        }
        self.persisted = state;
    }

    /// Whether the step must sync before it returns: a barrier, anything required
    /// unless every write may wait (`defer_all`: async persistence), or anything at all
    /// when proposals may not wait (`may_defer`: a leader with deferred sync on).
    pub(crate) fn must_sync_now(&self, may_defer: bool, defer_all: bool) -> bool {
        match self.unsynced {
            Unsynced::Nothing => false,
            Unsynced::Deferrable => !may_defer && !defer_all,
            Unsynced::Required => self.barrier || !defer_all,
        }
    }

    /// The step ends with writes that may wait: ask the driver to sync, once. Returns
    /// whether an `Action::SyncLog` is to go out now.
    ///
    /// # Panics
    /// If required writes are unsynced without async persistence (`defer_all`).
    pub(crate) fn request(&mut self, defer_all: bool) -> bool {
        assert!(
            self.unsynced == Unsynced::Deferrable || (defer_all && !self.barrier),
            "only a leader's proposals may wait for a sync"
        );
        let new = !self.requested;
        self.requested = true;
        new
    }

    /// `Event::SyncLog` arrived (or a tick stands in for it).
    pub(crate) fn request_answered(&mut self) {
        self.requested = false;
    }

    /// The log synced: everything written is durable, through `last_index`.
    pub(crate) fn synced(&mut self, last_index: Index) {
        self.unsynced = Unsynced::Nothing;
        self.requested = false;
        self.barrier = false;
        self.durable_index = last_index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hard_state(term: u64, voted_for: Option<u64>, commit_index: u64) -> HardState {
        HardState {
            term,
            voted_for,
            commit_index,
        }
    }

    // Proves which writes force a sync within the step and which may wait.
    #[test]
    fn barriers() {
        let mut sync = SyncState::new(hard_state(1, None, 0), 0);
        assert!(!sync.needs_sync() && !sync.must_sync_now(false, false));
        sync.hard_state_written(hard_state(1, None, 5));
        assert!(!sync.needs_sync(), "a commit index alone is no barrier");
        sync.wrote_deferrable();
        assert!(sync.needs_sync() && !sync.must_sync_now(true, false));
        assert!(sync.must_sync_now(false, false) && !sync.holds_answers());
        assert!(sync.request(false));
        assert!(!sync.request(false), "asked once");
        sync.hard_state_written(hard_state(2, Some(1), 5));
        assert!(sync.must_sync_now(true, false), "a vote is a barrier");
        assert!(
            !sync.must_sync_now(true, true),
            "unless every write may wait"
        );
        assert!(sync.holds_answers());
        sync.wrote_barrier();
        assert!(sync.must_sync_now(true, true), "a snapshot never waits");
        sync.synced(7);
        assert!(!sync.needs_sync() && !sync.is_requested());
        assert_eq!(sync.durable_index(), 7);
    }

    // Proves a required write cannot be deferred by asking the driver.
    #[test]
    #[should_panic(expected = "only a leader's proposals")]
    fn required_writes_cannot_wait() {
        let mut sync = SyncState::new(hard_state(1, None, 0), 0);
        sync.wrote_required();
        let _ = sync.request(false);
    }
}
