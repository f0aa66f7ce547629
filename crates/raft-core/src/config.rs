//! Configuration of one node.

use alloc::vec::Vec;

use crate::types::{Index, NodeId};

mod validate;

/// Configuration for a single [`RaftNode`](crate::RaftNode).
///
/// Built with [`RaftConfig::new`] or [`RaftConfig::single`] and tuned with the `with_*`
/// methods. Values are kept as given and checked once by [`RaftConfig::validate`]
/// (which [`RaftNode::try_new`](crate::RaftNode::try_new) calls): nothing is silently
/// clamped.
///
/// ```
/// use raft_core::RaftConfig;
/// let config = RaftConfig::new(1, [2, 3])
///     .with_election_timeout(10, 20)
///     .with_heartbeat_interval(2)
///     .with_seed(42);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.voters(), &[1, 2, 3]);
///
/// let bad = RaftConfig::single(1).with_election_timeout(5, 4);
/// assert!(bad.validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    id: NodeId,
    /// The other voters, sorted, then every voter of the initial configuration,
    /// sorted: one allocation for both lists.
    ids: Vec<NodeId>,
    /// How many of `ids` are the other voters.
    peer_count: usize,
    learners: Vec<NodeId>,
    election_timeout_ticks_min: u32,
    election_timeout_ticks_max: u32,
    heartbeat_interval_ticks: u32,
    pre_vote: bool,
    check_quorum: bool,
    append_entries_max: usize,
    append_bytes_max: usize,
    inflight_appends_max: usize,
    applied_index: Index,
    lease_read_drift_ticks: Option<u32>,
    snapshot_chunk_bytes_max: usize,
    deferred_leader_sync: bool,
    async_persistence: bool,
    uncommitted_bytes_max: u64,
    append_coalescing: bool,
    follower_reads: bool,
    entry_bytes_max: Option<usize>,
    pending_reads_max: usize,
    snapshot_bytes_max: u64,
    seed: u64,
    #[cfg(feature = "mutants")]
    mutant: Option<crate::mutants::Mutant>,
}

