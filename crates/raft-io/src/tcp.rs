//! A [`RaftTransport`] over TCP, speaking the frozen raft-wire framing.
//!
//! Plain `std::net` and threads, no async runtime: a node talks to a handful of peers,
//! so one writer thread per peer and one reader thread per inbound connection cost
//! little, and the driver stays an ordinary loop (see ARCHITECTURE.md for the choice).
//!
//! - **Outbound**: [`RaftTransport::send`] puts the message on the peer's bounded queue
//!   and returns at once. The peer's writer thread connects (with exponential backoff
//!   after a failure), encodes queued messages into frames and writes them in batches.
//!   A full queue drops the message; while the peer is unreachable its queue is
//!   discarded, since Raft resends what matters. Nothing blocks the node and nothing
//!   grows without bound.
//! - **Inbound**: an acceptor thread hands each connection to a reader thread that
//!   feeds a [`FrameDecoder`] and passes every decoded message to the `deliver`
//!   callback. A bad but well-delimited frame is counted and skipped; a stream that
//!   lost its frame boundaries (bad magic, checksum, oversize) is closed, and the
//!   sending peer simply reconnects: no peer is ever dropped from the cluster.
//! - **Who is calling**: every connection opens with a hello ([`hello_bytes`]) naming
//!   the cluster, the calling node and the node it means to reach; the acceptor
//!   refuses another cluster, a node that is not one of its peers and a hello meant
//!   for another node, and binds the connection to the caller: a frame whose sender is
//!   any other node is dropped ([`TcpStats::frames_wrong_sender`]). With feature `tls`
//!   and [`TcpOptions::tls`] set, connections are mutual TLS 1.3 and the caller's id is
//!   the one its certificate proves (`TlsConfig`); without TLS the hello prevents
//!   mistakes (a node of another cluster, a stray process), not attacks.
//! - **Slots**: a connection that has not completed its handshake within
//!   [`TcpOptions::handshake_timeout`] is closed, at most
//!   [`TcpOptions::handshakes_max`] handshakes run at once, a peer holds one inbound
//!   connection (a new one replaces the old), and a connection silent for
//!   [`TcpOptions::idle_timeout`] is closed (half-open connections are reclaimed). A
//!   writer that finds its idle connection closed by the other side reconnects before
//!   writing, so nothing is lost to an idle close.
//!
//! ```
//! use std::net::TcpListener;
//! use std::sync::mpsc;
//! use std::time::Duration;
//! use raft_io::tcp::{TcpOptions, TcpTransport};
//! use raft_io::{Message, RaftTransport, TimeoutNow};
//!
//! // Two endpoints on loopback; each delivers what it receives into a channel.
//! let listener_1 = TcpListener::bind("127.0.0.1:0")?;
//! let listener_2 = TcpListener::bind("127.0.0.1:0")?;
//! let (address_1, address_2) = (listener_1.local_addr()?, listener_2.local_addr()?);
//! let (inbox_tx, inbox) = mpsc::channel();
//! let mut one = TcpTransport::start(1, listener_1, [(2, address_2)], TcpOptions::default(), |_| {})?;
//! let _two = TcpTransport::start(2, listener_2, [(1, address_1)], TcpOptions::default(), move |message| {
//!     let _ = inbox_tx.send(message);
//! })?;
//! let message = Message::TimeoutNow(TimeoutNow { term: 3, leader: 1 });
//! one.send(2, message.clone())?;
//! assert_eq!(inbox.recv_timeout(Duration::from_secs(10)).unwrap(), message);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod acceptor;
mod connection;
mod handshake;
#[cfg(feature = "tls")]
mod tls;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use raft_core::{Error, Message, NodeId, RaftTransport, Result};
use raft_wire::{FrameDecoder, FrameLimits, encode_frame_into};

use acceptor::accept_loop;
use connection::Connection;
pub use handshake::{CLUSTER_ID_BYTES_MAX, hello_bytes, valid_cluster_id};
use handshake::{Status, read_hello, write_status};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
use writer::write_loop;

/// How often blocked threads look at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);
/// A writer stops batching once this many bytes are encoded.
const BATCH_BYTES_MAX: usize = 1 << 20;
/// A connection unused this long is probed before it is written to again.
const IDLE_PROBE: Duration = Duration::from_millis(500);

/// Where the transport reports refused connections and other events worth a log line.
#[derive(Clone)]
pub struct TcpLog(pub Arc<dyn Fn(&str) + Send + Sync>);

impl core::fmt::Debug for TcpLog {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TcpLog")
    }
}

