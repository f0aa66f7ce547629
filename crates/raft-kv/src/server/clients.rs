//! The client port: accepting connections (bounded in number, per address and in
//! idle time), TLS, admin authentication, and one request line at a time handed to the
//! node loop.

use super::*;

/// Client connections served at once; more are answered `ERR retry overloaded`.
const CLIENT_CONNECTIONS_MAX: usize = 1024;
/// The longest request line a client may send.
const LINE_BYTES_MAX: usize = 64 << 10;

/// What every client connection of a node shares.
#[derive(Clone)]
pub(super) struct ClientPort {
    pub(super) tls: Option<Arc<rustls::ServerConfig>>,
    pub(super) admin_token: Option<Arc<str>>,
    pub(super) idle_timeout: Duration,
    /// Connections one address may hold at once; more are refused, so one host cannot
    /// take every slot.
    pub(super) per_address_max: usize,
    /// Open connections per remote address.
    pub(super) per_address: Arc<Mutex<BTreeMap<std::net::IpAddr, usize>>>,
}

/// A connection's place in the per-address count, given back on drop.
struct AddressSlot {
    counts: Arc<Mutex<BTreeMap<std::net::IpAddr, usize>>>,
    address: std::net::IpAddr,
}

impl AddressSlot {
    /// Takes a slot for `address`, unless it has all of its slots.
    fn take(
        counts: &Arc<Mutex<BTreeMap<std::net::IpAddr, usize>>>,
        address: std::net::IpAddr,
        max: usize,
    ) -> Option<Self> {
        let mut map = counts.lock().ok()?;
        let count = map.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Self {
            counts: Arc::clone(counts),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.counts.lock()
            && let Some(count) = map.get_mut(&self.address)
        {
            *count -= 1;
            if *count == 0 {
                let _ = map.remove(&self.address);
            }
        }
    }
}

/// Compares two tokens in time that depends only on their lengths.
fn tokens_match(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

pub(super) fn accept_clients(
    listener: &TcpListener,
    port: &ClientPort,
    inputs: &SyncSender<Input>,
    stop: &Arc<AtomicBool>,
    connections: &Mutex<Vec<JoinHandle<()>>>,
) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut stream, remote)) => {
                let open = connections.lock().map_or(0, |mut connections| {
                    connections.retain(|connection| !connection.is_finished());
                    connections.len()
                });
                // (Refusals are written in the clear only on a plain port.)
                let refuse = |stream: &mut TcpStream, why: &str| {
                    if port.tls.is_none() {
                        let _ = writeln!(stream, "{}", Response::Retry(why.into()));
                    }
                };
                if open >= CLIENT_CONNECTIONS_MAX {
                    refuse(&mut stream, "overloaded");
                    continue;
                }
                let Some(slot) =
                    AddressSlot::take(&port.per_address, remote.ip(), port.per_address_max)
                else {
                    refuse(&mut stream, "too many connections from your address");
                    continue;
                };
                let inputs = inputs.clone();
                let stop = Arc::clone(stop);
                let port = port.clone();
                if let Ok(handle) =
                    thread::Builder::new()
                        .name("kv-client".into())
                        .spawn(move || {
                            let _ = serve_client(stream, &port, &inputs, &stop);
                            drop(slot);
                        })
                    && let Ok(mut connections) = connections.lock()
                {
                    connections.push(handle);
                }
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
    let handles = match connections.lock() {
        Ok(mut connections) => core::mem::take(&mut *connections),
        Err(_) => Vec::new(),
    };
    for handle in handles {
        let _ = handle.join();
    }
}

/// Serves one client connection: a request line in, a response line out (over TLS
/// with `tls`).
fn serve_client(
    stream: TcpStream,
    port: &ClientPort,
    inputs: &SyncSender<Input>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let tls = port.tls.as_ref();
    let mut admin = false;
    let mut last_request = Instant::now();
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut stream = crate::tls::Stream::accept(stream, tls)?;
    let mut pending = Vec::new();
    let mut line = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match crate::tls::read_line(&mut stream, &mut pending, &mut line, LINE_BYTES_MAX) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                // A partial line stays in `pending`; keep reading, unless the client
                // has completed nothing for the idle timeout (a dribbled line too).
                if last_request.elapsed() >= port.idle_timeout {
                    return Ok(());
                }
                continue;
            }
            Err(error) if error.kind() == ErrorKind::InvalidData => {
                writeln!(stream, "{}", Response::Invalid("line too long".into()))?;
                return stream.flush();
            }
            Err(error) => return Err(error),
        }
        last_request = Instant::now();
        let parsed = core::str::from_utf8(&line)
            .map_err(|_| "not UTF-8".to_owned())
            .and_then(|text| RequestLine::parse(text.trim()));
        let response = match parsed {
            Err(why) => Response::Invalid(why),
            Ok(RequestLine {
                request: Request::Auth { token },
                ..
            }) => match &port.admin_token {
                Some(expected) if tokens_match(&token, expected) => {
                    admin = true;
                    Response::Done
                }
                Some(_) => Response::Invalid("wrong admin token".into()),
                None => Response::Invalid(
                    "admin requests are off on this node (no --admin-token-file)".into(),
                ),
            },
            Ok(request) if request.request.is_admin() && !admin => {
                Response::Invalid(if port.admin_token.is_some() {
                    "an admin request: send `auth TOKEN` (the node's admin token) first".into()
                } else {
                    "admin requests are off on this node (no --admin-token-file)".into()
                })
            }
            Ok(request) => {
                let (reply, answer) = mpsc::channel();
                match inputs.try_send(Input::Client(request, reply)) {
                    Ok(()) => answer
                        .recv_timeout(REPLY_TIMEOUT)
                        .unwrap_or_else(|_| Response::Retry("timed out".into())),
                    Err(TrySendError::Full(_)) => Response::Retry("overloaded".into()),
                    Err(TrySendError::Disconnected(_)) => Response::Retry("shutting down".into()),
                }
            }
        };
        writeln!(stream, "{response}")?;
        stream.flush()?;
    }
    Ok(())
}
