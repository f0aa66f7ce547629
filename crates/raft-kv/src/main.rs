//! `raft-kv`: run a replicated key-value node, talk to a cluster, or run a local one.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use raft_kv::client::Client;
use raft_kv::local::{LocalCluster, Output};
use raft_kv::protocol::{Request, RequestLine};
use raft_kv::server::{self, Member, ServerConfig};
use raft_kv::torture::{self, TortureOptions};

const USAGE: &str = "\
raft-kv serve --id N --data DIR --member ID,RAFT_ADDR,CLIENT_ADDR [--member ...]
              [--init] [--tick-ms 10] [--no-fsync] [--snapshot-every 10000] [--quiet]
              [--segment-bytes 67108864] [--metrics IP:PORT] [--voters ID,ID...]
              [--exit-with-stdin] [--sync-before-send] [--sync-per-message]
              [--allow-fault-injection] [--cluster-id raft-kv] [--bind-outbound]
              [--admin-token-file FILE] [--client-idle-timeout-ms 60000]
              [--client-connections-per-address 64]
              (--tls-ca CA.pem --tls-cert NODE.pem --tls-key NODE.key | --insecure)
    Run one node until Ctrl-C (or, with --exit-with-stdin, until stdin closes).
    --init: the node's first start (DIR must hold no log yet). Without it a DIR that
    holds no log is a node whose data was lost: it starts as a new incarnation, which
    neither votes nor counts until the leader has named it, caught it up and promoted
    it back (docs/RECOVERY.md, rule 2). Founding nodes of a new cluster need --init.
    Every member (this one too) is listed once. --voters: the initial voters (default:
    every member); a node outside them starts as a learner, for `add-learner`.
    --sync-per-message: every step syncs before it answers (default: one sync per round
    of ready messages); --sync-before-send also makes the leader sync before replicating.
    --allow-fault-injection: accept `isolate MS` (tests only). --bind-outbound: connections to peers leave from
    this node's Raft IP. --admin-token-file: admin requests (add-learner, promote,
    remove, set-voters, isolate) are taken from connections that sent `auth TOKEN` with the token in
    FILE (its first line, one word of 16 or more characters); without it they are off. Peer traffic is mutual TLS with the given
    certificates (each names node-ID.CLUSTER.raft; `raft-kv certs` makes a set), or
    plain TCP with --insecure, over which anyone who reaches the port can forge messages.
raft-kv recover --data DIR --new-voters ID[,ID...]
    Quorum-loss recovery, on a stopped node: its configuration becomes exactly those
    voters, one term up, so the survivors start again as a smaller cluster. Writes the
    lost majority committed that this node never received are LOST; never start the
    lost nodes again with their old data. Run it on every survivor with the same list.
raft-kv certs --dir DIR --ids 1,2,3 [--cluster-id raft-kv]
    Writes a new CA (ca.pem, ca.key: keep the key off the nodes) and node-ID.pem /
    node-ID.key for each id.
