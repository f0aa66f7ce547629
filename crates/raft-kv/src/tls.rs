//! TLS on the client port: the server proves it is a node of the cluster, the client
//! checks it against the cluster's CA. A node's certificate carries, besides its peer
//! name `node-ID.CLUSTER.raft`, the service name `kv.CLUSTER.raft` ([`service_name`])
//! that clients verify: any node of the cluster may answer (redirects move between
//! them), nothing else may.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// The name every node of `cluster_id` presents on its client port.
pub fn service_name(cluster_id: &str) -> String {
    format!("kv.{cluster_id}.raft")
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server side of the client port: the node's certificate chain and key.
///
/// # Errors
/// A file cannot be read or parsed, or the key does not match the certificate.
pub fn server_config(cert_chain: &Path, key: &Path) -> io::Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_slice_iter(&read(cert_chain)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("{}: {error}", cert_chain.display())))?;
    let key = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|error| invalid(format!("{}: {error}", key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|error| invalid(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| invalid(format!("client port certificate: {error}")))?;
    Ok(Arc::new(config))
}

/// What a client needs to verify the cluster: its CA and its id.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl core::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientTls")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Trusts the CA in the PEM file `ca` for nodes of `cluster_id`.
    ///
    /// # Errors
    /// The file cannot be read or holds no CA certificate, or the cluster id is not a
    /// DNS label.
    pub fn from_ca_file(ca: &Path, cluster_id: &str) -> io::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(&read(ca)?) {
            let certificate =
                certificate.map_err(|error| invalid(format!("{}: {error}", ca.display())))?;
            roots
                .add(certificate)
                .map_err(|error| invalid(format!("{}: {error}", ca.display())))?;
        }
        if roots.is_empty() {
            return Err(invalid(format!("{}: no CA certificate", ca.display())));
        }
        let name = ServerName::try_from(service_name(cluster_id))
            .map_err(|_| invalid(format!("cluster id {cluster_id:?} is not a DNS label")))?;
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|error| invalid(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
            name,
        })
    }

    /// Wraps a connected socket; the handshake runs with the first read or write.
    ///
    /// # Errors
    /// rustls refuses to start a session.
    pub fn wrap(&self, socket: TcpStream) -> io::Result<Stream> {
        let connection = rustls::ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(|error| io::Error::other(error.to_string()))?;
        Ok(Stream::Client(Box::new(rustls::StreamOwned::new(
            connection, socket,
        ))))
    }
}

/// A client-port connection, plain or TLS, from either side.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// A client's TLS session.
    Client(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    /// A server's TLS session.
    Server(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    /// The server side of an accepted connection: TLS with `config`, else plain.
    ///
    /// # Errors
    /// rustls refuses to start a session.
    pub fn accept(
        socket: TcpStream,
        config: Option<&Arc<rustls::ServerConfig>>,
    ) -> io::Result<Self> {
        match config {
            None => Ok(Self::Plain(socket)),
            Some(config) => {
                let connection = rustls::ServerConnection::new(Arc::clone(config))
                    .map_err(|error| io::Error::other(error.to_string()))?;
                Ok(Self::Server(Box::new(rustls::StreamOwned::new(
                    connection, socket,
                ))))
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.read(buffer),
            Self::Client(stream) => stream.read(buffer),
            Self::Server(stream) => stream.read(buffer),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.write(bytes),
            Self::Client(stream) => stream.write(bytes),
            Self::Server(stream) => stream.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(stream) => stream.flush(),
            Self::Client(stream) => stream.flush(),
            Self::Server(stream) => stream.flush(),
        }
    }
}

/// Reads one line (up to and including `\n`) into `line`, keeping what follows it in
/// `pending`; at most `bytes_max` bytes. Returns false at end of stream.
///
/// # Errors
/// The stream's errors (a timeout leaves a partial line in `pending`), or
/// `InvalidData` for a line longer than `bytes_max`.
pub fn read_line(
    stream: &mut impl Read,
    pending: &mut Vec<u8>,
    line: &mut Vec<u8>,
    bytes_max: usize,
) -> io::Result<bool> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            line.clear();
            line.extend(pending.drain(..=end));
            return Ok(true);
        }
        if pending.len() > bytes_max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Ok(false);
        }
        pending.extend_from_slice(&chunk[..read]);
    }
}
