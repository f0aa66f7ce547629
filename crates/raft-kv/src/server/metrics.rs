//! Metrics in the Prometheus text format (`raft-kv serve --metrics ADDR`): the node's
//! state from `RaftNode::status()`, its counters, the log's fsyncs (count and latency
//! histogram, timed by [`TimedLog`]) and the transport's counters, served over plain
//! HTTP by a small thread that asks the node loop for a fresh page per scrape.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read as _};

use raft_io::{HardState, RepairMark, Snapshot};

use super::*;

/// Upper bounds of the fsync latency buckets, in microseconds (the last is +Inf).
const SYNC_BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

/// The log's fsyncs: how many, and how long they took.
#[derive(Clone, Debug, Default)]
pub(super) struct SyncStats {
    pub(super) count: u64,
    pub(super) micros_sum: u64,
    /// Per bucket of [`SYNC_BUCKETS_US`], plus one for +Inf (not cumulative).
    pub(super) buckets: [u64; 13],
}

impl SyncStats {
    fn observe(&mut self, micros: u64) {
        self.count += 1;
        self.micros_sum = self.micros_sum.saturating_add(micros);
        let bucket = SYNC_BUCKETS_US
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(SYNC_BUCKETS_US.len());
        self.buckets[bucket] += 1;
    }
}

/// A `WalLog` whose `sync` is timed; everything else is passed through.
pub struct TimedLog {
    pub(super) wal: WalLog,
    pub(super) syncs: SyncStats,
}

impl TimedLog {
    /// `wal`, timed.
    pub fn new(wal: WalLog) -> Self {
        Self {
            wal,
            syncs: SyncStats::default(),
        }
    }
}

impl RaftLog for TimedLog {
    fn last_index(&self) -> Index {
        self.wal.last_index()
    }
    fn last_term(&self) -> Term {
        self.wal.last_term()
    }
    fn term_at(&self, index: Index) -> Option<Term> {
        self.wal.term_at(index)
    }
    fn entry(&self, index: Index) -> Option<raft_io::LogEntry> {
        self.wal.entry(index)
    }
    fn entries(&self, from: Index, to: Index) -> Vec<raft_io::LogEntry> {
        self.wal.entries(from, to)
    }
    fn for_each_entry(
        &self,
        from: Index,
        to: Index,
        visit: &mut dyn FnMut(&raft_io::LogEntry),
    ) -> u64 {
        self.wal.for_each_entry(from, to, visit)
    }
    fn entries_limited(&self, from: Index, to: Index, bytes_max: usize) -> Vec<raft_io::LogEntry> {
        self.wal.entries_limited(from, to, bytes_max)
    }
    fn append(&mut self, entries: &[raft_io::LogEntry]) -> raft_io::Result<()> {
        self.wal.append(entries)
    }
    fn append_owned(&mut self, entries: Vec<raft_io::LogEntry>) -> raft_io::Result<()> {
        self.wal.append_owned(entries)
    }
    fn append_entry(&mut self, entry: raft_io::LogEntry) -> raft_io::Result<()> {
        self.wal.append_entry(entry)
    }
    fn truncate(&mut self, from: Index) -> raft_io::Result<()> {
        self.wal.truncate(from)
    }
    fn hard_state(&self) -> HardState {
        self.wal.hard_state()
    }
    fn set_hard_state(&mut self, state: HardState) -> raft_io::Result<()> {
        self.wal.set_hard_state(state)
    }
    fn snapshot(&self) -> Option<Snapshot> {
        self.wal.snapshot()
    }
    fn snapshot_index(&self) -> Index {
        self.wal.snapshot_index()
    }
    fn save_snapshot(&mut self, snapshot: Snapshot) -> raft_io::Result<()> {
        self.wal.save_snapshot(snapshot)
    }
    fn repair_mark(&self) -> Option<RepairMark> {
        self.wal.repair_mark()
    }
    fn incarnation(&self) -> raft_io::Incarnation {
        self.wal.incarnation()
    }
    fn set_repair_mark(&mut self, mark: Option<RepairMark>) -> raft_io::Result<()> {
        self.wal.set_repair_mark(mark)
    }
    fn sync(&mut self) -> raft_io::Result<()> {
        let started = Instant::now();
        let result = self.wal.sync();
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.syncs.observe(micros);
        result
    }
}

/// Counters the server keeps for the metrics page.
#[derive(Clone, Debug, Default)]
pub(super) struct Counters {
    /// Client writes proposed (entries).
    pub(super) proposals: u64,
    /// Snapshots taken, and the size of the last one in bytes.
    pub(super) snapshots: u64,
    pub(super) snapshot_bytes: u64,
}

