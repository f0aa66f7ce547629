//! The crash test across processes, and the loopback benchmarks.
//!
//! [`run`] starts a 3-node cluster of `raft-kv serve` processes, drives concurrent
//! clients (puts, gets, deletes, compare-and-sets on shared keys; increasing puts on
//! a private key per client) while a nemesis SIGKILLs a node (the leader two times in
//! three; now and then two nodes, or all three) and restarts it on the same data
//! directory, or cuts a node off the network for a while, or freezes it (SIGSTOP). At the end it checks that
//! every replica converged to the same store, that no acknowledged write was lost,
//! and that the whole client history is linearizable (raft-sim's checker).

mod bench;

pub use bench::{
    BenchReport, Failover, Workload, bench, bench_header, dsync_writes_per_sec, failover_report,
    failovers,
};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use raft_sim::{Op, Outcome, Recorded, SimRng, check_linearizability};

use crate::client::{Client, ClientError};
use crate::local::LocalCluster;
use crate::partition::KernelPartition;
use crate::protocol::{Request, Response};

/// How long a client keeps retrying one operation.
const OP_TIMEOUT: Duration = Duration::from_secs(15);
/// Wall time per tick of the servers (their default).
pub const TICK_MS: u64 = 10;

/// The crash test's knobs.
#[derive(Clone, Debug)]
pub struct TortureOptions {
    /// How long clients and nemesis run.
    pub duration: Duration,
    /// Concurrent clients.
    pub clients: usize,
    /// Seeds the clients' and the nemesis's choices (timing still varies run to run).
    pub seed: u64,
    /// Shortest and longest pause between kills.
    pub kill_every: (Duration, Duration),
    /// Extra `serve` arguments for every node.
    pub serve_args: Vec<String>,
    /// Cut nodes off at the kernel too (iptables), where that can run (root).
    pub kernel_partitions: bool,
}

impl Default for TortureOptions {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(10),
            clients: 6,
            seed: 1,
            kill_every: (Duration::from_millis(300), Duration::from_millis(1200)),
            // Frequent snapshots, so restarts recover from one and lagging nodes
            // may need one installed.
            serve_args: vec![
                "--snapshot-every".into(),
                "2000".into(),
                "--allow-fault-injection".into(),
            ],
            kernel_partitions: true,
        }
    }
}

/// What a crash test saw.
#[derive(Clone, Debug, Default)]
pub struct TortureReport {
    /// Operations recorded (final reads included).
    pub operations: usize,
    /// Operations acknowledged with a final answer.
    pub acknowledged: usize,
    /// Operations whose outcome stayed unknown.
    pub indeterminate: usize,
    /// Nodes killed with SIGKILL.
    pub kills: usize,
    /// Of those, leaders.
    pub leader_kills: usize,
    /// Rounds that killed two nodes or all of them at once.
    pub multi_kills: usize,
    /// Rounds that cut a node off the network for a while instead.
    pub isolations: usize,
    /// Rounds that froze a node (SIGSTOP, then SIGCONT) instead.
    pub pauses: usize,
    /// Rounds that dropped a node's packets at the kernel instead.
    pub kernel_partitions: usize,
    /// Why kernel partitions were skipped, if they were.
    pub kernel_partitions_skipped: Option<String>,
    /// Milliseconds from a leader's kill to a new leader answering as such.
    pub failover_ms: Vec<u64>,
    /// The applied index every replica reached.
    pub final_applied: u64,
    /// Snapshots nodes restored (at restart, or installed from the leader).
    pub snapshot_restores: usize,
}

impl TortureReport {
    /// The median and the largest failover, in milliseconds.
    pub fn failover_summary(&self) -> Option<(u64, u64)> {
        let mut sorted = self.failover_ms.clone();
        sorted.sort_unstable();
        Some((*sorted.get(sorted.len() / 2)?, *sorted.last()?))
    }
}

impl core::fmt::Display for TortureReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} operations ({} acknowledged, {} indeterminate), {} kills ({} of the leader, \
             {} rounds killing two or three nodes), {} isolations, {} kernel partitions, \
             {} pauses, {} snapshot restores, replicas converged at index {}",
            self.operations,
            self.acknowledged,
            self.indeterminate,
            self.kills,
            self.leader_kills,
            self.multi_kills,
            self.isolations,
            self.kernel_partitions,
            self.pauses,
            self.snapshot_restores,
            self.final_applied
        )?;
        if let Some(why) = &self.kernel_partitions_skipped {
            write!(f, "; kernel partitions skipped: {why}")?;
        }
        if let Some((median, max)) = self.failover_summary() {
            write!(
                f,
                "; failover median {median} ms (~{} ticks), max {max} ms",
                median / TICK_MS
            )?;
        }
        Ok(())
    }
}

