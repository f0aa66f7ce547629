//! Wiring: open the log, bind the ports, start the transport, the client acceptor and
//! the node loop.

use super::*;

/// Starts a server: opens (or recovers) the log in `config.data_dir`, binds the raft
/// and client addresses of `config.id`, and runs until `stop` is set.
///
/// # Errors
/// The configuration is inconsistent, the log cannot be opened, or an address cannot
/// be bound.
pub fn start(config: ServerConfig, stop: Arc<AtomicBool>) -> Result<ServerHandle, String> {
    let me = *config
        .members
        .get(&config.id)
        .ok_or_else(|| format!("node {} is not among the members", config.id))?;
    let options = WalOptions {
        fsync: config.fsync,
        segment_bytes_max: config.segment_bytes,
        ..WalOptions::default()
    };
    // A node starts empty as the voter it was only when told this is its first start:
    // a data directory that is gone (wiped, a new disk) must not pass for it, since
    // the node it belonged to may have voted in terms this one would not remember. It
    // starts as a new incarnation instead, which the leader names and catches up.
    let holds_log = WalLog::exists(&config.data_dir)
        .map_err(|error| format!("inspecting {}: {error}", config.data_dir.display()))?;
    match (holds_log, config.init) {
        (false, false) => {
            let incarnation = fresh_incarnation();
            drop(
                WalLog::create_incarnation(&config.data_dir, options, incarnation)
                    .map_err(|error| format!("creating {}: {error}", config.data_dir.display()))?,
            );
            // Said even when quiet: an operator wants to know the node lost its data.
            println!(
                "[node {}] {} holds no log: starting as a new incarnation ({incarnation:#018x}) \
                 of node {}. It neither votes nor counts toward commits until the cluster's \
                 leader has named it, caught it up and (if it was a voter) promoted it back \
                 (docs/RECOVERY.md, rule 2). If this is a new cluster's first start, stop it \
                 and start each founding node once with --init.",
                config.id,
                config.data_dir.display(),
                config.id
            );
        }
        (true, true) => {
            return Err(format!(
                "--init: {} already holds a log; --init is only for a node's first start \
                 (drop it to restart the node on its data)",
                config.data_dir.display()
            ));
        }
        _ => {}
    }
    // The directory names its owner from the first start on: a node pointed at another
    // node's (or another cluster's) data would carry its term and vote.
    let owner = DirOwner::new(config.cluster_id.as_str(), config.id)
        .map_err(|error| format!("--cluster-id: {error}"))?;
    // A damaged log is repaired, not refused: the node gets the lost entries back from
    // a leader (docs/RECOVERY.md, rule 1). A log that cannot say which terms the node
    // voted in (rule 2) is set aside, if it is this node's, and the node starts as a new
    // incarnation, which the cluster re-adds.
    let (mut log, repair) = match WalLog::open_repairing(&config.data_dir, options) {
        Ok(opened) => opened,
        Err(error)
            if error.is_lost_vote()
                && WalLog::owner_of(&config.data_dir)
                    .is_ok_and(|found| found == Some(owner.clone())) =>
        {
            let aside = set_aside(&config.data_dir)?;
            let incarnation = fresh_incarnation();
            drop(
                WalLog::create_incarnation(&config.data_dir, options, incarnation)
                    .map_err(|error| format!("creating {}: {error}", config.data_dir.display()))?,
            );
            println!(
                "[node {}] {error}. The directory is kept as {}; starting as a new incarnation \
                 ({incarnation:#018x}), which the cluster's leader names, catches up and \
                 promotes back (docs/RECOVERY.md, rule 2)",
                config.id,
                aside.display()
            );
            WalLog::open_repairing(&config.data_dir, options)
                .map_err(|error| format!("opening {}: {error}", config.data_dir.display()))?
        }
        Err(error) => return Err(format!("opening {}: {error}", config.data_dir.display())),
    };
    if log.claim(&owner).map_err(|error| error.to_string())? == Claim::Recorded
        && log.last_index() > 0
    {
        println!(
            "[node {}] recorded {} as the owner of {} (a directory from before owners were \
             recorded)",
            config.id,
            owner,
            config.data_dir.display()
        );
    }
    if let Some(report) = repair {
        // Said even when quiet: an operator wants to know the disk lost data.
        println!(
            "[node {}] repairing: {report}; damaged files kept as {:?}",
            config.id, report.preserved
        );
    }
    let log = metrics::TimedLog::new(log);
    let voters: Vec<NodeId> = if config.voters.is_empty() {
        config.members.keys().copied().collect()
    } else {
        config.voters.clone()
    };
    let raft_config = if voters.contains(&config.id) {
        RaftConfig::new(config.id, voters)
    } else {
        RaftConfig::learner(config.id, voters)
    }
    .with_deferred_leader_sync(config.deferred_leader_sync)
    .with_async_persistence(config.async_persistence)
    // Gets are answered by any node: a follower forwards the ReadIndex to its leader.
    .with_follower_reads(true);
    let node = RaftNode::try_with_log(raft_config, log).map_err(|error| error.to_string())?;
    let raft_listener =
        TcpListener::bind(me.raft).map_err(|error| format!("binding {}: {error}", me.raft))?;
    let client_listener =
        TcpListener::bind(me.client).map_err(|error| format!("binding {}: {error}", me.client))?;
    let (inputs, inbox) = mpsc::sync_channel::<Input>(16 * 1024);
    let raft_inputs = inputs.clone();
    let peers: Vec<(NodeId, SocketAddr)> = config
        .members
        .iter()
        .map(|(&id, member)| (id, member.raft))
        .collect();
    let id = config.id;
    if config.peer_tls.is_none() && config.verbose {
        println!(
            "[node {id}] peer traffic is plain TCP (--insecure): anyone who can reach the Raft \
             port can forge messages"
        );
    }
    let transport = TcpTransport::start(
        config.id,
        raft_listener,
        peers,
        TcpOptions {
            // A restarted peer is back within a quarter second of listening again.
            backoff_max: Duration::from_millis(250),
            // A partitioned peer is redialled every ~0.75 s, so it rejoins within a
            // second of the partition healing.
            connect_timeout: Duration::from_millis(500),
            stall_timeout: Duration::from_secs(1),
            outbound_ip: config.bind_outbound.then(|| me.raft.ip()),
            cluster_id: config.cluster_id.clone(),
            tls: config.peer_tls.clone(),
            log: Some(raft_io::tcp::TcpLog(Arc::new(move |line: &str| {
                println!("[node {id}] transport: {line}");
            }))),
            ..TcpOptions::default()
        },
        move |message| {
            // A full inbox drops the message: Raft resends what matters.
            let _ = raft_inputs.try_send(Input::Raft(message));
        },
    )
    .map_err(|error| format!("starting the transport: {error}"))?;
    let mut threads = Vec::new();
    if let Some(address) = config.metrics {
        let listener = TcpListener::bind(address)
            .map_err(|error| format!("binding the metrics address {address}: {error}"))?;
        let (inputs, stop) = (inputs.clone(), Arc::clone(&stop));
        threads.push(
            thread::Builder::new()
                .name("kv-metrics".into())
                .spawn(move || metrics::serve_metrics(listener, inputs, stop))
                .map_err(|error| error.to_string())?,
        );
    }
    let connections = Arc::new(Mutex::new(Vec::new()));
    let acceptor = {
        let stop = Arc::clone(&stop);
        let connections = Arc::clone(&connections);
        let port = ClientPort {
            tls: config.client_tls.clone(),
            admin_token: config.admin_token.clone(),
            idle_timeout: config.client_idle_timeout,
            per_address_max: config.client_connections_per_address,
            per_address: Arc::new(Mutex::new(BTreeMap::new())),
        };
        thread::Builder::new()
            .name("kv-accept".into())
            .spawn(move || {
                accept_clients(&client_listener, &port, &inputs, &stop, &connections);
            })
            .map_err(|error| error.to_string())?
    };
    let log_state = (node.term(), node.commit_index(), node.log().last_index());
    let mut server = Server {
        was: (node.role(), node.term()),
        node,
        transport,
        store: Store::default(),
        pending: Pending::default(),
        last_snapshot: 0,
        ticks: 0,
        fatal: None,
        isolated_until: None,
        actions: Vec::new(),
        sync_wanted: false,
        counters: metrics::Counters::default(),
        config,
    };
    server.last_snapshot = server.node.log().snapshot_index();
    server.say(&format!(
        "started: raft {} clients {} term {} commit {} last index {}",
        me.raft, me.client, log_state.0, log_state.1, log_state.2
    ));
    let loop_stop = Arc::clone(&stop);
    let main = thread::Builder::new()
        .name("kv-loop".into())
        .spawn(move || {
            let result = run_loop(&mut server, &inbox, &loop_stop);
            match &result {
                Ok(()) => server.say("stopped"),
                Err(why) => server.say(&format!("failed: {why}")),
            }
            loop_stop.store(true, Ordering::SeqCst);
            result
        })
        .map_err(|error| error.to_string())?;
    Ok(ServerHandle {
        stop,
        threads: {
            threads.push(acceptor);
            threads
        },
        main: Some(main),
    })
}

/// A random incarnation for a node that lost its durable state (never 0, the founding
/// incarnation): from the standard library's per-process random hasher keys, mixed
/// with the time. It only has to differ from the node's earlier incarnations.
fn fresh_incarnation() -> raft_io::Incarnation {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish().max(1)
}

/// Renames `dir` to a sibling `NAME.lost-SECONDS[-N]` that does not exist yet, and
/// returns the new path: a refused log is kept for whoever wants to look at it.
fn set_aside(dir: &std::path::Path) -> Result<PathBuf, String> {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    for attempt in 0..100u32 {
        let suffix = if attempt == 0 {
            format!("{name}.lost-{seconds}")
        } else {
            format!("{name}.lost-{seconds}-{attempt}")
        };
        let aside = dir.with_file_name(suffix);
        if aside.exists() {
            continue;
        }
        return std::fs::rename(dir, &aside)
            .map(|()| aside)
            .map_err(|error| format!("setting {} aside: {error}", dir.display()));
    }
    Err(format!("setting {} aside: no free name", dir.display()))
}
