//! A replicated key-value server on raft-io, one process per node: `RaftNode<WalLog>`
//! for consensus and durability, [`raft_io::tcp::TcpTransport`] between nodes, and a
//! line protocol ([`protocol`]) for clients.
//!
//! - [`certs`]: a throwaway CA and node certificates for peer TLS.
//! - [`tls`]: TLS on the client port.
//! - [`server`]: the node loop (batching writes, ReadIndex reads, redirects).
//! - [`pending`]: client requests waiting for Raft (unit-tested).
//! - [`store`]: the state machine (sessions make retried writes apply once).
//! - [`client`]: a client that follows redirects and retries.
//! - [`local`]: a cluster of server processes on 127.0.0.1 (demo, tests).
//! - [`partition`]: network partitions at the kernel (iptables) for the tests.
//! - [`torture`]: the SIGKILL crash test with a linearizability check, and benchmarks.
//!
//! The binary `raft-kv` has the commands `serve`, `client`, `certs`, `cluster`,
//! `demo`, `torture` and `bench`; `raft-kv help` lists their arguments.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod certs;
pub mod client;
pub mod local;
pub mod logging;
pub mod partition;
pub mod pending;
pub mod protocol;
pub mod recover;
pub mod server;
pub mod store;
pub mod tls;
pub mod torture;
