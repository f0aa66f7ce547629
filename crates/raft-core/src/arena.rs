//! Where a leader keeps the bytes of small proposals: copied into shared chunks, so a
//! proposal costs no allocation of its own.
//!
//! A command proposed as a `Vec<u8>` becomes a [`Bytes`] that the log, every
//! AppendEntries and the [`Action::Apply`](crate::Action::Apply) share. Converting the
//! vector costs nothing, but the first clone of such a `Bytes` allocates a reference
//! count for it: one allocation per entry, which on a busy leader is a tenth of the
//! work per entry. A small command is instead copied into the current chunk (one
//! allocation and one reference count per [`CHUNK_BYTES`]), its vector is freed at once
//! and its memory reused by the next proposal.
//!
//! The price: a chunk is freed when the last command in it is, so an application that
//! keeps one applied command's `Bytes` keeps its chunk alive (at most [`CHUNK_BYTES`]
//! for a command of up to [`COPIED_BYTES_MAX`]). Larger commands are never copied.

use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

/// Commands up to this size are copied into a chunk; larger ones keep their own buffer.
pub(crate) const COPIED_BYTES_MAX: usize = 512;

/// The size of one chunk.
pub(crate) const CHUNK_BYTES: usize = 32 * 1024;

/// The chunk small commands are copied into. Empty (no allocation) until the first
/// small command.
#[derive(Debug, Default)]
pub(crate) struct CommandArena {
    chunk: BytesMut,
}

impl CommandArena {
    /// `command` as shared bytes: copied into the current chunk when small, its own
    /// buffer otherwise. The bytes are the same either way.
    #[inline]
    pub(crate) fn bytes_of(&mut self, command: Vec<u8>) -> Bytes {
        if command.len() > COPIED_BYTES_MAX || command.is_empty() {
            return Bytes::from(command);
        }
        self.copy(&command)
    }

    /// `command` copied into the current chunk when small and unique (its first
    /// clone would allocate a reference count, or it has one that nobody shares);
    /// as it is otherwise (a static or already shared buffer clones for nothing).
    #[inline]
    pub(crate) fn share(&mut self, command: Bytes) -> Bytes {
        if command.len() > COPIED_BYTES_MAX || command.is_empty() || !command.is_unique() {
            return command;
        }
        self.copy(&command)
    }

    /// `command` copied into the current chunk (a new one when it does not fit).
    fn copy(&mut self, command: &[u8]) -> Bytes {
        if self.chunk.capacity() - self.chunk.len() < command.len() {
            // The old chunk is freed when the last command in it is.
            self.chunk = BytesMut::with_capacity(CHUNK_BYTES);
        }
        self.chunk.extend_from_slice(command);
        let bytes = self.chunk.split().freeze();
        debug_assert_eq!(bytes.as_ref(), command);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    // Proves the bytes come back unchanged, small or large, across chunk boundaries,
    // and that earlier commands survive the chunk being replaced.
    #[test]
    fn commands_come_back_unchanged() {
        let mut arena = CommandArena::default();
        let mut kept = Vec::new();
        for round in 0..2_000usize {
            let len = [0, 1, 7, 128, COPIED_BYTES_MAX, COPIED_BYTES_MAX + 1, 4096][round % 7];
            let command: Vec<u8> = (0..len).map(|i| (i + round) as u8).collect();
            let bytes = arena.bytes_of(command.clone());
            assert_eq!(bytes.as_ref(), command.as_slice());
            kept.push((bytes, command));
        }
        for (bytes, command) in &kept {
            assert_eq!(bytes.as_ref(), command.as_slice());
        }
    }

    // Proves a small command does not keep its own buffer (it lies inside the chunk,
    // next to the one before it).
    #[test]
    fn small_commands_share_a_chunk() {
        let mut arena = CommandArena::default();
        let first = arena.bytes_of(vec![1; 100]);
        let second = arena.bytes_of(vec![2; 100]);
        assert_eq!(first.as_ptr().wrapping_add(100), second.as_ptr());
        let large = arena.bytes_of(vec![3; COPIED_BYTES_MAX + 1]);
        let third = arena.bytes_of(vec![4; 10]);
        assert_eq!(second.as_ptr().wrapping_add(100), third.as_ptr());
        assert_eq!(large.len(), COPIED_BYTES_MAX + 1);
        let shared = arena.share(Bytes::from(vec![5; 10]));
        assert_eq!(third.as_ptr().wrapping_add(10), shared.as_ptr());
        let fixed = Bytes::from_static(b"static");
        assert_eq!(arena.share(fixed.clone()).as_ptr(), fixed.as_ptr());
    }
}
