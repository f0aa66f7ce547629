//! Real processes on 127.0.0.1: the SIGKILL crash test (short; `cargo xtask
//! cluster-test --secs N` runs it longer), the client protocol against followers, and
//! a clean Ctrl-C shutdown followed by a restart that keeps the data.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use raft_kv::client::Client;
use raft_kv::local::LocalCluster;
use raft_kv::protocol::{Request, Response};
use raft_kv::torture::{self, TortureOptions};

/// One cluster at a time: a cluster picks free ports, releases them and binds them
/// again in its servers, and a killed node's ports are free until it restarts; a second
/// cluster starting meanwhile could take them.
static ONE_CLUSTER: Mutex<()> = Mutex::new(());

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_raft-kv"))
}

#[test]
fn sigkilled_nodes_lose_no_acknowledged_write_and_the_history_is_linearizable() {
    let _one = ONE_CLUSTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let options = TortureOptions {
        duration: Duration::from_secs(8),
        clients: 4,
        seed: 7,
        ..TortureOptions::default()
    };
    let report = torture::run(exe(), &options).unwrap_or_else(|why| panic!("{why}"));
    println!("{report}");
    assert!(report.kills >= 2, "{report}");
    assert!(report.leader_kills >= 1, "{report}");
    assert!(report.acknowledged > 100, "{report}");
}

/// One request line over a raw connection, one response line back.
fn raw(stream: &mut TcpStream, line: &[u8]) -> String {
    stream.write_all(line).unwrap();
    let mut answer = String::new();
    let _ = BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut answer)
        .unwrap();
    answer.trim_end().to_owned()
}

#[test]
fn followers_redirect_bad_requests_are_refused_and_a_clean_restart_keeps_the_data() {
    let _one = ONE_CLUSTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut cluster = LocalCluster::new(exe(), 3, None).unwrap();
    cluster.start_all().unwrap();
    let members = cluster.members().clone();

    // A follower sends writes and reads to the leader. (Asked again until the answer
    // names the current leader: on a loaded machine leadership may move meanwhile.)
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (follower, mut to_follower) = loop {
        assert!(std::time::Instant::now() < deadline, "no stable leader");
        let Some((leader, _)) = cluster.wait_for_leader(0, Duration::from_secs(20)) else {
            continue;
        };
        let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
        let mut to_follower = TcpStream::connect(members[&follower].client).unwrap();
        let expected = format!("REDIRECT {}", members[&leader].client);
        if raw(&mut to_follower, b"put k v\n") == expected
            && raw(&mut to_follower, b"get k\n") == expected
        {
            break (follower, to_follower);
        }
    };
    // Malformed input gets an error and the connection stays usable.
    assert!(raw(&mut to_follower, b"frobnicate\n").starts_with("ERR invalid"));
    assert!(raw(&mut to_follower, b"\xff\xfe garbage\n").starts_with("ERR invalid"));
    assert!(raw(&mut to_follower, b"status\n").starts_with(&format!("STATUS id={follower} ")));
    // Fault injection is refused unless the node was started with it.
    assert!(
        raw(&mut to_follower, b"isolate 100\n").starts_with("ERR invalid fault injection is off")
    );

    // The client follows the redirect.
    let mut client = Client::new(vec![members[&follower].client], 1);
    let put = Request::Put {
        key: "k".into(),
        value: "v1".into(),
    };
    assert_eq!(
        client.execute(put, Duration::from_secs(20)),
        Ok(Response::Done)
    );
    let _ = cluster.wait_converged(Duration::from_secs(20)).unwrap();

    // Ctrl-C the leader: it tries to hand its leadership over, then exits cleanly.
    if let Some((leader, _)) = cluster.leader() {
        assert!(
            cluster.interrupt(leader),
            "leader {leader} did not exit cleanly"
        );
        assert!(
            cluster
                .output_of(leader)
                .contains("handing leadership to node"),
            "{}",
            cluster.output_of(leader)
        );
    }
    // Ctrl-C the others: each exits cleanly (status 0).
    for id in cluster.ids() {
        if cluster.is_running(id) {
            assert!(cluster.interrupt(id), "node {id} did not exit cleanly");
        }
    }
    assert!(cluster.leader().is_none());

    // Restarted on the same directories, the cluster still has the write.
    cluster.start_all().unwrap();
    let mut client = Client::new(cluster.client_addresses(), 2);
    let get = Request::Get { key: "k".into() };
    assert_eq!(
        client.execute(get, Duration::from_secs(20)),
        Ok(Response::Value(Some("v1".into())))
    );
}
