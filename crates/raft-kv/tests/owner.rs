//! A data directory belongs to one node of one cluster from its first start: a node
//! pointed at another node's directory (or another cluster's) is refused before it
//! runs, since it would carry that node's term and vote and could vote twice.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use raft_kv::server::{Member, ServerConfig, start};

fn free_address() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
}

fn config(id: u64, dir: &Path, cluster: &str) -> ServerConfig {
    let member = Member {
        raft: free_address(),
        client: free_address(),
    };
    let mut config = ServerConfig::new(id, dir.to_path_buf(), BTreeMap::from([(id, member)]));
    config.cluster_id = cluster.into();
    config.fsync = false;
    config
}

#[test]
fn a_node_started_on_another_nodes_directory_is_refused() {
    let dir = std::env::temp_dir().join(format!("raft-kv-owner-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |config: ServerConfig| {
        start(config, Arc::new(AtomicBool::new(false))).and_then(|server| server.stop())
    };
    // The first start records node 1 of cluster "blue" as the owner.
    run(config(1, &dir, "blue")).unwrap();
    let error = run(config(2, &dir, "blue")).unwrap_err();
    assert!(
        error.contains("belongs to node 1 of cluster blue, not to node 2 of cluster blue"),
        "{error}"
    );
    let error = run(config(1, &dir, "green")).unwrap_err();
    assert!(error.contains("not to node 1 of cluster green"), "{error}");
    let error = run(config(1, &dir, "no spaces")).unwrap_err();
    assert!(error.contains("--cluster-id"), "{error}");
    // Its owner starts again.
    run(config(1, &dir, "blue")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
