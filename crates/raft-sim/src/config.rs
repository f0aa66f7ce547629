//! What a simulated run does: cluster size, clients, how long, which faults.

use std::fmt;
use std::str::FromStr;

/// Simulated time units per logical tick.
pub const TIME_PER_TICK: u64 = 100;

/// Which faults a run injects. Each is drawn from the run's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults {
    /// Messages lost, per mille.
    pub drop_per_mille: u32,
    /// Messages delivered twice, per mille.
    pub duplicate_per_mille: u32,
    /// Largest message delay in ticks; delays are random, so messages reorder.
    pub delay_ticks_max: u64,
    /// Symmetric, one-way, leader-isolating and majority/minority partitions that heal.
    pub partitions: bool,
    /// Crashes that lose unsynced writes (or keep a torn prefix of them), and restarts.
    pub crashes: bool,
    /// Nodes whose clocks tick up to 10% fast or slow.
    pub clock_skew: bool,
    /// Leadership transfers asked of the leader at random.
    pub transfers: bool,
    /// Membership churn: learners added and promoted, voters removed, joint changes of
    /// several voters at once (guarded or not, left automatically or explicitly).
    pub membership: bool,
    /// Nodes snapshot their state machine and compact their logs as they go.
    pub snapshots: bool,
    /// Disk errors: a sync fails, the node stops and is restarted from what reached
    /// the disk (memory storage only).
    pub storage: bool,
    /// Damaged disks: now and then a crash also damages synced data, so the node
    /// restarts repairing entries it may have acknowledged (docs/RECOVERY.md, rule 1).
    /// A memory log loses its entries from a random point on; a WalLog gets a flipped
    /// bit, a torn (zeroed) sector, a misdirected write or (a sealed one) a read error
    /// in one of its segments (or, rarely, a flipped bit in its `vote` file, which is
    /// refused: the node is then started on an empty directory) and is reopened in
    /// repair mode. One damage in five wipes the storage instead: the node restarts
    /// empty as a new incarnation, which the leader names and promotes back (rule 2).
    /// At most a minority of each configuration's voters at a time.
    pub disk: bool,
}

impl Faults {
    /// No faults at all: a control run.
    pub const NONE: Faults = Faults {
        drop_per_mille: 0,
        duplicate_per_mille: 0,
        delay_ticks_max: 1,
        partitions: false,
        crashes: false,
        clock_skew: false,
        transfers: false,
        membership: false,
        snapshots: false,
        storage: false,
        disk: false,
    };
    /// Every fault at once: the kitchen sink.
    pub const ALL: Faults = Faults {
        drop_per_mille: 50,
        duplicate_per_mille: 20,
        delay_ticks_max: 3,
        partitions: true,
        crashes: true,
        clock_skew: true,
        transfers: true,
        membership: true,
        snapshots: true,
        storage: true,
        disk: true,
    };
}

/// A named fault profile, as the command line takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// No faults.
    None,
    /// Loss, duplication, delay and reordering only.
    Network,
    /// Network faults plus partitions.
    Partitions,
    /// Network faults plus crashes and restarts.
    Crashes,
    /// Leadership transfers with network faults.
    Transfers,
    /// Membership churn (single-server and joint changes) with network faults,
    /// crashes, partitions and snapshots.
    Membership,
    /// Snapshots and compaction with crashes and network faults.
    Snapshots,
    /// Damaged disks (synced entries lost on a crash, repaired from the peers) with
    /// crashes, disk errors, snapshots and network faults.
    Disk,
    /// Everything, with clock skew.
    All,
}

impl Profile {
    /// The faults this profile injects.
    pub fn faults(self) -> Faults {
        let network = Faults {
            partitions: false,
            crashes: false,
            clock_skew: false,
            transfers: false,
            membership: false,
            snapshots: false,
            storage: false,
            disk: false,
            ..Faults::ALL
        };
        match self {
            Profile::None => Faults::NONE,
            Profile::Network => network,
            Profile::Snapshots => Faults {
                snapshots: true,
                crashes: true,
                ..network
            },
            // Changes of every size alongside crashes, partitions and snapshots: a joint
            // configuration only matters when the halves can disagree.
            Profile::Membership => Faults {
                membership: true,
                crashes: true,
                partitions: true,
                snapshots: true,
                ..network
            },
            Profile::Disk => Faults {
                disk: true,
                crashes: true,
                storage: true,
                snapshots: true,
                ..network
            },
            Profile::Transfers => Faults {
                transfers: true,
                ..network
            },
            Profile::Partitions => Faults {
                partitions: true,
                ..network
            },
            Profile::Crashes => Faults {
                crashes: true,
                storage: true,
                ..network
            },
            Profile::All => Faults::ALL,
        }
    }
}

impl Profile {
    /// Every profile, in the command line's order.
    pub const ALL: [Profile; 9] = [
        Profile::None,
        Profile::Network,
        Profile::Partitions,
        Profile::Crashes,
        Profile::Transfers,
        Profile::Membership,
        Profile::Snapshots,
        Profile::Disk,
        Profile::All,
    ];
}