/// Tuning for a [`TcpTransport`].
#[derive(Clone, Debug)]
pub struct TcpOptions {
    /// Messages queued per peer before new ones are dropped.
    pub queue_messages_max: usize,
    /// First wait after a failed connect or a broken connection.
    pub backoff_min: Duration,
    /// Longest wait between connection attempts (the backoff doubles up to it).
    pub backoff_max: Duration,
    /// Give up a connect attempt after this long.
    pub connect_timeout: Duration,
    /// A write blocked this long (a peer that stopped reading) breaks the connection.
    pub write_timeout: Duration,
    /// Inbound connections served at once; more are closed on accept.
    pub inbound_connections_max: usize,
    /// Frame size limits, for both directions.
    pub limits: FrameLimits,
    /// The cluster this node belongs to; a hello from another cluster is refused
    /// ([`valid_cluster_id`]: a DNS label, since it is part of certificate names).
    pub cluster_id: String,
    /// A connection must complete its handshake (TLS and hello) within this long.
    pub handshake_timeout: Duration,
    /// Inbound connections still in their handshake, at once; more are closed on
    /// accept. Established peers never compete for these.
    pub handshakes_max: usize,
    /// An inbound connection that carried nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Data written and not acknowledged by the peer's kernel for this long breaks
    /// the connection (TCP_USER_TIMEOUT, on Linux), so a connection stalled by a
    /// network partition is redialled rather than waiting for the kernel's next
    /// retransmission, which can come seconds after the partition heals.
    pub stall_timeout: Duration,
    /// Outbound connections leave from this address (port chosen by the OS); `None`
    /// lets the OS pick. Useful on hosts with several addresses, and for firewall
    /// rules that match a node by its address.
    pub outbound_ip: Option<std::net::IpAddr>,
    /// Mutual TLS for every connection (feature `tls`); `None` is plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<TlsConfig>,
    /// Log lines: refused connections and why.
    pub log: Option<TcpLog>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            queue_messages_max: 4096,
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(5),
            inbound_connections_max: 64,
            limits: FrameLimits::default(),
            cluster_id: "raft".into(),
            handshake_timeout: Duration::from_secs(2),
            handshakes_max: 16,
            idle_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(2),
            outbound_ip: None,
            #[cfg(feature = "tls")]
            tls: None,
            log: None,
        }
    }
}

/// Counters a [`TcpTransport`] keeps; read them with [`TcpTransport::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpStats {
    /// Messages written to a socket.
    pub sent: u64,
    /// Messages dropped because the peer's queue was full.
    pub dropped_queue_full: u64,
    /// Messages dropped because the peer was unreachable or the connection broke.
    pub dropped_disconnected: u64,
    /// Messages that could not be encoded (larger than the frame limit).
    pub dropped_unencodable: u64,
    /// Outbound connections established (the first one and every reconnect).
    pub connects: u64,
    /// Failed connect attempts.
    pub connect_failures: u64,
    /// Messages decoded and delivered.
    pub received: u64,
    /// Inbound frames that failed to decode.
    pub decode_errors: u64,
    /// Inbound connections closed because their byte stream was corrupt.
    pub streams_closed_corrupt: u64,
    /// Inbound connections refused in their handshake (TLS or hello): another CA,
    /// cluster or node, a malformed hello, a timeout.
    pub handshakes_refused: u64,
    /// Outbound connections whose handshake failed or was refused.
    pub handshake_failures: u64,
    /// Inbound frames dropped because they name a sender other than the node the
    /// connection belongs to.
    pub frames_wrong_sender: u64,
    /// Inbound connections closed after carrying nothing for the idle timeout.
    pub connections_idle_closed: u64,
    /// Inbound connections closed on accept because every slot was taken.
    pub connections_refused_busy: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_disconnected: AtomicU64,
    dropped_unencodable: AtomicU64,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    received: AtomicU64,
    decode_errors: AtomicU64,
    streams_closed_corrupt: AtomicU64,
    handshakes_refused: AtomicU64,
    handshake_failures: AtomicU64,
    frames_wrong_sender: AtomicU64,
    connections_idle_closed: AtomicU64,
    connections_refused_busy: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    let _ = counter.fetch_add(by, Ordering::Relaxed);
}

struct Shared {
    id: NodeId,
    counters: Counters,
    shutdown: AtomicBool,
    /// Inbound connections open, and those of them still in their handshake.
    inbound: AtomicUsize,
    handshaking: AtomicUsize,
    options: TcpOptions,
    readers: Mutex<Vec<JoinHandle<()>>>,
    /// The peers a connection may come from.
    peers: Mutex<BTreeSet<NodeId>>,
    /// Each peer's current inbound connection, by a number no other connection had;
    /// a reader whose number is no longer its peer's stops.
    current: Mutex<BTreeMap<NodeId, u64>>,
    connection_numbers: AtomicU64,
    #[cfg(feature = "tls")]
    tls: Option<tls::Tls>,
}

