//! Benchmarks on a loopback cluster: write and read throughput with latency, and
//! failover time after a leader's SIGKILL.

use super::*;

/// What the benchmark clients do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Put 64-byte values (through the log).
    Writes,
    /// Get keys (linearizable reads through ReadIndex).
    Reads,
}

/// Latency and throughput of acknowledged operations.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// What the clients did.
    pub workload: Workload,
    /// Concurrent clients.
    pub clients: usize,
    /// Operations answered in the measured window.
    pub operations: usize,
    /// Per second.
    pub per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Each node's fsyncs per second in the measured window.
    pub fsyncs_per_sec: Vec<f64>,
}

impl BenchReport {
    /// Writes per fsync of the busiest node (the leader); 0 for reads, which write
    /// nothing of their own.
    pub fn ops_per_fsync(&self) -> f64 {
        let busiest = self.fsyncs_per_sec.iter().copied().fold(0.0, f64::max);
        if self.workload == Workload::Writes && busiest > 0.0 {
            self.per_sec / busiest
        } else {
            0.0
        }
    }
}

impl core::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let fsyncs: Vec<String> = self
            .fsyncs_per_sec
            .iter()
            .map(|rate| format!("{rate:.0}"))
            .collect();
        write!(
            f,
            "{:>3} clients, {:<6} {:>7.0}/s, p50 {:>6.2} ms, p99 {:>6.2} ms ({} operations); \
             fsyncs/s per node {}, {:.1} writes per fsync",
            self.clients,
            match self.workload {
                Workload::Writes => "writes",
                Workload::Reads => "reads",
            },
            self.per_sec,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.operations,
            fsyncs.join("/"),
            self.ops_per_fsync()
        )
    }
}

