//! The simulation: one thread, a virtual clock, an event queue ordered by (time,
//! sequence), a seeded PRNG, faults, clients, and the safety checks after every event.
//! The driver is here; clients, the network, the checker and the nemesis live under
//! `sim/`.

mod checker;
mod clients;
mod disk;
mod driver;
mod nemesis;
mod network;
mod queue;
mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use raft_core::{
    Action, ConfigChange, Error, Event, Index, Membership, MembershipChange, MemoryLog, NodeId,
    RaftConfig, RaftLog, RaftNode, Role, Term,
};

use crate::SimRng;
use crate::config::{SimConfig, TIME_PER_TICK};
use crate::kv::{Command, Kv, Op, Outcome};
use crate::linearizability::{self, Recorded};
use crate::log::{SimLog, SimStorage};
use crate::trace::{Fate, Timed, TraceEvent, summary};
use driver::{ConfirmedRead, Down, Leading, Led, Life, Node};
use queue::EventQueue;
pub use stats::RunStats;

/// A broken property: what, when, and how to replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The run's seed.
    pub seed: u64,
    /// Simulated time of the event that broke it.
    pub time: u64,
    /// The property.
    pub property: &'static str,
    /// What was seen.
    pub detail: String,
    /// Events processed up to and including the one that broke it.
    pub events: u64,
    /// The command that replays the run ([`SimConfig::replay_command`]).
    pub replay: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} violated {} at time {} (tick {}): {}\n  replay: {}",
            self.seed,
            self.property,
            self.time,
            self.time / TIME_PER_TICK,
            self.detail,
            self.replay
        )
    }
}

#[derive(Clone, Debug)]
enum Ev {
    Tick(NodeId),
    /// The driver steps `Event::SyncLog` after handing the sends to the network.
    SyncLog(NodeId),
    Deliver {
        to: NodeId,
        frame: Vec<u8>,
        /// The message's number in the run (for the recorded trace).
        msg: u64,
    },
    ClientArrive {
        client: u64,
        to: NodeId,
        seq: u64,
    },
    ClientReply {
        client: u64,
        seq: u64,
        outcome: Outcome,
    },
    ClientReject {
        client: u64,
        seq: u64,
        hint: Option<NodeId>,
    },
    ClientTimeout {
        client: u64,
        seq: u64,
        attempt: u64,
    },
    ClientNext {
        client: u64,
    },
    Fault,
    Heal,
}

struct Client {
    seq: u64,
    op: Option<Op>,
    target: NodeId,
    attempt: u64,
    record: usize,
}

