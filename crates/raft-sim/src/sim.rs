//! The simulation: one thread, a virtual clock, an event queue ordered by (time,
//! sequence), a seeded PRNG, faults, clients, and the safety checks after every event.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt::Write as _;

use raft_core::{
    Action, Error, Event, Index, MembershipChange, NodeId, RaftConfig, RaftLog, RaftNode, Role,
    Term,
};

use crate::config::{SimConfig, TIME_PER_TICK};
use crate::kv::{Command, Kv, Op, Outcome};
use crate::linearizability::{self, Recorded};
use crate::log::{SimLog, SimStorage};
use crate::rng::SimRng;

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
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} violated {} at time {} (tick {}): {}\n  replay: cargo xtask repro --seed {}",
            self.seed,
            self.property,
            self.time,
            self.time / TIME_PER_TICK,
            self.detail,
            self.seed
        )
    }
}

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
}

#[derive(Clone, Debug)]
enum Ev {
    Tick(NodeId),
    /// The driver steps `Event::SyncLog` after handing the sends to the network.
    SyncLog(NodeId),
    Deliver {
        to: NodeId,
        frame: Vec<u8>,
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

struct Node {
    raft: Option<RaftNode<SimStorage>>,
    /// A crashed node's storage: the memory log already reduced to what survived, or
    /// the directory of its WalLog, recovered on restart.
    down_log: Option<Down>,
    kv: Kv,
    waiting: BTreeSet<(u64, u64)>,
    /// Confirmed reads waiting for the state machine to reach their index:
    /// (index, client, seq, key).
    reads: Vec<(Index, u64, u64, crate::kv::Key)>,
    /// Memory storage: set to make the node's next sync fail.
    disk_fault: Option<std::rc::Rc<std::cell::Cell<bool>>>,
    period: u64,
    /// (term, last index, term at last index) while leading, for Leader Append-Only.
    leading: Option<(Term, Index, Term)>,
}

enum Down {
    Memory(Box<SimLog>),
    Wal(std::path::PathBuf),
}

struct Client {
    seq: u64,
    op: Option<Op>,
    target: NodeId,
    attempt: u64,
    record: usize,
}

/// A deterministic simulated cluster. Build it with [`Simulation::new`] and call
/// [`Simulation::run`].
pub struct Simulation {
    seed: u64,
    config: SimConfig,
    rng: SimRng,
    now: u64,
    sequence: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Ev>>,
    nodes: BTreeMap<NodeId, Node>,
    clients: BTreeMap<u64, Client>,
    blocked: BTreeSet<(NodeId, NodeId)>,
    healed: bool,
    history: Vec<Recorded>,
    leaders: BTreeMap<Term, NodeId>,
    committed: BTreeMap<Index, (Term, Vec<u8>)>,
    terms_seen: BTreeMap<NodeId, Term>,
    votes: BTreeMap<(NodeId, Term), NodeId>,
    stats: RunStats,
    trace: Option<String>,
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
                raft: Some(RaftNode::with_log(
                    Self::node_config(seed, &config, id, &ids),
                    storage,
                )),
                down_log: None,
                kv: Kv::default(),
                waiting: BTreeSet::new(),
                reads: Vec::new(),
                disk_fault,
                period,
                leading: None,
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
            now: 0,
            sequence: 0,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            nodes,
            clients,
            blocked: BTreeSet::new(),
            healed: false,
            history: Vec::new(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            terms_seen: BTreeMap::new(),
            votes: BTreeMap::new(),
            stats: RunStats::default(),
            trace: trace.then(String::new),
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
        if config.faults.partitions
            || config.faults.crashes
            || config.faults.transfers
            || config.faults.membership
        {
            simulation.schedule(20 * TIME_PER_TICK, Ev::Fault);
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
            .with_deferred_leader_sync(sim.deferred_sync);
        // A third of the seeds read through leases (a 3-tick margin covers the ±10%
        // clock skew), the rest through ReadIndex rounds.
        if seed.is_multiple_of(3) {
            config.with_lease_reads(3)
        } else {
            config
        }
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
        self.sequence += 1;
        let slot = self.events.len();
        self.events.push(Some(event));
        self.queue
            .push(Reverse((self.now + delay, self.sequence, slot)));
    }

    fn note(&mut self, node: Option<NodeId>, what: impl FnOnce() -> String) {
        if self.trace.is_none() {
            return;
        }
        let prefix = match node
            .and_then(|id| self.nodes.get(&id))
            .and_then(|n| n.raft.as_ref())
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
            self.now / TIME_PER_TICK,
            self.now % TIME_PER_TICK,
            what()
        );
        if let Some(trace) = self.trace.as_mut() {
            trace.push_str(&line);
        }
    }

    fn violation(&self, property: &'static str, detail: String) -> Violation {
        Violation {
            seed: self.seed,
            time: self.now,
            property,
            detail,
        }
    }

    /// Runs the faults phase, heals, and requires convergence; then checks the client
    /// history for linearizability.
    ///
    /// # Errors
    /// The first violated property.
    pub fn run(&mut self) -> Result<RunStats, Violation> {
        let end = (self.config.fault_ticks + self.config.settle_ticks) * TIME_PER_TICK;
        while let Some(Reverse((time, _, slot))) = self.queue.pop() {
            if time > end {
                break;
            }
            self.now = time;
            let Some(event) = self.events[slot].take() else {
                continue;
            };
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
                .map(|(id, node)| match &node.raft {
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
            .filter_map(|n| n.raft.as_ref())
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
                node.raft.as_ref().is_some_and(|raft| {
                    raft.last_applied() == commit && raft.log().last_index() == commit
                }) && node.kv == *reference
            })
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
                // Now and then the process dies during that fsync: its followers may
                // hold entries it never synced.
                let up = self.nodes.values().filter(|n| n.raft.is_some()).count();
                if self.config.faults.crashes
                    && !self.healed
                    && up > 1
                    && self.nodes[&id].raft.is_some()
                    && self.rng.chance(100)
                {
                    self.note(Some(id), || "crashes before syncing its appends".into());
                    self.crash(id);
                } else {
                    self.step(id, Event::SyncLog)?;
                }
            }
            Ev::Deliver { to, frame } => {
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
                    self.history[record].returned = Some((self.sequence, outcome));
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

    // ----- clients ------------------------------------------------------------------

    fn client_next(&mut self, client: u64) {
        if self.healed && self.now > self.config.fault_ticks * TIME_PER_TICK + 100 * TIME_PER_TICK {
            return; // stop new work late in the settle phase so the run can converge
        }
        let key = self.rng.below(u64::from(self.config.keys)) as u8;
        let state = self.clients.get_mut(&client).expect("client exists");
        state.seq += 1;
        let value = client * 1_000_000 + state.seq;
        let op = match self.rng.below(10) {
            0..=3 => Op::Put(key, value),
            4..=6 => Op::Get(key),
            7 => Op::Delete(key),
            _ => {
                let expected = self.history.iter().rev().find_map(|r| match r.op {
                    Op::Put(k, v) if k == key => Some(v),
                    _ => None,
                });
                Op::Cas(key, expected, value)
            }
        };
        let state = self.clients.get_mut(&client).expect("client exists");
        state.op = Some(op);
        state.attempt = 0;
        state.record = self.history.len();
        self.history.push(Recorded {
            client,
            invoked: self.sequence,
            returned: None,
            op,
        });
        let seq = self.clients[&client].seq;
        self.note(None, || format!("client {client} invokes #{seq} {op:?}"));
        let delay = self.rng.between(1, TIME_PER_TICK);
        self.send_client(client, delay);
    }

    fn send_client(&mut self, client: u64, delay: u64) {
        let state = &self.clients[&client];
        let (to, seq, attempt) = (state.target, state.seq, state.attempt);
        self.schedule(delay, Ev::ClientArrive { client, to, seq });
        self.schedule(
            delay + 30 * TIME_PER_TICK,
            Ev::ClientTimeout {
                client,
                seq,
                attempt,
            },
        );
    }

    fn client_arrive(&mut self, client: u64, to: NodeId, seq: u64) -> Result<(), Violation> {
        let Some(op) = self
            .clients
            .get(&client)
            .filter(|c| c.seq == seq)
            .and_then(|c| c.op)
        else {
            return Ok(());
        };
        if self.nodes[&to].raft.is_none() {
            return Ok(()); // a crashed node: the client times out
        }
        let command = Command { client, seq, op };
        // Reads go through ReadIndex (or a lease), writes through the log.
        let event = match op {
            Op::Get(_) => Event::ReadIndex(command.encode().into()),
            _ => Event::Propose(command.encode()),
        };
        let actions = self
            .nodes
            .get_mut(&to)
            .and_then(|n| n.raft.as_mut())
            .map(|raft| raft.step(event));
        match actions {
            Some(Ok(actions)) => {
                if !matches!(op, Op::Get(_)) {
                    let _ = self
                        .nodes
                        .get_mut(&to)
                        .expect("node exists")
                        .waiting
                        .insert((client, seq));
                }
                self.note(Some(to), || format!("accepts client {client} #{seq}"));
                self.after_step(to, actions)?;
            }
            Some(Err(Error::NotLeader { leader })) => {
                self.reject(client, seq, leader);
            }
            Some(Err(Error::TransferInProgress { target })) => {
                self.reject(client, seq, Some(target));
            }
            Some(Err(error)) => {
                return Err(self.violation("Node error", format!("proposal on n{to}: {error}")));
            }
            None => {}
        }
        Ok(())
    }

    fn reject(&mut self, client: u64, seq: u64, hint: Option<NodeId>) {
        let delay = self.rng.between(1, TIME_PER_TICK);
        self.schedule(delay, Ev::ClientReject { client, seq, hint });
    }

    // ----- nodes and network --------------------------------------------------------

    fn step(&mut self, id: NodeId, event: Event) -> Result<(), Violation> {
        if self.nodes[&id].raft.is_none() {
            return Ok(());
        }
        // A disk error now and then: the step's sync fails and the node must stop.
        let fault = self.nodes[&id].disk_fault.clone();
        let injected =
            self.config.faults.storage && !self.healed && fault.is_some() && self.rng.chance(3);
        if let (true, Some(fault)) = (injected, &fault) {
            fault.set(true);
        }
        let described = if self.trace.is_some() {
            Some(format!("{event:?}"))
        } else {
            None
        };
        let raft = self
            .nodes
            .get_mut(&id)
            .and_then(|n| n.raft.as_mut())
            .expect("checked above");
        let result = raft.step(event);
        if let Some(fault) = &fault {
            fault.set(false); // unused if the step wrote nothing
        }
        match result {
            Ok(actions) => {
                if let Some(text) = described {
                    let text: String = text.chars().take(160).collect();
                    self.note(Some(id), || format!("<- {text}"));
                }
                self.after_step(id, actions)
            }
            // The injected disk error: the node released nothing from this step and
            // refuses to go on, as it should; the process dies and restarts later.
            Err(error) if error.is_fatal() && injected => {
                self.note(Some(id), || format!("disk error: {error}"));
                self.crash(id);
                Ok(())
            }
            Err(error) if error.is_fatal() => {
                Err(self.violation("Node error", format!("n{id}: {error}")))
            }
            // Refusals of bad input are fine (a duplicate from a stale term, say).
            Err(error) => {
                self.note(Some(id), || format!("refused: {error}"));
                Ok(())
            }
        }
    }

    fn after_step(&mut self, id: NodeId, actions: Vec<Action>) -> Result<(), Violation> {
        for action in actions {
            match action {
                Action::Send { to, message } => {
                    let frame = raft_wire::encode(&message).map_err(|error| {
                        self.violation("Wire round trip", format!("encode: {error}"))
                    })?;
                    self.transmit(id, to, frame);
                }
                Action::Apply {
                    index,
                    term,
                    command,
                } => self.apply(id, index, term, &command)?,
                Action::ReadReady { index, context } => {
                    let Some(command) = Command::decode(&context) else {
                        return Err(self.violation(
                            "Read context",
                            format!("n{id} returned a foreign read context"),
                        ));
                    };
                    let node = self.nodes.get_mut(&id).expect("node exists");
                    node.reads
                        .push((index, command.client, command.seq, command.op.key()));
                    self.note(Some(id), || {
                        format!(
                            "read for client {} #{} ready at {index}",
                            command.client, command.seq
                        )
                    });
                }
                Action::ReadDropped { context } => {
                    if let Some(command) = Command::decode(&context) {
                        self.reject(command.client, command.seq, None);
                    }
                }
                Action::SyncLog => {
                    // The fsync takes a moment; the sends are already on their way.
                    let delay = self.rng.between(0, TIME_PER_TICK / 2);
                    self.schedule(delay, Ev::SyncLog(id));
                }
                Action::RestoreSnapshot { index, data, .. } => {
                    let Some(kv) = Kv::decode(&data) else {
                        return Err(self.violation(
                            "Snapshot",
                            format!("n{id} got a snapshot that does not decode"),
                        ));
                    };
                    self.nodes.get_mut(&id).expect("node exists").kv = kv;
                    self.note(Some(id), || format!("restores a snapshot through {index}"));
                }
                _ => {}
            }
        }
        self.serve_reads(id);
        self.maybe_snapshot(id)?;
        self.check_node(id)
    }

    /// With snapshots on, a node whose log holds 40 applied entries past its snapshot
    /// captures its state machine and compacts.
    fn maybe_snapshot(&mut self, id: NodeId) -> Result<(), Violation> {
        if !self.config.faults.snapshots {
            return Ok(());
        }
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(raft) = node.raft.as_mut() else {
            return Ok(());
        };
        let applied = raft.last_applied();
        if applied < raft.log().snapshot_index() + 40 {
            return Ok(());
        }
        let data = node.kv.encode().into();
        match raft.step(Event::Snapshot {
            index: applied,
            data,
        }) {
            Ok(actions) => {
                self.note(Some(id), || format!("snapshots through {applied}"));
                // The step also synced a deferred append, and may have committed.
                self.after_step(id, actions)
            }
            Err(error) => Err(self.violation("Node error", format!("snapshot on n{id}: {error}"))),
        }
    }

    /// Answers confirmed reads whose index the node's state machine has reached.
    fn serve_reads(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(applied) = node.raft.as_ref().map(|raft| raft.last_applied()) else {
            return;
        };
        let (ready, waiting): (Vec<_>, Vec<_>) = node
            .reads
            .drain(..)
            .partition(|&(index, ..)| index <= applied);
        node.reads = waiting;
        for (_, client, seq, key) in ready {
            let value = self.nodes[&id].kv.data().get(&key).copied();
            let delay = self.rng.between(1, TIME_PER_TICK);
            self.schedule(
                delay,
                Ev::ClientReply {
                    client,
                    seq,
                    outcome: Outcome::Read(value),
                },
            );
        }
    }

    fn transmit(&mut self, from: NodeId, to: NodeId, frame: Vec<u8>) {
        let faults = self.config.faults;
        if self.blocked.contains(&(from, to))
            || (!self.healed && self.rng.chance(faults.drop_per_mille))
        {
            return;
        }
        let copies = if !self.healed && self.rng.chance(faults.duplicate_per_mille) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self.rng.between(1, faults.delay_ticks_max * TIME_PER_TICK);
            self.schedule(
                delay,
                Ev::Deliver {
                    to,
                    frame: frame.clone(),
                },
            );
        }
    }

    fn apply(
        &mut self,
        id: NodeId,
        index: Index,
        term: Term,
        command: &[u8],
    ) -> Result<(), Violation> {
        match self.committed.get(&index) {
            Some((seen_term, seen)) if (*seen_term, seen.as_slice()) != (term, command) => {
                return Err(self.violation(
                    "State Machine Safety",
                    format!("n{id} applied a different entry at index {index} (term {term}, another node applied term {seen_term})"),
                ));
            }
            Some(_) => {}
            None => {
                let _ = self.committed.insert(index, (term, command.to_vec()));
                self.stats.commit_index = self.stats.commit_index.max(index);
            }
        }
        let Some(command) = Command::decode(command) else {
            return Err(self.violation(
                "State Machine Safety",
                format!("n{id} applied an entry that is not a command at {index}"),
            ));
        };
        let node = self.nodes.get_mut(&id).expect("node exists");
        let outcome = node.kv.apply(&command);
        if node.waiting.remove(&(command.client, command.seq)) {
            let delay = self.rng.between(1, TIME_PER_TICK);
            self.schedule(
                delay,
                Ev::ClientReply {
                    client: command.client,
                    seq: command.seq,
                    outcome,
                },
            );
        }
        Ok(())
    }

    // ----- safety checks ------------------------------------------------------------

    /// Election Safety, Leader Append-Only, Leader Completeness, terms never decrease,
    /// one durable vote per term, applied <= commit, and a Log Matching spot check
    /// against every other node, after every step of `id`.
    fn check_node(&mut self, id: NodeId) -> Result<(), Violation> {
        let Some(raft) = self.nodes[&id].raft.as_ref() else {
            return Ok(());
        };
        let (term, role, last_index, last_term) = (
            raft.term(),
            raft.role(),
            raft.log().last_index(),
            raft.log().last_term(),
        );
        if raft.last_applied() > raft.commit_index() {
            return Err(self.violation(
                "Applied <= commit",
                format!(
                    "n{id} applied {} past commit {}",
                    raft.last_applied(),
                    raft.commit_index()
                ),
            ));
        }
        let seen = self.terms_seen.get(&id).copied().unwrap_or(0);
        if term < seen {
            return Err(self.violation(
                "Terms never decrease",
                format!("n{id} went from term {seen} to {term}"),
            ));
        }
        let _ = self.terms_seen.insert(id, term);
        let durable = raft.log().durable_hard_state();
        if let Some(vote) = durable.voted_for {
            let previous = *self.votes.entry((id, durable.term)).or_insert(vote);
            if previous != vote {
                return Err(self.violation(
                    "One vote per term",
                    format!(
                        "n{id} voted for {previous} and {vote} in term {}",
                        durable.term
                    ),
                ));
            }
        }
        let was_leading = self.nodes[&id].leading;
        if role == Role::Leader {
            match self.leaders.get(&term) {
                Some(&other) if other != id => {
                    return Err(self.violation(
                        "Election Safety",
                        format!("n{other} and n{id} both lead term {term}"),
                    ));
                }
                Some(_) => {}
                None => {
                    let _ = self.leaders.insert(term, id);
                    self.note(Some(id), || format!("becomes leader of term {term}"));
                    // Leader Completeness: every committed entry is in the new leader's log.
                    // (Entries below its snapshot are covered by the snapshot.)
                    let raft = self.nodes[&id].raft.as_ref().expect("node is up");
                    let floor = raft.log().snapshot_index();
                    if let Some((index, (entry_term, _))) =
                        self.committed
                            .range(floor + 1..)
                            .find(|(index, (entry_term, _))| {
                                raft.log().term_at(**index) != Some(*entry_term)
                            })
                    {
                        return Err(self.violation(
                            "Leader Completeness",
                            format!("n{id} leads term {term} without committed entry {index} (term {entry_term})"),
                        ));
                    }
                }
            }
            if let Some((leading_term, index, index_term)) =
                was_leading.filter(|(t, _, _)| *t == term)
            {
                let raft = self.nodes[&id].raft.as_ref().expect("node is up");
                let compacted = index < raft.log().snapshot_index();
                if last_index < index
                    || (!compacted && raft.log().term_at(index) != Some(index_term))
                {
                    return Err(self.violation(
                        "Leader Append-Only",
                        format!(
                            "n{id} leader of term {leading_term} lost or changed entry {index}"
                        ),
                    ));
                }
            }
            self.nodes.get_mut(&id).expect("node exists").leading =
                Some((term, last_index, last_term));
        } else {
            self.nodes.get_mut(&id).expect("node exists").leading = None;
        }
        self.check_log_matching(id)
    }

    /// Log Matching spot check: where `id` and another node agree on the term at the
    /// last index they share, the entries there and at the halfway point agree.
    fn check_log_matching(&self, id: NodeId) -> Result<(), Violation> {
        let Some(mine) = self.nodes[&id].raft.as_ref().map(|r| r.log()) else {
            return Ok(());
        };
        for (&other, node) in &self.nodes {
            let Some(theirs) = node.raft.as_ref().map(|r| r.log()).filter(|_| other != id) else {
                continue;
            };
            let shared = mine.last_index().min(theirs.last_index());
            let floor = mine.snapshot_index().max(theirs.snapshot_index());
            if shared <= floor || mine.term_at(shared) != theirs.term_at(shared) {
                continue;
            }
            for index in [shared, floor + (shared - floor).div_ceil(2)] {
                if mine.entry(index) != theirs.entry(index) {
                    return Err(self.violation(
                        "Log Matching",
                        format!(
                            "n{id} and n{other} agree on the term at {shared} but differ at {index}"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Full Log Matching over every pair: below the highest index with equal terms,
    /// every entry is equal.
    fn check_log_matching_all(&self) -> Result<(), Violation> {
        let logs: Vec<(NodeId, &SimStorage)> = self
            .nodes
            .iter()
            .filter_map(|(&id, n)| n.raft.as_ref().map(|r| (id, r.log())))
            .collect();
        for (position, &(a, log_a)) in logs.iter().enumerate() {
            for &(b, log_b) in &logs[position + 1..] {
                let shared = log_a.last_index().min(log_b.last_index());
                // Below either node's snapshot, entries are compacted away.
                let floor = log_a.snapshot_index().max(log_b.snapshot_index());
                let Some(top) = (floor + 1..=shared)
                    .rev()
                    .find(|&i| log_a.term_at(i) == log_b.term_at(i))
                else {
                    continue;
                };
                if log_a.entries(floor + 1, top) != log_b.entries(floor + 1, top) {
                    return Err(self.violation(
                        "Log Matching",
                        format!("n{a} and n{b} share term at {top} but not the prefix"),
                    ));
                }
            }
        }
        Ok(())
    }

    // ----- faults -------------------------------------------------------------------

    fn inject_fault(&mut self) -> Result<(), Violation> {
        if self.healed {
            return Ok(());
        }
        let next = self.rng.between(10 * TIME_PER_TICK, 60 * TIME_PER_TICK);
        self.schedule(next, Ev::Fault);
        let faults = self.config.faults;
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let down: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|id| self.nodes[id].raft.is_none())
            .collect();
        match self.rng.below(10) {
            0 | 1 if faults.crashes && ids.len() - down.len() > 1 => {
                let up: Vec<NodeId> = ids
                    .iter()
                    .copied()
                    .filter(|id| self.nodes[id].raft.is_some())
                    .collect();
                // Prefer the leader half the time: it is where crashes hurt most.
                let leader = self.live_leader(&up);
                let victim = match leader {
                    Some(leader) if self.rng.chance(500) => leader,
                    _ => up[self.rng.below(up.len() as u64) as usize],
                };
                self.crash(victim);
            }
            2 | 3 if faults.crashes && !down.is_empty() => {
                let id = down[self.rng.below(down.len() as u64) as usize];
                self.restart(id)?;
            }
            4 | 5 if faults.partitions => self.partition(&ids),
            6 if faults.transfers => self.transfer(&ids)?,
            7 if faults.membership => self.churn(&ids)?,
            _ => {
                self.blocked.clear();
                self.note(None, || "partitions heal".into());
            }
        }
        Ok(())
    }

    /// Asks the current leader for one membership change: add a non-member as a
    /// learner, promote a learner, or remove a voter (possibly itself).
    fn churn(&mut self, ids: &[NodeId]) -> Result<(), Violation> {
        let Some(leader) = self.live_leader(ids) else {
            return Ok(());
        };
        let membership = self.nodes[&leader]
            .raft
            .as_ref()
            .expect("leader is up")
            .membership()
            .clone();
        let outsiders: Vec<NodeId> = ids
            .iter()
            .copied()
            .filter(|&id| !membership.is_member(id))
            .collect();
        let change = if let Some(&learner) = membership.learners().first() {
            MembershipChange::PromoteLearner(learner)
        } else if !outsiders.is_empty() && (membership.voters().len() <= 2 || self.rng.chance(500))
        {
            MembershipChange::AddLearner(outsiders[self.rng.below(outsiders.len() as u64) as usize])
        } else if membership.voters().len() > 2 {
            let voters = membership.voters();
            MembershipChange::RemoveMember(voters[self.rng.below(voters.len() as u64) as usize])
        } else {
            return Ok(());
        };
        self.note(Some(leader), || format!("asked for {change:?}"));
        let result = self
            .nodes
            .get_mut(&leader)
            .and_then(|n| n.raft.as_mut())
            .map(|raft| raft.step(Event::ChangeMembership(change)));
        match result {
            Some(Ok(actions)) => self.after_step(leader, actions),
            // Refusals are part of the protocol: one change at a time, catch-up first.
            Some(Err(
                Error::ConfigInProgress
                | Error::InvalidMembershipChange { .. }
                | Error::TransferInProgress { .. },
            ))
            | None => Ok(()),
            Some(Err(error)) => Err(self.violation(
                "Node error",
                format!("membership change on n{leader}: {error}"),
            )),
        }
    }

    /// The first live node (in id order) that believes it leads.
    fn live_leader(&self, ids: &[NodeId]) -> Option<NodeId> {
        ids.iter()
            .copied()
            .find(|id| self.nodes[id].raft.as_ref().is_some_and(|r| r.is_leader()))
    }

    /// Asks the current leader to hand over to a random other node.
    fn transfer(&mut self, ids: &[NodeId]) -> Result<(), Violation> {
        let Some(leader) = self.live_leader(ids) else {
            return Ok(());
        };
        let voters = self.nodes[&leader]
            .raft
            .as_ref()
            .expect("leader is up")
            .membership()
            .voters()
            .to_vec();
        let others: Vec<NodeId> = voters.into_iter().filter(|&id| id != leader).collect();
        if others.is_empty() {
            return Ok(());
        }
        let target = others[self.rng.below(others.len() as u64) as usize];
        self.note(Some(leader), || {
            format!("asked to transfer leadership to n{target}")
        });
        let result = self
            .nodes
            .get_mut(&leader)
            .and_then(|n| n.raft.as_mut())
            .map(|raft| raft.step(Event::TransferLeadership(target)));
        match result {
            Some(Ok(actions)) => self.after_step(leader, actions),
            // Another transfer may already be under way.
            Some(Err(Error::TransferInProgress { .. })) | None => Ok(()),
            Some(Err(error)) => {
                Err(self.violation("Node error", format!("transfer on n{leader}: {error}")))
            }
        }
    }

    fn crash(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(raft) = node.raft.take() else { return };
        let (down, unsynced, torn) = match raft.into_log() {
            SimStorage::Memory(log) => {
                let unsynced = log.unsynced_writes();
                let torn = if unsynced > 0 {
                    self.rng.below(unsynced as u64 + 1) as usize
                } else {
                    0
                };
                (
                    Down::Memory(Box::new(log.after_crash(torn))),
                    unsynced,
                    torn,
                )
            }
            // Dropping a WalLog loses exactly its unwritten buffer, as a crash does.
            SimStorage::Wal(log) => (Down::Wal(log.dir().to_path_buf()), 0, 0),
        };
        let node = self.nodes.get_mut(&id).expect("node exists");
        node.down_log = Some(down);
        node.kv = Kv::default();
        node.waiting.clear();
        node.reads.clear();
        node.leading = None;
        self.stats.crashes += 1;
        self.note(Some(id), || {
            format!("crashes (keeps {torn} of {unsynced} unsynced writes)")
        });
    }

    fn restart(&mut self, id: NodeId) -> Result<(), Violation> {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let config = Self::node_config(self.seed, &self.config, id, &ids);
        let node = self.nodes.get_mut(&id).expect("node exists");
        let Some(down) = node.down_log.take() else {
            return Ok(());
        };
        let storage = match down {
            Down::Memory(log) => SimStorage::Memory(*log),
            Down::Wal(dir) => match raft_wal::WalLog::open_with(&dir, Self::wal_options()) {
                Ok(log) => SimStorage::Wal(log),
                Err(error) => return Err(self.violation("WAL recovery", format!("n{id}: {error}"))),
            },
        };
        let raft = RaftNode::try_with_log(config, storage)
            .map_err(|error| self.violation("Restart", format!("n{id}: {error}")))?;
        self.nodes.get_mut(&id).expect("node exists").raft = Some(raft);
        self.note(Some(id), || "restarts from its durable log".into());
        Ok(())
    }

    fn partition(&mut self, ids: &[NodeId]) {
        self.blocked.clear();
        let leader = self.live_leader(ids);
        let kind = self.rng.below(4);
        let victim = match (kind, leader) {
            (0, Some(leader)) => leader,
            _ => ids[self.rng.below(ids.len() as u64) as usize],
        };
        match kind {
            // Isolate one node (the leader when there is one), both ways.
            0 | 1 => {
                for &other in ids.iter().filter(|&&o| o != victim) {
                    let _ = self.blocked.insert((victim, other));
                    let _ = self.blocked.insert((other, victim));
                }
            }
            // One way: the victim hears nobody, everybody hears it.
            2 => {
                for &other in ids.iter().filter(|&&o| o != victim) {
                    let _ = self.blocked.insert((other, victim));
                }
            }
            // Majority / minority split.
            _ => {
                let minority: Vec<NodeId> = ids
                    .iter()
                    .copied()
                    .filter(|_| self.rng.chance(400))
                    .take(ids.len() / 2)
                    .collect();
                for &a in &minority {
                    for &b in ids.iter().filter(|b| !minority.contains(b)) {
                        let _ = self.blocked.insert((a, b));
                        let _ = self.blocked.insert((b, a));
                    }
                }
            }
        }
        let blocked = self.blocked.len();
        self.note(None, || {
            format!("partition kind {kind} around n{victim}: {blocked} links cut")
        });
    }

    fn heal(&mut self) -> Result<(), Violation> {
        self.healed = true;
        self.blocked.clear();
        let down: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.raft.is_none())
            .map(|(&id, _)| id)
            .collect();
        for id in down {
            self.restart(id)?;
        }
        self.note(None, || {
            "faults heal: partitions lifted, nodes restarted, no more loss".into()
        });
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