/// A duration drawn from the inclusive range `low..=high`, in whole milliseconds.
fn duration_between(rng: &mut SimRng, (low, high): (Duration, Duration)) -> Duration {
    let span = u64::try_from(high.saturating_sub(low).as_millis()).unwrap_or(u64::MAX);
    low + Duration::from_millis(rng.between(0, span))
}

const SHARED_KEYS: u8 = 4;
const PRIVATE_KEY_BASE: u8 = 100;
/// Keys are renamed every epoch, so that no key's history grows past what the
/// checker (whose memory grows with the square of a key's history) handles quickly.
const EPOCH: Duration = Duration::from_secs(5);

fn key_name(epoch: u64, key: u8) -> String {
    if key >= PRIVATE_KEY_BASE {
        format!("e{epoch}c{}", key - PRIVATE_KEY_BASE)
    } else {
        format!("e{epoch}s{key}")
    }
}

fn request_of(epoch: u64, op: Op) -> Request {
    let key = key_name(epoch, op.key());
    match op {
        Op::Put(_, value) => Request::Put {
            key,
            value: value.to_string(),
        },
        Op::Get(_) => Request::Get { key },
        Op::Delete(_) => Request::Delete { key },
        Op::Cas(_, expected, new) => Request::Cas {
            key,
            expected: expected.map(|value| value.to_string()),
            new: new.to_string(),
        },
    }
}

fn outcome_of(response: &Response) -> Result<Outcome, String> {
    Ok(match response {
        Response::Done => Outcome::Done,
        Response::Swapped(swapped) => Outcome::Swapped(*swapped),
        Response::Value(None) => Outcome::Read(None),
        Response::Value(Some(text)) => Outcome::Read(Some(
            text.parse()
                .map_err(|_| format!("read a value no client wrote: {text}"))?,
        )),
        other => return Err(format!("not a final answer: {other}")),
    })
}

/// Shared between the client threads.
struct History {
    clock: AtomicU64,
    started: Instant,
    /// Each operation with the epoch whose key names it used.
    records: Mutex<Vec<(u64, Recorded)>>,
}

