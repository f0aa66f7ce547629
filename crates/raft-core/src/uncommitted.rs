//! Backpressure on the leader: the bytes of proposals appended in this term and not yet
//! committed, bounded by [`RaftConfig::with_uncommitted_bytes_max`](crate::RaftConfig::with_uncommitted_bytes_max)
//! (etcd's `MaxUncommittedEntriesSize`), so a slow disk or a slow majority cannot make a
//! leader's memory grow without limit.

use alloc::collections::VecDeque;

use crate::types::Index;

/// The leader's uncommitted proposals: one mark per accepted batch (its last index and
/// its bytes), released as the commit index passes them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Uncommitted {
    marks: VecDeque<(Index, u64)>,
    // Invariant: bytes == the sum of the marks' bytes.
    bytes: u64,
}

impl Uncommitted {
    /// Whether a batch of `bytes` may be appended under `max`: always when nothing is
    /// uncommitted (so one batch larger than the limit still goes through), else only
    /// within the limit.
    pub(crate) fn admits(&self, bytes: u64, max: u64) -> bool {
        self.bytes == 0 || self.bytes.saturating_add(bytes) <= max
    }

    /// A batch of `bytes` ending at `last_index` was appended.
    pub(crate) fn appended(&mut self, last_index: Index, bytes: u64) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.marks.push_back((last_index, bytes));
    }

    /// The commit index reached `commit_index`: batches at or below it are released.
    pub(crate) fn committed(&mut self, commit_index: Index) {
        while let Some(&(last_index, bytes)) = self.marks.front() {
            if last_index > commit_index {
                break;
            }
            self.bytes -= bytes;
            let _ = self.marks.pop_front();
        }
    }

    /// A new term: what an earlier leadership appended is not counted.
    pub(crate) fn clear(&mut self) {
        self.marks.clear();
        self.bytes = 0;
    }

    /// The bytes uncommitted.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the limit admits one batch past it when empty, refuses more, and frees
    // batches as the commit index passes their last index.
    #[test]
    fn batches_are_bounded_and_released_by_commitment() {
        let mut uncommitted = Uncommitted::default();
        assert!(
            uncommitted.admits(500, 100),
            "an empty leader takes one large batch"
        );
        uncommitted.appended(3, 500);
        assert!(!uncommitted.admits(1, 100));
        uncommitted.committed(2);
        assert_eq!(uncommitted.bytes(), 500, "batch ends at 3");
        uncommitted.committed(3);
        assert_eq!(uncommitted.bytes(), 0);
        uncommitted.appended(5, 60);
        uncommitted.appended(9, 40);
        assert!(uncommitted.admits(0, 100) && !uncommitted.admits(1, 100));
        uncommitted.committed(7);
        assert_eq!(uncommitted.bytes(), 40);
        uncommitted.clear();
        assert_eq!(uncommitted.bytes(), 0);
    }
}
