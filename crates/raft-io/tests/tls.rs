//! The TCP transport over mutual TLS on loopback: peers with certificates of the
//! cluster's CA exchange messages; another CA, another node's certificate, another
//! cluster's certificate and a plain client are refused, and a frame naming another
//! sender is dropped even inside an authenticated connection.
#![cfg(feature = "tls")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raft_io::tcp::{TcpLog, TcpOptions, TcpTransport, TlsConfig, hello_bytes};
use raft_io::{Message, RaftTransport, TimeoutNow};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

const WAIT: Duration = Duration::from_secs(20);

/// A throwaway CA that signs node certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    /// A certificate for node `id` of `cluster`, signed by this CA.
    fn node(&self, cluster: &str, id: u64) -> TlsConfig {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![TlsConfig::node_name(cluster, id)]).unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        TlsConfig::from_pem(
            self.issuer.pem().as_bytes(),
            certificate.pem().as_bytes(),
            key.serialize_pem().as_bytes(),
        )
        .unwrap()
    }
}

fn message(from: u64, term: u64) -> Message {
    Message::TimeoutNow(TimeoutNow { term, leader: from })
}

fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

struct Node {
    transport: TcpTransport,
    inbox: Receiver<Message>,
    log: Arc<Mutex<Vec<String>>>,
}

