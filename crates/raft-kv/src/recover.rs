//! Quorum-loss recovery (`raft-kv recover --data DIR --new-voters ID,...`): when a
//! majority of the voters is gone for good, rewrite a stopped survivor's configuration
//! offline so the survivors can start again as a smaller cluster.
//!
//! **This can lose acknowledged writes**: an entry the lost majority had committed but
//! this survivor never received is gone. Use it only when the lost nodes will never come
//! back (and never start them again with their old data).
//!
//! What it writes: one configuration entry with exactly the new voters (no learners),
//! at the end of the log, in a term one above the node's current term, and that term as
//! the node's hard state (its vote cleared). On start the node puts the last
//! configuration entry in force, so the new voters elect a leader among themselves and
//! commit everything in that leader's log. Running it on several survivors with the
//! same voter list is safe for the logs: entries it writes at the same index and term are
//! byte for byte the same, and at different indexes or terms the usual conflict
//! resolution keeps the new leader's.

use std::path::Path;

use raft_io::{EntryKind, HardState, LogEntry, Membership, NodeId, RaftLog, TERM_MAX, WalLog};

/// What [`recover`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The configuration in force before (as the log held it).
    pub before: Membership,
    /// The new configuration.
    pub after: Membership,
    /// The index of the configuration entry written.
    pub index: u64,
    /// Its term (the node's new term).
    pub term: u64,
    /// The node's commit index (unchanged): writes above it on the lost nodes are lost.
    pub commit: u64,
}

/// Rewrites the configuration of the stopped node whose data is in `data_dir` to exactly
/// `new_voters`.
///
/// # Errors
/// An empty voter list or id 0, a directory that does not hold a log (it is never
/// created here), a log that cannot be opened or written, a term at the ceiling.
pub fn recover(data_dir: &Path, new_voters: &[NodeId]) -> Result<Recovered, String> {
    if new_voters.is_empty() || new_voters.contains(&0) {
        return Err("--new-voters: at least one node id, each 1 or more".into());
    }
    if !data_dir.is_dir() {
        return Err(format!(
            "{}: no such data directory (recover never creates one)",
            data_dir.display()
        ));
    }
    let mut log = WalLog::open(data_dir)
        .map_err(|error| format!("opening {}: {error}", data_dir.display()))?;
    // A survivor left out of its own new configuration could never serve again: the
    // directory names its node (raft-kv records it on the first start).
    if let Some(owner) = log.owner().map_err(|error| error.to_string())?
        && !new_voters.contains(&owner.node())
    {
        return Err(format!(
            "{} belongs to {owner}, which is not among --new-voters {new_voters:?}: run \
             recover on each survivor with one list that includes every survivor",
            data_dir.display()
        ));
    }
    let before = configuration_in_force(&log);
    let hard = log.hard_state();
    let term = hard
        .term
        .checked_add(1)
        .filter(|&term| term <= TERM_MAX && term > log.last_term())
        .ok_or("the node's term is at the ceiling: nothing can be written above it")?;
    let after = Membership::new(new_voters.iter().copied(), []);
    let index = log.last_index() + 1;
    let entry = LogEntry {
        term,
        index,
        kind: EntryKind::Config,
        command: after.encode().into(),
    };
    log.set_hard_state(HardState {
        term,
        voted_for: None,
        commit_index: hard.commit_index,
    })
    .map_err(|error| format!("writing the hard state: {error}"))?;
    log.append(&[entry])
        .map_err(|error| format!("appending the configuration: {error}"))?;
    log.sync()
        .map_err(|error| format!("syncing {}: {error}", data_dir.display()))?;
    Ok(Recovered {
        before,
        after,
        index,
        term,
        commit: hard.commit_index,
    })
}

/// The last configuration in the log, else the snapshot's; empty for a log that never
/// held one (the node's `--voters` on the command line was in force).
fn configuration_in_force(log: &WalLog) -> Membership {
    let first = log.snapshot_index() + 1;
    (first..=log.last_index())
        .rev()
        .filter_map(|index| log.entry(index))
        .find(|entry| entry.kind == EntryKind::Config)
        .and_then(|entry| Membership::decode(&entry.command))
        .or_else(|| log.snapshot().map(|snapshot| snapshot.membership))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_io::DirOwner;

    // Proves the rewrite: a configuration entry with exactly the new voters, one term
    // up, vote cleared, commit kept; refusals for bad input leave the log untouched.
    #[test]
    fn rewrites_the_configuration_one_term_up() {
        let dir = crate::local::temp_dir("recover-unit").unwrap();
        let data = dir.join("node");
        {
            let mut log = WalLog::open(&data).unwrap();
            log.set_hard_state(HardState {
                term: 3,
                voted_for: Some(2),
                commit_index: 1,
            })
            .unwrap();
            log.append(&[LogEntry::noop(3, 1), LogEntry::noop(3, 2)])
                .unwrap();
            log.sync().unwrap();
        }
        assert!(recover(&data, &[]).is_err());
        assert!(recover(&data, &[0]).is_err());
        assert!(recover(&dir.join("missing"), &[3]).is_err());
        assert!(!dir.join("missing").exists());
        // The directory belongs to node 3: a list without it is refused, untouched.
        let mut log = WalLog::open(&data).unwrap();
        let _ = log.claim(&DirOwner::new("raft-kv", 3).unwrap()).unwrap();
        drop(log);
        let refused = recover(&data, &[1, 2]).unwrap_err();
        assert!(refused.contains("node 3 of cluster raft-kv"), "{refused}");
        assert_eq!(WalLog::open(&data).unwrap().last_index(), 2);
        let done = recover(&data, &[3]).unwrap();
        assert_eq!((done.index, done.term, done.commit), (3, 4, 1));
        assert_eq!(done.after, Membership::new([3], []));
        let log = WalLog::open(&data).unwrap();
        assert_eq!(
            log.hard_state(),
            HardState {
                term: 4,
                voted_for: None,
                commit_index: 1
            }
        );
        let entry = log.entry(3).unwrap();
        assert_eq!(
            Membership::decode(&entry.command),
            Some(Membership::new([3], []))
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
