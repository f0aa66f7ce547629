//! One key-value server process: a `RaftNode<WalLog>` driven by one loop thread, a
//! [`TcpTransport`] to its peers, and a line-protocol listener for clients.
//!
//! The loop owns the node. Everything else (peer messages, client requests) reaches it
//! through one bounded channel; a tick is stepped every [`ServerConfig::tick`]. Writes
//! that arrive together are proposed as one batch, so one fsync covers them all.
//! Replies to writes go out when the entry applies; reads go through ReadIndex and are
//! answered once the state machine has applied the confirmed index.

mod clients;
mod membership;
mod metrics;
mod wiring;

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use raft_io::tcp::{TcpOptions, TcpTransport};
use raft_io::{
    Action, Bytes, Claim, ConfigChange, DirOwner, Error, Event, Index, MembershipChange, Message,
    NodeId, RaftConfig, RaftLog, RaftNode, RaftTransport, Role, Term, WalLog, WalOptions,
};

use crate::pending::Pending;
use crate::protocol::{PeerMatch, Request, RequestLine, Response, Status};
use crate::store::{Command, Store};
use clients::{ClientPort, accept_clients};
pub use wiring::start;

/// Where a cluster member listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Raft traffic between nodes.
    pub raft: SocketAddr,
    /// Client requests.
    pub client: SocketAddr,
}

/// How to run one server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// This node.
    pub id: NodeId,
    /// Its write-ahead log and snapshots.
    pub data_dir: PathBuf,
    /// This is the node's first start (`serve --init`): `data_dir` must not hold a log
    /// yet, and one is created (incarnation 0, the one a new configuration names).
    /// Without it, a directory that holds no log is taken for a node whose data was
    /// lost or wiped: it may have voted in terms it no longer remembers, so it starts
    /// as a new incarnation (`WalLog::create_incarnation`), which counts for nothing
    /// until the leader has named it, caught it up and promoted it back
    /// (docs/RECOVERY.md, rule 2).
    pub init: bool,
    /// Every member known at start, this node included.
    pub members: BTreeMap<NodeId, Member>,
    /// The voters of the initial configuration (empty: every member). A node not
    /// among them starts as a learner, to be added with `add-learner`.
    pub voters: Vec<NodeId>,
    /// Wall time per Raft tick (election timeout is 10–20 ticks, heartbeats every 3).
    pub tick: Duration,
    /// fsync the log before acknowledging (turn off only for experiments).
    pub fsync: bool,
    /// A log segment file is sealed at this size and a new one started.
    pub segment_bytes: u64,
    /// Take a snapshot (and compact the log) every this many applied entries; 0: never.
    pub snapshot_every: u64,
    /// Print role changes and restarts to stdout.
    pub verbose: bool,
    /// Let the leader send AppendEntries before its own fsync, so the two overlap
    /// (`RaftConfig::with_deferred_leader_sync`).
    pub deferred_leader_sync: bool,
    /// Every role may end a step with writes unsynced: the loop steps every input
    /// that is ready, then syncs once and releases the answers that waited for it
    /// (`RaftConfig::with_async_persistence`).
    pub async_persistence: bool,
    /// Accept the `isolate` request (tests only: anyone who can connect could cut
    /// the node off).
    pub fault_injection: bool,
    /// The cluster's id: peers of another cluster are refused at the handshake.
    pub cluster_id: String,
    /// Mutual TLS for Raft traffic between nodes; `None` is plain TCP, which anyone
    /// who can reach the Raft port can forge messages over.
    pub peer_tls: Option<raft_io::tcp::TlsConfig>,
    /// TLS on the client port (the node proves `kv.CLUSTER.raft`); `None` is plain.
    pub client_tls: Option<Arc<rustls::ServerConfig>>,
    /// Connections to peers leave from this node's own Raft address (its IP), so a
    /// firewall can match the node by address.
    pub bind_outbound: bool,
    /// The token a client connection sends (`auth TOKEN`) before admin requests
    /// (membership changes, isolate); `None` turns admin requests off.
    pub admin_token: Option<Arc<str>>,
    /// A client connection that completes no request for this long is closed.
    pub client_idle_timeout: Duration,
    /// Client connections one address may hold at once (more are refused).
    pub client_connections_per_address: usize,
    /// Serve metrics in the Prometheus text format on this address (`GET /metrics`).
    pub metrics: Option<SocketAddr>,
}

