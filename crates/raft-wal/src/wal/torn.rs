//! Test support (feature `testing`): the process dies in the middle of a sync, and the
//! batch it was writing reaches the disk in pieces, whole 512-byte sectors in any order
//! (a device persists the sectors of one write independently). The simulator uses it
//! to crash nodes the way a power loss does.

use std::os::unix::fs::FileExt;

use super::*;

/// Bytes of a disk sector: a torn write keeps or loses whole sectors.
const SECTOR_BYTES: u64 = 512;

impl WalLog {
    /// Dies in the middle of the next sync: the batch `sync` would write lands in the
    /// active segment, but only the sectors (of the file's 512-byte grid) for which
    /// `written(sector)` is true; the others read as zeros, and the file ends after the
    /// last sector written. Does nothing (and returns `false`) when nothing is buffered
    /// or the batch would open a new segment; the log is gone either way, as after a
    /// crash. A new term or vote in the batch reaches the `vote` file whole first, as
    /// in a real sync (that file is replaced atomically, so a crash leaves it old or
    /// new).
    ///
    /// # Errors
    /// [`WalError::Io`] when the segment cannot be written.
    pub fn crash_during_sync(
        mut self,
        written: &mut dyn FnMut(u64) -> bool,
    ) -> Result<bool, WalError> {
        let Some(file) = self.active.take() else {
            return Ok(false);
        };
        let full = self
            .segments
            .last()
            .is_none_or(|segment| segment.length >= self.options.segment_bytes_max);
        if self.buffer.is_empty() || full {
            return Ok(false);
        }
        // As `sync` does, a new term or vote reaches its own file first (atomically).
        self.persist_vote()?;
        let batch = self.encode_batch(self.batch_seq + 1);
        let segment = self.segments.last().expect("checked above");
        let start = segment.length;
        let end = start + batch.len() as u64;
        let mut length = start;
        let mut sector = start / SECTOR_BYTES;
        while sector * SECTOR_BYTES < end {
            let from = (sector * SECTOR_BYTES).max(start);
            let to = ((sector + 1) * SECTOR_BYTES).min(end);
            if written(sector) {
                let bytes = &batch[(from - start) as usize..(to - start) as usize];
                file.write_all_at(bytes, from)
                    .map_err(|error| WalError::io(&segment.path, error))?;
                length = to;
            }
            sector += 1;
        }
        // Unwritten sectors before the last written one read as zeros (a file grown
        // past them); after it, the file ends.
        file.set_len(length)
            .map_err(|error| WalError::io(&segment.path, error))?;
        Ok(length > start)
    }
}
