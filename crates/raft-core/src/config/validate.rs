//! Checking a configuration's values before a node runs with them.

use alloc::string::String;

use super::RaftConfig;
use crate::error::{Error, Result};

impl RaftConfig {
    /// Checks every value once.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first setting out of range.
    pub fn validate(&self) -> Result<()> {
        fn invalid(field: &'static str, reason: String) -> Result<()> {
            Err(Error::InvalidConfig { field, reason })
        }
        let (min, max) = self.election_timeout_ticks();
        if min == 0 {
            return invalid("election timeout", "minimum must be at least 1 tick".into());
        }
        if max < min {
            return invalid(
                "election timeout",
                alloc::format!("maximum {max} is below minimum {min}"),
            );
        }
        if self.heartbeat_interval_ticks == 0 {
            return invalid("heartbeat interval", "must be at least 1 tick".into());
        }
        if self.heartbeat_interval_ticks >= min {
            return invalid(
                "heartbeat interval",
                alloc::format!(
                    "{} ticks must be below the minimum election timeout {min}",
                    self.heartbeat_interval_ticks
                ),
            );
        }
        if self.append_entries_max == 0 {
            return invalid("append entries max", "must be at least 1".into());
        }
        if self.append_bytes_max == 0 {
            return invalid("append bytes max", "must be at least 1".into());
        }
        if self.inflight_appends_max == 0 {
            return invalid("inflight appends max", "must be at least 1".into());
        }
        if self.snapshot_chunk_bytes_max == 0 {
            return invalid("snapshot chunk bytes max", "must be at least 1".into());
        }
        if let Some(bytes) = self.entry_bytes_max {
            if bytes == 0 {
                return invalid("entry bytes max", "must be at least 1".into());
            }
            if bytes > self.append_bytes_max {
                return invalid(
                    "entry bytes max",
                    alloc::format!(
                        "{bytes} is above the append bytes max {}: such an entry would not fit one AppendEntries",
                        self.append_bytes_max
                    ),
                );
            }
        }
        if self.pending_reads_max == 0 {
            return invalid("pending reads max", "must be at least 1".into());
        }
        if self.snapshot_bytes_max == 0 {
            return invalid("snapshot bytes max", "must be at least 1".into());
        }
        if let Some(drift) = self.lease_read_drift_ticks {
            if !self.check_quorum {
                return invalid("lease reads", "need check-quorum on".into());
            }
            if drift >= min {
                return invalid(
                    "lease reads",
                    alloc::format!(
                        "drift margin {drift} leaves no lease below the election timeout {min}"
                    ),
                );
            }
        }
        Ok(())
    }
}