impl SimConfig {
    /// The command that replays a run of `seed` with this configuration: `repro --seed`
    /// with its profile and mutant when the configuration is the seed's own under a
    /// profile, else a pointer to a schedule file (which holds every knob).
    pub fn replay_command(&self, seed: u64) -> String {
        let profile = Profile::ALL.into_iter().find(|&profile| {
            #[allow(unused_mut)]
            let mut plain = SimConfig::for_seed(seed, profile);
            #[cfg(feature = "mutants")]
            {
                plain.mutant = self.mutant;
            }
            plain == *self
        });
        #[allow(unused_mut)]
        let mut mutant = String::new();
        #[cfg(feature = "mutants")]
        if let Some(named) = self.mutant {
            mutant = format!(" --mutant {named}");
        }
        match profile {
            Some(profile) => format!("cargo xtask repro --seed {seed} --faults {profile}{mutant}"),
            None => format!(
                "cargo xtask repro --schedule FILE (a schedule holding this run's knobs, as `shrink` writes; seed {seed})"
            ),
        }
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "none" => Profile::None,
            "network" => Profile::Network,
            "partitions" => Profile::Partitions,
            "crashes" => Profile::Crashes,
            "transfers" => Profile::Transfers,
            "membership" => Profile::Membership,
            "snapshots" => Profile::Snapshots,
            "disk" => Profile::Disk,
            "all" => Profile::All,
            other => {
                return Err(format!(
                    "unknown fault profile {other:?} (none, network, partitions, crashes, transfers, membership, snapshots, disk, all)"
                ));
            }
        })
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Profile::None => "none",
            Profile::Network => "network",
            Profile::Partitions => "partitions",
            Profile::Crashes => "crashes",
            Profile::Transfers => "transfers",
            Profile::Membership => "membership",
            Profile::Snapshots => "snapshots",
            Profile::Disk => "disk",
            Profile::All => "all",
        };
        f.write_str(name)
    }
}

/// One run's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Cluster size.
    pub nodes: u64,
    /// Concurrent clients, each with one operation in flight.
    pub clients: u64,
    /// Number of keys the clients share.
    pub keys: u8,
    /// Ticks of faults before everything heals.
    pub fault_ticks: u64,
    /// Ticks allowed after healing for a leader to emerge and every replica to converge.
    pub settle_ticks: u64,
    /// The faults.
    pub faults: Faults,
    /// Store the nodes' logs in `WalLog`s under a temporary directory instead of memory.
    pub durable: bool,
    /// Leaders replicate proposals before syncing them
    /// (`RaftConfig::with_deferred_leader_sync`); the sim steps `Event::SyncLog` a
    /// random moment later, so crashes land in between.
    pub deferred_sync: bool,
    /// Every role may end a step with writes unsynced, holding the messages that
    /// depend on them until the sim steps `Event::SyncLog` a random moment later
    /// (`RaftConfig::with_async_persistence`, odd seeds); crashes land in between.
    pub async_persistence: bool,
    /// A third of the seeds read through leases, the rest through ReadIndex rounds.
    pub lease_reads: bool,
    /// Leaders coalesce proposals per follower (three seeds in four).
    pub coalescing: bool,
    /// Followers take reads and forward them to the leader (a seed in five).
    pub follower_reads: bool,
    /// The first fault, in ticks.
    pub first_fault_tick: u64,
    /// Ticks between faults: drawn between these bounds, inclusive.
    pub fault_gap_ticks: (u64, u64),
    /// No fault after this many (the shrinker's knob; `u64::MAX`: no limit).
    pub faults_max: u64,
    /// Faults skipped by their number (bit `k`: the `k`-th fault, from 0), drawn but not
    /// carried out (the shrinker's knob).
    pub skip_faults: u64,
    /// Operations each client invokes at most (`u64::MAX`: no limit).
    pub operations_max: u64,
    /// Feature `mutants`: the protocol bug every node runs with, if any.
    #[cfg(feature = "mutants")]
    pub mutant: Option<raft_core::Mutant>,
}

impl SimConfig {
    /// The configuration a seed runs with under `profile`: 3 or 5 nodes, chosen by
    /// the seed.
    pub fn for_seed(seed: u64, profile: Profile) -> Self {
        Self {
            nodes: if seed % 4 == 3 { 5 } else { 3 },
            clients: 3,
            keys: 3,
            fault_ticks: 600,
            settle_ticks: 600,
            faults: profile.faults(),
            durable: seed % 5 == 4,
            deferred_sync: seed % 8 == 2,
            async_persistence: seed % 2 == 1,
            lease_reads: seed.is_multiple_of(3),
            coalescing: seed % 4 != 1,
            follower_reads: seed % 5 == 2,
            first_fault_tick: 20,
            fault_gap_ticks: (10, 60),
            faults_max: u64::MAX,
            skip_faults: 0,
            operations_max: u64::MAX,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }
}
