//! `RunStats`: what a run did, summed over seeds by `raft-sim sim`.

use raft_core::Index;

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Events processed.
    pub events: u64,
    /// Messages delivered (after loss).
    pub messages: u64,
    /// Client operations that completed.
    pub operations: u64,
    /// Highest commit index reached.
    pub commit_index: Index,
    /// Crashes injected.
    pub crashes: u64,
    /// Leaders elected (distinct terms with a leader).
    pub elections: u64,
    /// Crashes that also damaged the disk (synced entries lost).
    pub disk_damages: u64,
    /// Damaged nodes repaired by a leader (each clears its repair mark).
    pub repairs: u64,
    /// The longest repair, in ticks from the restart to the repair mark's clearing.
    pub repair_ticks_max: u64,
    /// Damaged WalLogs refused because their newest term and vote are unknown (a
    /// damaged `vote` file): the node is started on an empty directory as a new
    /// incarnation, as an operator would (counted in `wipes` too).
    pub disk_refusals: u64,
    /// Crashes in the middle of a sync that tore the batch being written (with the
    /// `disk` fault).
    pub torn_writes: u64,
    /// Crashes that wiped the node's storage (with the `disk` fault): it restarts
    /// empty as a new incarnation.
    pub wipes: u64,
    /// Wiped nodes named again by a committed configuration (rule 2), and the longest
    /// time that took, in ticks from the crash.
    pub rejoins: u64,
    /// See `rejoins`.
    pub rejoin_ticks_max: u64,
}