fn node(
    id: u64,
    cluster: &str,
    tls: TlsConfig,
    listener: TcpListener,
    peers: Vec<(u64, SocketAddr)>,
) -> Node {
    let (tx, inbox) = mpsc::channel();
    let log = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::clone(&log);
    let options = TcpOptions {
        cluster_id: cluster.into(),
        tls: Some(tls),
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        log: Some(TcpLog(Arc::new(move |line: &str| {
            lines.lock().unwrap().push(line.to_owned());
        }))),
        ..TcpOptions::default()
    };
    let transport = TcpTransport::start(id, listener, peers, options, move |message| {
        let _ = tx.send(message);
    })
    .unwrap();
    Node {
        transport,
        inbox,
        log,
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

// Two nodes with certificates of the cluster's CA talk both ways over TLS.
#[test]
fn peers_of_one_ca_talk_over_mutual_tls() {
    let ca = Ca::new("cluster ca");
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let mut one = node(1, "c1", ca.node("c1", 1), l1, vec![(2, a2)]);
    let mut two = node(2, "c1", ca.node("c1", 2), l2, vec![(1, a1)]);
    for term in 1..=200 {
        one.transport.send(2, message(1, term)).unwrap();
        two.transport.send(1, message(2, term)).unwrap();
    }
    for term in 1..=200 {
        assert_eq!(two.inbox.recv_timeout(WAIT).unwrap(), message(1, term));
        assert_eq!(one.inbox.recv_timeout(WAIT).unwrap(), message(2, term));
    }
    assert_eq!(two.transport.stats().handshakes_refused, 0);
}

/// Node 1 (with `tls`) tries to reach node 2 (of cluster c1, CA `ca`); returns node 2
/// once it has refused at least one connection, and node 1.
fn refused(ca: &Ca, caller_cluster: &str, caller_tls: TlsConfig) -> (Node, Node) {
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let two = node(2, "c1", ca.node("c1", 2), l2, vec![(1, a1)]);
    let mut one = node(1, caller_cluster, caller_tls, l1, vec![(2, a2)]);
    let deadline = Instant::now() + WAIT;
    while two.transport.stats().handshakes_refused == 0 {
        assert!(Instant::now() < deadline, "never refused");
        one.transport.send(2, message(1, 1)).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        two.inbox.try_recv().is_err(),
        "a refused caller got a message in"
    );
    assert!(one.transport.stats().handshake_failures > 0);
    (two, one)
}

// A certificate from another CA is refused at the TLS handshake, with a log line.
#[test]
fn certificate_of_another_ca_is_refused() {
    let ca = Ca::new("cluster ca");
    let stranger = Ca::new("another ca");
    let (two, _one) = refused(&ca, "c1", stranger.node("c1", 1));
    let log = two.log.lock().unwrap().join("\n");
    assert!(log.contains("TLS handshake failed"), "{log}");
}

// A genuine certificate of node 3 cannot be used to speak as node 1.
#[test]
fn certificate_of_another_node_is_refused() {
    let ca = Ca::new("cluster ca");
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let two = node(2, "c1", ca.node("c1", 2), l2, vec![(1, a1), (3, a1)]);
    // Node 3's certificate, but a hello that claims node 1: start() refuses a
    // certificate that does not name the node, so speak TLS by hand.
    let three_as_one = ca.node("c1", 3);
    let error = TcpTransport::start(1, l1, [(2, a2)], options_with(three_as_one.clone()), |_| {})
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    let status = hand_made_tls_hello(&ca, 3, a2, 1);
    assert_eq!(status, Some(4), "identity mismatch");
    wait_for("the refusal", || {
        two.transport.stats().handshakes_refused >= 1
    });
    let log = two.log.lock().unwrap().join("\n");
    assert!(log.contains("does not prove"), "{log}");
}

// A certificate of the same CA for another cluster is refused.
#[test]
fn certificate_of_another_cluster_is_refused() {
    let ca = Ca::new("shared ca");
    let (_two, one) = refused(&ca, "c2", ca.node("c2", 1));
    // The caller checks the server's name too: node 2 of c1 is not node 2 of c2.
    let log = one.log.lock().unwrap().join("\n");
    assert!(log.contains("refused"), "{log}");
}

// A plain TCP client on a TLS port gets nothing in.
#[test]
fn plain_client_on_a_tls_port_is_refused() {
    let ca = Ca::new("cluster ca");
    let (l2, a2) = listener();
    let two = node(
        2,
        "c1",
        ca.node("c1", 2),
        l2,
        vec![(1, "127.0.0.1:9".parse().unwrap())],
    );
    let mut plain = TcpStream::connect(a2).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain.write_all(&hello_bytes("c1", 1, 2)).unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert_ne!(answer.first(), Some(&0), "a plain hello was accepted");
    wait_for("the refusal", || {
        two.transport.stats().handshakes_refused >= 1
    });
    assert!(two.inbox.try_recv().is_err());
}

// Inside an authenticated connection, a frame naming another sender is dropped.
#[test]
fn authenticated_peer_cannot_speak_for_another_node() {
    let ca = Ca::new("cluster ca");
    let (l1, a1) = listener();
    let (l2, a2) = listener();
    let two = node(2, "c1", ca.node("c1", 2), l2, vec![(1, a1), (3, a1)]);
    let mut one = node(1, "c1", ca.node("c1", 1), l1, vec![(2, a2)]);
    one.transport.send(2, message(3, 7)).unwrap();
    one.transport.send(2, message(1, 8)).unwrap();
    assert_eq!(two.inbox.recv_timeout(WAIT).unwrap(), message(1, 8));
    assert_eq!(two.transport.stats().frames_wrong_sender, 1);
}

fn options_with(tls: TlsConfig) -> TcpOptions {
    TcpOptions {
        cluster_id: "c1".into(),
        tls: Some(tls),
        ..TcpOptions::default()
    }
}

/// Connects to `address` over TLS with node `cert_id`'s certificate, says hello as
/// node `claimed`, and returns the status byte.
fn hand_made_tls_hello(ca: &Ca, cert_id: u64, address: SocketAddr, claimed: u64) -> Option<u8> {
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec![TlsConfig::node_name("c1", cert_id)]).unwrap();
    let certificate = params.signed_by(&key, &ca.issuer).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![certificate.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from(TlsConfig::node_name("c1", 2)).unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = TcpStream::connect(address).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    stream.write_all(&hello_bytes("c1", claimed, 2)).ok()?;
    stream.flush().ok()?;
    let mut status = [0u8; 1];
    stream.read_exact(&mut status).ok().map(|()| status[0])
}
