//! Restoring a node from its log: the checks on what storage holds, the configuration
//! history rebuilt from the snapshot and the configuration entries.

use super::*;

impl<L: RaftLog> RaftNode<L> {
    /// A node restored from `log`, with errors returned rather than panicking.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad configuration or an applied index past the
    /// log; [`Error::Storage`] when the log's hard state contradicts its entries.
    #[inline]
    pub fn try_with_log(config: RaftConfig, log: L) -> Result<Self> {
        config.validate()?;
        let hard_state = log.hard_state();
        let last_index = log.last_index();
        if hard_state.commit_index > last_index {
            return Err(Error::storage_of_kind(
                "restoring the node",
                StorageErrorKind::Corrupt,
                alloc::format!(
                    "hard state commit index {} is past the last entry {last_index}",
                    hard_state.commit_index
                ),
            ));
        }
        if hard_state.term > TERM_MAX || last_index > INDEX_MAX {
            return Err(Error::storage_of_kind(
                "restoring the node",
                StorageErrorKind::Corrupt,
                alloc::format!(
                    "term {} or last index {last_index} is past the ceiling 2^63 (a forged \
                     or corrupt message from a version without the ceiling); no election \
                     is possible from there: wipe this node's data and add it back",
                    hard_state.term
                ),
            ));
        }
        if log.last_term() > hard_state.term {
            return Err(Error::storage_of_kind(
                "restoring the node",
                StorageErrorKind::Corrupt,
                alloc::format!(
                    "last entry term {} is past the hard state term {}",
                    log.last_term(),
                    hard_state.term
                ),
            ));
        }
        let applied = config.applied_index();
        if applied > last_index {
            return Err(Error::InvalidConfig {
                field: "applied index",
                reason: alloc::format!("{applied} is past the log's last entry {last_index}"),
            });
        }
        // The snapshot's configuration, then configuration entries in the log, override
        // the initial configuration.
        let snapshot = log.snapshot();
        let snapshot_index = snapshot.as_ref().map_or(0, |snapshot| snapshot.index);
        let base_membership = snapshot.as_ref().map_or_else(
            || config.membership(),
            |snapshot| snapshot.membership.clone(),
        );
        let mut config_log = ConfigLog::new(base_membership, snapshot_index);
        for index in snapshot_index + 1..=last_index {
            let Some(entry) = log.entry(index) else {
                return Err(Error::storage_of_kind(
                    "restoring the node",
                    StorageErrorKind::Corrupt,
                    alloc::format!("entry {index} is missing below the last index {last_index}"),
                ));
            };
            if entry.kind == EntryKind::Config {
                let Some(membership) = Membership::decode(&entry.command) else {
                    return Err(Error::storage_of_kind(
                        "restoring the node",
                        StorageErrorKind::Corrupt,
                        alloc::format!("configuration entry {index} does not decode"),
                    ));
                };
                config_log.push(index, membership);
            }
        }
        let membership = config_log.current().clone();
        // A state machine behind the snapshot restores from it first.
        let (last_applied, pending_restore) = match snapshot {
            Some(snapshot) if applied < snapshot.index => {
                (snapshot.index, Some(alloc::boxed::Box::new(snapshot)))
            }
            _ => (applied, None),
        };
        let pending_reads_max = config.pending_reads_max();
        Ok(Self {
            membership,
            config_log,
            queued_change: None,
            rejoin: None,
            snapshot_receiver: SnapshotReceiver::default(),
            pending_restore,
            timers: Timers::new(
                config.seed(),
                config.election_timeout_ticks(),
                config.heartbeat_interval_ticks(),
            ),
            config,
            log,
            state: State::Follower,
            term: hard_state.term,
            voted_for: hard_state.voted_for,
            leader: None,
            // An application that applied an entry proves it was committed; so does a
            // snapshot.
            commit_index: hard_state.commit_index.max(last_applied),
            last_applied,
            votes: Vec::new(),
            transfer: None,
            reads: ReadOnly::new(pending_reads_max),
            dropped_change: None,
            progress: Vec::new(),
            sync: SyncState::new(hard_state, last_index),
            held: Vec::new(),
            uncommitted: Uncommitted::default(),
            log_fault: None,
            failed: false,
            scratch: Vec::new(),
            reported_match: None,
            arena: CommandArena::default(),
        })
    }
}
