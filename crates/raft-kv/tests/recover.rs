//! Quorum-loss recovery across processes: two of three voters are gone for good, the
//! survivor cannot serve; `raft-kv recover` rewrites its configuration offline and it
//! serves again as a cluster of one, with every write it held.

use std::process::Command;
use std::time::{Duration, Instant};

mod support;

use raft_kv::local::LocalCluster;
use raft_kv::protocol::Request;
use support::{exe, put, put_all, read_all};

#[test]
fn a_survivor_recovered_offline_serves_again_as_a_smaller_cluster() {
    let mut cluster = LocalCluster::new(exe(), 3, None).unwrap();
    cluster.start_all().unwrap();
    let mut client = cluster.client();
    put_all(&mut client, 20, |i| format!("v{i}"));
    // Node 3 holds everything (so no acknowledged write is lost in this test).
    let _ = cluster.wait_converged(Duration::from_secs(20)).unwrap();
    cluster.kill(1);
    cluster.kill(2);
    // Without a quorum, node 3 alone takes no write.
    let alone = Request::Put {
        key: "alone".into(),
        value: "no".into(),
    };
    assert!(client.execute(alone, Duration::from_secs(2)).is_err());
    cluster.kill(3);

    let data = cluster.dir().join("node-3");
    let refused = Command::new(exe())
        .args(["recover", "--data"])
        .arg(&data)
        .args(["--new-voters", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "id 0 is refused");
    let output = Command::new(exe())
        .args(["recover", "--data"])
        .arg(&data)
        .args(["--new-voters", "3"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stderr}{stdout}");
    assert!(
        stderr.contains("WARNING") && stderr.contains("LOST"),
        "{stderr}"
    );
    assert!(stdout.contains("recovered: voters [3]"), "{stdout}");

    cluster.start(3).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster
        .status(3)
        .is_none_or(|status| status.role != "leader" || status.voters != vec![3])
    {
        assert!(Instant::now() < deadline, "node 3 never led alone");
        std::thread::sleep(Duration::from_millis(20));
    }
    read_all(&mut client, 20, |i| format!("v{i}"));
    put(&mut client, "after", "recovery");
}