raft-kv client --cluster ADDR[,ADDR...] [--tls-ca CA.pem [--cluster-id raft-kv]]
              [--admin-token-file FILE]
              get KEY | put KEY VALUE | del KEY
              | cas KEY OLD|- NEW | status
              | add-learner ID RAFT_ADDR CLIENT_ADDR | promote ID | remove ID
              | set-voters ID,ID,... [if CONFIG_INDEX]
    One request; set-voters makes exactly those members the voters in one joint change
    (`if`: only if the configuration in force is still status's config=INDEX). follows redirects to the leader. With --tls-ca, over TLS, accepting
    only nodes whose certificate (from that CA) names kv.CLUSTER.raft.
raft-kv cluster [--nodes 3] [--dir DIR] [--insecure]
    A local cluster on 127.0.0.1 until Ctrl-C.
raft-kv demo [--nodes 3] [--insecure]
    Election, writes, a killed leader, failover, the old leader catching up.
raft-kv torture [--secs 10] [--clients 6] [--seed 1] [--insecure]
    SIGKILL crash test with a linearizability check.
raft-kv bench [--clients 1,16] [--secs 5] [--failovers 5] [--no-fsync]
              [--sync-before-send] [--sync-per-message] [--insecure]
    Local clusters use peer TLS with throwaway certificates unless --insecure.
    Write and read throughput and latency, and failover time, on a loopback cluster.";

/// Command-line arguments: flags with values, bare flags, and the rest.
struct Args {
    values: Vec<(String, String)>,
    flags: Vec<String>,
    rest: Vec<String>,
}

impl Args {
    fn parse(raw: &[String], bare: &[&str]) -> Result<Self, String> {
        let mut args = Args {
            values: Vec::new(),
            flags: Vec::new(),
            rest: Vec::new(),
        };
        let mut iter = raw.iter();
        while let Some(arg) = iter.next() {
            if let Some(name) = arg.strip_prefix("--") {
                if bare.contains(&name) {
                    args.flags.push(name.to_owned());
                } else {
                    let value = iter.next().ok_or(format!("--{name} needs a value"))?;
                    args.values.push((name.to_owned(), value.clone()));
                }
            } else {
                args.rest.push(arg.clone());
            }
        }
        Ok(args)
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.all(name).last() {
            Some(value) => value
                .parse()
                .map_err(|_| format!("--{name}: cannot parse `{value}`")),
            None => Ok(default),
        }
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|flag| flag == name)
    }
}

fn stop_on_ctrl_c() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|error| format!("installing the Ctrl-C handler: {error}"))?;
    Ok(stop)
}

fn serve(args: &Args) -> Result<(), String> {
    let id: u64 = args.get("id", 0)?;
    if id == 0 {
        return Err("--id is required (node ids start at 1)".into());
    }
    let data: PathBuf = args
        .all("data")
        .last()
        .map(PathBuf::from)
        .ok_or("--data is required")?;
    let mut members = BTreeMap::new();
    for text in args.all("member") {
        let parts: Vec<&str> = text.split(',').collect();
        let [member_id, raft, client] = parts.as_slice() else {
            return Err(format!(
                "--member {text}: expected ID,RAFT_ADDR,CLIENT_ADDR"
            ));
        };
        let member_id: u64 = member_id
            .parse()
            .map_err(|_| format!("--member {text}: bad id"))?;
        let parse = |address: &str| -> Result<SocketAddr, String> {
            address
                .parse()
                .map_err(|_| format!("--member {text}: bad address `{address}`"))
        };
        let member = Member {
            raft: parse(raft)?,
            client: parse(client)?,
        };
        if members.insert(member_id, member).is_some() {
            return Err(format!("node {member_id} is listed twice"));
        }
    }
    let mut config = ServerConfig::new(id, data, members);
    config.init = args.flag("init");
    for list in args.all("voters") {
        for voter in list.split(',') {
            let voter: u64 = voter
                .parse()
                .map_err(|_| format!("--voters: bad node id `{voter}`"))?;
            if !config.members.contains_key(&voter) {
                return Err(format!("--voters: node {voter} is not a --member"));
            }
            config.voters.push(voter);
        }
    }
    config.tick = Duration::from_millis(args.get("tick-ms", 10)?);
    config.fsync = !args.flag("no-fsync");
    config.snapshot_every = args.get("snapshot-every", 10_000)?;
    config.segment_bytes = args.get("segment-bytes", config.segment_bytes)?;
    if config.segment_bytes < 4096 {
        return Err(format!(
            "--segment-bytes {}: at least 4096",
            config.segment_bytes
        ));
    }
    if let Some(address) = args.all("metrics").last() {
        config.metrics = Some(
            address
                .parse()
                .map_err(|_| format!("--metrics {address}: expected IP:PORT"))?,
        );
    }
    config.verbose = !args.flag("quiet");
    if config.verbose {
        // The protocol core's events (elections, terms, configurations, snapshots).
        raft_kv::logging::NodeLog::install(id)?;
    }
    config.deferred_leader_sync = !args.flag("sync-before-send");
    config.async_persistence = !args.flag("sync-per-message") && !args.flag("sync-before-send");
    config.fault_injection = args.flag("allow-fault-injection");
    config.bind_outbound = args.flag("bind-outbound");
    config.client_idle_timeout = Duration::from_millis(args.get("client-idle-timeout-ms", 60_000)?);
    config.client_connections_per_address = args.get("client-connections-per-address", 64)?;
    if !(1..=1024).contains(&config.client_connections_per_address) {
        return Err("--client-connections-per-address: 1 to 1024".into());
    }
    if let Some(path) = args.all("admin-token-file").last() {
        config.admin_token = Some(read_token(path)?.into());
    }
    if let Some(cluster_id) = args.all("cluster-id").last() {
        config.cluster_id = (*cluster_id).to_owned();
    }
    let tls_files: Vec<Option<&str>> = ["tls-ca", "tls-cert", "tls-key"]
        .iter()
        .map(|name| args.all(name).last().copied())
        .collect();
    match (tls_files.as_slice(), args.flag("insecure")) {
        ([Some(ca), Some(cert), Some(key)], false) => {
            let tls = raft_io::tcp::TlsConfig::from_pem_files(ca, cert, key)
                .map_err(|error| format!("peer TLS: {error}"))?;
            config.peer_tls = Some(tls);
            // The same certificate serves the client port.
            let client_tls =
                raft_kv::tls::server_config(std::path::Path::new(cert), std::path::Path::new(key))
                    .map_err(|error| format!("client TLS: {error}"))?;
            config.client_tls = Some(client_tls);
        }
        ([None, None, None], true) => {}
        ([None, None, None], false) => {
            return Err(
                "peer traffic needs --tls-ca, --tls-cert and --tls-key (see `raft-kv \
                        certs`), or --insecure for plain TCP that anyone on the network can \
                        forge messages over"
                    .into(),
            );
        }
        (_, true) => return Err("--insecure and --tls-* exclude each other".into()),
        _ => return Err("--tls-ca, --tls-cert and --tls-key go together".into()),
    }
    let stop = stop_on_ctrl_c()?;
    if args.flag("exit-with-stdin") {
        // The parent holds our stdin open; EOF means it died: stop cleanly.
        let flag = Arc::clone(&stop);
        let _ = thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            flag.store(true, Ordering::SeqCst);
        });
    }
    server::start(config, stop)?.join()
}

