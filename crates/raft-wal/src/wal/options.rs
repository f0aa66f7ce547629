//! `WalOptions`: segment size, record limit, sync behaviour.

use super::*;

/// Tuning for a [`WalLog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment that has reached this size is sealed before the next write; the
    /// write goes to a new segment. At least 4 KiB.
    pub segment_bytes_max: u64,
    /// The largest record (an entry's command plus 18 bytes) written or accepted on
    /// recovery. Between 64 bytes and 1 GiB.
    pub record_bytes_max: usize,
    /// Flush to the device on `sync` (`fdatasync`, plus a directory fsync when segments
    /// come and go). Turn off only for tests and simulations: writes then survive a
    /// process crash (they are in the page cache) but not a machine crash.
    pub fsync: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_bytes_max: 64 << 20,
            record_bytes_max: 64 << 20,
            fsync: true,
        }
    }
}

impl WalOptions {
    pub(super) fn validate(&self) -> Result<(), WalError> {
        if self.segment_bytes_max < 4096 {
            return Err(WalError::InvalidOption(format!(
                "segment_bytes_max {} is below 4096",
                self.segment_bytes_max
            )));
        }
        if !(64..=1 << 30).contains(&self.record_bytes_max) {
            return Err(WalError::InvalidOption(format!(
                "record_bytes_max {} is outside 64..=1073741824",
                self.record_bytes_max
            )));
        }
        Ok(())
    }
}
