//! The simulation's event queue: a priority queue by (time, sequence), so events at
//! the same instant run in the order they were scheduled and a seed replays exactly.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// An event due at `time`, the `sequence`-th one scheduled.
struct Scheduled<E> {
    time: u64,
    sequence: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, self.sequence).cmp(&(other.time, other.sequence))
    }
}

/// Simulated time and the events waiting for it.
pub(super) struct EventQueue<E> {
    now: u64,
    sequence: u64,
    heap: BinaryHeap<Reverse<Scheduled<E>>>,
}

impl<E> EventQueue<E> {
    pub(super) fn new() -> Self {
        Self {
            now: 0,
            sequence: 0,
            heap: BinaryHeap::new(),
        }
    }

    /// The simulated time of the event being handled.
    pub(super) fn now(&self) -> u64 {
        self.now
    }

    /// How many events were scheduled so far: a total order of causes, used to order
    /// client invocations and returns in the history.
    pub(super) fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Schedules `event` `delay` time units from now.
    pub(super) fn schedule(&mut self, delay: u64, event: E) {
        self.sequence += 1;
        self.heap.push(Reverse(Scheduled {
            time: self.now + delay,
            sequence: self.sequence,
            event,
        }));
    }

    /// The next event due no later than `end`, with the clock moved to it; `None` once
    /// nothing is left before `end`.
    pub(super) fn pop_until(&mut self, end: u64) -> Option<E> {
        let Reverse(next) = self.heap.pop()?;
        if next.time > end {
            return None;
        }
        assert!(next.time >= self.now, "time never goes back");
        self.now = next.time;
        Some(next.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Events come out by time, ties in scheduling order; the clock follows them and
    // stops at the end.
    #[test]
    fn events_come_out_by_time_then_sequence() {
        let mut queue = EventQueue::new();
        queue.schedule(5, "b");
        queue.schedule(1, "a");
        queue.schedule(5, "c");
        queue.schedule(9, "late");
        assert_eq!(queue.pop_until(8), Some("a"));
        assert_eq!(queue.now(), 1);
        queue.schedule(4, "d");
        assert_eq!(queue.pop_until(8), Some("b"));
        assert_eq!(queue.pop_until(8), Some("c"));
        assert_eq!(queue.pop_until(8), Some("d"));
        assert_eq!(queue.now(), 5);
        assert_eq!(queue.pop_until(8), None);
        assert_eq!(queue.sequence(), 5);
    }
}
