//! The pinned PRNG behind randomised election timeouts, shared with the simulator and
//! the test harnesses so that a seed means the same stream everywhere.

use crate::config::mix64;

/// SplitMix64 (Steele, Lea, Flood 2014): a Weyl sequence through a 64-bit finaliser.
///
/// Pinned: changing it changes every replay, so it is part of the determinism
/// contract. The core draws election timeouts from it; raft-sim drives its whole world
/// from it (as `SimRng`). Not for anything that needs unpredictability.
///
/// ```
/// # #[cfg(feature = "testing")] {
/// use raft_core::testing::SplitMix64;
/// let mut rng = SplitMix64::new(7);
/// let draw = rng.between(10, 12);
/// assert!((10..=12).contains(&draw));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// A draw from `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }

    /// A draw from the inclusive range `low..=high`; requires `low <= high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "an empty range");
        // The full range has no `high - low + 1`; any draw is in it.
        match (high - low).checked_add(1) {
            Some(span) => low + self.below(span),
            None => self.next_u64(),
        }
    }

    /// A draw from the inclusive range `[min, max]`; requires `min <= max`.
    pub(crate) fn in_range(&mut self, min: u32, max: u32) -> u32 {
        let draw = self.between(u64::from(min), u64::from(max));
        u32::try_from(draw).expect("a draw within two u32 bounds")
    }

    /// True with probability `per_mille / 1000`.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// A new generator derived from this one, for an independent stream.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub fn fork(&mut self) -> Self {
        Self::new(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the sequence is pinned: these values must never change.
    #[test]
    fn sequence_is_pinned() {
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    // Proves draws stay within the inclusive range and reach both ends.
    #[test]
    fn in_range_is_inclusive() {
        let mut rng = SplitMix64::new(7);
        let draws: alloc::vec::Vec<u32> = (0..1000).map(|_| rng.in_range(10, 12)).collect();
        assert!(draws.iter().all(|d| (10..=12).contains(d)));
        assert!(draws.contains(&10) && draws.contains(&12));
    }

    // The draws the simulator relied on before the generators were merged: `between`
    // is `low + next % span`, `chance` is `below(1000) < per_mille`, `fork` reseeds
    // from the next draw.
    #[test]
    fn derived_draws_are_pinned() {
        let mut a = SplitMix64::new(3);
        let mut b = SplitMix64::new(3);
        assert_eq!(a.between(5, 9), 5 + b.next_u64() % 5);
        assert_eq!(a.chance(300), b.next_u64() % 1000 < 300);
        let mut forked = a.fork();
        assert_eq!(forked.next_u64(), SplitMix64::new(b.next_u64()).next_u64());
        assert_eq!(a.below(0), 0);
        let _ = a.between(0, u64::MAX);
    }
}
