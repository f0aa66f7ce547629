//! The TCP transport on loopback: delivery, reconnect after a peer restarts, bounded
//! queues towards a dead peer, corrupt input that costs a connection, never a peer,
//! and the hello that binds a connection to its cluster and node.
#![cfg(feature = "tcp")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use raft_io::tcp::{TcpOptions, TcpTransport, hello_bytes};
use raft_io::{Message, RaftTransport, TimeoutNow, framing};

const WAIT: Duration = Duration::from_secs(20);

/// A message from node 1.
fn message(term: u64) -> Message {
    from(1, term)
}

fn from(leader: u64, term: u64) -> Message {
    Message::TimeoutNow(TimeoutNow { term, leader })
}

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

fn fast() -> TcpOptions {
    TcpOptions {
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        ..TcpOptions::default()
    }
}

fn receiver(
    id: u64,
    listener: TcpListener,
    peers: Vec<(u64, SocketAddr)>,
) -> (TcpTransport, Receiver<Message>) {
    let (tx, rx) = mpsc::channel();
    let transport = TcpTransport::start(id, listener, peers, fast(), move |message| {
        let _ = tx.send(message);
    })
    .unwrap();
    (transport, rx)
}

/// A raw connection to `address` that said hello as node `from` of `cluster` to node
/// `to`; returns it and the status byte the acceptor answered (None: closed).
fn raw(address: SocketAddr, cluster: &str, from: u64, to: u64) -> (TcpStream, Option<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&hello_bytes(cluster, from, to)).unwrap();
    let mut status = [0u8; 1];
    let answer = stream.read_exact(&mut status).ok().map(|()| status[0]);
    (stream, answer)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `term`-numbered messages until one with a term ≥ `from` arrives.
fn send_until_received(sender: &mut TcpTransport, to: u64, inbox: &Receiver<Message>, from: u64) {
    let deadline = Instant::now() + WAIT;
    let mut term = from;
    while Instant::now() < deadline {
        sender.send(to, message(term)).unwrap();
        term += 1;
        if let Ok(received) = inbox.recv_timeout(Duration::from_millis(20))
            && received.term() >= from
        {
            return;
        }
    }
    panic!("nothing arrived from term {from} on");
}

