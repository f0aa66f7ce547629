//! A follower's reassembly of a snapshot that arrives in chunks: in order, from offset
//! 0, at most `snapshot_bytes_max` bytes; a lost, duplicated or out-of-order chunk is
//! answered with the offset to resume from.

use alloc::vec::Vec;

use bytes::Bytes;

use crate::membership::Membership;
use crate::message::InstallSnapshot;
use crate::types::{Index, Snapshot, Term};

/// What one chunk did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Taken; `received` bytes so far, more to come.
    Accepted { received: u64 },
    /// The last chunk: the whole snapshot.
    Complete(Snapshot),
    /// Not the chunk expected: the leader should resume at `offset`.
    Resume { offset: u64 },
    /// It would pass the byte cap: the transfer is dropped.
    TooLarge,
}

#[derive(Clone, Debug)]
struct Incoming {
    index: Index,
    term: Term,
    membership: Membership,
    data: Vec<u8>,
}

/// The snapshot being received, if any.
#[derive(Clone, Debug, Default)]
pub(crate) struct SnapshotReceiver {
    // Invariant: data.len() <= the cap the chunks were checked against.
    // (Boxed: a node keeps a receiver whether or not it ever receives a snapshot.)
    incoming: Option<alloc::boxed::Box<Incoming>>,
}

impl SnapshotReceiver {
    /// Takes one chunk. A chunk at offset 0 starts the snapshot it names over.
    pub(crate) fn receive(&mut self, chunk: &InstallSnapshot, bytes_max: u64) -> Chunk {
        if chunk.offset == 0 {
            self.incoming = Some(alloc::boxed::Box::new(Incoming {
                index: chunk.last_included_index,
                term: chunk.last_included_term,
                membership: chunk.membership.clone(),
                data: Vec::new(),
            }));
        }
        let same = |incoming: &Incoming| {
            incoming.index == chunk.last_included_index && incoming.term == chunk.last_included_term
        };
        let Some(incoming) = self
            .incoming
            .as_mut()
            .filter(|incoming| same(incoming) && incoming.data.len() as u64 == chunk.offset)
        else {
            let offset = self
                .incoming
                .as_ref()
                .filter(|incoming| same(incoming))
                .map_or(0, |incoming| incoming.data.len() as u64);
            return Chunk::Resume { offset };
        };
        let fits = (incoming.data.len() as u64)
            .checked_add(chunk.data.len() as u64)
            .is_some_and(|total| total <= bytes_max);
        if !fits {
            // The buffer is freed; the next offset-0 chunk starts over.
            self.incoming = None;
            return Chunk::TooLarge;
        }
        incoming.data.extend_from_slice(&chunk.data);
        if !chunk.done {
            return Chunk::Accepted {
                received: incoming.data.len() as u64,
            };
        }
        let Some(incoming) = self.incoming.take() else {
            return Chunk::Resume { offset: 0 };
        };
        Chunk::Complete(Snapshot {
            index: incoming.index,
            term: incoming.term,
            membership: incoming.membership,
            data: Bytes::from(incoming.data),
        })
    }

    /// Bytes held for the snapshot under way.
    #[cfg(test)]
    fn buffered(&self) -> usize {
        self.incoming
            .as_ref()
            .map_or(0, |incoming| incoming.data.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(index: Index, offset: u64, data: &'static [u8], done: bool) -> InstallSnapshot {
        InstallSnapshot {
            term: 3,
            leader: 2,
            last_included_index: index,
            last_included_term: 2,
            membership: Membership::new([1, 2, 3], []),
            offset,
            data: Bytes::from_static(data),
            done,
        }
    }

    // Proves chunks in order reassemble the snapshot.
    #[test]
    fn chunks_in_order_reassemble() {
        let mut receiver = SnapshotReceiver::default();
        assert_eq!(
            receiver.receive(&chunk(10, 0, b"abc", false), 100),
            Chunk::Accepted { received: 3 }
        );
        match receiver.receive(&chunk(10, 3, b"de", true), 100) {
            Chunk::Complete(snapshot) => {
                assert_eq!((snapshot.index, snapshot.term), (10, 2));
                assert_eq!(&snapshot.data[..], b"abcde");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(receiver.buffered(), 0);
    }

    // Proves a lost, duplicated or foreign chunk is answered with where to resume.
    #[test]
    fn out_of_order_chunks_say_where_to_resume() {
        let mut receiver = SnapshotReceiver::default();
        let _ = receiver.receive(&chunk(10, 0, b"abc", false), 100);
        assert_eq!(
            receiver.receive(&chunk(10, 7, b"zz", false), 100),
            Chunk::Resume { offset: 3 }
        );
        assert_eq!(
            receiver.receive(&chunk(10, 0, b"abc", false), 100),
            Chunk::Accepted { received: 3 },
            "offset 0 starts over"
        );
        assert_eq!(
            receiver.receive(&chunk(11, 3, b"de", true), 100),
            Chunk::Resume { offset: 0 },
            "another snapshot from the middle"
        );
        assert_eq!(
            SnapshotReceiver::default().receive(&chunk(10, 5, b"x", true), 100),
            Chunk::Resume { offset: 0 }
        );
    }

    // Proves the buffer never passes the cap: the chunk that would is refused and the
    // transfer dropped.
    #[test]
    fn the_byte_cap_drops_the_transfer() {
        let mut receiver = SnapshotReceiver::default();
        let _ = receiver.receive(&chunk(10, 0, b"abcd", false), 6);
        assert_eq!(
            receiver.receive(&chunk(10, 4, b"efg", true), 6),
            Chunk::TooLarge
        );
        assert_eq!(receiver.buffered(), 0);
        assert_eq!(
            receiver.receive(&chunk(10, 4, b"ef", true), 6),
            Chunk::Resume { offset: 0 }
        );
    }
}