fn client(args: &Args) -> Result<(), String> {
    let addresses: Vec<SocketAddr> = args
        .all("cluster")
        .iter()
        .flat_map(|list| list.split(','))
        .map(|address| {
            address
                .parse()
                .map_err(|_| format!("bad address `{address}`"))
        })
        .collect::<Result<_, _>>()?;
    if addresses.is_empty() {
        return Err("--cluster ADDR[,ADDR...] is required".into());
    }
    let tls = match args.all("tls-ca").last() {
        Some(ca) => {
            let cluster_id = args.all("cluster-id").last().copied().unwrap_or("raft-kv");
            Some(
                raft_kv::tls::ClientTls::from_ca_file(std::path::Path::new(ca), cluster_id)
                    .map_err(|error| error.to_string())?,
            )
        }
        None => None,
    };
    let line = RequestLine::parse(&args.rest.join(" "))?;
    if line.request == Request::Status {
        for address in addresses {
            match Client::status_of(address, tls.as_ref()) {
                Ok(status) => println!("{address}: {}", status.to_words()),
                Err(error) => println!("{address}: down ({error})"),
            }
        }
        return Ok(());
    }
    let token = match args.all("admin-token-file").last() {
        Some(path) => Some(read_token(path)?),
        None => None,
    };
    let mut client = Client::new(addresses).with_tls(tls).with_admin_token(token);
    let response = client
        .execute(line.request, Duration::from_secs(10))
        .map_err(|error| error.to_string())?;
    println!("{response}");
    Ok(())
}