#[test]
fn messages_arrive_in_order_both_ways() {
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let (mut one, inbox_1) = receiver(1, l1, vec![(2, a2)]);
    let (mut two, inbox_2) = receiver(2, l2, vec![(1, a1)]);
    for term in 1..=500 {
        one.send(2, message(term)).unwrap();
        two.send(1, from(2, term + 1000)).unwrap();
    }
    for term in 1..=500 {
        assert_eq!(inbox_2.recv_timeout(WAIT).unwrap(), message(term));
        assert_eq!(inbox_1.recv_timeout(WAIT).unwrap(), from(2, term + 1000));
    }
    // The writer counts a batch after its write returns, which may be after the
    // reader delivered it.
    let deadline = Instant::now() + WAIT;
    while one.stats().sent < 500 {
        assert!(Instant::now() < deadline, "{:?}", one.stats());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(one.stats().sent, 500);
    assert_eq!(two.stats().received, 500);
    assert_eq!(one.stats().dropped_queue_full, 0);
}

#[test]
fn unknown_peer_is_an_error() {
    let (l1, _) = listener();
    let (mut one, _inbox) = receiver(1, l1, vec![(2, "127.0.0.1:9".parse().unwrap())]);
    assert!(matches!(
        one.send(7, message(1)),
        Err(raft_io::Error::UnknownNode { node: 7 })
    ));
}

#[test]
fn reconnects_after_the_peer_restarts_on_the_same_port() {
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let (mut one, _inbox_1) = receiver(1, l1, vec![(2, a2)]);
    let (two, inbox_2) = receiver(2, l2, vec![(1, a1)]);
    send_until_received(&mut one, 2, &inbox_2, 1);
    two.shutdown();
    // Sends while the peer is down are lost, never an error and never blocking.
    for term in 100..200 {
        one.send(2, message(term)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let (two, inbox_2) = receiver(2, TcpListener::bind(a2).unwrap(), vec![(1, a1)]);
    send_until_received(&mut one, 2, &inbox_2, 1000);
    assert!(one.stats().connects >= 2, "{:?}", one.stats());
    drop(two);
}

#[test]
fn a_dead_peer_never_blocks_the_sender_and_its_queue_stays_bounded() {
    let (l1, _) = listener();
    // A port with nothing listening.
    let (dead, dead_address) = listener();
    drop(dead);
    let options = TcpOptions {
        queue_messages_max: 64,
        ..fast()
    };
    let mut one = TcpTransport::start(1, l1, [(2, dead_address)], options, |_| {}).unwrap();
    let started = Instant::now();
    for term in 0..200_000 {
        one.send(2, message(term)).unwrap();
    }
    // 200k sends into a queue of 64: almost all dropped, quickly.
    assert!(started.elapsed() < Duration::from_secs(10));
    let stats = one.stats();
    assert_eq!(stats.sent, 0);
    assert!(stats.dropped_queue_full + stats.dropped_disconnected >= 200_000 - 64);
    assert!(stats.dropped_queue_full > 0, "{stats:?}");
}

#[test]
fn corrupt_input_costs_a_connection_not_the_peer() {
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let (mut one, _inbox_1) = receiver(1, l1, vec![(2, a2)]);
    let (two, inbox_2) = receiver(2, l2, vec![(1, a1)]);
    send_until_received(&mut one, 2, &inbox_2, 1);

    // Node 1 (by its hello) sends a well-framed message, then a frame with a flipped
    // payload bit (checksum mismatch: the stream is closed), on its own connection.
    let (mut stranger, status) = raw(a2, "raft", 1, 2);
    assert_eq!(status, Some(0));
    let good = framing::encode(&message(50)).unwrap();
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    stranger.write_all(&good).unwrap();
    stranger.write_all(&bad).unwrap();
    stranger.write_all(&good).unwrap();
    assert_eq!(inbox_2.recv_timeout(WAIT).unwrap(), message(50));
    let deadline = Instant::now() + WAIT;
    while two.stats().streams_closed_corrupt == 0 {
        assert!(Instant::now() < deadline, "corrupt stream never closed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(two.stats().decode_errors, 1);

    // Garbage that is not even a hello.
    let mut garbage = TcpStream::connect(a2).unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();

    // The real peer is unaffected.
    send_until_received(&mut one, 2, &inbox_2, 5000);
    wait_for("the garbage connection refused", || {
        two.stats().handshakes_refused >= 1
    });
}

#[test]
fn a_bad_frame_that_keeps_its_boundaries_is_skipped_on_a_live_connection() {
    let (l2, a2) = listener();
    let (two, inbox_2) = receiver(2, l2, vec![(1, "127.0.0.1:9".parse().unwrap())]);
    // A frame of an unknown message kind with a valid checksum: build it from a good
    // frame by rewriting the kind byte and recomputing the CRC the way the format says.
    let good = framing::encode(&message(7)).unwrap();
    let mut unknown = good.clone();
    unknown[framing::HEADER_BYTES] = 0x7f;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&unknown[2..8]);
    hasher.update(&unknown[framing::HEADER_BYTES..]);
    let crc = hasher.finalize().to_le_bytes();
    unknown[8..12].copy_from_slice(&crc);
    assert!(framing::decode(&unknown).is_err());

    let (mut stream, status) = raw(a2, "raft", 1, 2);
    assert_eq!(status, Some(0));
    stream.write_all(&unknown).unwrap();
    stream.write_all(&good).unwrap();
    assert_eq!(inbox_2.recv_timeout(WAIT).unwrap(), message(7));
    let stats = two.stats();
    assert_eq!(stats.decode_errors, 1);
    assert_eq!(stats.streams_closed_corrupt, 0);
}

// Three RaftNodes in one process talking only through TcpTransports on loopback: they
// elect a leader and commit on every node.
#[test]
fn three_nodes_over_tcp_elect_a_leader_and_commit() {
    use raft_io::{Action, Event, RaftConfig, RaftNode};

    let listeners: Vec<(TcpListener, SocketAddr)> = (0..3).map(|_| listener()).collect();
    let addresses: Vec<(u64, SocketAddr)> = listeners
        .iter()
        .enumerate()
        .map(|(i, (_, address))| (i as u64 + 1, *address))
        .collect();
    let mut nodes = Vec::new();
    for (i, (listener, _)) in listeners.into_iter().enumerate() {
        let id = i as u64 + 1;
        let (transport, inbox) = receiver(id, listener, addresses.clone());
        let node = RaftNode::new(RaftConfig::new(id, [1, 2, 3]));
        nodes.push((node, transport, inbox, Vec::<Vec<u8>>::new()));
    }
    let deadline = Instant::now() + WAIT;
    let mut proposed = false;
    loop {
        assert!(Instant::now() < deadline, "no commit on every node in time");
        for (node, transport, inbox, applied) in &mut nodes {
            let mut events = vec![Event::Tick];
            events.extend(inbox.try_iter().map(Event::Message));
            for event in events {
                // A refused message (stale, say) is simply dropped.
                let Ok(actions) = node.step(event) else {
                    continue;
                };
                for action in actions {
                    match action {
                        Action::Send { to, message } => transport.send(to, message).unwrap(),
                        Action::Apply { command, .. } => applied.push(command.to_vec()),
                        _ => {}
                    }
                }
            }
            if node.is_leader() && !proposed {
                proposed = node
                    .step(Event::Propose(b"over tcp".to_vec()))
                    .is_ok_and(|actions| {
                        for action in actions {
                            if let Action::Send { to, message } = action {
                                transport.send(to, message).unwrap();
                            }
                        }
                        true
                    });
            }
        }
        if nodes
            .iter()
            .all(|(.., applied)| applied == &[b"over tcp".to_vec()])
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let leaders = nodes.iter().filter(|(node, ..)| node.is_leader()).count();
    assert_eq!(leaders, 1);
}

#[test]
fn peers_can_be_added_moved_and_removed_at_run_time() {
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let (l3, a3) = listener();
    let (mut one, _inbox_1) = receiver(1, l1, vec![]);
    assert!(matches!(
        one.send(2, message(1)),
        Err(raft_io::Error::UnknownNode { node: 2 })
    ));
    let (two, inbox_2) = receiver(2, l2, vec![(1, a1)]);
    one.add_peer(2, a2).unwrap();
    send_until_received(&mut one, 2, &inbox_2, 1);
    // Node 2 moves to another address: messages for 2 now go there.
    two.shutdown();
    let (_two, inbox_2) = receiver(2, l3, vec![(1, a1)]);
    one.add_peer(2, a3).unwrap();
    send_until_received(&mut one, 2, &inbox_2, 100);
    assert_eq!(one.peers().collect::<Vec<_>>(), vec![(2, a3)]);
    one.remove_peer(2);
    assert!(matches!(
        one.send(2, message(1)),
        Err(raft_io::Error::UnknownNode { node: 2 })
    ));
    assert_eq!(one.peers().count(), 0);
}

// The hello: another cluster, a node that is not a peer, a hello meant for another node
// and a caller naming the receiver itself are refused with a status and counted.
#[test]
fn hello_from_another_cluster_or_node_is_refused() {
    let (l2, a2) = listener();
    let (two, _inbox_2) = receiver(2, l2, vec![(1, "127.0.0.1:9".parse().unwrap())]);
    assert_eq!(raw(a2, "other", 1, 2).1, Some(1), "another cluster");
    assert_eq!(raw(a2, "raft", 7, 2).1, Some(2), "not a peer");
    assert_eq!(raw(a2, "raft", 2, 2).1, Some(2), "the receiver itself");
    assert_eq!(raw(a2, "raft", 1, 3).1, Some(3), "meant for node 3");
    assert_eq!(raw(a2, "raft", 1, 2).1, Some(0), "node 1 is welcome");
    wait_for("four refusals", || two.stats().handshakes_refused == 4);
}

// A connection belongs to the node its hello named: a frame claiming another sender is
// dropped and counted, the caller's own frames still arrive.
#[test]
fn frames_naming_another_sender_are_dropped() {
    let (l2, a2) = listener();
    let dead: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let (two, inbox_2) = receiver(2, l2, vec![(1, dead), (3, dead)]);
    let (mut stream, status) = raw(a2, "raft", 3, 2);
    assert_eq!(status, Some(0));
    let forged = framing::encode(&message(9)).unwrap(); // "from" node 1
    let own = framing::encode(&from(3, 10)).unwrap();
    stream.write_all(&forged).unwrap();
    stream.write_all(&own).unwrap();
    let received = inbox_2.recv_timeout(WAIT).unwrap();
    assert_eq!(received.from(), 3);
    assert_eq!(two.stats().frames_wrong_sender, 1);
    assert!(inbox_2.try_recv().is_err());
}

// Connections that never say hello hold a handshake slot only until the handshake
// timeout, and never the slots of established peers: 80 idle sockets do not keep node
// 1 out, and they are closed.
#[test]
fn idle_strangers_cannot_take_the_slots_of_peers() {
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let options = TcpOptions {
        handshake_timeout: Duration::from_millis(300),
        ..fast()
    };
    let (tx, inbox_2) = mpsc::channel();
    let two = TcpTransport::start(2, l2, [(1, a1)], options, move |message| {
        let _ = tx.send(message);
    })
    .unwrap();
    let strangers: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(a2).unwrap()).collect();
    let (mut one, _inbox_1) = receiver(1, l1, vec![(2, a2)]);
    send_until_received(&mut one, 2, &inbox_2, 1);
    wait_for("the strangers timed out", || {
        let stats = two.stats();
        stats.handshakes_refused + stats.connections_refused_busy >= 80
    });
    drop(strangers);
}

// An established connection that carries nothing is closed after the idle timeout; the
// writer notices before its next batch and reconnects, so nothing is lost.
#[test]
fn idle_connections_are_closed_and_reopened_without_loss() {
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let options = TcpOptions {
        idle_timeout: Duration::from_millis(200),
        ..fast()
    };
    let (tx, inbox_2) = mpsc::channel();
    let two = TcpTransport::start(2, l2, [(1, a1)], options, move |message| {
        let _ = tx.send(message);
    })
    .unwrap();
    let (mut one, _inbox_1) = receiver(1, l1, vec![(2, a2)]);
    send_until_received(&mut one, 2, &inbox_2, 1);
    while inbox_2.try_recv().is_ok() {}
    wait_for("the idle close", || {
        two.stats().connections_idle_closed >= 1
    });
    std::thread::sleep(Duration::from_millis(600));
    let connects = one.stats().connects;
    for term in 500..510 {
        one.send(2, message(term)).unwrap();
    }
    for term in 500..510 {
        assert_eq!(inbox_2.recv_timeout(WAIT).unwrap().term(), term);
    }
    assert!(one.stats().connects > connects, "{:?}", one.stats());
}

// A transport refuses to start with a cluster id that cannot be a DNS label.
#[test]
fn invalid_cluster_id_is_refused_at_start() {
    let (l1, _) = listener();
    let options = TcpOptions {
        cluster_id: "Not Valid".into(),
        ..fast()
    };
    let error = TcpTransport::start(1, l1, [], options, |_| {}).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

// Outbound connections can leave from a chosen local address (here 127.0.0.7), which
// the receiver sees as the connection's source.
#[test]
fn outbound_connections_leave_from_the_chosen_address() {
    let (l2, a2) = listener();
    let (tx, inbox_2) = mpsc::channel();
    let _two = TcpTransport::start(
        2,
        l2,
        [(1, "127.0.0.1:9".parse().unwrap())],
        fast(),
        move |m| {
            let _ = tx.send(m);
        },
    )
    .unwrap();
    // What node 2 sees: accept on a plain listener posing as node 2 first.
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    let probe_address = probe.local_addr().unwrap();
    let options = TcpOptions {
        outbound_ip: Some("127.0.0.7".parse().unwrap()),
        ..fast()
    };
    let (l1, _) = listener();
    let mut one = TcpTransport::start(1, l1, [(2, probe_address)], options, |_| {}).unwrap();
    one.send(2, message(1)).unwrap();
    let (_, source) = probe.accept().unwrap();
    assert_eq!(source.ip().to_string(), "127.0.0.7");
    // And through a real peer, messages still arrive.
    one.add_peer(2, a2).unwrap();
    send_until_received(&mut one, 2, &inbox_2, 1);
}
