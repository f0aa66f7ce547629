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

/// Starts a server with `config` and stops it at once.
fn run(config: ServerConfig) -> Result<(), String> {
    start(config, Arc::new(AtomicBool::new(false))).and_then(|server| server.stop())
}

#[test]
fn a_node_started_on_another_nodes_directory_is_refused() {
    let dir = std::env::temp_dir().join(format!("raft-kv-owner-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The first start (`--init`) records node 1 of cluster "blue" as the owner.
    let mut first = config(1, &dir, "blue");
    first.init = true;
    run(first).unwrap();
    let error = run(config(2, &dir, "blue")).unwrap_err();
    assert!(
        error.contains("belongs to node 1 of cluster blue, not to node 2 of cluster blue"),
        "{error}"
    );
    let error = run(config(1, &dir, "green")).unwrap_err();
    assert!(error.contains("not to node 1 of cluster green"), "{error}");
    let error = run(config(1, &dir, "no spaces")).unwrap_err();
    assert!(error.contains("--cluster-id"), "{error}");
    // Its owner starts again (without --init: the directory holds its log).
    run(config(1, &dir, "blue")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

// A node starts empty as the voter it was only when told this is its first start
// (`--init`: incarnation 0); a directory that holds no log otherwise (wiped, a new
// disk) makes it a new incarnation (docs/RECOVERY.md, rule 2), kept across restarts;
// `--init` on a directory that holds a log is refused.
#[test]
fn a_node_starts_as_itself_only_with_init() {
    let dir = std::env::temp_dir().join(format!("raft-kv-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let incarnation = |dir: &Path| {
        use raft_io::RaftLog;
        raft_io::WalLog::open(dir).unwrap().incarnation()
    };
    run(config(1, &dir, "blue")).unwrap();
    let new = incarnation(&dir);
    assert_ne!(new, 0, "a node that lost its data is a new incarnation");
    run(config(1, &dir, "blue")).unwrap();
    assert_eq!(incarnation(&dir), new, "kept across restarts");
    let mut again = config(1, &dir, "blue");
    again.init = true;
    let error = run(again).unwrap_err();
    assert!(error.contains("already holds a log"), "{error}");
    // A first start: incarnation 0, the one a new configuration names.
    std::fs::remove_dir_all(&dir).unwrap();
    let mut first = config(1, &dir, "blue");
    first.init = true;
    run(first).unwrap();
    assert_eq!(incarnation(&dir), 0);
    // Wiped again: another new incarnation.
    std::fs::remove_dir_all(&dir).unwrap();
    run(config(1, &dir, "blue")).unwrap();
    let newer = incarnation(&dir);
    assert!(newer != 0 && newer != new);
    std::fs::remove_dir_all(&dir).unwrap();
}
