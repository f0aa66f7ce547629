//! A client that finds the leader by itself: it follows redirects, moves on from dead
//! or leaderless nodes, and retries a write with the same session and sequence number
//! until it gets a final answer, so every write applies at most once. Its session is
//! assigned by the cluster (`register`), on the first write.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::protocol::{Request, RequestLine, Response, Session};
use crate::tls::{ClientTls, Stream};

/// The longest answer line a client reads.
const LINE_BYTES_MAX: usize = 1 << 20;

/// Why [`Client::execute`] gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// No final answer before the deadline. For a write the outcome is unknown: it may
    /// have applied (once) or not.
    Timeout {
        /// The last thing a node said, or the last connection error.
        last: String,
    },
    /// The request was malformed.
    Invalid(String),
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClientError::Timeout { last } => write!(f, "no answer in time (last: {last})"),
            ClientError::Invalid(why) => write!(f, "invalid request: {why}"),
        }
    }
}

impl std::error::Error for ClientError {}

struct Connection {
    address: SocketAddr,
    stream: Stream,
    /// Bytes read past the last answer line.
    pending: Vec<u8>,
}

/// A connection to a cluster.
pub struct Client {
    nodes: Vec<SocketAddr>,
    next: usize,
    connection: Option<Connection>,
    tls: Option<ClientTls>,
    admin_token: Option<String>,
    /// Whether writes carry a session.
    sessions: bool,
    /// The session the cluster assigned, once registered.
    session: Option<u64>,
    seq: u64,
    attempt_timeout: Duration,
    /// Attempts made by the last `execute` (1 when the first node answered).
    pub last_attempts: u32,
}

impl Client {
    /// A client of the cluster whose client addresses are `nodes`, writing without a
    /// session (a retried write may apply twice; see [`Client::with_sessions`]).
    pub fn new(nodes: Vec<SocketAddr>) -> Self {
        Self {
            nodes,
            next: 0,
            connection: None,
            tls: None,
            admin_token: None,
            sessions: false,
            session: None,
            seq: 0,
            attempt_timeout: Duration::from_secs(4),
            last_attempts: 0,
        }
    }

    /// Talks TLS to the nodes, verifying them with `tls` (`None`: plain TCP).
    #[must_use]
    pub fn with_tls(mut self, tls: Option<ClientTls>) -> Self {
        self.tls = tls;
        self.connection = None;
        self
    }

    /// Every write carries a session the cluster assigns (registered on the first
    /// write) and a growing sequence number, so it applies at most once however often
    /// it is retried.
    #[must_use]
    pub fn with_sessions(mut self) -> Self {
        self.sessions = true;
        self
    }

    /// The session the cluster assigned this client, once it has one.
    pub fn session(&self) -> Option<u64> {
        self.session
    }

    /// Authenticates every connection with the nodes' admin token, so it may send
    /// admin requests (membership changes).
    #[must_use]
    pub fn with_admin_token(mut self, token: Option<String>) -> Self {
        self.admin_token = token;
        self.connection = None;
        self
    }

    /// The node the client currently talks to.
    pub fn current(&self) -> Option<SocketAddr> {
        self.connection
            .as_ref()
            .map(|connection| connection.address)
    }

