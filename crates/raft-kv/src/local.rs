//! A cluster of `raft-kv serve` processes on 127.0.0.1, for the demo, the crash test
//! and the benchmarks: start, kill (SIGKILL), restart on the same data directory,
//! find the leader, wait for the replicas to converge.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use raft_io::NodeId;

use crate::client::Client;
use crate::protocol::Status;
use crate::server::Member;
use crate::tls::ClientTls;

/// Where a node's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Appended to `node-N.log` in the cluster directory.
    File,
    /// This process's stdout.
    Inherit,
}

/// The cluster id of local clusters.
pub const CLUSTER_ID: &str = "local";

/// A local cluster of server processes.
pub struct LocalCluster {
    exe: PathBuf,
    dir: PathBuf,
    members: BTreeMap<NodeId, Member>,
    /// Each running node, with the write end of its stdin: the node exits when that
    /// closes, so no server outlives this process, even if it is killed.
    children: BTreeMap<NodeId, (Child, ChildStdin)>,
    /// Extra arguments for every `serve` (for example `--no-fsync`).
    pub serve_args: Vec<String>,
    /// Where node output goes.
    pub output: Output,
    /// The initial voters (empty: every node); the others start as learners.
    pub voters: Vec<NodeId>,
    remove_dir: bool,
    client_tls: Option<ClientTls>,
    /// Nodes this cluster has started at least once: only a node's first start here,
    /// on a directory that holds no log yet, passes `--init` (a directory wiped later
    /// is refused, as an operator's restart would be).
    started: std::collections::BTreeSet<NodeId>,
}

/// `count` distinct free ports on 127.0.0.1 (bound, read, released).
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|listener| listener.local_addr().map(|address| address.port()))
        .collect()
}

/// A fresh directory under the system temporary directory.
///
/// # Errors
/// It cannot be created.
pub fn temp_dir(prefix: &str) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

impl LocalCluster {
    /// A cluster of `nodes` servers run from the binary `exe`, with data under `dir`
    /// (`None`: a fresh temporary directory, removed on drop). Nothing starts yet.
    ///
    /// # Errors
    /// No free ports, or the directory cannot be created.
    /// Peer traffic is mutual TLS with certificates generated under `DIR/certs`,
    /// unless `serve_args` holds `--insecure`.
    pub fn new(exe: &Path, nodes: usize, dir: Option<PathBuf>) -> std::io::Result<Self> {
        let remove_dir = dir.is_none();
        let dir = match dir {
            Some(dir) => {
                fs::create_dir_all(&dir)?;
                dir
            }
            None => temp_dir("raft-kv")?,
        };
        let ids: Vec<NodeId> = (1..=nodes as NodeId).collect();
        crate::certs::generate(&dir.join("certs"), CLUSTER_ID, &ids)?;
        let (ca, _, _) = crate::certs::node_files(&dir.join("certs"), 1);
        let client_tls = Some(ClientTls::from_ca_file(&ca, CLUSTER_ID)?);
        let ports = free_ports(nodes * 2)?;
        let members = (1..=nodes as NodeId)
            .zip(ports.chunks(2))
            .map(|(id, pair)| {
                let address = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
                (
                    id,
                    Member {
                        raft: address(pair[0]),
                        client: address(pair[1]),
                    },
                )
            })
            .collect();
        Ok(Self {
            exe: exe.to_owned(),
            dir,
            members,
            children: BTreeMap::new(),
            serve_args: Vec::new(),
            output: Output::File,
            voters: Vec::new(),
            remove_dir,
            client_tls,
            started: std::collections::BTreeSet::new(),
        })
    }

    /// The cluster's data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Node ids.
    pub fn ids(&self) -> Vec<NodeId> {
        self.members.keys().copied().collect()
    }

    /// Every node's addresses.
    pub fn members(&self) -> &BTreeMap<NodeId, Member> {
        &self.members
    }

    /// Client addresses, in node order.
    pub fn client_addresses(&self) -> Vec<SocketAddr> {
        self.members.values().map(|member| member.client).collect()
    }

    /// The `--member` arguments describing the cluster.
    pub fn member_args(&self) -> Vec<String> {
        self.members
            .iter()
            .flat_map(|(id, member)| {
                [
                    "--member".to_owned(),
                    format!("{id},{},{}", member.raft, member.client),
                ]
            })
            .collect()
    }

