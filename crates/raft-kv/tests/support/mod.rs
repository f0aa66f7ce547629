//! Helpers the process tests share: the binary, waiting, admin requests, writes.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use raft_kv::client::Client;
use raft_kv::protocol::{Request, Response};

/// The raft-kv binary under test.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_raft-kv"))
}

/// Waits until `done` holds, failing the test after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `request` until it is `Done` (refused while another change is in flight or a
/// learner is catching up).
pub fn until_done(client: &mut Client, request: &Request) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.execute(request.clone(), Duration::from_secs(5)) {
            Ok(Response::Done) => return,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "{request:?} never succeeded: {other:?}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Puts `key` = `value`, acknowledged.
pub fn put(client: &mut Client, key: &str, value: &str) {
    let put = Request::Put {
        key: key.into(),
        value: value.into(),
    };
    assert_eq!(
        client.execute(put, Duration::from_secs(20)),
        Ok(Response::Done),
        "{key}"
    );
}

/// Puts `k0..k{count}` with `value(i)`, each acknowledged.
pub fn put_all(client: &mut Client, count: usize, value: impl Fn(usize) -> String) {
    for i in 0..count {
        put(client, &format!("k{i}"), &value(i));
    }
}

/// Reads `k0..k{count}` back, each `value(i)`.
pub fn read_all(client: &mut Client, count: usize, value: impl Fn(usize) -> String) {
    for i in 0..count {
        let get = Request::Get {
            key: format!("k{i}"),
        };
        assert_eq!(
            client.execute(get, Duration::from_secs(20)),
            Ok(Response::Value(Some(value(i)))),
            "k{i}"
        );
    }
}