impl ServerConfig {
    /// A configuration with 10 ms ticks, fsync on, deferred leader sync and a snapshot
    /// every 10,000 entries.
    pub fn new(id: NodeId, data_dir: PathBuf, members: BTreeMap<NodeId, Member>) -> Self {
        Self {
            id,
            data_dir,
            init: false,
            members,
            voters: Vec::new(),
            tick: Duration::from_millis(10),
            fsync: true,
            segment_bytes: raft_io::WalOptions::default().segment_bytes_max,
            snapshot_every: 10_000,
            verbose: true,
            deferred_leader_sync: true,
            async_persistence: true,
            fault_injection: false,
            cluster_id: "raft-kv".into(),
            peer_tls: None,
            client_tls: None,
            bind_outbound: false,
            admin_token: None,
            client_idle_timeout: Duration::from_secs(60),
            client_connections_per_address: 64,
            metrics: None,
        }
    }
}

/// What reaches the loop.
enum Input {
    Raft(Message),
    Client(RequestLine, Sender<Response>),
    /// A scrape of the metrics page.
    Metrics(Sender<String>),
}

/// How long a connection thread waits for the loop before answering `ERR retry`.
const REPLY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a stopping leader waits for its successor to take over.
const HANDOFF_MAX: Duration = Duration::from_secs(1);
/// Inputs the loop takes in one round before ticking again.
const ROUND_INPUTS_MAX: usize = 4096;

struct Server {
    config: ServerConfig,
    node: RaftNode<metrics::TimedLog>,
    /// Counters for the metrics page.
    counters: metrics::Counters,
    transport: TcpTransport,
    store: Store,
    /// Client requests waiting for Raft.
    pending: Pending,
    last_snapshot: Index,
    ticks: u64,
    /// Raft traffic is dropped both ways until then (fault injection).
    isolated_until: Option<Instant>,
    /// Set when the state machine cannot go on; the loop exits with it.
    fatal: Option<String>,
    /// Async persistence: a step asked for a sync the round has not made yet.
    sync_wanted: bool,
    actions: Vec<Action>,
    was: (Role, Term),
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leader => "leader",
        Role::Candidate => "candidate",
        _ => "follower",
    }
}

impl Server {
    fn say(&self, text: &str) {
        if self.config.verbose {
            println!("[node {}] {text}", self.config.id);
        }
    }

    fn redirect(&self, leader: Option<NodeId>) -> Response {
        match leader.and_then(|leader| self.config.members.get(&leader)) {
            Some(member) if leader != Some(self.config.id) => {
                Response::Redirect(member.client.to_string())
            }
            _ => Response::NoLeader,
        }
    }

    fn refusal(&self, error: &Error) -> Response {
        match error {
            Error::NotLeader { leader } => self.redirect(*leader),
            Error::TransferInProgress { .. } => Response::Retry("leadership transfer".into()),
            other => Response::Retry(other.to_string()),
        }
    }

    fn status(&self) -> Response {
        Response::Status(
            Status {
                id: self.config.id,
                role: role_name(self.node.role()).into(),
                term: self.node.term(),
                leader: self.node.leader().unwrap_or(0),
                commit: self.node.commit_index(),
                applied: self.node.last_applied(),
                digest: self.store.digest(),
                keys: self.store.len() as u64,
                ticks: self.ticks,
                voters: self.node.membership().voters().to_vec(),
                learners: self.node.membership().learners().to_vec(),
                last_index: self.node.log().last_index(),
                config_index: self.node.config_index(),
                outgoing: self.node.membership().outgoing_voters().to_vec(),
                syncs: self.node.log().syncs.count,
                incarnation: self.node.log().incarnation(),
                incarnations: self.node.membership().incarnations().to_vec(),
                peers: self
                    .node
                    .status()
                    .peers
                    .iter()
                    .map(|peer| PeerMatch {
                        id: peer.id,
                        match_index: peer.match_index,
                        heard_ticks_ago: peer.heard_ticks_ago,
                    })
                    .collect(),
            }
            .to_words(),
        )
    }

