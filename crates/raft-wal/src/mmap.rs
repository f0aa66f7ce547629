//! The one place raft-wal uses `unsafe`: mapping a sealed segment into memory.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use bytes::Bytes;

use crate::error::WalError;

/// Maps a sealed segment read-only and returns it as a `Bytes` that owns the mapping,
/// so entry payloads can be zero-copy slices of it.
pub(crate) fn map_sealed(path: &Path) -> Result<Bytes, WalError> {
    let file = File::open(path).map_err(|error| WalError::io(path, error))?;
    let length = file
        .metadata()
        .map_err(|error| WalError::io(path, error))?
        .len();
    if length == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the mapping is sound as long as nobody modifies or truncates the file
    // while it is mapped. Sealed segments are never written again by this crate: the
    // writer only appends to the newest segment and this file is older than it; the
    // directory lock keeps other raft-wal instances out; removing the file (after
    // compaction) leaves an existing mapping valid on the platforms memmap2 supports.
    // Outside interference with the files is the only way to break it, as with any
    // mmap-based store.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|error| WalError::io(path, error))?;
    Ok(Bytes::from_owner(map))
}