/// The structured record of a traced run.
#[derive(Default)]
struct Recording {
    events: Vec<Timed>,
    /// Each node's last recorded state, to record only changes.
    states: BTreeMap<NodeId, (&'static str, Term, Index, Index, Index)>,
    /// Messages handed to the network so far.
    messages: u64,
}

/// A deterministic simulated cluster. Build it with [`Simulation::new`] and call
/// [`Simulation::run`].
pub struct Simulation {
    seed: u64,
    config: SimConfig,
    rng: SimRng,
    queue: EventQueue<Ev>,
    nodes: BTreeMap<NodeId, Node>,
    clients: BTreeMap<u64, Client>,
    blocked: BTreeSet<(NodeId, NodeId)>,
    healed: bool,
    /// When a non-leader last died during a sync (async persistence).
    last_sync_crash: Option<u64>,
    /// A configuration with fewer than three voters (in either half) was seen: disks
    /// are no longer damaged (with two voters one damaged node is half of them).
    small_config_seen: bool,
    /// A leader holds a membership change it accepted but has not appended yet (it
    /// waits for an entry of its term to commit): until it goes in or is dropped, a
    /// disk is not damaged, since the change (not yet visible in any configuration)
    /// could leave the damaged node half of the voters.
    held_change: Option<NodeId>,
    history: Vec<Recorded>,
    leaders: BTreeMap<Term, NodeId>,
    /// Fault events drawn so far (the numbers `skip_faults` names).
    faults_drawn: u64,
    /// When each term's leader was first seen leading.
    elected_at: BTreeMap<Term, u64>,
    /// When each read reached the node that took it: (node, client, seq) -> time.
    read_arrivals: BTreeMap<(NodeId, u64, u64), u64>,
    committed: BTreeMap<Index, (Term, Vec<u8>)>,
    terms_seen: BTreeMap<NodeId, Term>,
    votes: BTreeMap<(NodeId, Term), NodeId>,
    stats: RunStats,
    trace: Option<String>,
    /// The structured record of the run (with tracing): `--trace-json`, the timeline.
    recording: Option<Recording>,
    /// Durable runs: the temporary directory holding every node's WalLog.
    wal_root: Option<std::path::PathBuf>,
}

impl Drop for Simulation {
    fn drop(&mut self) {
        self.nodes.clear();
        if let Some(root) = &self.wal_root {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

impl Simulation {
    /// A simulation of `config` driven by `seed`; with `trace`, every event is
    /// recorded as one line: tick (with hundredths), node, role, term, what happened
    /// (see [`Simulation::trace`]).
    pub fn new(seed: u64, config: SimConfig, trace: bool) -> Self {
        let mut rng = SimRng::new(seed);
        let ids: Vec<NodeId> = (1..=config.nodes).collect();
        let wal_root = config.durable.then(|| {
            // Unique per simulation: tests run the same seed on parallel threads.
            static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let root =
                std::env::temp_dir().join(format!("raft-sim-{}-{seed}-{run}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(&root)
                .unwrap_or_else(|error| panic!("cannot create {}: {error}", root.display()));
            root
        });
        let mut nodes = BTreeMap::new();
        for &id in &ids {
            let period = if config.faults.clock_skew {
                rng.between(TIME_PER_TICK * 9 / 10, TIME_PER_TICK * 11 / 10)
            } else {
                TIME_PER_TICK
            };
            let storage = match &wal_root {
                Some(root) => SimStorage::Wal(
                    raft_wal::WalLog::open_with(
                        root.join(format!("node-{id}")),
                        Self::wal_options(),
                    )
                    .unwrap_or_else(|error| panic!("cannot create a simulation WAL: {error}")),
                ),
                None => SimStorage::Memory(SimLog::default()),
            };
            let disk_fault = match &storage {
                SimStorage::Memory(log) => Some(log.fault_handle()),
                SimStorage::Wal(_) => None,
            };
            let node = Node {
                life: Life::Up(Box::new(RaftNode::with_log(
                    Self::node_config(seed, &config, id, &ids),
                    storage,
                ))),
                kv: Kv::default(),
                waiting: BTreeSet::new(),
                reads: Vec::new(),
                disk_fault,
                period,
                leading: None,
                led: None,
                repairing_since: None,
                wiped_since: None,
                last_membership: None,
            };
            let _ = nodes.insert(id, node);
        }
        let clients = (1..=config.clients)
            .map(|id| {
                (
                    id,
                    Client {
                        seq: 0,
                        op: None,
                        target: 1 + (id - 1) % config.nodes,
                        attempt: 0,
                        record: 0,
                    },
                )
            })
            .collect();
        let mut simulation = Self {
            seed,
            config,
            rng,
            queue: EventQueue::new(),
            nodes,
            clients,
            blocked: BTreeSet::new(),
            healed: false,
            last_sync_crash: None,
            small_config_seen: false,
            held_change: None,
            history: Vec::new(),
            leaders: BTreeMap::new(),
            faults_drawn: 0,
            elected_at: BTreeMap::new(),
            read_arrivals: BTreeMap::new(),
            committed: BTreeMap::new(),
            terms_seen: BTreeMap::new(),
            votes: BTreeMap::new(),
            stats: RunStats::default(),
            trace: trace.then(String::new),
            recording: trace.then(Recording::default),
            wal_root,
        };
        for &id in &ids {
            let first = simulation.rng.between(1, TIME_PER_TICK);
            simulation.schedule(first, Ev::Tick(id));
        }
        for client in 1..=config.clients {
            let start = simulation.rng.between(TIME_PER_TICK, 30 * TIME_PER_TICK);
            simulation.schedule(start, Ev::ClientNext { client });
        }
        if (config.faults.partitions
            || config.faults.crashes
            || config.faults.transfers
            || config.faults.membership)
            && config.faults_max > 0
        {
            simulation.schedule(config.first_fault_tick * TIME_PER_TICK, Ev::Fault);
        }
        simulation.schedule(config.fault_ticks * TIME_PER_TICK, Ev::Heal);
        simulation
    }

    /// Small segments so runs roll over and compact; no fdatasync, since a simulated
    /// crash is a process crash.
    fn wal_options() -> raft_wal::WalOptions {
        raft_wal::WalOptions {
            segment_bytes_max: 16 << 10,
            fsync: false,
            ..raft_wal::WalOptions::default()
        }
    }

    fn node_config(seed: u64, sim: &SimConfig, id: NodeId, ids: &[NodeId]) -> RaftConfig {
        let config = RaftConfig::new(id, ids.iter().copied())
            .with_seed(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ id)
            .with_append_entries_max(16)
            .with_inflight_appends_max(8)
            .with_deferred_leader_sync(sim.deferred_sync)
            .with_async_persistence(sim.async_persistence)
            // A quarter of the seeds pipeline every proposal instead of coalescing.
            .with_append_coalescing(sim.coalescing)
            .with_follower_reads(sim.follower_reads);
        #[cfg(feature = "mutants")]
        let config = config.with_mutant(sim.mutant);
        // A third of the seeds read through leases (a 3-tick margin covers the ±10%
        // clock skew), the rest through ReadIndex rounds.
        if sim.lease_reads {
            config.with_lease_reads(3)
        } else {
            config
        }
    }

    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.stats.events
    }

    /// The trace recorded so far (empty unless built with tracing).
    pub fn trace(&self) -> &str {
        self.trace.as_deref().unwrap_or("")
    }

    /// The client history recorded so far.
    pub fn history(&self) -> &[Recorded] {
        &self.history
    }

    fn schedule(&mut self, delay: u64, event: Ev) {
        self.queue.schedule(delay, event);
    }

    fn note(&mut self, node: Option<NodeId>, what: impl FnOnce() -> String) {
        if self.trace.is_none() {
            return;
        }
        let what = what();
        // Step inputs, client calls and partitions have their own structured events.
        let structured = [
            "<- ",
            "client ",
            "partition",
            "joint split",
            "crashes",
            "restarts",
        ];
        if !structured.iter().any(|prefix| what.starts_with(prefix)) {
            let text = what.clone();
            self.record(|| TraceEvent::Note { node, text });
        }
        let what = || what;
        let prefix = match node
            .and_then(|id| self.nodes.get(&id))
            .and_then(|n| n.raft())
        {
            Some(raft) => format!(
                "n{} {:<9}t{:<3}",
                raft.id(),
                format!("{:?}", raft.role()),
                raft.term()
            ),
            None => match node {
                Some(id) => format!("n{id} {:<13}", "down"),
                None => format!("{:<16}", "-"),
            },
        };
        // Tick (with hundredths), node, role, term, what happened.
        let line = format!(
            "{:>6}.{:02} {prefix} {}\n",
            self.queue.now() / TIME_PER_TICK,
            self.queue.now() % TIME_PER_TICK,
            what()
        );
        if let Some(trace) = self.trace.as_mut() {
            trace.push_str(&line);
        }
    }

    /// Adds an event to the structured record (with tracing only).
    fn record(&mut self, event: impl FnOnce() -> TraceEvent) {
        let time = self.queue.now();
        if let Some(recording) = self.recording.as_mut() {
            recording.events.push(Timed {
                time,
                event: event(),
            });
        }
    }

    /// Records node `id`'s visible state if it changed since the last record.
    fn record_state(&mut self, id: NodeId) {
        if self.recording.is_none() {
            return;
        }
        let state = match self.nodes[&id].raft() {
            Some(raft) => (
                match raft.role() {
                    Role::Leader => "leader",
                    Role::Candidate => "candidate",
                    _ => "follower",
                },
                raft.term(),
                raft.commit_index(),
                raft.last_applied(),
                raft.log().last_index(),
            ),
            None => ("down", 0, 0, 0, 0),
        };
        let recording = self.recording.as_mut().expect("checked above");
        if recording.states.get(&id) == Some(&state) {
            return;
        }
        let _ = recording.states.insert(id, state);
        let (role, term, commit, applied, last_index) = state;
        self.record(|| TraceEvent::State {
            node: id,
            role,
            term,
            commit,
            applied,
            last_index,
        });
    }

    /// Records the links cut from now on.
    fn record_partition(&mut self) {
        let cut: Vec<(NodeId, NodeId)> = self.blocked.iter().copied().collect();
        self.record(|| TraceEvent::Partition { cut });
    }

    fn violation(&self, property: &'static str, detail: String) -> Violation {
        Violation {
            seed: self.seed,
            time: self.queue.now(),
            property,
            detail,
            events: self.stats.events,
            replay: self.config.replay_command(self.seed),
        }
    }

    /// Runs the faults phase, heals, and requires convergence; then checks the client
    /// history for linearizability.
    ///
    /// # Errors
    /// The first violated property.
    pub fn run(&mut self) -> Result<RunStats, Violation> {
        let end = (self.config.fault_ticks + self.config.settle_ticks) * TIME_PER_TICK;
        while let Some(event) = self.queue.pop_until(end) {
            self.stats.events += 1;
            self.handle(event)?;
            if self.healed && self.converged() {
                break;
            }
        }
        if !self.converged() {
            let states: Vec<String> = self
                .nodes
                .iter()
                .map(|(id, node)| match node.raft() {
                    Some(raft) => format!(
                        "n{id} {:?} t{} commit {} applied {}",
                        raft.role(),
                        raft.term(),
                        raft.commit_index(),
                        raft.last_applied()
                    ),
                    None => format!("n{id} down"),
                })
                .collect();
            return Err(self.violation(
                "Liveness",
                format!(
                    "no convergence {} ticks after healing: {states:?}",
                    self.config.settle_ticks
                ),
            ));
        }
        self.check_log_matching_all()?;
        linearizability::check(&self.history)
            .map_err(|detail| self.violation("Linearizability", detail))?;
        self.stats.elections = self.leaders.len() as u64;
        Ok(self.stats.clone())
    }

    /// After healing: one leader, every node up, every replica at the leader's
    /// commit index with the same state, every client idle or done.
    fn converged(&self) -> bool {
        if !self.healed {
            return false;
        }
        let Some(leader) = self
            .nodes
            .values()
            .filter_map(|n| n.raft())
            .filter(|r| r.is_leader())
            .max_by_key(|r| r.term())
        else {
            return false;
        };
        let commit = leader.commit_index();
        let reference = &self.nodes[&leader.id()].kv;
        let membership = leader.membership();
        // Members of the leader's configuration converge; a removed node may never
        // hear of its removal and is left alone.
        self.nodes
            .iter()
            .filter(|(id, _)| membership.is_member(**id))
            .all(|(_, node)| {
                node.raft().is_some_and(|raft| {
                    raft.last_applied() == commit
                        && raft.log().last_index() == commit
                        && raft.log().repair_mark().is_none()
                        && membership.incarnation(raft.id()) == raft.log().incarnation()
                }) && node.kv == *reference
            })
            // (A joint configuration that waits for an explicit leave holds the
            // promotion back until it is left; the node is named and caught up.)
            && (membership.rejoining().is_empty() || membership.is_joint())
            && self.clients.values().all(|client| client.op.is_none())
            && self.stats.operations > 0
    }

    fn handle(&mut self, event: Ev) -> Result<(), Violation> {
        match event {
            Ev::Tick(id) => {
                let period = self.nodes[&id].period;
                self.schedule(period, Ev::Tick(id));
                self.step(id, Event::Tick)?;
            }
            Ev::SyncLog(id) => {
                // Now and then the process dies during that fsync: a leader's
                // followers may hold entries it never synced; with async persistence
                // any role loses writes it held answers for. (Every role asks for a
                // sync then, at every append: other roles die so at most once per 150
                // ticks, or the run would be all crashes.)
                let up = self.nodes.values().filter(|n| n.is_up()).count();
                let leading = self.nodes[&id].raft().is_some_and(RaftNode::is_leader);
                let now = self.queue.now();
                let rested = self
                    .last_sync_crash
                    .is_none_or(|at| now - at >= 150 * TIME_PER_TICK);
                if self.config.faults.crashes
                    && !self.healed
                    && up > 1
                    && self.nodes[&id].is_up()
                    && (leading || rested)
                    && self.rng.chance(100)
                {
                    if !leading {
                        self.last_sync_crash = Some(now);
                    }
                    self.note(Some(id), || "crashes before syncing its appends".into());
                    self.crash(id);
                } else {
                    self.step(id, Event::SyncLog)?;
                }
            }
            Ev::Deliver { to, frame, msg } => {
                self.record(|| TraceEvent::Deliver { id: msg, to });
                let message = raft_wire::decode(&frame).map_err(|error| {
                    self.violation(
                        "Wire round trip",
                        format!("a frame we encoded does not decode: {error}"),
                    )
                })?;
                self.stats.messages += 1;
                self.step(to, Event::Message(message))?;
            }
            Ev::ClientArrive { client, to, seq } => self.client_arrive(client, to, seq)?,
            Ev::ClientReply {
                client,
                seq,
                outcome,
            } => {
                let Some(state) = self.clients.get_mut(&client) else {
                    return Ok(());
                };
                if state.seq == seq && state.op.is_some() {
                    state.op = None;
                    let record = state.record;
                    self.record(|| TraceEvent::Complete {
                        client,
                        seq,
                        outcome: format!("{outcome:?}"),
                    });
                    self.history[record].returned = Some((self.queue.sequence(), outcome));
                    self.stats.operations += 1;
                    let pause = self.rng.between(1, 3 * TIME_PER_TICK);
                    self.schedule(pause, Ev::ClientNext { client });
                }
            }
            Ev::ClientReject { client, seq, hint } => {
                let nodes = self.config.nodes;
                let random = 1 + self.rng.below(nodes);
                let Some(state) = self.clients.get_mut(&client) else {
                    return Ok(());
                };
                if state.seq == seq && state.op.is_some() {
                    state.target = hint.unwrap_or(random);
                    state.attempt += 1;
                    let delay = self.rng.between(TIME_PER_TICK / 2, 2 * TIME_PER_TICK);
                    self.send_client(client, delay);
                }
            }
            Ev::ClientTimeout {
                client,
                seq,
                attempt,
            } => {
                let nodes = self.config.nodes;
                let random = 1 + self.rng.below(nodes);
                let Some(state) = self.clients.get_mut(&client) else {
                    return Ok(());
                };
                if state.seq == seq && state.attempt == attempt && state.op.is_some() {
                    state.target = random;
                    state.attempt += 1;
                    self.send_client(client, 1);
                }
            }
            Ev::ClientNext { client } => self.client_next(client),
            Ev::Fault => self.inject_fault()?,
            Ev::Heal => self.heal()?,
        }
        Ok(())
    }
}

/// Runs one seed; `Ok` with its statistics or the first violation.
///
/// # Errors
/// The violation.
pub fn run_seed(seed: u64, config: SimConfig) -> Result<RunStats, Violation> {
    Simulation::new(seed, config, false).run()
}

/// Runs one seed with tracing and returns its structured record (ending with the
/// violation, if any) and the outcome: what `--trace-json` writes and the timeline draws.
pub fn record_seed(seed: u64, config: SimConfig) -> (Vec<Timed>, Result<RunStats, Violation>) {
    let mut simulation = Simulation::new(seed, config, true);
    let result = simulation.run();
    if let Err(violation) = &result {
        let (property, detail) = (violation.property.to_owned(), violation.detail.clone());
        simulation.record(|| TraceEvent::Violation { property, detail });
    }
    let events = simulation
        .recording
        .take()
        .map(|recording| recording.events)
        .unwrap_or_default();
    (events, result)
}

/// Runs one seed with tracing and returns the trace, ending with the outcome. The same
/// seed gives the same bytes on every replay.
pub fn trace_seed(seed: u64, config: SimConfig) -> (String, Result<RunStats, Violation>) {
    let mut simulation = Simulation::new(seed, config, true);
    let result = simulation.run();
    let mut out = simulation.trace().to_owned();
    match &result {
        Ok(stats) => {
            let _ = writeln!(out, "ok: {stats:?}");
        }
        Err(violation) => {
            let _ = writeln!(out, "VIOLATION: {violation}");
        }
    }
    (out, result)
}
