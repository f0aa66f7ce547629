//! The inbound side: the acceptor (bounded slots, handshakes in progress capped), the
//! acceptor's half of the handshake, and one reader per connection bound to its peer.

use super::*;

pub(super) fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, deliver: &Deliver) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, remote)) => {
                if shared.shutdown.load(Ordering::SeqCst) {
                    // The wake-up from `stop`.
                    return;
                }
                let options = &shared.options;
                if shared.inbound.load(Ordering::SeqCst) >= options.inbound_connections_max
                    || shared.handshaking.load(Ordering::SeqCst) >= options.handshakes_max
                {
                    bump(&shared.counters.connections_refused_busy, 1);
                    drop(stream);
                    continue;
                }
                let _ = shared.inbound.fetch_add(1, Ordering::SeqCst);
                let _ = shared.handshaking.fetch_add(1, Ordering::SeqCst);
                let reader_shared = Arc::clone(shared);
                let reader_deliver = Arc::clone(deliver);
                let spawned =
                    thread::Builder::new()
                        .name("raft-tcp-reader".into())
                        .spawn(move || {
                            let mut handshaking = true;
                            serve_inbound(
                                stream,
                                remote,
                                &reader_shared,
                                &reader_deliver,
                                &mut handshaking,
                            );
                            if handshaking {
                                let _ = reader_shared.handshaking.fetch_sub(1, Ordering::SeqCst);
                            }
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
                        let _ = shared.handshaking.fetch_sub(1, Ordering::SeqCst);
                        let _ = shared.inbound.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
            // (Out of descriptors, say: wait a little rather than spin.)
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// The acceptor's half of the handshake: TLS if configured, then the hello, checked
/// against this node's cluster, id and peers (and the certificate, with TLS). Returns
/// the connection and the node it belongs to, or why it was refused.
pub(super) fn accept_handshake(
    stream: TcpStream,
    shared: &Shared,
) -> core::result::Result<(Connection, NodeId), String> {
    let options = &shared.options;
    let deadline = Instant::now() + options.handshake_timeout;
    let prepare = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_nodelay(true))
        .and_then(|()| connection::until(&stream, deadline));
    if let Err(error) = prepare {
        return Err(format!("cannot configure the socket: {error}"));
    }
    #[cfg(feature = "tls")]
    let mut connection = match &shared.tls {
        Some(tls) => match rustls::ServerConnection::new(Arc::clone(&tls.server)) {
            Ok(server) => Connection::Server(Box::new(rustls::StreamOwned::new(server, stream))),
            Err(error) => return Err(format!("TLS: {error}")),
        },
        None => Connection::Plain(stream),
    };
    #[cfg(not(feature = "tls"))]
    let mut connection = Connection::Plain(stream);
    if let Err(error) = connection.handshake(deadline) {
        return Err(format!("TLS handshake failed: {error}"));
    }
    let hello =
        connection::until(connection.socket(), deadline).and_then(|()| read_hello(&mut connection));
    let hello = match hello {
        Ok(hello) => hello,
        Err(error) => {
            if error.kind() == ErrorKind::InvalidData {
                let _ = write_status(&mut connection, Status::Malformed);
            }
            return Err(format!("no valid hello: {error}"));
        }
    };
    let status = if hello.cluster_id != options.cluster_id {
        Status::OtherCluster
    } else if hello.to != shared.id {
        Status::WrongTarget
    } else if hello.from == shared.id || !shared.is_peer(hello.from) {
        Status::UnknownNode
    } else {
        proven(&connection, shared, hello.from)
    };
    if status != Status::Accepted {
        let _ = write_status(&mut connection, status);
        return Err(format!(
            "hello from node {} of cluster {:?} to node {}: {}",
            hello.from,
            hello.cluster_id,
            hello.to,
            status.describe()
        ));
    }
    if let Err(error) = write_status(&mut connection, Status::Accepted) {
        return Err(format!("cannot answer the hello: {error}"));
    }
    Ok((connection, hello.from))
}

/// With TLS, whether the certificate the caller proved names the node it claims.
#[cfg_attr(not(feature = "tls"), allow(unused_variables))]
pub(super) fn proven(connection: &Connection, shared: &Shared, claimed: NodeId) -> Status {
    #[cfg(feature = "tls")]
    if shared.tls.is_some() {
        let named = connection.peer_certificate().is_some_and(|certificate| {
            TlsConfig::certificate_names(&certificate, &shared.options.cluster_id, claimed)
        });
        if !named {
            return Status::IdentityMismatch;
        }
    }
    Status::Accepted
}

pub(super) fn serve_inbound(
    stream: TcpStream,
    remote: SocketAddr,
    shared: &Shared,
    deliver: &Deliver,
    handshaking: &mut bool,
) {
    let (mut connection, peer) = match accept_handshake(stream, shared) {
        Ok(accepted) => accepted,
        Err(reason) => {
            bump(&shared.counters.handshakes_refused, 1);
            shared.log(&format!("refused connection from {remote}: {reason}"));
            return;
        }
    };
    let _ = shared.handshaking.fetch_sub(1, Ordering::SeqCst);
    *handshaking = false;
    // One inbound connection per peer: this one replaces any older one.
    let number = shared.connection_numbers.fetch_add(1, Ordering::SeqCst);
    shared.claim(peer, number);
    if connection.socket().set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    read_frames(&mut connection, peer, number, shared, deliver);
}

pub(super) fn read_frames(
    connection: &mut Connection,
    peer: NodeId,
    number: u64,
    shared: &Shared,
    deliver: &Deliver,
) {
    let mut decoder = FrameDecoder::new(shared.options.limits);
    let mut buffer = vec![0u8; 64 << 10];
    let mut last_heard = Instant::now();
    while !shared.shutdown.load(Ordering::SeqCst) && shared.is_current(peer, number) {
        let read = match connection.read(&mut buffer) {
            Ok(0) => return,
            Ok(read) => read,
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if last_heard.elapsed() >= shared.options.idle_timeout {
                    bump(&shared.counters.connections_idle_closed, 1);
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        last_heard = Instant::now();
        let mut input = &buffer[..read];
        while let Some(result) = decoder.decode(&mut input) {
            match result {
                // The connection belongs to `peer`: a frame naming anyone else is a
                // forgery or a bug, and never reaches the node.
                Ok(message) if message.from() != peer => {
                    bump(&shared.counters.frames_wrong_sender, 1);
                }
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
