//! Linearizable reads on the leader (Raft thesis §6.4): confirmation rounds, the reads
//! waiting for one, the reads waiting for the commit index to become current, and the
//! lease rounds extend. Every queue is bounded by `pending_reads_max`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::event::Action;
use crate::types::Index;

/// A read waiting for its confirmation round.
#[derive(Clone, Debug)]
struct PendingRead {
    context: Bytes,
    index: Index,
    round: u64,
}

/// A leader's read state; a follower's is empty.
#[derive(Clone, Debug)]
pub(crate) struct ReadOnly {
    /// The commit index is known current (an entry of this term committed, or nothing
    /// was uncommitted at election), so reads can be served.
    ready: bool,
    /// The last confirmation round started in this term (rounds start at 1).
    round: u64,
    /// Unconfirmed rounds and the tick each was sent at, oldest first.
    rounds_sent: VecDeque<(u64, u64)>,
    /// Reads waiting for a round, in round order.
    pending: VecDeque<PendingRead>,
    /// Reads waiting for `ready`.
    unready: Vec<Bytes>,
    /// Lease reads are answered at once until this tick (exclusive).
    lease_until: u64,
    /// Reads a step-down abandoned, to report.
    dropped: Vec<Bytes>,
    // Invariant: pending, unready and rounds_sent each hold at most `max` (+1 round).
    max: usize,
}