impl Shared {
    fn log(&self, line: &str) {
        if let Some(log) = &self.options.log {
            (log.0)(line);
        }
    }

    fn is_peer(&self, node: NodeId) -> bool {
        match self.peers.lock() {
            Ok(peers) => peers.contains(&node),
            Err(poisoned) => poisoned.into_inner().contains(&node),
        }
    }

    /// Makes `number` the current inbound connection of `peer`.
    fn claim(&self, peer: NodeId, number: u64) {
        match self.current.lock() {
            Ok(mut current) => {
                let _ = current.insert(peer, number);
            }
            Err(poisoned) => {
                let _ = poisoned.into_inner().insert(peer, number);
            }
        }
    }

    fn is_current(&self, peer: NodeId, number: u64) -> bool {
        match self.current.lock() {
            Ok(current) => current.get(&peer) == Some(&number),
            Err(poisoned) => poisoned.into_inner().get(&peer) == Some(&number),
        }
    }
}

type Deliver = Arc<dyn Fn(Message) + Send + Sync>;

/// A TCP transport for one node: send with [`RaftTransport::send`], receive through
/// the `deliver` callback given to [`TcpTransport::start`]. Dropping it stops every
/// thread it started.
pub struct TcpTransport {
    id: NodeId,
    local_addr: SocketAddr,
    queues: BTreeMap<NodeId, (SocketAddr, SyncSender<Message>)>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl core::fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TcpTransport")
            .field("id", &self.id)
            .field("local_addr", &self.local_addr)
            .field("peers", &self.queues.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl TcpTransport {
    /// Starts the transport of node `id`: accepts connections on `listener` and keeps
    /// an outbound connection to each of `peers` (node id and address; `id` itself is
    /// skipped). Every message received is passed to `deliver`, from the reader
    /// threads; it should hand the message over quickly (a channel send).
    ///
    /// # Errors
    /// `InvalidInput` for a cluster id that is not [valid](valid_cluster_id) or a TLS
    /// certificate that does not name node `id` of the cluster; otherwise the listener
    /// cannot be configured, or a thread cannot be spawned.
    pub fn start<F>(
        id: NodeId,
        listener: TcpListener,
        peers: impl IntoIterator<Item = (NodeId, SocketAddr)>,
        options: TcpOptions,
        deliver: F,
    ) -> io::Result<Self>
    where
        F: Fn(Message) + Send + Sync + 'static,
    {
        if !valid_cluster_id(&options.cluster_id) {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "cluster id {:?} is not 1 to 63 characters of a-z, 0-9 and '-'",
                    options.cluster_id
                ),
            ));
        }
        #[cfg(feature = "tls")]
        let tls = match &options.tls {
            Some(config) => Some(config.build(&options.cluster_id, id)?),
            None => None,
        };
        // Known before the acceptor runs: a peer's first hello must not be refused
        // because its id was not registered yet.
        let peers: Vec<(NodeId, SocketAddr)> =
            peers.into_iter().filter(|&(peer, _)| peer != id).collect();
        let local_addr = listener.local_addr()?;
        // Accepts block (no polling delay on a reconnect); `stop` wakes the acceptor
        // with a connection of its own.
        listener.set_nonblocking(false)?;
        let shared = Arc::new(Shared {
            id,
            counters: Counters::default(),
            shutdown: AtomicBool::new(false),
            inbound: AtomicUsize::new(0),
            handshaking: AtomicUsize::new(0),
            options,
            readers: Mutex::new(Vec::new()),
            peers: Mutex::new(peers.iter().map(|&(peer, _)| peer).collect()),
            current: Mutex::new(BTreeMap::new()),
            connection_numbers: AtomicU64::new(0),
            #[cfg(feature = "tls")]
            tls,
        });
        let mut transport = Self {
            id,
            local_addr,
            queues: BTreeMap::new(),
            shared: Arc::clone(&shared),
            threads: Vec::new(),
        };
        let deliver: Deliver = Arc::new(deliver);
        let acceptor = Arc::clone(&shared);
        transport.threads.push(
            thread::Builder::new()
                .name(format!("raft-tcp-{id}-accept"))
                .spawn(move || accept_loop(&listener, &acceptor, &deliver))?,
        );
        for (peer, address) in peers {
            if !transport.queues.contains_key(&peer) {
                transport.add_peer(peer, address)?;
            }
        }
        Ok(transport)
    }

    /// Starts sending to `peer` at `address` (a node added to the cluster), or moves
    /// an existing peer to a new address (its queued messages are dropped). The node
    /// itself and an unchanged address are ignored.
    ///
    /// # Errors
    /// The writer thread cannot be spawned.
    pub fn add_peer(&mut self, peer: NodeId, address: SocketAddr) -> io::Result<()> {
        if peer == self.id
            || self
                .queues
                .get(&peer)
                .is_some_and(|(known, _)| *known == address)
        {
            return Ok(());
        }
        let (queue, outbox) = mpsc::sync_channel(self.shared.options.queue_messages_max.max(1));
        let writer = Arc::clone(&self.shared);
        self.threads.retain(|thread| !thread.is_finished());
        self.threads.push(
            thread::Builder::new()
                .name(format!("raft-tcp-{}-to-{peer}", self.id))
                .spawn(move || write_loop(peer, address, &outbox, &writer))?,
        );
        match self.shared.peers.lock() {
            Ok(mut peers) => {
                let _ = peers.insert(peer);
            }
            Err(poisoned) => {
                let _ = poisoned.into_inner().insert(peer);
            }
        }
        // Replacing the sender ends the old writer, if any.
        let _ = self.queues.insert(peer, (address, queue));
        Ok(())
    }

    /// Stops sending to `peer` (a node removed from the cluster); sends to it become
    /// `Error::UnknownNode`. Its writer thread ends on its own.
    pub fn remove_peer(&mut self, peer: NodeId) {
        let _ = self.queues.remove(&peer);
        match self.shared.peers.lock() {
            Ok(mut peers) => {
                let _ = peers.remove(&peer);
            }
            Err(poisoned) => {
                let _ = poisoned.into_inner().remove(&peer);
            }
        }
        // Its inbound connection, if any, stops at its next poll.
        self.shared.claim(peer, u64::MAX);
    }

    /// The peers messages can be sent to, with their addresses.
    pub fn peers(&self) -> impl Iterator<Item = (NodeId, SocketAddr)> + '_ {
        self.queues
            .iter()
            .map(|(&peer, (address, _))| (peer, *address))
    }

    /// The node this transport serves.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The address the transport accepts connections on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A copy of the counters.
    pub fn stats(&self) -> TcpStats {
        let c = &self.shared.counters;
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        TcpStats {
            sent: load(&c.sent),
            dropped_queue_full: load(&c.dropped_queue_full),
            dropped_disconnected: load(&c.dropped_disconnected),
            dropped_unencodable: load(&c.dropped_unencodable),
            connects: load(&c.connects),
            connect_failures: load(&c.connect_failures),
            received: load(&c.received),
            decode_errors: load(&c.decode_errors),
            streams_closed_corrupt: load(&c.streams_closed_corrupt),
            handshakes_refused: load(&c.handshakes_refused),
            handshake_failures: load(&c.handshake_failures),
            frames_wrong_sender: load(&c.frames_wrong_sender),
            connections_idle_closed: load(&c.connections_idle_closed),
            connections_refused_busy: load(&c.connections_refused_busy),
        }
    }

    /// Stops every thread and closes every connection; what is still queued is lost.
    /// Dropping the transport does the same. It can take up to the write timeout if a
    /// peer stopped reading mid-write (or the connect timeout if one is connecting).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.queues.clear();
        // Wake the acceptor from its blocking accept. Should that fail (a firewall
        // dropping this very address), it is left to exit on its next connection.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let acceptor_awake = TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok();
        for (position, thread) in self.threads.drain(..).enumerate() {
            // The acceptor is the first thread.
            if position == 0 && !acceptor_awake {
                continue;
            }
            let _ = thread.join();
        }
        let readers = match self.shared.readers.lock() {
            Ok(mut readers) => core::mem::take(&mut *readers),
            Err(poisoned) => core::mem::take(&mut *poisoned.into_inner()),
        };
        for reader in readers {
            let _ = reader.join();
        }
    }
}

impl Drop for TcpTransport {
    fn drop(&mut self) {
        self.stop();
    }
}

impl RaftTransport for TcpTransport {
    /// Queues `message` for `to` without blocking. A full queue drops it (counted in
    /// [`TcpStats::dropped_queue_full`]) and still returns `Ok`: to Raft it is a lost
    /// message.
    ///
    /// # Errors
    /// [`Error::UnknownNode`] if `to` is not one of the peers given at start.
    fn send(&mut self, to: NodeId, message: Message) -> Result<()> {
        let (_, queue) = self
            .queues
            .get(&to)
            .ok_or(Error::UnknownNode { node: to })?;
        match queue.try_send(message) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => bump(&self.shared.counters.dropped_queue_full, 1),
            // The writer exits only at shutdown.
            Err(TrySendError::Disconnected(_)) => {
                bump(&self.shared.counters.dropped_disconnected, 1);
            }
        }
        Ok(())
    }
}
