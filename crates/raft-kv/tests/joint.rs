//! Real processes on 127.0.0.1: two of three voters replaced in one `set-voters`
//! command while a client writes, with no acknowledged write lost; guarded and
//! malformed `set-voters` requests change nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod support;

use raft_kv::client::ClientError;
use raft_kv::local::LocalCluster;
use raft_kv::protocol::{Request, Response};
use support::{exe, until_done};

/// Waits until every node in `ids` follows exactly `voters`, not joint.
fn wait_for_voters(cluster: &LocalCluster, ids: &[u64], voters: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ids.iter().any(|&id| {
        cluster
            .status(id)
            .is_none_or(|status| status.voters != voters || !status.outgoing.is_empty())
    }) {
        assert!(
            Instant::now() < deadline,
            "the configuration {voters:?} never spread"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn two_of_three_voters_replaced_in_one_command_under_load_lose_no_write() {
    let mut cluster = LocalCluster::new(exe(), 5, None).unwrap();
    cluster.voters = vec![1, 2, 3];
    for id in 1..=5 {
        cluster.start(id).unwrap();
    }
    let mut admin = cluster.client();
    for id in [4, 5] {
        let member = cluster.members()[&id];
        until_done(
            &mut admin,
            &Request::AddLearner {
                id,
                raft: member.raft.to_string(),
                client: member.client.to_string(),
            },
        );
    }

    // A writer keeps going through the change; it records what was acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let mut client = cluster.client();
        std::thread::spawn(move || {
            let mut acknowledged = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let put = Request::Put {
                    key: format!("k{i}"),
                    value: format!("v{i}"),
                };
                if client.execute(put, Duration::from_secs(5)) == Ok(Response::Done) {
                    acknowledged.push(i);
                }
                i += 1;
            }
            acknowledged
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    // A guard naming a configuration no longer in force is refused and changes nothing.
    let config = cluster
        .status(cluster.leader().unwrap().0)
        .unwrap()
        .config_index;
    let stale = Request::SetVoters {
        ids: vec![1, 4, 5],
        expected_config: Some(config.saturating_sub(1)),
    };
    match admin.execute(stale, Duration::from_secs(5)) {
        Err(ClientError::Invalid(why)) => {
            assert!(why.contains("configuration changed"), "{why}");
        }
        other => panic!("a stale guard was not refused: {other:?}"),
    }
    // Naming a node that is not a member is refused too.
    let stranger = Request::SetVoters {
        ids: vec![1, 4, 9],
        expected_config: None,
    };
    assert!(matches!(
        admin.execute(stranger, Duration::from_secs(5)),
        Err(ClientError::Invalid(_))
    ));
    wait_for_voters(&cluster, &[1, 2, 3, 4, 5], &[1, 2, 3]);

    // Replace voters 2 and 3 by 4 and 5 in one command.
    until_done(
        &mut admin,
        &Request::SetVoters {
            ids: vec![1, 4, 5],
            expected_config: None,
        },
    );
    wait_for_voters(&cluster, &[1, 4, 5], &[1, 4, 5]);
    std::thread::sleep(Duration::from_millis(300));
    // The old voters can go for good: the cluster is 1, 4 and 5.
    cluster.kill(2);
    cluster.kill(3);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let acknowledged = writer.join().unwrap();
    println!(
        "{} writes acknowledged across the change",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() > 20,
        "too few writes: {}",
        acknowledged.len()
    );

    // Every acknowledged write is there, read through the new cluster.
    let mut reader = cluster.client();
    for i in acknowledged {
        let get = Request::Get {
            key: format!("k{i}"),
        };
        assert_eq!(
            reader.execute(get, Duration::from_secs(20)),
            Ok(Response::Value(Some(format!("v{i}")))),
            "acknowledged write k{i} lost"
        );
    }
    // And the new cluster survives losing one of its own.
    let (leader, _) = cluster.wait_for_leader(0, Duration::from_secs(20)).unwrap();
    assert!([1, 4, 5].contains(&leader));
    cluster.kill(leader);
    let put = Request::Put {
        key: "after".into(),
        value: "swap".into(),
    };
    assert_eq!(
        reader.execute(put, Duration::from_secs(20)),
        Ok(Response::Done)
    );
}