    fn connect(&mut self, address: SocketAddr) -> Result<(), String> {
        let stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))
            .map_err(|error| format!("{address}: {error}"))?;
        stream
            .set_read_timeout(Some(self.attempt_timeout))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|error| error.to_string())?;
        let stream = match &self.tls {
            Some(tls) => tls.wrap(stream).map_err(|error| error.to_string())?,
            None => Stream::Plain(stream),
        };
        self.connection = Some(Connection {
            address,
            stream,
            pending: Vec::new(),
        });
        if let Some(token) = self.admin_token.clone() {
            match self.exchange(&format!("auth {token}")) {
                Ok(Response::Done) => {}
                Ok(other) => {
                    self.connection = None;
                    return Err(format!("{address} refused the admin token: {other}"));
                }
                Err(error) => {
                    self.connection = None;
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// One request to one node, no retry.
    fn attempt(&mut self, line: &str) -> Result<Response, String> {
        if self.connection.is_none() {
            let address = self.nodes[self.next % self.nodes.len()];
            self.next += 1;
            self.connect(address)?;
        }
        let result = self.exchange(line);
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    /// One line out, one answer line back, on the current connection.
    fn exchange(&mut self, line: &str) -> Result<Response, String> {
        let connection = self.connection.as_mut().ok_or("not connected")?;
        writeln!(connection.stream, "{line}")
            .and_then(|()| connection.stream.flush())
            .map_err(|error| format!("{}: {error}", connection.address))?;
        let mut answer = Vec::new();
        let more = crate::tls::read_line(
            &mut connection.stream,
            &mut connection.pending,
            &mut answer,
            LINE_BYTES_MAX,
        )
        .map_err(|error| format!("{}: {error}", connection.address))?;
        if !more {
            return Err(format!("{} closed the connection", connection.address));
        }
        let answer = String::from_utf8(answer).map_err(|_| "answer is not UTF-8".to_owned())?;
        Response::parse(&answer)
    }

    /// Sends `request` until a node gives a final answer or `timeout` passes. Writes
    /// get the next sequence number of this client's session, kept across retries.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] (for a write: outcome unknown), or
    /// [`ClientError::Invalid`] if a node rejected the request as malformed.
    pub fn execute(
        &mut self,
        request: Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let deadline = Instant::now() + timeout;
        if !(self.sessions && request.is_write()) {
            return self.send(
                &RequestLine {
                    session: None,
                    request,
                }
                .to_string(),
                deadline,
            );
        }
        let mut registered_now = false;
        if self.session.is_none() {
            self.register(deadline)?;
            registered_now = true;
        }
        loop {
            let client = self
                .session
                .ok_or_else(|| ClientError::Invalid("no session".into()))?;
            self.seq += 1;
            let session = Some(Session {
                client,
                seq: self.seq,
            });
            let line = RequestLine {
                session,
                request: request.clone(),
            }
            .to_string();
            match self.send(&line, deadline) {
                // Expired (unused for a long time): nothing applied; register anew
                // and send it once more.
                Err(ClientError::Invalid(why))
                    if why.starts_with("unknown session") && !registered_now =>
                {
                    self.session = None;
                    self.register(deadline)?;
                    registered_now = true;
                }
                other => return other,
            }
        }
    }

    /// Asks the cluster for a session.
    fn register(&mut self, deadline: Instant) -> Result<(), ClientError> {
        let line = RequestLine {
            session: None,
            request: Request::Register,
        }
        .to_string();
        match self.send(&line, deadline)? {
            Response::Session(id) => {
                self.session = Some(id);
                self.seq = 0;
                Ok(())
            }
            other => Err(ClientError::Invalid(format!("register answered {other}"))),
        }
    }

    /// Sends `line` until a node gives a final answer or `deadline` passes.
    fn send(&mut self, line: &str, deadline: Instant) -> Result<Response, ClientError> {
        let mut last = String::from("no attempt");
        let mut pause = Duration::from_millis(5);
        self.last_attempts = 0;
        while Instant::now() < deadline {
            self.last_attempts += 1;
            match self.attempt(line) {
                Ok(response) if response.is_final() => return Ok(response),
                Ok(Response::Invalid(why)) => return Err(ClientError::Invalid(why)),
                Ok(Response::Redirect(address)) => {
                    last = format!("redirect to {address}");
                    if let Ok(address) = address.parse()
                        && self.current() != Some(address)
                    {
                        self.connection = None;
                        if self.connect(address).is_ok() {
                            continue;
                        }
                    }
                    self.connection = None;
                }
                Ok(other) => {
                    last = other.to_string();
                    if matches!(other, Response::NoLeader) {
                        // Another node may already know the new leader.
                        self.connection = None;
                    }
                }
                Err(error) => last = error,
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
        Err(ClientError::Timeout { last })
    }

    /// Asks one node for its status (no retry, no redirect).
    ///
    /// # Errors
    /// The node is unreachable or answered something else.
    pub fn status_of(
        address: SocketAddr,
        tls: Option<&ClientTls>,
    ) -> Result<crate::protocol::Status, String> {
        let mut client = Client::new(vec![address]).with_tls(tls.cloned());
        client.attempt_timeout = Duration::from_secs(1);
        match client.attempt("status")? {
            Response::Status(words) => crate::protocol::Status::parse(&words),
            other => Err(format!("unexpected answer {other}")),
        }
    }
}
