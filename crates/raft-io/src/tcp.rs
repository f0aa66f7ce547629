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

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use raft_core::{Error, Message, NodeId, RaftTransport, Result};
use raft_wire::{FrameDecoder, FrameLimits, encode_frame_into};

/// How often blocked threads look at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);
/// A writer stops batching once this many bytes are encoded.
const BATCH_BYTES_MAX: usize = 1 << 20;

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
}

fn bump(counter: &AtomicU64, by: u64) {
    let _ = counter.fetch_add(by, Ordering::Relaxed);
}

struct Shared {
    counters: Counters,
    shutdown: AtomicBool,
    inbound: AtomicUsize,
    options: TcpOptions,
    readers: Mutex<Vec<JoinHandle<()>>>,
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
    /// The listener cannot be configured, or a thread cannot be spawned.
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
        let local_addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            shutdown: AtomicBool::new(false),
            inbound: AtomicUsize::new(0),
            options,
            readers: Mutex::new(Vec::new()),
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
                .spawn(move || write_loop(address, &outbox, &writer))?,
        );
        // Replacing the sender ends the old writer, if any.
        let _ = self.queues.insert(peer, (address, queue));
        Ok(())
    }

    /// Stops sending to `peer` (a node removed from the cluster); sends to it become
    /// `Error::UnknownNode`. Its writer thread ends on its own.
    pub fn remove_peer(&mut self, peer: NodeId) {
        let _ = self.queues.remove(&peer);
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
        for thread in self.threads.drain(..) {
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

/// Sleeps up to `duration` in short slices; false if shutdown began.
fn pause(shared: &Shared, duration: Duration) -> bool {
    let deadline = Instant::now() + duration;
    loop {
        if shared.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::sleep((deadline - now).min(POLL));
    }
}

/// Discards everything queued for an unreachable peer; false once the transport is gone.
fn discard_queued(outbox: &Receiver<Message>, shared: &Shared) -> bool {
    loop {
        match outbox.try_recv() {
            Ok(_) => bump(&shared.counters.dropped_disconnected, 1),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return false,
        }
    }
}

fn write_loop(address: SocketAddr, outbox: &Receiver<Message>, shared: &Shared) {
    let options = &shared.options;
    let mut backoff = options.backoff_min;
    let mut frames = Vec::new();
    loop {
        let mut stream = match TcpStream::connect_timeout(&address, options.connect_timeout) {
            Ok(stream) => stream,
            Err(_) => {
                bump(&shared.counters.connect_failures, 1);
                // Unreachable: what is queued is stale by the time it could arrive.
                if !discard_queued(outbox, shared) || !pause(shared, backoff) {
                    return;
                }
                backoff = (backoff * 2).min(options.backoff_max);
                continue;
            }
        };
        if stream.set_nodelay(true).is_err()
            || stream
                .set_write_timeout(Some(options.write_timeout))
                .is_err()
        {
            // Without a write timeout a stuck peer could block this thread forever.
            bump(&shared.counters.connect_failures, 1);
            if !pause(shared, backoff) {
                return;
            }
            backoff = (backoff * 2).min(options.backoff_max);
            continue;
        }
        bump(&shared.counters.connects, 1);
        backoff = options.backoff_min;
        // Connected: write until the connection breaks or the transport stops.
        loop {
            let first = match outbox.recv_timeout(POLL) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    if shared.shutdown.load(Ordering::SeqCst) {
                        return;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            frames.clear();
            let mut count = 0;
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match encode_frame_into(&message, &options.limits, &mut frames) {
                    Ok(()) => count += 1,
                    Err(_) => bump(&shared.counters.dropped_unencodable, 1),
                }
                if frames.len() < BATCH_BYTES_MAX {
                    next = outbox.try_recv().ok();
                }
            }
            if frames.is_empty() {
                continue;
            }
            if stream.write_all(&frames).is_err() {
                bump(&shared.counters.dropped_disconnected, count);
                break;
            }
            bump(&shared.counters.sent, count);
        }
        // The connection broke: wait a little before reconnecting.
        if !pause(shared, backoff) {
            return;
        }
        backoff = (backoff * 2).min(options.backoff_max);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, deliver: &Deliver) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if shared.inbound.load(Ordering::SeqCst) >= shared.options.inbound_connections_max {
                    drop(stream);
                    continue;
                }
                let _ = shared.inbound.fetch_add(1, Ordering::SeqCst);
                let reader_shared = Arc::clone(shared);
                let reader_deliver = Arc::clone(deliver);
                let spawned =
                    thread::Builder::new()
                        .name("raft-tcp-reader".into())
                        .spawn(move || {
                            read_loop(stream, &reader_shared, &reader_deliver);
                            let _ = reader_shared.inbound.fetch_sub(1, Ordering::SeqCst);
                        });
                match spawned {
                    Ok(handle) => {
                        if let Ok(mut readers) = shared.readers.lock() {
                            readers.retain(|reader| !reader.is_finished());
                            readers.push(handle);
                        }
                    }
                    Err(_) => {
                        let _ = shared.inbound.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => thread::sleep(POLL / 5),
            Err(_) => thread::sleep(POLL),
        }
    }
}

fn read_loop(mut stream: TcpStream, shared: &Shared, deliver: &Deliver) {
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let mut decoder = FrameDecoder::new(shared.options.limits);
    let mut buffer = vec![0u8; 64 << 10];
    while !shared.shutdown.load(Ordering::SeqCst) {
        let read = match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(read) => read,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => return,
        };
        let mut input = &buffer[..read];
        while let Some(result) = decoder.decode(&mut input) {
            match result {
                Ok(message) => {
                    bump(&shared.counters.received, 1);
                    deliver(message);
                }
                Err(error) => {
                    bump(&shared.counters.decode_errors, 1);
                    if error.is_stream_fatal() {
                        // Frame boundaries are lost: close; the peer reconnects.
                        bump(&shared.counters.streams_closed_corrupt, 1);
                        return;
                    }
                }
            }
        }
    }
}