/// An admin token from a file: its first line, at least 16 characters, no whitespace.
fn read_token(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|error| format!("{path}: {error}"))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.len() < 16 || token.chars().any(char::is_whitespace) {
        return Err(format!(
            "{path}: an admin token is one word of at least 16 characters"
        ));
    }
    Ok(token)
}

fn certs(args: &Args) -> Result<(), String> {
    let dir = args
        .all("dir")
        .last()
        .map(PathBuf::from)
        .ok_or("--dir is required")?;
    let cluster_id = args.all("cluster-id").last().copied().unwrap_or("raft-kv");
    let mut ids = Vec::new();
    for list in args.all("ids") {
        for id in list.split(',') {
            let id: u64 = id
                .parse()
                .ok()
                .filter(|&id| id > 0)
                .ok_or(format!("--ids: bad node id `{id}`"))?;
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err("--ids ID,ID... is required".into());
    }
    raft_kv::certs::generate(&dir, cluster_id, &ids).map_err(|error| error.to_string())?;
    println!(
        "wrote ca.pem, ca.key and node-ID.pem / node-ID.key for {ids:?} of cluster \
         {cluster_id} into {}",
        dir.display()
    );
    Ok(())
}

fn current_exe() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|error| format!("locating raft-kv: {error}"))
}

fn cluster(args: &Args) -> Result<(), String> {
    let nodes: usize = args.get("nodes", 3)?;
    let dir = args.all("dir").last().map(PathBuf::from);
    let stop = stop_on_ctrl_c()?;
    let mut cluster = LocalCluster::new(&current_exe()?, nodes, dir).map_err(|e| e.to_string())?;
    cluster.output = Output::Inherit;
    if args.flag("insecure") {
        cluster.serve_args.push("--insecure".into());
    }
    // A node restarted by hand may outlive this command: its data stays.
    cluster.keep_data();
    cluster.start_all().map_err(|error| error.to_string())?;
    let addresses: Vec<String> = cluster
        .client_addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    println!(
        "cluster of {nodes} running, data in {}",
        cluster.dir().display()
    );
    for id in cluster.ids() {
        let pid = cluster
            .pid(id)
            .map_or_else(|| "-".to_owned(), |pid| pid.to_string());
        println!(
            "  node {id}: pid {pid}, data {}",
            cluster.dir().join(format!("node-{id}")).display()
        );
    }
    println!(
        "restart one node: kill -INT its pid (or kill -9 to crash it), then run its command \
         (also in {}):",
        cluster.dir().join("node-ID.cmd").display()
    );
    for id in cluster.ids() {
        let command = cluster.serve_command(id);
        let _ = std::fs::write(
            cluster.dir().join(format!("node-{id}.cmd")),
            format!("{command}\n"),
        );
    }
    println!("  {}", cluster.serve_command(1));
    // The binary running now is already built: point at it, not at a cargo command.
    let exe = current_exe()?;
    let mut client = format!("{} client --cluster {}", exe.display(), addresses.join(","));
    for arg in cluster.client_args() {
        client.push(' ');
        client.push_str(&arg);
    }
    println!("talk to it (from another terminal):");
    println!("  {client} put greeting hello");
    println!("  {client} get greeting");
    println!("  {client} status");
    if args.flag("insecure") {
        println!(
            "  printf 'get greeting\\n' | nc {} (any node; followers redirect)",
            addresses[0].replace(':', " ")
        );
    }
    println!(
        "admin requests (add-learner, promote, remove, set-voters) need the admin token:\n  {client} \
         --admin-token-file {} promote ID",
        cluster.dir().join("certs").join("admin-token").display()
    );
    println!("Ctrl-C stops every node.");
    while !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(100));
    }
    let running: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|&id| cluster.is_running(id))
        .collect();
    for id in running {
        let _ = cluster.interrupt(id);
    }
    println!(
        "data kept in {} (rm -r it when no node runs on it)",
        cluster.dir().display()
    );
    Ok(())
}