/// `clients` clients each putting 64-byte values (or reading keys) as fast as answers
/// come back, on a fresh 3-node cluster (fsync on unless `serve_args` turns it off).
///
/// # Errors
/// The cluster did not start or a write failed.
pub fn bench(
    exe: &Path,
    workload: Workload,
    clients: usize,
    duration: Duration,
    serve_args: &[String],
) -> Result<BenchReport, String> {
    let mut cluster = LocalCluster::new(exe, 3, None).map_err(|error| error.to_string())?;
    cluster.serve_args = serve_args.to_vec();
    // Every benchmark client connects from 127.0.0.1: lift the per-address cap past them.
    cluster.serve_args.extend([
        "--client-connections-per-address".to_owned(),
        (clients + 16).min(1024).to_string(),
    ]);
    cluster.start_all().map_err(|error| error.to_string())?;
    cluster
        .wait_for_leader(0, Duration::from_secs(20))
        .ok_or("no leader")?;
    let start = Instant::now() + Duration::from_millis(500);
    let end = start + duration;
    let syncs = |cluster: &LocalCluster| -> Vec<u64> {
        cluster
            .ids()
            .into_iter()
            .map(|id| cluster.status(id).map_or(0, |status| status.syncs))
            .collect()
    };
    let threads: Vec<_> = (0..clients as u64)
        .map(|index| {
            let addresses = cluster.client_addresses();
            let tls = cluster.client_tls();
            thread::spawn(move || -> Result<Vec<Duration>, String> {
                let mut client = Client::new(addresses).with_sessions().with_tls(tls);
                let value = "v".repeat(64);
                let mut latencies = Vec::new();
                let mut counter = 0u64;
                loop {
                    let began = Instant::now();
                    if began >= end {
                        return Ok(latencies);
                    }
                    counter += 1;
                    let key = format!("bench-{index}-{}", counter % 1000);
                    let request = match workload {
                        Workload::Writes => Request::Put {
                            key,
                            value: value.clone(),
                        },
                        Workload::Reads => Request::Get { key },
                    };
                    let _ = client
                        .execute(request, OP_TIMEOUT)
                        .map_err(|error| error.to_string())?;
                    if began >= start {
                        latencies.push(began.elapsed());
                    }
                }
            })
        })
        .collect();
    thread::sleep(start.saturating_duration_since(Instant::now()));
    let syncs_before = syncs(&cluster);
    let mut latencies = Vec::new();
    for thread in threads {
        latencies.extend(thread.join().map_err(|_| "a client panicked")??);
    }
    let window = start.elapsed().as_secs_f64();
    let fsyncs_per_sec = syncs(&cluster)
        .into_iter()
        .zip(syncs_before)
        .map(|(after, before)| after.saturating_sub(before) as f64 / window)
        .collect();
    latencies.sort_unstable();
    let at = |quantile: f64| {
        latencies
            .get(
                ((latencies.len() as f64 * quantile) as usize)
                    .min(latencies.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or_default()
    };
    Ok(BenchReport {
        workload,
        clients,
        operations: latencies.len(),
        per_sec: latencies.len() as f64 / duration.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        fsyncs_per_sec,
    })
}

/// What a benchmark runs with (from `serve_args`), then the disk's own O_DSYNC rate
/// measured now ([`dsync_writes_per_sec`], one second).
///
/// # Errors
/// The probe file cannot be written.
pub fn bench_header(serve_args: &[String], secs: u64) -> Result<String, String> {
    let has = |flag: &str| serve_args.iter().any(|arg| arg == flag);
    let probe = crate::local::temp_dir("dsync").map_err(|error| error.to_string())?;
    let disk = dsync_writes_per_sec(&probe, Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&probe);
    Ok(format!(
        "3-node loopback cluster, fsync {}, leader {}, {}, 64-byte puts, {secs} s per run\n\
         the disk alone: {:.0} O_DSYNC 64-byte writes/s (the physical limit for one fsync stream)",
        if has("--no-fsync") { "off" } else { "on" },
        if has("--sync-before-send") {
            "syncs before replicating"
        } else {
            "replicates while it syncs"
        },
        if has("--sync-per-message") || has("--sync-before-send") {
            "every step synced before it answers"
        } else {
            "one sync per round of ready messages (async persistence)"
        },
        disk?
    ))
}

/// The disk's own rate of small durable writes, the physical limit a log's fsyncs
/// meet: 64-byte writes to a file in `dir` opened with `O_DSYNC` (on Linux; elsewhere
/// each write is followed by `sync_data`), for `duration`.
///
/// # Errors
/// The file cannot be created or written.
pub fn dsync_writes_per_sec(dir: &Path, duration: Duration) -> Result<f64, String> {
    use std::io::Write as _;
    let path = dir.join("dsync-probe");
    let mut options = std::fs::OpenOptions::new();
    let _ = options.create(true).write(true).truncate(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // O_DSYNC on Linux (all architectures Rust supports there).
        let _ = options.custom_flags(0o10000);
    }
    let mut file = options.open(&path).map_err(|error| error.to_string())?;
    let record = [0x5au8; 64];
    let began = Instant::now();
    let mut writes = 0u64;
    while began.elapsed() < duration {
        file.write_all(&record).map_err(|error| error.to_string())?;
        #[cfg(not(target_os = "linux"))]
        file.sync_data().map_err(|error| error.to_string())?;
        writes += 1;
    }
    let rate = writes as f64 / began.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(rate)
}

/// One leader kill: milliseconds until a new leader answers as such, and until a
/// client's write is acknowledged again.
#[derive(Clone, Copy, Debug)]
pub struct Failover {
    /// Kill to new leader.
    pub elected_ms: u64,
    /// Ticks the new leader stepped between the kill and answering as leader.
    pub elected_ticks: u64,
    /// Kill to the first acknowledged write.
    pub write_ms: u64,
}

/// Kills the leader of a 3-node cluster `trials` times (restarting it each time) and
/// measures how long the cluster is without one.
///
/// # Errors
/// The cluster did not recover.
pub fn failovers(exe: &Path, trials: usize) -> Result<Vec<Failover>, String> {
    let mut cluster = LocalCluster::new(exe, 3, None).map_err(|error| error.to_string())?;
    cluster.start_all().map_err(|error| error.to_string())?;
    let mut client = cluster.client();
    let mut results = Vec::new();
    for trial in 0..trials {
        let (leader, term) = cluster
            .wait_for_leader(0, Duration::from_secs(20))
            .ok_or("no leader")?;
        // Let the cluster settle: every node up and caught up.
        let _ = client
            .execute(
                Request::Put {
                    key: "failover".into(),
                    value: trial.to_string(),
                },
                OP_TIMEOUT,
            )
            .map_err(|error| error.to_string())?;
        thread::sleep(Duration::from_millis(500));
        let ticks_before: BTreeMap<u64, u64> = cluster
            .ids()
            .into_iter()
            .filter(|&id| id != leader)
            .filter_map(|id| Some((id, cluster.status(id)?.ticks)))
            .collect();
        let killed_at = Instant::now();
        cluster.kill(leader);
        let (elected, _) = cluster
            .wait_for_leader(term, Duration::from_secs(10))
            .ok_or("no new leader")?;
        let elected_ms = killed_at.elapsed().as_millis() as u64;
        let elected_ticks = cluster
            .status(elected)
            .map(|status| status.ticks)
            .zip(ticks_before.get(&elected))
            .map_or(0, |(after, before)| after.saturating_sub(*before));
        let _ = client
            .execute(
                Request::Put {
                    key: "failover".into(),
                    value: format!("after-{trial}"),
                },
                OP_TIMEOUT,
            )
            .map_err(|error| error.to_string())?;
        let write_ms = killed_at.elapsed().as_millis() as u64;
        results.push(Failover {
            elected_ms,
            elected_ticks,
            write_ms,
        });
        cluster.start(leader).map_err(|error| error.to_string())?;
        let _ = cluster.wait_converged(Duration::from_secs(20))?;
    }
    Ok(results)
}

/// The failover trials as `raft-kv bench` prints them: each trial, then the medians.
pub fn failover_report(results: &[Failover]) -> String {
    let line: Vec<String> = results
        .iter()
        .map(|f| format!("{}ms/{}t/{}ms", f.elected_ms, f.elected_ticks, f.write_ms))
        .collect();
    let median = |key: fn(&Failover) -> u64| {
        let mut values: Vec<u64> = results.iter().map(key).collect();
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    };
    format!(
        "failover after SIGKILL of the leader, {} trials (ms to a new leader / its ticks \
         meanwhile / ms to the first acknowledged write): {}\n  medians: {} ms and {} ticks \
         of {} ms to a new leader (election timeout 10-20 ticks), {} ms to a write",
        results.len(),
        line.join(" "),
        median(|f| f.elected_ms),
        median(|f| f.elected_ticks),
        TICK_MS,
        median(|f| f.write_ms)
    )
}