/// SplitMix64's finaliser: spreads a node id over the whole seed space so that
/// neighbouring ids draw unrelated timeouts.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RaftConfig {
    /// Default inclusive range of the randomised election timeout, in ticks.
    pub const ELECTION_TIMEOUT_TICKS_DEFAULT: (u32, u32) = (10, 20);
    /// Default number of ticks between leader heartbeats.
    pub const HEARTBEAT_INTERVAL_TICKS_DEFAULT: u32 = 3;
    /// Default cap on entries per AppendEntries.
    pub const APPEND_ENTRIES_MAX_DEFAULT: usize = 1024;
    /// Default cap on payload bytes per AppendEntries.
    pub const APPEND_BYTES_MAX_DEFAULT: usize = 1 << 20;
    /// Default size of one InstallSnapshot chunk.
    pub const SNAPSHOT_CHUNK_BYTES_MAX_DEFAULT: usize = 1 << 20;
    /// Default cap on unacknowledged AppendEntries per follower.
    pub const INFLIGHT_APPENDS_MAX_DEFAULT: usize = 64;
    /// Default cap on the reads a leader holds while they wait for a confirmation round
    /// or for its commit index to become current.
    pub const PENDING_READS_MAX_DEFAULT: usize = 4096;
    /// Default cap on the bytes of proposals a leader holds uncommitted: 64 MiB.
    pub const UNCOMMITTED_BYTES_MAX_DEFAULT: u64 = 64 << 20;
    /// Default cap on the size of a snapshot a follower receives: 4 GiB.
    pub const SNAPSHOT_BYTES_MAX_DEFAULT: u64 = 4 << 30;

    /// A node `id` in a cluster whose other voters are `peers`. `id` is dropped from
    /// `peers` if present and duplicates are removed.
    pub fn new(id: NodeId, peers: impl IntoIterator<Item = NodeId>) -> Self {
        let peers = peers.into_iter();
        let (lower, upper) = peers.size_hint();
        // (Room for both lists of a usual cluster at once; a longer list grows.)
        let mut ids: Vec<NodeId> = Vec::with_capacity(2 * upper.unwrap_or(lower).min(16) + 1);
        ids.extend(peers.filter(|&p| p != id));
        ids.sort_unstable();
        ids.dedup();
        let peer_count = ids.len();
        ids.extend_from_within(..);
        ids.push(id);
        ids[peer_count..].sort_unstable();
        let (min, max) = Self::ELECTION_TIMEOUT_TICKS_DEFAULT;
        Self {
            id,
            ids,
            peer_count,
            learners: Vec::new(),
            election_timeout_ticks_min: min,
            election_timeout_ticks_max: max,
            heartbeat_interval_ticks: Self::HEARTBEAT_INTERVAL_TICKS_DEFAULT,
            pre_vote: true,
            check_quorum: true,
            append_entries_max: Self::APPEND_ENTRIES_MAX_DEFAULT,
            append_bytes_max: Self::APPEND_BYTES_MAX_DEFAULT,
            inflight_appends_max: Self::INFLIGHT_APPENDS_MAX_DEFAULT,
            applied_index: 0,
            lease_read_drift_ticks: None,
            snapshot_chunk_bytes_max: Self::SNAPSHOT_CHUNK_BYTES_MAX_DEFAULT,
            deferred_leader_sync: false,
            async_persistence: false,
            uncommitted_bytes_max: Self::UNCOMMITTED_BYTES_MAX_DEFAULT,
            append_coalescing: true,
            follower_reads: false,
            entry_bytes_max: None,
            pending_reads_max: Self::PENDING_READS_MAX_DEFAULT,
            snapshot_bytes_max: Self::SNAPSHOT_BYTES_MAX_DEFAULT,
            seed: mix64(id ^ 0x5241_4654_494f_0001),
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    /// A node joining an existing cluster whose voters are `voters`: it starts as a
    /// learner (it never campaigns) until a configuration entry makes it a voter. The
    /// leader adds it with [`MembershipChange::AddLearner`](crate::MembershipChange).
    pub fn learner(id: NodeId, voters: impl IntoIterator<Item = NodeId>) -> Self {
        let mut config = Self::new(id, voters);
        // The voters are the other nodes: the peers, once more.
        config.ids.truncate(config.peer_count);
        config.ids.extend_from_within(..);
        config.learners = alloc::vec![id];
        config
    }

    /// A node with no peers: a cluster of one, which is its own quorum.
    pub fn single(id: NodeId) -> Self {
        Self::new(id, [])
    }

    /// Sets the randomised election timeout range `[min, max]` in ticks (inclusive).
    /// Valid when `1 <= min <= max` and `min > heartbeat interval`.
    pub fn with_election_timeout(mut self, min: u32, max: u32) -> Self {
        self.election_timeout_ticks_min = min;
        self.election_timeout_ticks_max = max;
        self
    }

    /// Sets the ticks between leader heartbeats. Valid when at least 1 and below the
    /// minimum election timeout.
    pub fn with_heartbeat_interval(mut self, interval: u32) -> Self {
        self.heartbeat_interval_ticks = interval;
        self
    }

    /// Turns the pre-vote round (Raft thesis §9.6) on or off. On by default: a node
    /// rejoining after a partition then cannot force a leader to step down.
    pub fn with_pre_vote(mut self, enabled: bool) -> Self {
        self.pre_vote = enabled;
        self
    }

    /// Turns check-quorum on or off. On by default: a leader that has not heard from a
    /// quorum within an election timeout steps down instead of accepting proposals it
    /// can never commit.
    pub fn with_check_quorum(mut self, enabled: bool) -> Self {
        self.check_quorum = enabled;
        self
    }

    /// Caps the entries carried by one AppendEntries (at least 1).
    pub fn with_append_entries_max(mut self, entries: usize) -> Self {
        self.append_entries_max = entries;
        self
    }

    /// The 0.8 name of [`RaftConfig::with_append_entries_max`].
    pub fn with_max_batch(self, max_batch: usize) -> Self {
        self.with_append_entries_max(max_batch)
    }

    /// Caps the command bytes carried by one AppendEntries (at least 1). One entry is
    /// always sent even if it alone is larger, so progress never stalls.
    pub fn with_append_bytes_max(mut self, bytes: usize) -> Self {
        self.append_bytes_max = bytes;
        self
    }

    /// Caps the size of one proposed command (at least 1, at most the
    /// [append bytes cap](RaftConfig::with_append_bytes_max), which is the default).
    ///
    /// A proposal with a larger command is refused with
    /// [`Error::EntryTooLarge`](crate::Error::EntryTooLarge) before anything is
    /// appended, so every entry fits one AppendEntries and a transport whose frame
    /// limit admits `append_bytes_max` (plus the message's few dozen bytes of framing)
    /// can always carry it: an entry that cannot be sent never holds up replication.
    pub fn with_entry_bytes_max(mut self, bytes: usize) -> Self {
        self.entry_bytes_max = Some(bytes);
        self
    }

    /// Caps the bytes of proposals a leader holds appended but not committed in its
    /// term (etcd's `MaxUncommittedEntriesSize`; default
    /// [`RaftConfig::UNCOMMITTED_BYTES_MAX_DEFAULT`]). A proposal past it is refused
    /// with [`Error::LimitExceeded`](crate::Error::LimitExceeded), which is retryable,
    /// and nothing is appended; a leader with nothing uncommitted takes one batch
    /// whatever its size. So a slow disk or a slow majority cannot make a leader's
    /// memory grow without limit. `u64::MAX`: no limit.
    pub fn with_uncommitted_bytes_max(mut self, bytes: u64) -> Self {
        self.uncommitted_bytes_max = bytes;
        self
    }

    /// Caps the reads a leader holds at once (at least 1): those waiting for a
    /// confirmation round and those waiting for an entry of its term to commit. A
    /// [`Event::ReadIndex`](crate::Event::ReadIndex) past it is refused with
    /// [`Error::LimitExceeded`](crate::Error::LimitExceeded), which is retryable.
    pub fn with_pending_reads_max(mut self, reads: usize) -> Self {
        self.pending_reads_max = reads;
        self
    }

    /// Caps the size of a snapshot a follower will receive (at least 1). A chunk that
    /// would pass it abandons the transfer and is refused with
    /// [`Error::LimitExceeded`](crate::Error::LimitExceeded); the buffer never grows past
    /// this, whatever a leader sends.
    pub fn with_snapshot_bytes_max(mut self, bytes: u64) -> Self {
        self.snapshot_bytes_max = bytes;
        self
    }

    /// Caps the unacknowledged AppendEntries in flight to one follower (at least 1).
    /// Together with the entry and byte caps this bounds what a lagging follower costs.
    pub fn with_inflight_appends_max(mut self, appends: usize) -> Self {
        self.inflight_appends_max = appends;
        self
    }

    /// Declares that the application's state machine already holds every entry up to
    /// `index` (because it is durable itself), so a node restored from its log starts
    /// applying after it. Default 0: every committed entry is applied again.
    pub fn with_applied_index(mut self, index: Index) -> Self {
        self.applied_index = index;
        self
    }

    /// Turns on lease reads: while a quorum confirmed this leader less than
    /// `min election timeout - clock_drift_ticks` ticks ago,
    /// [`Event::ReadIndex`](crate::Event::ReadIndex) is answered at once instead of after
    /// a round of messages. Sound only if no node's clock runs faster than that margin
    /// allows and every node of the cluster has lease reads on (a node that starts then
    /// waits out one election timeout before voting); needs check-quorum; suspended
    /// during a leadership transfer. Off by default.
    ///
    /// The lease is counted in ticks, so the driver must step a tick for every tick
    /// period that passed: a process that stalls (a GC pause, SIGSTOP, a stuck disk)
    /// and then skips the ticks it missed would still trust a lease that expired in
    /// real time. Drivers that drop missed ticks should use ReadIndex rounds instead.
    pub fn with_lease_reads(mut self, clock_drift_ticks: u32) -> Self {
        self.lease_read_drift_ticks = Some(clock_drift_ticks);
        self
    }

    /// Caps the bytes of snapshot data carried by one InstallSnapshot (at least 1): a
    /// large snapshot travels as many chunks, one at a time.
    pub fn with_snapshot_chunk_bytes_max(mut self, bytes: usize) -> Self {
        self.snapshot_chunk_bytes_max = bytes;
        self
    }

    /// Coalesces proposals per follower (on by default): a proposal reaching a
    /// follower that already has four AppendEntries with entries in flight waits for
    /// that follower's answer (or the next heartbeat) and then travels with every
    /// entry proposed meanwhile, in one AppendEntries. Under load this turns one
    /// message per proposal per follower (and one follower sync each) into about one
    /// per round trip; a follower a few messages behind still gets each new entry at
    /// once, so a commit still waits only for the faster followers. The price is
    /// that a proposal in a burst may leave up to one round trip later. Off: every proposal step sends its own AppendEntries, pipelined up to
    /// [`RaftConfig::with_inflight_appends_max`]. Catch-up after a lag pipelines
    /// either way, and a step proposing several commands (`ProposeBatch`) always
    /// shares one append.
    pub fn with_append_coalescing(mut self, enabled: bool) -> Self {
        self.append_coalescing = enabled;
        self
    }

    /// Lets a follower take linearizable reads (off by default: a follower refuses
    /// [`Event::ReadIndex`](crate::Event::ReadIndex) with
    /// [`Error::NotLeader`](crate::Error::NotLeader) and the leader's id). On, a follower
    /// that knows its leader forwards the read ([`ReadIndexRequest`](crate::ReadIndexRequest));
    /// the leader confirms its leadership as for its own reads and answers with its
    /// commit index; the follower releases [`Action::ReadReady`](crate::Action::ReadReady)
    /// with that index, and the read is linearizable once the follower has applied it.
    /// Reads so forwarded are dropped ([`Action::ReadDropped`](crate::Action::ReadDropped))
    /// when the follower's leader changes, or when no answer came within the maximum
    /// election timeout (a leader refuses reads from a node it removed). Spreads read load over the cluster at the
    /// price of one round trip to the leader per batch of reads.
    #[must_use]
    pub fn with_follower_reads(mut self, enabled: bool) -> Self {
        self.follower_reads = enabled;
        self
    }

    /// Whether followers take reads (see [`RaftConfig::with_follower_reads`]).
    pub fn follower_reads(&self) -> bool {
        self.follower_reads
    }

    /// Feature `mutants`: switches on one classic protocol bug, so a simulation can show
    /// its checker catches it. Never in a real node.
    #[cfg(feature = "mutants")]
    #[cfg_attr(docsrs, doc(cfg(feature = "mutants")))]
    #[must_use]
    pub fn with_mutant(mut self, mutant: Option<crate::mutants::Mutant>) -> Self {
        self.mutant = mutant;
        self
    }

    /// The mutant switched on (always `None` without feature `mutants`).
    #[inline(always)]
    pub(crate) fn mutant(&self) -> Option<crate::mutants::Mutant> {
        #[cfg(feature = "mutants")]
        let mutant = self.mutant;
        #[cfg(not(feature = "mutants"))]
        let mutant = None;
        mutant
    }

    /// Lets a leader replicate new proposals before its own log is synced (Raft thesis
    /// §10.2.1), so its fsync overlaps the followers' instead of preceding them.
    ///
    /// A step whose only unsynced writes are a leader's appended proposals then
    /// returns its AppendEntries first and [`Action::SyncLog`](crate::Action::SyncLog)
    /// after them instead of syncing; the driver hands the messages to the network
    /// and then steps [`Event::SyncLog`](crate::Event::SyncLog), which syncs and only
    /// then counts the leader's own copy towards commitment. Everything else (terms,
    /// votes, truncations, snapshots, a follower's entries, a no-op or configuration
    /// entry) is still synced before the step returns, and a node that stops leading
    /// syncs before it answers anyone. A driver that never steps `SyncLog` still makes
    /// progress: the next tick syncs. Off by default.
    pub fn with_deferred_leader_sync(mut self, enabled: bool) -> Self {
        self.deferred_leader_sync = enabled;
        self
    }

    /// Lets every role end a step with writes not yet durable (etcd's
    /// `AsyncStorageWrites`, raft-rs's async ready), so a driver can step many inbound
    /// messages and sync once. Implies [`RaftConfig::with_deferred_leader_sync`].
    ///
    /// A step that wrote something a reply depends on (term, vote, entries, a
    /// truncation) holds every message it would send and returns
    /// [`Action::SyncLog`](crate::Action::SyncLog); later steps' messages queue behind.
    /// [`Event::SyncLog`](crate::Event::SyncLog) syncs and returns the held messages
    /// first, in order: nothing leaves before what it depends on is durable. Commands
    /// are applied up to the durable index; snapshots still sync in their step; the
    /// next tick syncs for a driver that never steps `SyncLog`. Off by default.
    ///
    /// ```
    /// use raft_core::{Action, Event, RaftConfig, RaftNode};
    /// let config = RaftConfig::new(1, [1, 2, 3])
    ///     .with_pre_vote(false)
    ///     .with_async_persistence(true);
    /// let mut node = RaftNode::new(config);
    /// // A candidate's vote for itself is a write: its vote requests wait for the sync.
    /// let mut actions = Vec::new();
    /// while !actions.contains(&Action::SyncLog) {
    ///     actions = node.step(Event::Tick).unwrap();
    /// }
    /// assert!(!actions.iter().any(|action| matches!(action, Action::Send { .. })));
    /// let released = node.step(Event::SyncLog).unwrap();
    /// assert!(released.iter().any(|action| matches!(action, Action::Send { .. })));
    /// ```
    pub fn with_async_persistence(mut self, enabled: bool) -> Self {
        self.async_persistence = enabled;
        if enabled {
            self.deferred_leader_sync = true;
        }
        self
    }

    /// Seeds the election-timeout PRNG. Same seed, same events: same actions.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Seeds the election-timeout PRNG from the operating system's per-process
    /// randomness, so that restarts and separate clusters do not draw the same
    /// timeouts. Read the chosen seed back with [`RaftConfig::seed`] to replay a run.
    #[cfg(feature = "std")]
    pub fn with_random_seed(self) -> Self {
        use core::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(self.id);
        let seed = hasher.finish();
        self.with_seed(seed)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The other voters, sorted.
    pub fn peers(&self) -> &[NodeId] {
        &self.ids[..self.peer_count]
    }

    /// Every voter of the initial configuration, this node included unless it starts
    /// as a learner, sorted.
    pub fn voters(&self) -> &[NodeId] {
        &self.ids[self.peer_count..]
    }

    /// The initial membership: voters and learners.
    pub fn membership(&self) -> crate::Membership {
        crate::Membership::from_sorted(self.voters(), &self.learners)
    }

    /// The election timeout range `(min, max)` in ticks, inclusive.
    pub fn election_timeout_ticks(&self) -> (u32, u32) {
        (
            self.election_timeout_ticks_min,
            self.election_timeout_ticks_max,
        )
    }

    /// The election timeout range `(min, max)` in ticks, inclusive.
    #[deprecated(
        since = "0.9.0",
        note = "named with its unit: `election_timeout_ticks`"
    )]
    pub fn election_timeout(&self) -> (u32, u32) {
        self.election_timeout_ticks()
    }

    /// Ticks between leader heartbeats.
    pub fn heartbeat_interval_ticks(&self) -> u32 {
        self.heartbeat_interval_ticks
    }

    /// Ticks between leader heartbeats.
    #[deprecated(
        since = "0.9.0",
        note = "named with its unit: `heartbeat_interval_ticks`"
    )]
    pub fn heartbeat_interval(&self) -> u32 {
        self.heartbeat_interval_ticks()
    }

    /// Whether pre-vote is on.
    pub fn pre_vote(&self) -> bool {
        self.pre_vote
    }

    /// Whether check-quorum is on.
    pub fn check_quorum(&self) -> bool {
        self.check_quorum
    }

    /// Maximum entries per AppendEntries.
    pub fn append_entries_max(&self) -> usize {
        self.append_entries_max
    }

    /// Maximum command bytes per AppendEntries.
    pub fn append_bytes_max(&self) -> usize {
        self.append_bytes_max
    }

    /// Maximum size of one proposed command: the value set with
    /// [`RaftConfig::with_entry_bytes_max`], else [`RaftConfig::append_bytes_max`].
    pub fn entry_bytes_max(&self) -> usize {
        self.entry_bytes_max.unwrap_or(self.append_bytes_max)
    }

    /// Maximum bytes of proposals a leader holds uncommitted.
    pub fn uncommitted_bytes_max(&self) -> u64 {
        self.uncommitted_bytes_max
    }

    /// Whether every role may end a step with writes not yet durable
    /// ([`RaftConfig::with_async_persistence`]).
    pub fn async_persistence(&self) -> bool {
        self.async_persistence
    }

    /// Maximum reads a leader holds at once.
    pub fn pending_reads_max(&self) -> usize {
        self.pending_reads_max
    }

    /// Maximum size of a snapshot this node receives.
    pub fn snapshot_bytes_max(&self) -> u64 {
        self.snapshot_bytes_max
    }

    /// Maximum unacknowledged AppendEntries per follower.
    pub fn inflight_appends_max(&self) -> usize {
        self.inflight_appends_max
    }

    /// The index the application has already applied on restart.
    pub fn applied_index(&self) -> Index {
        self.applied_index
    }

    /// Maximum snapshot bytes per InstallSnapshot.
    pub fn snapshot_chunk_bytes_max(&self) -> usize {
        self.snapshot_chunk_bytes_max
    }

    /// The lease-read clock-drift margin in ticks, when lease reads are on.
    pub fn lease_read_drift_ticks(&self) -> Option<u32> {
        self.lease_read_drift_ticks
    }

    /// The lease-read clock-drift margin in ticks, when lease reads are on.
    #[deprecated(
        since = "0.9.0",
        note = "named with its unit: `lease_read_drift_ticks`"
    )]
    pub fn lease_reads(&self) -> Option<u32> {
        self.lease_read_drift_ticks()
    }

    /// Whether a leader may replicate proposals before syncing them
    /// ([`RaftConfig::with_deferred_leader_sync`]).
    pub fn deferred_leader_sync(&self) -> bool {
        self.deferred_leader_sync
    }

    /// Whether a leader coalesces proposals per follower
    /// ([`RaftConfig::with_append_coalescing`]).
    pub fn append_coalescing(&self) -> bool {
        self.append_coalescing
    }

    /// The election-timeout PRNG seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    // Proves peers are normalised: self removed, sorted, deduplicated.
    #[test]
    fn new_normalises_peers() {
        let config = RaftConfig::new(2, [3, 2, 1, 3]);
        assert_eq!(config.peers(), &[1, 3]);
        assert_eq!(config.voters(), &[1, 2, 3]);
        let config = RaftConfig::new(9, (1..=40).rev().chain([9, 9]));
        assert_eq!(
            config.peers(),
            (1..=40).filter(|&p| p != 9).collect::<Vec<_>>()
        );
        assert_eq!(config.voters(), (1..=40).collect::<Vec<_>>());
        let single = RaftConfig::single(5);
        assert!(single.peers().is_empty());
        assert_eq!(single.voters(), &[5]);
        let learner = RaftConfig::learner(4, [3, 1, 2, 4]);
        assert_eq!(learner.peers(), &[1, 2, 3]);
        assert_eq!(learner.voters(), &[1, 2, 3]);
        assert_eq!(learner.membership().learners(), &[4]);
    }

    // Proves every out-of-range value is rejected with the field it concerns.
    #[test]
    fn validate_rejects_each_bad_value() {
        let base = RaftConfig::single(1);
        assert!(base.validate().is_ok());
        let cases = [
            (base.clone().with_election_timeout(0, 5), "election timeout"),
            (base.clone().with_election_timeout(9, 8), "election timeout"),
            (
                base.clone().with_heartbeat_interval(0),
                "heartbeat interval",
            ),
            (
                base.clone().with_heartbeat_interval(10),
                "heartbeat interval",
            ),
            (
                base.clone().with_append_entries_max(0),
                "append entries max",
            ),
            (base.clone().with_append_bytes_max(0), "append bytes max"),
            (
                base.clone().with_inflight_appends_max(0),
                "inflight appends max",
            ),
            (base.clone().with_entry_bytes_max(0), "entry bytes max"),
            (
                base.clone()
                    .with_append_bytes_max(100)
                    .with_entry_bytes_max(101),
                "entry bytes max",
            ),
            (base.clone().with_pending_reads_max(0), "pending reads max"),
            (
                base.clone().with_snapshot_bytes_max(0),
                "snapshot bytes max",
            ),
        ];
        for (config, field) in cases {
            match config.validate() {
                Err(Error::InvalidConfig { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{field}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    // Proves the entry cap follows the append cap unless set, and may not exceed it.
    #[test]
    fn entry_bytes_max_defaults_to_append_bytes_max() {
        let config = RaftConfig::single(1).with_append_bytes_max(4096);
        assert_eq!(config.entry_bytes_max(), 4096);
        assert!(config.validate().is_ok());
        let config = config.with_entry_bytes_max(100);
        assert_eq!(config.entry_bytes_max(), 100);
        assert!(config.validate().is_ok());
    }

    // Proves default seeds differ between neighbouring ids.
    #[test]
    fn default_seeds_differ_per_id() {
        assert_ne!(RaftConfig::single(1).seed(), RaftConfig::single(2).seed());
    }
}