    /// Steps the node and carries out what it asks. A storage failure is fatal: the
    /// process exits and restarts from what reached the disk.
    fn step(&mut self, event: Event) -> Result<(), Error> {
        let mut next = Some(event);
        while let Some(event) = next.take() {
            let mut actions = core::mem::take(&mut self.actions);
            actions.clear();
            let result = self.node.step_into(event, &mut actions);
            let mut sync = false;
            for action in actions.drain(..) {
                if action == Action::SyncLog {
                    sync = true;
                } else {
                    self.act(action);
                }
            }
            self.actions = actions;
            self.after_step();
            result?;
            if sync && self.config.async_persistence {
                // The answers wait inside the node; the round syncs once at its end.
                self.sync_wanted = true;
            } else if sync {
                // The AppendEntries are on the peers' queues (their writer threads
                // send while we fsync): now make the leader's own copy durable.
                next = Some(Event::SyncLog);
            }
        }
        Ok(())
    }

    /// Async persistence: one sync for everything the round stepped, which releases
    /// the answers that waited for it.
    fn flush_sync(&mut self) -> Result<(), Error> {
        while std::mem::take(&mut self.sync_wanted) {
            self.step(Event::SyncLog)?;
        }
        Ok(())
    }

    fn isolated(&mut self) -> bool {
        match self.isolated_until {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                self.isolated_until = None;
                self.say("isolation over");
                false
            }
            None => false,
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Send { .. } if self.isolated() => {}
            Action::Send { to, message } => {
                // A peer whose address is not known yet, or a full queue: lost, as on a network.
                let _ = self.transport.send(to, message);
            }
            Action::Apply {
                index,
                term,
                command,
            } => {
                let response = match Command::decode(&command) {
                    Some(command) => {
                        let response = self.store.apply(index, &command);
                        if let Request::AddLearner { id, raft, client } = &command.request {
                            self.learn_member(*id, raft, client);
                        }
                        response
                    }
                    None => Response::Invalid("undecodable log entry".into()),
                };
                self.pending.applied(index, term, response);
            }
            Action::ReadReady { index, context } => self.pending.read_ready(&context, index),
            Action::ReadDropped { context } => {
                self.pending
                    .refuse_reads(&context, &Response::Retry("leadership lost".into()));
            }
            Action::RestoreSnapshot { index, data, .. } => match Store::decode(&data) {
                Some(store) => {
                    self.store = store;
                    let members: Vec<(u64, String, String)> = self
                        .store
                        .members()
                        .iter()
                        .map(|(&id, (raft, client))| (id, raft.clone(), client.clone()))
                        .collect();
                    for (id, raft, client) in members {
                        self.learn_member(id, &raft, &client);
                    }
                    self.last_snapshot = self.last_snapshot.max(index);
                    self.say(&format!("restored snapshot at index {index}"));
                }
                None => {
                    // Applying on top of the old state would diverge from the replicas.
                    self.fatal = Some(format!("the snapshot at index {index} does not decode"));
                }
            },
            // (Logged by raft-core's "configuration changed" event: `logging.rs`.)
            Action::MembershipChanged { .. } => {}
            Action::Removed { index } => {
                // Said even when quiet: the operator should stop this node.
                println!(
                    "[node {}] removed from the cluster's configuration (committed at index \
                     {index}): this node no longer takes part; stop it",
                    self.config.id
                );
            }
            Action::Repaired { through } => {
                // Said even when quiet: it closes the repair the start-up line opened.
                println!(
                    "[node {}] repaired: the leader sent back every entry through {through}                      that the damaged disk lost; this node votes again",
                    self.config.id
                );
            }
            Action::ConfigChangeDropped { change } => {
                self.say(&format!("configuration change {change:?} abandoned"));
            }
            Action::MembershipChangeDropped { change } => {
                self.say(&format!("membership change {change:?} abandoned"));
            }
            _ => {}
        }
    }

    fn after_step(&mut self) {
        self.pending
            .caught_up(self.node.last_applied(), &self.store);
        let now = (self.node.role(), self.node.term());
        if now != self.was {
            // (Role and term changes are logged by raft-core's events: `logging.rs`.)
            if now.0 != Role::Leader && self.was.0 == Role::Leader {
                // Outcomes unknown: they may still commit under the next leader.
                self.pending.leadership_lost();
            }
            self.was = now;
        }
    }

    fn serve_round(&mut self, inputs: &mut Vec<Input>) -> Result<(), Error> {
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batch_replies: Vec<Sender<Response>> = Vec::new();
        let mut gets: Vec<(String, Sender<Response>)> = Vec::new();
        for input in inputs.drain(..) {
            match input {
                Input::Metrics(reply) => {
                    let _ = reply.send(self.metrics_page());
                }
                Input::Raft(_) if self.isolated() => {}
                Input::Raft(message) => {
                    if let Err(error) = self.step(Event::Message(message))
                        && error.is_fatal()
                    {
                        return Err(error);
                    }
                }
                Input::Client(line, reply) => match line.request {
                    Request::Status => {
                        let _ = reply.send(self.status());
                    }
                    request @ (Request::AddLearner { .. }
                    | Request::Promote { .. }
                    | Request::Remove { .. }) => {
                        let response = self.change_membership(request);
                        let _ = reply.send(response);
                    }
                    Request::SetVoters {
                        ids,
                        expected_config,
                    } => {
                        let response = self.set_voters(ids, expected_config);
                        let _ = reply.send(response);
                    }
                    Request::Isolate { .. } if !self.config.fault_injection => {
                        let _ = reply.send(Response::Invalid(
                            "fault injection is off (--allow-fault-injection)".into(),
                        ));
                    }
                    Request::Isolate { millis } => {
                        self.isolated_until = Some(Instant::now() + Duration::from_millis(millis));
                        self.say(&format!("isolated for {millis} ms"));
                        let _ = reply.send(Response::Done);
                    }
                    Request::Get { key } => gets.push((key, reply)),
                    // (The connection answers it; it never goes further.)
                    Request::Auth { .. } => {
                        let _ = reply.send(Response::Invalid("auth is per connection".into()));
                    }
                    request => {
                        let command = Command {
                            session: line.session,
                            request,
                        };
                        batch.push(Bytes::from(command.encode()));
                        batch_replies.push(reply);
                    }
                },
            }
        }
        if !gets.is_empty() {
            let context = self.pending.add_reads(gets);
            if let Err(error) = self.step(Event::ReadIndex(context.clone())) {
                let refusal = self.refusal(&error);
                self.pending.refuse_reads(&context, &refusal);
                if error.is_fatal() {
                    return Err(error);
                }
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        // Registered before the step: a single-node cluster commits and applies the
        // batch inside it. (If the step refuses, nothing was appended.)
        let first = self.node.log().last_index() + 1;
        let indexes = self
            .pending
            .add_writes(first, self.node.term(), batch_replies);
        let proposed = batch.len() as u64;
        match self.step(Event::ProposeBatch(batch)) {
            Ok(()) => {
                debug_assert_eq!(self.node.log().last_index(), *indexes.end());
                self.counters.proposals += proposed;
                Ok(())
            }
            Err(error) => {
                let response = self.refusal(&error);
                self.pending.refuse_writes(indexes, &response);
                if error.is_fatal() { Err(error) } else { Ok(()) }
            }
        }
    }

    /// If leading a cluster of several voters, asks the most caught-up other voter to
    /// take over; returns it.
    fn hand_off(&mut self) -> Option<NodeId> {
        if !self.node.is_leader() {
            return None;
        }
        let me = self.config.id;
        let target = self
            .node
            .membership()
            .voters()
            .iter()
            .copied()
            .filter(|&voter| voter != me)
            .max_by_key(|&voter| {
                (
                    self.node.match_index(voter).unwrap_or(0),
                    core::cmp::Reverse(voter),
                )
            })?;
        self.step(Event::TransferLeadership(target)).ok()?;
        Some(target)
    }

    fn maybe_snapshot(&mut self) -> Result<(), Error> {
        let applied = self.node.last_applied();
        if self.config.snapshot_every == 0
            || applied < self.last_snapshot + self.config.snapshot_every
        {
            return Ok(());
        }
        self.last_snapshot = applied;
        let data = Bytes::from(self.store.encode());
        self.counters.snapshots += 1;
        self.counters.snapshot_bytes = data.len() as u64;
        self.step(Event::Snapshot {
            index: applied,
            data,
        })
    }
}

/// A running server; [`ServerHandle::stop`] (or a set `stop` flag) ends it.
pub struct ServerHandle {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    main: Option<JoinHandle<Result<(), String>>>,
}

impl ServerHandle {
    /// Waits until the server stops (its stop flag was set, or it failed).
    ///
    /// # Errors
    /// Why it failed.
    pub fn join(mut self) -> Result<(), String> {
        let result = match self.main.take() {
            Some(main) => main
                .join()
                .unwrap_or_else(|_| Err("server loop panicked".into())),
            None => Ok(()),
        };
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        result
    }

    /// Asks the server to stop and waits for it.
    ///
    /// # Errors
    /// As [`ServerHandle::join`].
    pub fn stop(self) -> Result<(), String> {
        self.stop.store(true, Ordering::SeqCst);
        self.join()
    }
}

fn run_loop(server: &mut Server, inbox: &Receiver<Input>, stop: &AtomicBool) -> Result<(), String> {
    let tick = server.config.tick;
    let mut next_tick = Instant::now() + tick;
    let mut inputs = Vec::new();
    // On shutdown a leader first hands its leadership to the most caught-up voter, so
    // the cluster does not wait out an election timeout; this long at most.
    let mut handoff_until: Option<Instant> = None;
    loop {
        if let Some(why) = server.fatal.take() {
            return Err(why);
        }
        let now = Instant::now();
        if stop.load(Ordering::SeqCst) {
            match handoff_until {
                None => match server.hand_off() {
                    Some(target) => {
                        server.say(&format!(
                            "shutting down: handing leadership to node {target}"
                        ));
                        handoff_until = Some(now + HANDOFF_MAX);
                    }
                    None => return Ok(()),
                },
                Some(deadline) => {
                    if !server.node.is_leader() {
                        server.say("handed off leadership");
                        return Ok(());
                    }
                    if now >= deadline {
                        server.say("leadership handoff timed out");
                        return Ok(());
                    }
                }
            }
        }
        if now >= next_tick {
            server.ticks += 1;
            server
                .step(Event::Tick)
                .and_then(|()| server.flush_sync())
                .map_err(|error| format!("tick: {error}"))?;
            next_tick += tick;
            if next_tick < now {
                // The loop fell behind (a long fsync): do not replay missed ticks.
                next_tick = now + tick;
            }
            continue;
        }
        match inbox.recv_timeout(next_tick - now) {
            Ok(input) => inputs.push(input),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => continue,
        }
        while inputs.len() < ROUND_INPUTS_MAX {
            match inbox.try_recv() {
                Ok(input) => inputs.push(input),
                Err(_) => break,
            }
        }
        server
            .serve_round(&mut inputs)
            .and_then(|()| server.flush_sync())
            .map_err(|error| format!("step: {error}"))?;
        server
            .maybe_snapshot()
            .map_err(|error| format!("snapshot: {error}"))?;
    }
}