fn show(cluster: &LocalCluster) {
    for id in cluster.ids() {
        match cluster.status(id) {
            Some(status) => println!("    node {id}: {}", status.to_words()),
            None => println!("    node {id}: down"),
        }
    }
}

fn demo(args: &Args) -> Result<(), String> {
    let nodes: usize = args.get("nodes", 3)?;
    let mut cluster = LocalCluster::new(&current_exe()?, nodes, None).map_err(|e| e.to_string())?;
    cluster.output = Output::Inherit;
    if args.flag("insecure") {
        cluster.serve_args.push("--insecure".into());
    }
    println!(
        "== starting {nodes} server processes on 127.0.0.1 (data in {}; peer traffic {})",
        cluster.dir().display(),
        if args.flag("insecure") {
            "plain TCP"
        } else {
            "mutual TLS"
        }
    );
    cluster.start_all().map_err(|error| error.to_string())?;
    let began = Instant::now();
    let (leader, term) = cluster
        .wait_for_leader(0, Duration::from_secs(20))
        .ok_or("no leader elected")?;
    println!(
        "== node {leader} leads term {term} ({} ms after start)",
        began.elapsed().as_millis()
    );

    let mut client = cluster.client();
    let run = |client: &mut Client, text: &str| -> Result<(), String> {
        let line = RequestLine::parse(text)?;
        let response = client
            .execute(line.request, Duration::from_secs(10))
            .map_err(|error| error.to_string())?;
        println!("   > {text:<28} {response}");
        Ok(())
    };
    println!("== writes go to the leader (followers redirect the client)");
    for text in [
        "put city lisbon",
        "put river tagus",
        "cas city lisbon porto",
        "get city",
        "del river",
        "get river",
    ] {
        run(&mut client, text)?;
    }
    show(&cluster);

    println!("== SIGKILL the leader, node {leader}");
    let killed = Instant::now();
    cluster.kill(leader);
    let (new_leader, new_term) = cluster
        .wait_for_leader(term, Duration::from_secs(20))
        .ok_or("no new leader")?;
    println!(
        "== node {new_leader} leads term {new_term}, {} ms after the kill",
        killed.elapsed().as_millis()
    );
    for text in ["get city", "put city braga", "put year 2026"] {
        run(&mut client, text)?;
    }
    show(&cluster);

    println!("== restart node {leader} on its data directory; it catches up");
    cluster.start(leader).map_err(|error| error.to_string())?;
    let status = cluster.wait_converged(Duration::from_secs(20))?;
    println!(
        "== all {nodes} replicas applied index {} with digest {:08x}",
        status.applied, status.digest
    );
    show(&cluster);
    run(&mut client, "get city")?;

    let (leader, term) = cluster
        .wait_for_leader(0, Duration::from_secs(20))
        .ok_or("no leader")?;
    println!("== Ctrl-C (SIGINT) the leader, node {leader}: it hands leadership over, then exits");
    let interrupted = Instant::now();
    let clean = cluster.interrupt(leader);
    let exited_ms = interrupted.elapsed().as_millis();
    let (next, next_term) = cluster
        .wait_for_leader(term, Duration::from_secs(20))
        .ok_or("no leader after the handoff")?;
    println!(
        "    node {leader} {} after {exited_ms} ms; node {next} leads term {next_term} ({} ms after the Ctrl-C)",
        if clean {
            "exited cleanly"
        } else {
            "had to be killed"
        },
        interrupted.elapsed().as_millis()
    );
    run(&mut client, "put city faro")?;
    println!("== Ctrl-C the others");
    let running: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|&id| cluster.is_running(id))
        .collect();
    for id in running {
        let clean = cluster.interrupt(id);
        println!(
            "    node {id} {}",
            if clean {
                "exited cleanly"
            } else {
                "had to be killed"
            }
        );
    }
    Ok(())
}

