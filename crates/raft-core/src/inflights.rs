//! The window of AppendEntries a leader has sent one follower and not yet heard back
//! about, by the last index each carried. Bounded by the caller's cap
//! (`RaftConfig::inflight_appends_max`): nothing is added to a full window.

use alloc::collections::VecDeque;

use crate::types::Index;

/// Unacknowledged appends to one follower, oldest first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Inflights {
    // Invariant: strictly ascending.
    last_indexes: VecDeque<Index>,
}

impl Inflights {
    /// Appends in flight.
    pub(crate) fn count(&self) -> usize {
        self.last_indexes.len()
    }

    /// Whether `max` appends are in flight already.
    pub(crate) fn is_full(&self, max: usize) -> bool {
        self.last_indexes.len() >= max
    }

    /// Records an append whose entries end at `last`.
    ///
    /// # Panics
    /// If `last` does not follow the newest append in flight (appends are sent in
    /// index order), or the window is full for `max`.
    pub(crate) fn add(&mut self, last: Index, max: usize) {
        assert!(
            self.last_indexes.back().is_none_or(|&back| back < last),
            "appends in flight out of order"
        );
        assert!(!self.is_full(max), "append sent into a full window");
        self.last_indexes.push_back(last);
    }

    /// Frees every append the follower has acknowledged up to `index`.
    pub(crate) fn free_to(&mut self, index: Index) {
        while self
            .last_indexes
            .front()
            .is_some_and(|&front| front <= index)
        {
            let _ = self.last_indexes.pop_front();
        }
    }

    /// Forgets everything in flight (a probe or a snapshot starts over).
    pub(crate) fn reset(&mut self) {
        self.last_indexes.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    // Proves the window against a naive model (a plain list) over random adds, frees
    // and resets: same count, never more than the cap.
    #[test]
    fn window_matches_the_naive_model() {
        let max = 4;
        let mut window = Inflights::default();
        let mut model: Vec<Index> = Vec::new();
        let mut next = 1;
        let mut state = 0x1f1f_u64;
        for _ in 0..10_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            match (state >> 61) % 4 {
                0 | 1 if !window.is_full(max) => {
                    next += (state >> 40) % 3 + 1;
                    window.add(next, max);
                    model.push(next);
                }
                2 => {
                    let acked = next.saturating_sub((state >> 40) % 6);
                    window.free_to(acked);
                    model.retain(|&last| last > acked);
                }
                3 if (state >> 30).is_multiple_of(8) => {
                    window.reset();
                    model.clear();
                }
                _ => {}
            }
            assert_eq!(window.count(), model.len());
            assert!(window.count() <= max);
            assert_eq!(window.is_full(max), model.len() >= max);
        }
    }

    // Proves an append out of order is refused loudly.
    #[test]
    #[should_panic(expected = "out of order")]
    fn out_of_order_append_panics() {
        let mut window = Inflights::default();
        window.add(10, 4);
        window.add(10, 4);
    }
}