    /// Starts node `id` on its data directory. Its first start by this cluster, on a
    /// directory that holds no log, passes `--init`; any later start does not, so a
    /// node whose directory was wiped in between is refused (docs/RECOVERY.md).
    ///
    /// # Errors
    /// The process cannot be spawned or its log file opened.
    pub fn start(&mut self, id: NodeId) -> std::io::Result<()> {
        let first = self.started.insert(id);
        let data = self.dir.join(format!("node-{id}"));
        let init = first
            && !raft_io::WalLog::exists(&data)
                .map_err(|error| std::io::Error::other(error.to_string()))?;
        let mut command = Command::new(&self.exe);
        let _ = command
            .args(self.serve_arguments(id))
            .args(init.then_some("--init"))
            .arg("--exit-with-stdin")
            .stdin(Stdio::piped());
        if self.output == Output::File {
            let log = File::options()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("node-{id}.log")))?;
            let _ = command.stdout(log.try_clone()?).stderr(log);
        }
        let mut child = command.spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin pipe"))?;
        let _ = self.children.insert(id, (child, stdin));
        Ok(())
    }

    /// The `serve` arguments of node `id`.
    fn serve_arguments(&self, id: NodeId) -> Vec<std::ffi::OsString> {
        let mut arguments: Vec<std::ffi::OsString> = vec![
            "serve".into(),
            "--id".into(),
            id.to_string().into(),
            "--data".into(),
            self.dir.join(format!("node-{id}")).into(),
        ];
        arguments.extend(self.member_args().into_iter().map(Into::into));
        arguments.extend(self.serve_args.iter().map(Into::into));
        arguments.extend(self.tls_args(id));
        arguments.push("--admin-token-file".into());
        arguments.push(
            self.dir
                .join("certs")
                .join(crate::certs::ADMIN_TOKEN_FILE)
                .into(),
        );
        if !self.voters.is_empty() {
            let voters: Vec<String> = self.voters.iter().map(ToString::to_string).collect();
            arguments.push("--voters".into());
            arguments.push(voters.join(",").into());
        }
        arguments
    }

    /// The command line that runs node `id` by hand (on its data directory), for an
    /// operator restarting one node.
    pub fn serve_command(&self, id: NodeId) -> String {
        std::iter::once(self.exe.as_os_str().to_owned())
            .chain(self.serve_arguments(id))
            .map(|argument| argument.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The process id of node `id`, if this cluster started it and it runs.
    pub fn pid(&self, id: NodeId) -> Option<u32> {
        self.children.get(&id).map(|(child, _)| child.id())
    }

    /// Keeps the data directory when the cluster is dropped (a node restarted by hand
    /// may still run on it).
    pub fn keep_data(&mut self) {
        self.remove_dir = false;
    }

    /// The peer TLS arguments of node `id` (none with `--insecure`).
    fn tls_args(&self, id: NodeId) -> Vec<std::ffi::OsString> {
        if self.insecure() {
            return Vec::new();
        }
        let (ca, cert, key) = crate::certs::node_files(&self.dir.join("certs"), id);
        vec![
            "--cluster-id".into(),
            CLUSTER_ID.into(),
            "--tls-ca".into(),
            ca.into(),
            "--tls-cert".into(),
            cert.into(),
            "--tls-key".into(),
            key.into(),
        ]
    }

    /// Gives node N the loopback address 127.0.0.(10+N) for both ports and makes its
    /// connections to peers leave from it (`--bind-outbound`), so a firewall rule can
    /// cut one node off. Call before starting any node.
    pub fn use_node_addresses(&mut self) {
        for (&id, member) in &mut self.members {
            let ip = std::net::Ipv4Addr::new(127, 0, 0, 10 + id as u8);
            member.raft.set_ip(ip.into());
            member.client.set_ip(ip.into());
        }
        self.serve_args.push("--bind-outbound".into());
    }

    /// Whether the nodes run with `--insecure` (plain TCP).
    fn insecure(&self) -> bool {
        self.serve_args.iter().any(|arg| arg == "--insecure")
    }

    /// What a client needs to verify this cluster's nodes (`None` with `--insecure`).
    pub fn client_tls(&self) -> Option<ClientTls> {
        if self.insecure() {
            return None;
        }
        self.client_tls.clone()
    }

    /// An admin client of this cluster (it sends the admin token) whose writes carry
    /// a session.
    pub fn client(&self) -> Client {
        Client::new(self.client_addresses())
            .with_sessions()
            .with_tls(self.client_tls())
            .with_admin_token(Some(self.admin_token()))
    }

    /// The nodes' admin token.
    pub fn admin_token(&self) -> String {
        let path = self.dir.join("certs").join(crate::certs::ADMIN_TOKEN_FILE);
        fs::read_to_string(path)
            .map(|text| text.trim().to_owned())
            .unwrap_or_default()
    }

    /// The arguments `raft-kv client` needs besides `--cluster` (TLS, cluster id).
    pub fn client_args(&self) -> Vec<String> {
        if self.insecure() {
            return Vec::new();
        }
        let certs = self.dir.join("certs");
        let (ca, _, _) = crate::certs::node_files(&certs, 1);
        vec![
            "--tls-ca".into(),
            ca.display().to_string(),
            "--cluster-id".into(),
            CLUSTER_ID.into(),
        ]
    }

    /// Starts every node not running.
    ///
    /// # Errors
    /// As [`LocalCluster::start`].
    pub fn start_all(&mut self) -> std::io::Result<()> {
        for id in self.ids() {
            if !self.is_running(id) {
                self.start(id)?;
            }
        }
        Ok(())
    }

    /// Whether node `id`'s process was started and not killed.
    pub fn is_running(&self, id: NodeId) -> bool {
        self.children.contains_key(&id)
    }

    /// The exit status of node `id` once its process has ended on its own (it is then
    /// no longer running); `None` while it runs, or if this cluster did not start it.
    pub fn exit_status(&mut self, id: NodeId) -> Option<std::process::ExitStatus> {
        let (child, _) = self.children.get_mut(&id)?;
        let status = child.try_wait().ok()??;
        let _ = self.children.remove(&id);
        Some(status)
    }

    /// Kills node `id` with SIGKILL (no chance to flush anything) and reaps it.
    pub fn kill(&mut self, id: NodeId) {
        if let Some((mut child, _stdin)) = self.children.remove(&id) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops node `id` with SIGINT (its clean shutdown) and waits up to 5 s, then
    /// kills it. Returns whether it exited by itself.
    pub fn interrupt(&mut self, id: NodeId) -> bool {
        let Some((mut child, _stdin)) = self.children.remove(&id) else {
            return false;
        };
        let signalled = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while signalled && Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Sends `signal` (a name such as `STOP` or `CONT`) to node `id`'s process.
    fn signal(&self, id: NodeId, signal: &str) -> bool {
        self.children.get(&id).is_some_and(|(child, _)| {
            Command::new("kill")
                .args([format!("-{signal}"), child.id().to_string()])
                .status()
                .is_ok_and(|status| status.success())
        })
    }

    /// Freezes node `id` (SIGSTOP), as a long GC pause or a stalled VM would: its
    /// sockets stay open and requests queue up.
    pub fn pause(&self, id: NodeId) -> bool {
        self.signal(id, "STOP")
    }

    /// Lets a paused node run again (SIGCONT).
    pub fn resume(&self, id: NodeId) -> bool {
        self.signal(id, "CONT")
    }

    /// Node `id`'s status, if it answers.
    pub fn status(&self, id: NodeId) -> Option<Status> {
        Client::status_of(self.members.get(&id)?.client, self.client_tls().as_ref()).ok()
    }

    /// The leader with the highest term among the running nodes that answer.
    pub fn leader(&self) -> Option<(NodeId, u64)> {
        self.children
            .keys()
            .filter_map(|&id| self.status(id))
            .filter(|status| status.role == "leader")
            .max_by_key(|status| status.term)
            .map(|status| (status.id, status.term))
    }

    /// Waits for a leader whose term is above `after_term`.
    pub fn wait_for_leader(&self, after_term: u64, timeout: Duration) -> Option<(NodeId, u64)> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some((leader, term)) = self.leader()
                && term > after_term
            {
                return Some((leader, term));
            }
            thread::sleep(Duration::from_millis(5));
        }
        None
    }

    /// Waits until every running node reports the same applied index and store
    /// digest; returns their common status.
    ///
    /// # Errors
    /// The statuses last seen, if they never agreed.
    pub fn wait_converged(&self, timeout: Duration) -> Result<Status, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let statuses: Vec<Option<Status>> =
                self.children.keys().map(|&id| self.status(id)).collect();
            if let Some(Some(first)) = statuses.first()
                && statuses.iter().all(|status| {
                    status.as_ref().is_some_and(|status| {
                        status.applied == first.applied && status.digest == first.digest
                    })
                })
                && first.applied > 0
            {
                return Ok(first.clone());
            }
            if Instant::now() >= deadline {
                return Err(format!("replicas did not converge: {statuses:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A node's output so far (its log file).
    pub fn output_of(&self, id: NodeId) -> String {
        fs::read_to_string(self.dir.join(format!("node-{id}.log"))).unwrap_or_default()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for id in self.ids() {
            self.kill(id);
        }
        if self.remove_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}