impl Server {
    /// The metrics page, fresh.
    pub(super) fn metrics_page(&self) -> String {
        let status = self.node.status();
        let id = self.config.id;
        let mut page = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, value: u64| {
            let _ = writeln!(
                page,
                "# HELP raftkv_{name} {help}\n# TYPE raftkv_{name} {kind}\nraftkv_{name}{{node=\"{id}\"}} {value}"
            );
        };
        gauge("term", "The node's current term.", "gauge", status.term);
        let role = match status.role {
            Role::Leader => 2,
            Role::Candidate => 1,
            _ => 0,
        };
        gauge("role", "0 follower, 1 candidate, 2 leader.", "gauge", role);
        gauge(
            "leader",
            "The leader the node knows of (0: none).",
            "gauge",
            status.leader.unwrap_or(0),
        );
        gauge(
            "commit_index",
            "The highest index known committed.",
            "gauge",
            status.commit_index,
        );
        gauge(
            "applied_index",
            "The highest index applied.",
            "gauge",
            status.last_applied,
        );
        gauge(
            "last_index",
            "The last index in the node's log.",
            "gauge",
            status.last_index,
        );
        gauge(
            "config_index",
            "The index of the configuration in force.",
            "gauge",
            status.config_index,
        );
        gauge(
            "proposals_total",
            "Client writes proposed on this node as leader.",
            "counter",
            self.counters.proposals,
        );
        gauge(
            "snapshots_total",
            "Snapshots taken.",
            "counter",
            self.counters.snapshots,
        );
        gauge(
            "snapshot_bytes",
            "Size of the last snapshot taken.",
            "gauge",
            self.counters.snapshot_bytes,
        );
        let stats = self.transport.stats();
        for (name, help, value) in [
            ("tcp_sent_total", "Messages written to peers.", stats.sent),
            (
                "tcp_received_total",
                "Messages received from peers.",
                stats.received,
            ),
            (
                "tcp_dropped_queue_full_total",
                "Messages dropped: a peer's queue was full.",
                stats.dropped_queue_full,
            ),
            (
                "tcp_dropped_disconnected_total",
                "Messages dropped: a peer was unreachable.",
                stats.dropped_disconnected,
            ),
            (
                "tcp_connects_total",
                "Outbound connections established.",
                stats.connects,
            ),
            (
                "tcp_decode_errors_total",
                "Inbound frames that failed to decode.",
                stats.decode_errors,
            ),
            (
                "tcp_handshakes_refused_total",
                "Inbound handshakes refused.",
                stats.handshakes_refused,
            ),
        ] {
            gauge(name, help, "counter", value);
        }
        let _ = writeln!(
            page,
            "# HELP raftkv_peer_lag Entries a peer's log is behind the leader's (leader only).\n# TYPE raftkv_peer_lag gauge"
        );
        for peer in &status.peers {
            let lag = status.last_index.saturating_sub(peer.match_index);
            let _ = writeln!(
                page,
                "raftkv_peer_lag{{node=\"{id}\",peer=\"{}\"}} {lag}",
                peer.id
            );
        }
        let syncs = &self.node.log().syncs;
        let _ = writeln!(
            page,
            "# HELP raftkv_fsync_seconds Time the log's fsyncs took.\n# TYPE raftkv_fsync_seconds histogram"
        );
        let mut cumulative = 0;
        for (position, count) in syncs.buckets.iter().enumerate() {
            cumulative += count;
            let bound = SYNC_BUCKETS_US
                .get(position)
                .map_or_else(|| "+Inf".to_owned(), |&us| format!("{}", us as f64 / 1e6));
            let _ = writeln!(
                page,
                "raftkv_fsync_seconds_bucket{{node=\"{id}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            page,
            "raftkv_fsync_seconds_sum{{node=\"{id}\"}} {}\nraftkv_fsync_seconds_count{{node=\"{id}\"}} {}",
            syncs.micros_sum as f64 / 1e6,
            syncs.count
        );
        page
    }
}

/// Serves `GET /metrics` on `listener` until `stop`: each scrape asks the node loop for
/// a page through `inputs`. Anything else gets 404; a request line longer than 8 KiB, a
/// slow client (2 s) or a busy loop gets the connection closed.
pub(super) fn serve_metrics(
    listener: TcpListener,
    inputs: SyncSender<Input>,
    stop: Arc<AtomicBool>,
) {
    let _ = listener.set_nonblocking(true);
    while !stop.load(Ordering::Relaxed) {
        let (stream, _) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(_) => continue,
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = answer_scrape(stream, &inputs);
    }
}

fn answer_scrape(mut stream: TcpStream, inputs: &SyncSender<Input>) -> io::Result<()> {
    let mut line = String::new();
    let mut reader = BufReader::new((&stream).take(8 << 10));
    let _ = reader.read_line(&mut line)?;
    let wanted = line.starts_with("GET /metrics ") || line.trim_end() == "GET /metrics";
    let (status, body) = if wanted {
        let (reply, page) = mpsc::channel();
        match inputs.try_send(Input::Metrics(reply)) {
            Ok(()) => match page.recv_timeout(REPLY_TIMEOUT) {
                Ok(page) => ("200 OK", page),
                Err(_) => (
                    "503 Service Unavailable",
                    "the node loop is busy\n".to_owned(),
                ),
            },
            Err(_) => (
                "503 Service Unavailable",
                "the node loop is busy\n".to_owned(),
            ),
        }
    } else {
        ("404 Not Found", "GET /metrics\n".to_owned())
    };
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
