//! Linearizable reads (Raft thesis §6.4): on the leader, confirmation rounds, the reads
//! waiting for one (its own and those followers forwarded), the reads waiting for the
//! commit index to become current, and the lease rounds extend; on a follower, the reads
//! it forwarded to its leader. Every queue is bounded by `pending_reads_max`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::event::Action;
use crate::message::{Message, ReadIndexReply};
use crate::types::{Index, NodeId, Term};

/// A read on the leader: its context, and the follower that forwarded it (`None`: the
/// leader's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Read {
    pub(crate) context: Bytes,
    pub(crate) origin: Option<NodeId>,
}

impl Read {
    /// The read may run at `index`: released to the driver, or answered to the
    /// follower that forwarded it.
    pub(crate) fn release(self, index: Index, term: Term, leader: NodeId, out: &mut Vec<Action>) {
        match self.origin {
            None => out.push(Action::ReadReady {
                index,
                context: self.context,
            }),
            Some(to) => out.push(Action::Send {
                to,
                message: Message::ReadIndexReply(ReadIndexReply {
                    term,
                    leader,
                    index,
                    context: self.context,
                }),
            }),
        }
    }
}

/// A read waiting for its confirmation round.
#[derive(Clone, Debug)]
struct PendingRead {
    read: Read,
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
    unready: Vec<Read>,
    /// A follower's reads forwarded to its leader, waiting for the answer, with the tick
    /// each was forwarded at.
    forwarded: Vec<(Bytes, u64)>,
    /// Lease reads are answered at once until this tick (exclusive).
    lease_until: u64,
    /// A TimeoutNow went out in this term: its target's forced vote requests bypass
    /// the stickiness a lease relies on, whenever they arrive, so no more leases in
    /// this term.
    lease_forfeited: bool,
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
            forwarded: Vec::new(),
            lease_until: 0,
            lease_forfeited: false,
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
        self.lease_forfeited = false;
    }

    /// A TimeoutNow was sent: leases end for the rest of this term.
    pub(crate) fn forfeit_lease(&mut self) {
        self.lease_forfeited = true;
        self.lease_until = 0;
    }

    /// Leadership lost: every read held is dropped (reported by [`ReadOnly::take_dropped`]).
    pub(crate) fn step_down(&mut self) {
        self.ready = false;
        self.rounds_sent.clear();
        self.lease_until = 0;
        // The leader's own reads are reported; a follower that forwarded one drops it
        // itself when its leader changes.
        if self.pending.is_empty() && self.unready.is_empty() {
            return;
        }
        let own = |read: Read| read.origin.is_none().then_some(read.context);
        self.dropped.extend(
            self.pending
                .drain(..)
                .filter_map(|pending| own(pending.read)),
        );
        self.dropped.extend(self.unready.drain(..).filter_map(own));
    }

    /// A follower forwards a read to its leader.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] when `max` reads are already waiting for an answer.
    pub(crate) fn forward(&mut self, context: Bytes, now: u64) -> Result<()> {
        if self.forwarded.len() >= self.max {
            return Err(Error::LimitExceeded {
                what: "reads forwarded to the leader",
                max: self.max as u64,
            });
        }
        self.forwarded.push((context, now));
        Ok(())
    }

    /// Drops (and reports) forwarded reads unanswered for more than `age_max` ticks at
    /// tick `now`: a leader that refuses them (this node was removed without knowing)
    /// or lost them must not hold the caller forever.
    pub(crate) fn expire_forwarded(&mut self, now: u64, age_max: u64) {
        if self.forwarded.is_empty() {
            return;
        }
        let (expired, waiting): (Vec<_>, Vec<_>) = self
            .forwarded
            .drain(..)
            .partition(|&(_, at)| now.saturating_sub(at) > age_max);
        self.forwarded = waiting;
        self.dropped
            .extend(expired.into_iter().map(|(context, _)| context));
    }

    /// The leader answered a forwarded read: whether it was waiting (a duplicate or a
    /// stale answer is not).
    pub(crate) fn answered(&mut self, context: &Bytes) -> bool {
        match self
            .forwarded
            .iter()
            .position(|(waiting, _)| waiting == context)
        {
            Some(position) => {
                let _ = self.forwarded.swap_remove(position);
                true
            }
            None => false,
        }
    }

    /// The follower's leader changed: forwarded reads are dropped (reported by
    /// [`ReadOnly::take_dropped`]).
    pub(crate) fn drop_forwarded(&mut self) {
        if self.forwarded.is_empty() {
            return;
        }
        self.dropped
            .extend(self.forwarded.drain(..).map(|(context, _)| context));
    }

    /// Whether no forwarded read waits and no dropped read waits to be reported (a
    /// follower's tick then has nothing to expire or report).
    pub(crate) fn is_idle_follower(&self) -> bool {
        self.forwarded.is_empty() && self.dropped.is_empty()
    }

    /// Whether reads were dropped since the last [`ReadOnly::take_dropped`].
    #[inline]
    pub(crate) fn has_dropped(&self) -> bool {
        !self.dropped.is_empty()
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
    pub(crate) fn hold_until_ready(&mut self, read: Read) {
        assert!(self.unready.len() < self.max, "admitted past the cap");
        self.unready.push(read);
    }

    /// Whether [`ReadOnly::take_unready`] would hand back any read.
    #[inline]
    pub(crate) fn has_unready(&self) -> bool {
        self.ready && !self.unready.is_empty()
    }

    /// The reads held until ready, once it is.
    pub(crate) fn take_unready(&mut self) -> Vec<Read> {
        if self.ready {
            core::mem::take(&mut self.unready)
        } else {
            Vec::new()
        }
    }

    /// Whether a lease covers tick `now`.
    pub(crate) fn lease_covers(&self, now: u64) -> bool {
        !self.lease_forfeited && now < self.lease_until
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
    pub(crate) fn wait_for_round(&mut self, read: Read, index: Index, round: u64) {
        assert!(self.pending.len() < self.max, "admitted past the cap");
        assert!(round <= self.round, "a round not started");
        self.pending.push_back(PendingRead { read, index, round });
    }

    /// A quorum confirmed every round up to `confirmed`: the reads waiting for them are
    /// ready, and with lease reads (`lease_ticks`: how long a confirmation is good for)
    /// the lease extends from when each round was sent.
    pub(crate) fn confirm(
        &mut self,
        confirmed: u64,
        lease_ticks: Option<u64>,
        (term, leader): (Term, NodeId),
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
            if let Some(pending) = self.pending.pop_front() {
                pending.read.release(pending.index, term, leader, out);
            }
        }
    }

    /// Reads held (waiting for a round, waiting for ready, forwarded by this follower).
    pub(crate) fn held(&self) -> (usize, usize, usize) {
        (self.pending.len(), self.unready.len(), self.forwarded.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(context: &'static [u8]) -> Read {
        Read {
            context: Bytes::from_static(context),
            origin: None,
        }
    }

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
        reads.wait_for_round(own(b"a"), 5, first);
        let second = reads.start_round(12);
        reads.wait_for_round(
            Read {
                context: Bytes::from_static(b"f"),
                origin: Some(3),
            },
            6,
            second,
        );
        reads.wait_for_round(own(b"b"), 6, second);
        let mut out = Vec::new();
        reads.confirm(first, Some(7), (4, 1), &mut out);
        assert_eq!(ready_contexts(&out), [b"a"]);
        assert!(reads.lease_covers(16) && !reads.lease_covers(17));
        reads.confirm(second, Some(7), (4, 1), &mut out);
        assert_eq!(ready_contexts(&out), [b"a", b"b"]);
        // The forwarded read is answered to the follower that sent it.
        assert!(out.iter().any(|action| matches!(
            action,
            Action::Send { to: 3, message: Message::ReadIndexReply(reply) }
                if reply.index == 6 && reply.term == 4 && reply.leader == 1 && &reply.context[..] == b"f"
        )));
        assert!(reads.lease_covers(18));
        assert_eq!(reads.held(), (0, 0, 0));
    }

    // Proves both queues are bounded and a step-down drops (and reports) every read.
    #[test]
    fn queues_are_bounded_and_dropped_on_step_down() {
        let mut reads = ReadOnly::new(2);
        reads.begin_term(false);
        for context in [b"x", b"y"] {
            reads.admit().unwrap();
            reads.hold_until_ready(own(context));
        }
        assert!(matches!(
            reads.admit(),
            Err(Error::LimitExceeded { max: 2, .. })
        ));
        assert!(reads.take_unready().is_empty(), "not ready yet");
        reads.step_down();
        assert_eq!(reads.take_dropped().len(), 2);
        assert_eq!(reads.held(), (0, 0, 0));
        assert!(!reads.is_ready());
    }

    // Proves a follower's forwarded reads are bounded, answered once, and dropped (and
    // reported) when its leader changes.
    #[test]
    fn forwarded_reads_are_bounded_answered_once_and_dropped() {
        let mut reads = ReadOnly::new(2);
        reads.forward(Bytes::from_static(b"p"), 1).unwrap();
        reads.forward(Bytes::from_static(b"q"), 5).unwrap();
        assert!(reads.forward(Bytes::from_static(b"r"), 5).is_err());
        assert!(reads.answered(&Bytes::from_static(b"p")));
        assert!(!reads.answered(&Bytes::from_static(b"p")), "answered once");
        reads.drop_forwarded();
        assert_eq!(reads.take_dropped(), [Bytes::from_static(b"q")]);
        assert_eq!(reads.held(), (0, 0, 0));
        // Unanswered for too long: dropped.
        reads.forward(Bytes::from_static(b"old"), 10).unwrap();
        reads.forward(Bytes::from_static(b"new"), 30).unwrap();
        reads.expire_forwarded(40, 20);
        assert_eq!(reads.take_dropped(), [Bytes::from_static(b"old")]);
        assert_eq!(reads.held(), (0, 0, 1));
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