impl History {
    fn now(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn epoch(&self) -> u64 {
        (self.started.elapsed().as_millis() / EPOCH.as_millis()) as u64
    }

    /// Runs `op` on `epoch`'s keys through `client` and records it. Returns the
    /// outcome, if any.
    fn perform(
        &self,
        client: &mut Client,
        who: u64,
        epoch: u64,
        op: Op,
    ) -> Result<Option<Outcome>, String> {
        let invoked = self.now();
        let result = client.execute(request_of(epoch, op), OP_TIMEOUT);
        let returned = match &result {
            Ok(response) => Some((self.now(), outcome_of(response)?)),
            Err(ClientError::Timeout { .. }) => None,
            Err(ClientError::Invalid(why)) => return Err(format!("rejected {op:?}: {why}")),
        };
        let outcome = returned.map(|(_, outcome)| outcome);
        self.records
            .lock()
            .map_err(|_| "history lock poisoned")?
            .push((
                epoch,
                Recorded {
                    client: who,
                    invoked,
                    returned,
                    op,
                },
            ));
        Ok(outcome)
    }
}

/// The private-key bookkeeping of one client in one epoch: its last acknowledged put
/// and the largest put it attempted.
#[derive(Clone, Copy, Debug, Default)]
struct PrivateWrites {
    acknowledged: u64,
    attempted: u64,
}

fn client_loop(
    index: u64,
    addresses: Vec<std::net::SocketAddr>,
    tls: Option<crate::tls::ClientTls>,
    history: &History,
    stop: &AtomicBool,
    seed: u64,
) -> Result<BTreeMap<u64, PrivateWrites>, String> {
    let mut rng = SimRng::new(seed ^ (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut client = Client::new(addresses).with_sessions().with_tls(tls);
    let mut private: BTreeMap<u64, PrivateWrites> = BTreeMap::new();
    let mut counter = 0u64;
    let mut seen: BTreeMap<u8, Option<u64>> = BTreeMap::new();
    let mut current_epoch = 0;
    while !stop.load(Ordering::SeqCst) {
        let epoch = history.epoch();
        if epoch != current_epoch {
            seen.clear();
            current_epoch = epoch;
        }
        counter += 1;
        let unique = (index + 1) * 1_000_000_000 + counter;
        let key = rng.below(u64::from(SHARED_KEYS)) as u8;
        let op = match rng.below(100) {
            0..=29 => Op::Put(key, unique),
            30..=54 => Op::Get(key),
            55..=62 => Op::Delete(key),
            63..=79 => Op::Cas(key, seen.get(&key).copied().flatten(), unique),
            _ => {
                private.entry(epoch).or_default().attempted = counter;
                Op::Put(PRIVATE_KEY_BASE + index as u8, counter)
            }
        };
        let outcome = history.perform(&mut client, index, epoch, op)?;
        if rng.below(100) == 0 {
            // Now and then a client pauses, keeping its connection: its next request
            // may reach a node that lost its leadership meanwhile without knowing it.
            thread::sleep(Duration::from_millis(rng.below(200)));
        }
        match (op, outcome) {
            (Op::Get(key), Some(Outcome::Read(value))) => {
                let _ = seen.insert(key, value);
            }
            (Op::Put(key, value), Some(_)) if key >= PRIVATE_KEY_BASE => {
                private.entry(epoch).or_default().acknowledged = value;
            }
            _ => {}
        }
    }
    Ok(private)
}

/// Runs the crash test against the `raft-kv` binary at `exe`.
///
/// # Errors
/// A description of the first check that failed, or of a harness failure.
pub fn run(exe: &Path, options: &TortureOptions) -> Result<TortureReport, String> {
    let mut cluster = LocalCluster::new(exe, 3, None).map_err(|error| error.to_string())?;
    cluster.serve_args.clone_from(&options.serve_args);
    let mut report = TortureReport::default();
    let kernel = if options.kernel_partitions {
        report.kernel_partitions_skipped = KernelPartition::unavailable();
        if let Some(why) = &report.kernel_partitions_skipped {
            println!("NOTICE: the crash test runs without kernel partitions: {why}");
        }
        report.kernel_partitions_skipped.is_none()
    } else {
        false
    };
    if kernel {
        // Each node its own address, so a rule can cut exactly one off.
        cluster.use_node_addresses();
    }
    cluster.start_all().map_err(|error| error.to_string())?;
    cluster
        .wait_for_leader(0, Duration::from_secs(20))
        .ok_or("no leader elected at start")?;
    let history = Arc::new(History {
        clock: AtomicU64::new(1),
        started: Instant::now(),
        records: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..options.clients as u64)
        .map(|index| {
            let history = Arc::clone(&history);
            let stop = Arc::clone(&stop);
            let addresses = cluster.client_addresses();
            let tls = cluster.client_tls();
            let seed = options.seed;
            thread::spawn(move || client_loop(index, addresses, tls, &history, &stop, seed))
        })
        .collect();

    // The nemesis, on this thread.
    let mut rng = SimRng::new(options.seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let end = Instant::now() + options.duration;
    let mut round = 0u64;
    while Instant::now() < end {
        thread::sleep(duration_between(&mut rng, options.kill_every));
        let ids = cluster.ids();
        let leader = cluster.leader();
        round += 1;
        let victim = match leader {
            // The first round always takes the leader, however short the run.
            Some((leader, _)) if round == 1 || rng.below(3) != 0 => leader,
            _ => ids[rng.below(ids.len() as u64) as usize],
        };
        // One round in four cuts the victim off the network instead: a leader keeps
        // taking client requests it can no longer serve, until it notices. Another
        // freezes it (SIGSTOP) for a while: a paused leader wakes up still believing it
        // leads, with requests queued.
        let fault = if round > 1 { rng.below(8) } else { 7 };
        if fault < 2 && kernel && rng.below(2) == 0 {
            // Every packet to and from the victim dropped by the kernel: connections
            // stall rather than close.
            let millis = 200 + rng.below(2300);
            let ip = cluster.members()[&victim].raft.ip();
            let mut cut = KernelPartition::cut(ip)?;
            report.kernel_partitions += 1;
            thread::sleep(Duration::from_millis(millis));
            cut.heal();
            continue;
        }
        if fault < 2 {
            let millis = 200 + rng.below(1300);
            let address = cluster.members()[&victim].client;
            let isolated = Client::new(vec![address])
                .with_tls(cluster.client_tls())
                .with_admin_token(Some(cluster.admin_token()))
                .execute(Request::Isolate { millis }, Duration::from_secs(2));
            if isolated == Ok(Response::Done) {
                report.isolations += 1;
            }
            thread::sleep(Duration::from_millis(millis));
            continue;
        }
        if fault < 4 {
            let millis = 200 + rng.below(1300);
            if cluster.pause(victim) {
                report.pauses += 1;
            }
            thread::sleep(Duration::from_millis(millis));
            let _ = cluster.resume(victim);
            continue;
        }
        // Usually one node; one round in eight also a second (quorum lost until they
        // restart), one in sixteen the whole cluster.
        let mut victims = vec![victim];
        match rng.below(16) {
            0 => victims = ids.clone(),
            1 | 2 => victims
                .push(ids[(ids.iter().position(|&id| id == victim).unwrap_or(0) + 1) % ids.len()]),
            _ => {}
        }
        let killed_at = Instant::now();
        for &id in &victims {
            cluster.kill(id);
        }
        report.kills += victims.len();
        if victims.len() > 1 {
            report.multi_kills += 1;
        }
        if let Some((leader, term)) = leader
            && leader == victim
        {
            report.leader_kills += 1;
            if victims.len() == 1
                && cluster
                    .wait_for_leader(term, Duration::from_secs(10))
                    .is_some()
            {
                report
                    .failover_ms
                    .push(killed_at.elapsed().as_millis() as u64);
            }
        }
        thread::sleep(duration_between(
            &mut rng,
            (Duration::from_millis(50), Duration::from_millis(600)),
        ));
        for &id in &victims {
            cluster.start(id).map_err(|error| error.to_string())?;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let mut private = Vec::new();
    for client in clients {
        private.push(client.join().map_err(|_| "a client thread panicked")??);
    }

    // Final reads of every key of every epoch, recorded too.
    let mut reader = cluster.client();
    let mut finals = BTreeMap::new();
    let epochs = history.epoch();
    for epoch in 0..=epochs {
        let keys = (0..SHARED_KEYS).chain((0..options.clients as u8).map(|i| PRIVATE_KEY_BASE + i));
        for key in keys {
            match history.perform(&mut reader, u64::MAX, epoch, Op::Get(key))? {
                Some(Outcome::Read(value)) => {
                    let _ = finals.insert((epoch, key), value);
                }
                _ => {
                    return Err(format!("the final read of {} failed", key_name(epoch, key)));
                }
            }
        }
    }
    let converged = cluster.wait_converged(Duration::from_secs(30))?;
    report.final_applied = converged.applied;
    report.snapshot_restores = cluster
        .ids()
        .into_iter()
        .map(|id| cluster.output_of(id).matches("restored snapshot").count())
        .sum();

    // No acknowledged write lost: each client's private key holds its last
    // acknowledged put of the epoch, or a later one whose answer it never got.
    for (index, epochs) in private.iter().enumerate() {
        let key = PRIVATE_KEY_BASE + index as u8;
        for (&epoch, writes) in epochs {
            let value = finals.get(&(epoch, key)).copied().flatten().unwrap_or(0);
            if value < writes.acknowledged || value > writes.attempted {
                return Err(format!(
                    "client {index}: {} holds {value}, but its last acknowledged put was {} \
                     and its last attempted {}",
                    key_name(epoch, key),
                    writes.acknowledged,
                    writes.attempted,
                ));
            }
        }
    }

    let records = core::mem::take(
        &mut *history
            .records
            .lock()
            .map_err(|_| "history lock poisoned")?,
    );
    report.operations = records.len();
    report.acknowledged = records.iter().filter(|(_, r)| r.returned.is_some()).count();
    report.indeterminate = report.operations - report.acknowledged;
    let mut by_epoch: BTreeMap<u64, Vec<Recorded>> = BTreeMap::new();
    for (epoch, record) in records {
        by_epoch.entry(epoch).or_default().push(record);
    }
    // The checker recurses once per operation of a key: give it a deep stack.
    let checked = thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            for (epoch, records) in by_epoch {
                check_linearizability(&records).map_err(|why| format!("epoch {epoch}: {why}"))?;
            }
            Ok::<(), String>(())
        })
        .map_err(|error| format!("starting the checker: {error}"))?
        .join()
        .map_err(|_| "the linearizability checker panicked")?;
    checked.map_err(|why| {
        let mut why = format!("not linearizable: {why}");
        if why.len() > 4000 {
            let cut = (0..=4000)
                .rev()
                .find(|&at| why.is_char_boundary(at))
                .unwrap_or(0);
            why.truncate(cut);
            why.push_str(" …");
        }
        why
    })?;
    Ok(report)
}
