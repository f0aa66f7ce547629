//! The client requests a node holds while Raft works on them: writes waiting for their
//! entry to apply, reads waiting for their ReadIndex confirmation and then for the
//! state machine to reach the confirmed index. Every request gets exactly one answer.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::mpsc::Sender;

use raft_io::{Bytes, Index, Term};

use crate::protocol::Response;
use crate::store::Store;

/// Requests waiting for an answer.
#[derive(Debug, Default)]
pub struct Pending {
    /// Proposed writes by log index, with the term they were proposed in.
    writes: BTreeMap<Index, (Term, Sender<Response>)>,
    /// Reads waiting for their confirmation, by ReadIndex id (all gets of one round
    /// share one ReadIndex: they all arrived before it).
    reads: BTreeMap<u64, Vec<(String, Sender<Response>)>>,
    /// Confirmed reads waiting for the state machine to reach their index.
    ready_reads: Vec<(Index, String, Sender<Response>)>,
    next_read: u64,
}

fn read_id(context: &Bytes) -> Option<u64> {
    Some(u64::from_le_bytes(context.as_ref().try_into().ok()?))
}

impl Pending {
    /// Writes proposed at `first..` in `term`, one per reply, in order. Returns their
    /// indexes.
    pub fn add_writes(
        &mut self,
        first: Index,
        term: Term,
        replies: Vec<Sender<Response>>,
    ) -> RangeInclusive<Index> {
        let last = first + replies.len() as u64 - 1;
        for (index, reply) in (first..=last).zip(replies) {
            let _ = self.writes.insert(index, (term, reply));
        }
        first..=last
    }

    /// The writes at `indexes` were refused: answer them all with `response`.
    pub fn refuse_writes(&mut self, indexes: RangeInclusive<Index>, response: &Response) {
        for index in indexes {
            if let Some((_, reply)) = self.writes.remove(&index) {
                let _ = reply.send(response.clone());
            }
        }
    }

    /// The entry at `index` of `term` applied with `response`. A write proposed at that
    /// index in another term was superseded: its outcome is unknown to this node.
    pub fn applied(&mut self, index: Index, term: Term, response: Response) {
        if let Some((proposed_in, reply)) = self.writes.remove(&index) {
            let answer = if proposed_in == term {
                response
            } else {
                Response::Retry("entry superseded by a new leader".into())
            };
            let _ = reply.send(answer);
        }
    }

    /// Everything through `applied` has applied: writes still waiting at or below it
    /// were replaced (by a no-op, say); confirmed reads at or below it are answered
    /// from `store`.
    pub fn caught_up(&mut self, applied: Index, store: &Store) {
        while let Some(entry) = self.writes.first_entry() {
            if *entry.key() > applied {
                break;
            }
            let (_, reply) = entry.remove();
            let _ = reply.send(Response::Retry("entry superseded by a new leader".into()));
        }
        self.ready_reads.retain(|(index, key, reply)| {
            if *index > applied {
                return true;
            }
            let _ = reply.send(Response::Value(store.get(key).map(str::to_owned)));
            false
        });
    }

    /// Leadership was lost: every write's outcome is unknown (it may still commit).
    pub fn leadership_lost(&mut self) {
        for (_, (_, reply)) in std::mem::take(&mut self.writes) {
            let _ = reply.send(Response::Retry("leadership lost".into()));
        }
    }

    /// Gets that share one ReadIndex round; returns the context to step with it.
    pub fn add_reads(&mut self, gets: Vec<(String, Sender<Response>)>) -> Bytes {
        self.next_read += 1;
        let id = self.next_read;
        let _ = self.reads.insert(id, gets);
        Bytes::copy_from_slice(&id.to_le_bytes())
    }

    /// The ReadIndex with `context` was refused: answer its reads with `response`.
    pub fn refuse_reads(&mut self, context: &Bytes, response: &Response) {
        if let Some(reads) = read_id(context).and_then(|id| self.reads.remove(&id)) {
            for (_, reply) in reads {
                let _ = reply.send(response.clone());
            }
        }
    }

    /// The ReadIndex with `context` was confirmed at `index`.
    pub fn read_ready(&mut self, context: &Bytes, index: Index) {
        if let Some(reads) = read_id(context).and_then(|id| self.reads.remove(&id)) {
            self.ready_reads
                .extend(reads.into_iter().map(|(key, reply)| (index, key, reply)));
        }
    }

    /// Requests waiting: (writes, reads not confirmed, reads confirmed).
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.writes.len(),
            self.reads.values().map(Vec::len).sum(),
            self.ready_reads.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, channel};

    fn replies(count: usize) -> (Vec<Sender<Response>>, Vec<Receiver<Response>>) {
        (0..count).map(|_| channel()).unzip()
    }

    // Proves a write is answered with its result only when its own entry (same index,
    // same term) applies; otherwise it is told its outcome is unknown.
    #[test]
    fn writes_are_answered_by_their_own_entry() {
        let mut pending = Pending::default();
        let (senders, receivers) = replies(3);
        let indexes = pending.add_writes(5, 2, senders);
        assert_eq!(indexes, 5..=7);
        pending.applied(5, 2, Response::Done);
        pending.applied(6, 3, Response::Done);
        assert_eq!(receivers[0].try_recv(), Ok(Response::Done));
        assert!(matches!(receivers[1].try_recv(), Ok(Response::Retry(_))));
        pending.caught_up(7, &Store::default());
        assert!(matches!(receivers[2].try_recv(), Ok(Response::Retry(_))));
        assert_eq!(pending.counts(), (0, 0, 0));
    }

    // Proves reads wait for their confirmation, then for the state machine; a refused
    // or dropped round answers them at once; leadership loss answers every write.
    #[test]
    fn reads_wait_for_confirmation_then_for_the_state_machine() {
        let mut pending = Pending::default();
        let (senders, receivers) = replies(2);
        let gets = senders
            .into_iter()
            .map(|reply| ("k".to_owned(), reply))
            .collect();
        let context = pending.add_reads(gets);
        assert_eq!(pending.counts(), (0, 2, 0));
        pending.read_ready(&context, 9);
        assert_eq!(pending.counts(), (0, 0, 2));
        pending.caught_up(8, &Store::default());
        assert!(receivers[0].try_recv().is_err(), "not applied that far yet");
        pending.caught_up(9, &Store::default());
        assert_eq!(receivers[0].try_recv(), Ok(Response::Value(None)));
        assert_eq!(receivers[1].try_recv(), Ok(Response::Value(None)));

        let (senders, receivers) = replies(1);
        let context =
            pending.add_reads(vec![("k".to_owned(), senders.into_iter().next().unwrap())]);
        pending.refuse_reads(&context, &Response::NoLeader);
        assert_eq!(receivers[0].try_recv(), Ok(Response::NoLeader));

        let (senders, receivers) = replies(2);
        let _ = pending.add_writes(1, 1, senders);
        pending.leadership_lost();
        for receiver in receivers {
            assert!(matches!(receiver.try_recv(), Ok(Response::Retry(_))));
        }
        assert_eq!(pending.counts(), (0, 0, 0));
    }
}
