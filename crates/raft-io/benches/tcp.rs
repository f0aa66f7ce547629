//! TCP transport throughput on loopback: batches of 1000 messages from one transport
//! to another, timed until the last is delivered, for heartbeats and for
//! AppendEntries carrying 64 entries of 128 bytes; with feature `tls`, the same over
//! mutual TLS, and the cost of one connection handshake (TCP, TLS, hello) either way.
//! Run with `cargo xtask bench` or `cargo bench -p raft-io --features tls --bench tcp`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use raft_io::tcp::{TcpOptions, TcpTransport, hello_bytes};
use raft_io::{AppendEntries, LogEntry, Message, RaftTransport};

const BATCH: u64 = 1000;

fn append_entries(entries: usize) -> Message {
    Message::AppendEntries(AppendEntries {
        term: 12,
        leader: 1,
        prev_log_index: 1_000_000,
        prev_log_term: 11,
        entries: (0..entries as u64)
            .map(|offset| LogEntry::new(12, 1_000_001 + offset, vec![0x5a; 128]))
            .collect(),
        leader_commit: 999_998,
    })
}

/// Node 1 sending to node 2, which counts what it receives.
struct Pair {
    sender: TcpTransport,
    received: Arc<AtomicU64>,
    receiver_address: SocketAddr,
    _receiver: TcpTransport,
}

fn pair(sender_options: TcpOptions, receiver_options: TcpOptions) -> Pair {
    let sender_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let receiver_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let from = sender_listener.local_addr().expect("address");
    let to = receiver_listener.local_addr().expect("address");
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    let receiver = TcpTransport::start(
        2,
        receiver_listener,
        [(1, from)],
        receiver_options,
        move |_| {
            let _ = counter.fetch_add(1, Ordering::Relaxed);
        },
    )
    .expect("receiver");
    let sender =
        TcpTransport::start(1, sender_listener, [(2, to)], sender_options, |_| {}).expect("sender");
    Pair {
        sender,
        received,
        receiver_address: to,
        _receiver: receiver,
    }
}

fn deliveries(c: &mut Criterion, mode: &str, pair: &mut Pair) {
    let mut group = c.benchmark_group("tcp");
    let _ = group.measurement_time(Duration::from_secs(5));
    let _ = group.sample_size(20);
    for (name, message) in [
        ("heartbeat", append_entries(0)),
        ("append-64x128B", append_entries(64)),
    ] {
        let _ = group.throughput(Throughput::Elements(BATCH));
        let _ = group.bench_function(format!("deliver-1000/{name}/{mode}"), |b| {
            b.iter(|| {
                let target = pair.received.load(Ordering::Relaxed) + BATCH;
                for _ in 0..BATCH {
                    pair.sender.send(2, message.clone()).expect("known peer");
                }
                while pair.received.load(Ordering::Relaxed) < target {
                    std::thread::yield_now();
                }
            })
        });
    }
    group.finish();
    assert_eq!(
        pair.sender.stats().dropped_queue_full,
        0,
        "the queue was large enough"
    );
}

fn options() -> TcpOptions {
    TcpOptions {
        queue_messages_max: 2 * BATCH as usize,
        ..TcpOptions::default()
    }
}

fn plain(c: &mut Criterion) {
    let mut pair = pair(options(), options());
    deliveries(c, "plain", &mut pair);
    let address = pair.receiver_address;
    let mut group = c.benchmark_group("tcp");
    let _ = group.throughput(Throughput::Elements(1));
    let _ = group.bench_function("handshake/plain", |b| {
        b.iter(|| {
            let mut stream = TcpStream::connect(address).expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            stream.write_all(&hello_bytes("raft", 1, 2)).expect("hello");
            let mut status = [0u8; 1];
            stream.read_exact(&mut status).expect("status");
            assert_eq!(status[0], 0);
        })
    });
    group.finish();
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use raft_io::tcp::TlsConfig;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    /// A CA and a node certificate (PEM): (ca, cert, key), plus the issuer.
    fn certificates() -> (CertifiedIssuer<'static, KeyPair>, Vec<(String, String)>) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        let nodes = [1, 2]
            .map(|id| {
                let key = KeyPair::generate().expect("key");
                let params =
                    CertificateParams::new(vec![TlsConfig::node_name("raft", id)]).expect("params");
                let certificate = params.signed_by(&key, &ca).expect("sign");
                (certificate.pem(), key.serialize_pem())
            })
            .to_vec();
        (ca, nodes)
    }

    pub(super) fn tls(c: &mut Criterion) {
        let (ca, nodes) = certificates();
        let config = |(cert, key): &(String, String)| {
            TlsConfig::from_pem(ca.pem().as_bytes(), cert.as_bytes(), key.as_bytes())
                .expect("TLS configuration")
        };
        let sender = TcpOptions {
            tls: Some(config(&nodes[0])),
            ..options()
        };
        let receiver = TcpOptions {
            tls: Some(config(&nodes[1])),
            ..options()
        };
        let mut pair = pair(sender, receiver);
        deliveries(c, "tls", &mut pair);

        // One handshake: TCP connect, TLS 1.3 with client certificates, hello, status.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).expect("root");
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_slice(nodes[0].1.as_bytes()).expect("key");
        let chain: Vec<_> =
            rustls::pki_types::CertificateDer::pem_slice_iter(nodes[0].0.as_bytes())
                .collect::<Result<_, _>>()
                .expect("chain");
        let client = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13])
                .expect("TLS 1.3")
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)
                .expect("client config"),
        );
        let address = pair.receiver_address;
        let mut group = c.benchmark_group("tcp");
        let _ = group.throughput(Throughput::Elements(1));
        let _ = group.bench_function("handshake/tls", |b| {
            b.iter(|| {
                let name = rustls::pki_types::ServerName::try_from(TlsConfig::node_name("raft", 2))
                    .expect("name");
                let connection =
                    rustls::ClientConnection::new(Arc::clone(&client), name).expect("client");
                let socket = TcpStream::connect(address).expect("connect");
                socket.set_nodelay(true).expect("nodelay");
                let mut stream = rustls::StreamOwned::new(connection, socket);
                stream.write_all(&hello_bytes("raft", 1, 2)).expect("hello");
                stream.flush().expect("flush");
                let mut status = [0u8; 1];
                stream.read_exact(&mut status).expect("status");
                assert_eq!(status[0], 0);
            })
        });
        group.finish();
    }

    use rustls::pki_types::pem::PemObject;
}

#[cfg(feature = "tls")]
criterion_group!(benches, plain, tls::tls);
#[cfg(not(feature = "tls"))]
criterion_group!(benches, plain);
criterion_main!(benches);
