//! `raft-kv serve --metrics ADDR`: the Prometheus text page, scraped over HTTP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use raft_kv::local::LocalCluster;
use raft_kv::protocol::{Request, Response};

fn exe() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_raft-kv"))
}

fn scrape(address: std::net::SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut page = String::new();
    let _ = stream.read_to_string(&mut page).unwrap();
    page
}

/// The value of the sample line starting with `prefix`.
fn sample(page: &str, prefix: &str) -> f64 {
    page.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in\n{page}"))
}

#[test]
fn metrics_are_scraped_in_the_prometheus_text_format() {
    let address = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cluster = LocalCluster::new(exe(), 1, None).unwrap();
    cluster.serve_args.push("--metrics".into());
    cluster.serve_args.push(address.to_string());
    cluster.start_all().unwrap();
    let _ = cluster.wait_for_leader(0, Duration::from_secs(20)).unwrap();
    let mut client = cluster.client();
    for i in 0..5 {
        let put = Request::Put {
            key: format!("k{i}"),
            value: "v".into(),
        };
        assert_eq!(
            client.execute(put, Duration::from_secs(20)),
            Ok(Response::Done)
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = scrape(address, "/metrics");
        let proposed = page.contains("raftkv_proposals_total")
            && sample(&page, "raftkv_proposals_total{node=\"1\"}") >= 5.0;
        if proposed || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(page.starts_with("HTTP/1.0 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(page.contains("# TYPE raftkv_term gauge"));
    assert_eq!(sample(&page, "raftkv_role{node=\"1\"}"), 2.0, "a leader");
    assert!(sample(&page, "raftkv_term{node=\"1\"}") >= 1.0);
    assert!(sample(&page, "raftkv_commit_index{node=\"1\"}") >= 5.0);
    // The five puts, and the client's session registration (it goes through the log).
    assert!(sample(&page, "raftkv_proposals_total{node=\"1\"}") >= 5.0);
    // Every write was synced: the histogram counts them, cumulatively up to +Inf.
    let syncs = sample(&page, "raftkv_fsync_seconds_count{node=\"1\"}");
    assert!(syncs >= 5.0, "{page}");
    assert_eq!(
        sample(&page, "raftkv_fsync_seconds_bucket{node=\"1\",le=\"+Inf\"}"),
        syncs
    );
    assert!(page.contains("# TYPE raftkv_tcp_sent_total counter"));
    // Anything else is not found; a second scrape works (one connection per scrape).
    assert!(scrape(address, "/other").starts_with("HTTP/1.0 404"));
    assert!(scrape(address, "/metrics").starts_with("HTTP/1.0 200"));
}
