//! The outbound side: one writer thread per peer, dialling (TCP, TLS, hello) with
//! backoff, batching queued messages into frames, redialling a connection the other
//! side closed before writing to it.

use super::*;

/// Sleeps up to `duration` in short slices; false if shutdown began.
pub(super) fn pause(shared: &Shared, duration: Duration) -> bool {
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
pub(super) fn discard_queued(outbox: &Receiver<Message>, shared: &Shared) -> bool {
    loop {
        match outbox.try_recv() {
            Ok(_) => bump(&shared.counters.dropped_disconnected, 1),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return false,
        }
    }
}

/// A TCP connection to `address`, from `options.outbound_ip` if set.
pub(super) fn connect(address: SocketAddr, options: &TcpOptions) -> io::Result<TcpStream> {
    let Some(ip) = options.outbound_ip else {
        return TcpStream::connect_timeout(&address, options.connect_timeout);
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(ip, 0).into())?;
    socket.connect_timeout(&address.into(), options.connect_timeout)?;
    Ok(socket.into())
}

/// Breaks the connection when written data stays unacknowledged for `timeout`.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn set_stall_timeout(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    socket2::SockRef::from(stream).set_tcp_user_timeout(Some(timeout))
}

/// (Elsewhere the write timeout is the only bound.)
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn set_stall_timeout(_stream: &TcpStream, _timeout: Duration) -> io::Result<()> {
    Ok(())
}

/// Opens a connection to `peer`: TCP, then TLS if configured, then the hello and its
/// answer, all within the handshake timeout.
pub(super) fn dial(peer: NodeId, address: SocketAddr, shared: &Shared) -> io::Result<Connection> {
    let options = &shared.options;
    let stream = connect(address, options)?;
    stream.set_nodelay(true)?;
    set_stall_timeout(&stream, options.stall_timeout)?;
    let deadline = Instant::now() + options.handshake_timeout;
    connection::until(&stream, deadline)?;
    #[cfg(feature = "tls")]
    let mut connection = match &shared.tls {
        Some(tls) => {
            let name = TlsConfig::node_name(&options.cluster_id, peer);
            let name = rustls::pki_types::ServerName::try_from(name)
                .map_err(|error| io::Error::new(ErrorKind::InvalidInput, error.to_string()))?;
            let client = rustls::ClientConnection::new(std::sync::Arc::clone(&tls.client), name)
                .map_err(|error| io::Error::other(error.to_string()))?;
            Connection::Client(Box::new(rustls::StreamOwned::new(client, stream)))
        }
        None => Connection::Plain(stream),
    };
    #[cfg(not(feature = "tls"))]
    let mut connection = Connection::Plain(stream);
    connection.handshake(deadline)?;
    connection.write_all(&hello_bytes(&options.cluster_id, shared.id, peer))?;
    connection.flush()?;
    let mut answer = [0u8; 1];
    connection.read_exact(&mut answer)?;
    match Status::from_byte(answer[0]) {
        Some(Status::Accepted) => {}
        Some(status) => {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                status.describe(),
            ));
        }
        None => {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                "the peer answered the hello with an unknown status",
            ));
        }
    }
    // From here on the socket only writes, with the write timeout.
    let socket = connection.socket();
    socket.set_read_timeout(None)?;
    socket.set_write_timeout(Some(options.write_timeout))?;
    Ok(connection)
}

pub(super) fn write_loop(
    peer: NodeId,
    address: SocketAddr,
    outbox: &Receiver<Message>,
    shared: &Shared,
) {
    let options = &shared.options;
    let mut backoff = options.backoff_min;
    let mut frames = Vec::new();
    // Frames encoded but not yet written (the connection was found closed), and how
    // many messages they hold.
    let mut pending = 0u64;
    let mut last_failure = String::new();
    loop {
        let mut connection = match dial(peer, address, shared) {
            Ok(connection) => connection,
            Err(error) => {
                // (A TLS failure, rustls's alerts included, is InvalidData.)
                let refused = matches!(
                    error.kind(),
                    ErrorKind::PermissionDenied | ErrorKind::InvalidData | ErrorKind::InvalidInput
                );
                if refused {
                    bump(&shared.counters.handshake_failures, 1);
                    let line = format!("connection to node {peer} at {address} refused: {error}");
                    // Once per distinct reason, not once per retry.
                    if line != last_failure {
                        shared.log(&line);
                        last_failure = line;
                    }
                } else {
                    bump(&shared.counters.connect_failures, 1);
                }
                // Unreachable: what is queued is stale by the time it could arrive.
                bump(&shared.counters.dropped_disconnected, pending);
                pending = 0;
                frames.clear();
                if !discard_queued(outbox, shared) || !pause(shared, backoff) {
                    return;
                }
                backoff = (backoff * 2).min(options.backoff_max);
                continue;
            }
        };
        last_failure.clear();
        bump(&shared.counters.connects, 1);
        backoff = options.backoff_min;
        let mut last_write = Instant::now();
        // Connected: write until the connection breaks or the transport stops.
        loop {
            if pending == 0 {
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
                let mut next = Some(first);
                while let Some(message) = next.take() {
                    match encode_frame_into(&message, &options.limits, &mut frames) {
                        Ok(()) => pending += 1,
                        Err(_) => bump(&shared.counters.dropped_unencodable, 1),
                    }
                    if frames.len() < BATCH_BYTES_MAX {
                        next = outbox.try_recv().ok();
                    }
                }
                if frames.is_empty() {
                    continue;
                }
            }
            // An idle connection may have been closed by the other side (its idle
            // timeout, a restart): reconnect first rather than lose this batch.
            if last_write.elapsed() >= IDLE_PROBE && connection.closed_by_peer() {
                break;
            }
            if connection
                .write_all(&frames)
                .and_then(|()| connection.flush())
                .is_err()
            {
                bump(&shared.counters.dropped_disconnected, pending);
                pending = 0;
                break;
            }
            bump(&shared.counters.sent, pending);
            pending = 0;
            last_write = Instant::now();
        }
        // The connection broke or was closed: wait a little before reconnecting.
        if !pause(shared, backoff) {
            return;
        }
        backoff = (backoff * 2).min(options.backoff_max);
    }
}