impl ReadOnly {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            ready: false,
            round: 0,
            rounds_sent: VecDeque::new(),
            pending: VecDeque::new(),
            unready: Vec::new(),
            lease_until: 0,
            dropped: Vec::new(),
            max,
        }
    }

    /// Whether reads can be served (the commit index is current).
    pub(crate) fn is_ready(&self) -> bool {
        self.ready
    }

    /// The commit index became current (an entry of this term committed).
    pub(crate) fn set_ready(&mut self) {
        self.ready = true;
    }

    /// A new term of leadership; `ready` when nothing was uncommitted.
    pub(crate) fn begin_term(&mut self, ready: bool) {
        self.ready = ready;
        self.round = 0;
        self.lease_until = 0;
    }

    /// Leadership lost: every read held is dropped (reported by [`ReadOnly::take_dropped`]).
    pub(crate) fn step_down(&mut self) {
        self.ready = false;
        self.rounds_sent.clear();
        self.lease_until = 0;
        self.dropped
            .extend(self.pending.drain(..).map(|read| read.context));
        self.dropped.append(&mut self.unready);
    }

    /// The reads dropped since the last call.
    pub(crate) fn take_dropped(&mut self) -> Vec<Bytes> {
        core::mem::take(&mut self.dropped)
    }

    /// Refuses a new read when the queue it would join is full.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`].
    pub(crate) fn admit(&self) -> Result<()> {
        let queued = if self.ready {
            self.pending.len()
        } else {
            self.unready.len()
        };
        if queued >= self.max {
            return Err(Error::LimitExceeded {
                what: "reads pending on the leader",
                max: self.max as u64,
            });
        }
        Ok(())
    }

    /// Holds a read until the commit index is current.
    pub(crate) fn hold_until_ready(&mut self, context: Bytes) {
        assert!(self.unready.len() < self.max, "admitted past the cap");
        self.unready.push(context);
    }

    /// The reads held until ready, once it is.
    pub(crate) fn take_unready(&mut self) -> Vec<Bytes> {
        if self.ready {
            core::mem::take(&mut self.unready)
        } else {
            Vec::new()
        }
    }

    /// Whether a lease covers tick `now`.
    pub(crate) fn lease_covers(&self, now: u64) -> bool {
        now < self.lease_until
    }

    /// Starts a confirmation round at tick `now` and returns its number. The oldest
    /// unconfirmed round is forgotten past the cap: it could only extend the lease.
    pub(crate) fn start_round(&mut self, now: u64) -> u64 {
        self.round += 1;
        if self.rounds_sent.len() > self.max {
            let _ = self.rounds_sent.pop_front();
        }
        self.rounds_sent.push_back((self.round, now));
        self.round
    }

    /// The last round started in this term.
    pub(crate) fn round(&self) -> u64 {
        self.round
    }

    /// A read at commit index `index` waits for round `round`.
    pub(crate) fn wait_for_round(&mut self, context: Bytes, index: Index, round: u64) {
        assert!(self.pending.len() < self.max, "admitted past the cap");
        assert!(round <= self.round, "a round not started");
        self.pending.push_back(PendingRead {
            context,
            index,
            round,
        });
    }

    /// A quorum confirmed every round up to `confirmed`: the reads waiting for them are
    /// ready, and with lease reads (`lease_ticks`: how long a confirmation is good for)
    /// the lease extends from when each round was sent.
    pub(crate) fn confirm(
        &mut self,
        confirmed: u64,
        lease_ticks: Option<u64>,
        out: &mut Vec<Action>,
    ) {
        while let Some(&(round, sent)) = self.rounds_sent.front() {
            if round > confirmed {
                break;
            }
            let _ = self.rounds_sent.pop_front();
            if let Some(ticks) = lease_ticks {
                // Followers that answered heard from this leader no earlier than
                // `sent`, and refuse to help elect another for the lease's length.
                self.lease_until = self.lease_until.max(sent + ticks);
            }
        }
        while self
            .pending
            .front()
            .is_some_and(|read| read.round <= confirmed)
        {
            if let Some(read) = self.pending.pop_front() {
                out.push(Action::ReadReady {
                    index: read.index,
                    context: read.context,
                });
            }
        }
    }

    /// Reads held (waiting for a round, waiting for ready).
    pub(crate) fn held(&self) -> (usize, usize) {
        (self.pending.len(), self.unready.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_contexts(out: &[Action]) -> Vec<&[u8]> {
        out.iter()
            .filter_map(|action| match action {
                Action::ReadReady { context, .. } => Some(&context[..]),
                _ => None,
            })
            .collect()
    }

    // Proves reads are answered once their round (or a later one) is confirmed, in
    // order, and the lease extends from when the confirmed rounds were sent.
    #[test]
    fn confirmation_answers_reads_in_order_and_extends_the_lease() {
        let mut reads = ReadOnly::new(8);
        reads.begin_term(true);
        let first = reads.start_round(10);
        reads.wait_for_round(Bytes::from_static(b"a"), 5, first);
        let second = reads.start_round(12);
        reads.wait_for_round(Bytes::from_static(b"b"), 6, second);
        let mut out = Vec::new();
        reads.confirm(first, Some(7), &mut out);
        assert_eq!(ready_contexts(&out), [b"a"]);
        assert!(reads.lease_covers(16) && !reads.lease_covers(17));
        reads.confirm(second, Some(7), &mut out);
        assert_eq!(ready_contexts(&out), [b"a", b"b"]);
        assert!(reads.lease_covers(18));
        assert_eq!(reads.held(), (0, 0));
    }

    // Proves both queues are bounded and a step-down drops (and reports) every read.
    #[test]
    fn queues_are_bounded_and_dropped_on_step_down() {
        let mut reads = ReadOnly::new(2);
        reads.begin_term(false);
        for context in [b"x", b"y"] {
            reads.admit().unwrap();
            reads.hold_until_ready(Bytes::from_static(context));
        }
        assert!(matches!(
            reads.admit(),
            Err(Error::LimitExceeded { max: 2, .. })
        ));
        assert!(reads.take_unready().is_empty(), "not ready yet");
        reads.step_down();
        assert_eq!(reads.take_dropped().len(), 2);
        assert_eq!(reads.held(), (0, 0));
        assert!(!reads.is_ready());
    }

    // Proves the record of unconfirmed rounds stays bounded however many start.
    #[test]
    fn unconfirmed_rounds_are_bounded() {
        let mut reads = ReadOnly::new(3);
        reads.begin_term(true);
        for tick in 0..100 {
            let _ = reads.start_round(tick);
        }
        assert!(reads.rounds_sent.len() <= 4);
        assert_eq!(reads.round(), 100);
    }
}