fn torture_command(args: &Args) -> Result<(), String> {
    let options = TortureOptions {
        duration: Duration::from_secs(args.get("secs", 10)?),
        clients: args.get("clients", 6)?,
        seed: args.get("seed", 1)?,
        ..TortureOptions::default()
    };
    let mut options = options;
    if args.flag("insecure") {
        options.serve_args.push("--insecure".into());
    }
    println!(
        "crash test: 3 nodes, {} clients, {} s, seed {}",
        options.clients,
        options.duration.as_secs(),
        options.seed
    );
    let report = torture::run(&current_exe()?, &options)?;
    println!("ok: {report}; history linearizable, no acknowledged write lost");
    Ok(())
}

fn bench(args: &Args) -> Result<(), String> {
    let secs: u64 = args.get("secs", 5)?;
    let list = args
        .all("clients")
        .last()
        .map_or("1,16".to_owned(), |s| (*s).to_owned());
    let flags = [
        "no-fsync",
        "sync-before-send",
        "sync-per-message",
        "insecure",
    ];
    let serve_args: Vec<String> = flags
        .iter()
        .filter(|flag| args.flag(flag))
        .map(|flag| format!("--{flag}"))
        .collect();
    println!("{}", torture::bench_header(&serve_args, secs)?);
    for clients in list.split(',') {
        let clients: usize = clients
            .parse()
            .map_err(|_| format!("bad client count {clients}"))?;
        for workload in [torture::Workload::Writes, torture::Workload::Reads] {
            let report = torture::bench(
                &current_exe()?,
                workload,
                clients,
                Duration::from_secs(secs),
                &serve_args,
            )?;
            println!("{report}");
        }
    }
    let trials: usize = args.get("failovers", 5)?;
    if trials > 0 {
        let results = torture::failovers(&current_exe()?, trials)?;
        println!("{}", torture::failover_report(&results));
    }
    Ok(())
}

/// `raft-kv recover --data DIR --new-voters ID,...`: quorum-loss recovery, offline.
fn recover(args: &Args) -> Result<(), String> {
    let data = *args
        .all("data")
        .last()
        .ok_or("recover needs --data DIR (the stopped node's)")?;
    let voters = *args
        .all("new-voters")
        .last()
        .ok_or("recover needs --new-voters ID,...")?;
    let voters: Vec<u64> = voters
        .split(',')
        .map(|id| {
            id.trim()
                .parse::<u64>()
                .map_err(|_| format!("--new-voters: bad id `{id}`"))
        })
        .collect::<Result<_, _>>()?;
    eprintln!(
        "raft-kv recover: WARNING: this rewrites {data}'s configuration to voters {voters:?} \
         without the rest of the cluster. Writes the lost nodes had committed but this node \
         never received are LOST. Never start the lost nodes again with their old data. \
         Run it on every survivor (stopped) with the same list, then start them."
    );
    let done = raft_kv::recover::recover(std::path::Path::new(data), &voters)?;
    println!(
        "recovered: voters {:?} (were {:?}, outgoing {:?}) at index {} in term {}; the \
         node's commit index is {}: anything the lost majority committed above it is gone",
        done.after.voters(),
        done.before.voters(),
        done.before.outgoing_voters(),
        done.index,
        done.term,
        done.commit
    );
    Ok(())
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = raw.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if rest.iter().any(|arg| arg == "--help" || arg == "-h") {
        let _ = writeln!(std::io::stdout(), "{USAGE}");
        return ExitCode::SUCCESS;
    }
    let bare = [
        "init",
        "no-fsync",
        "quiet",
        "exit-with-stdin",
        "sync-before-send",
        "sync-per-message",
        "allow-fault-injection",
        "insecure",
        "bind-outbound",
    ];
    let result = Args::parse(rest, &bare).and_then(|args| match command.as_str() {
        "serve" => serve(&args),
        "client" => client(&args),
        "certs" => certs(&args),
        "recover" => recover(&args),
        "cluster" => cluster(&args),
        "demo" => demo(&args),
        "torture" => torture_command(&args),
        "bench" => bench(&args),
        "help" | "--help" | "-h" => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("raft-kv: {error}");
            ExitCode::FAILURE
        }
    }
}
