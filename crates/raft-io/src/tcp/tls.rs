//! Mutual TLS for the TCP transport (feature `tls`): rustls with the ring provider,
//! TLS 1.3 only, a private CA, and node identity in the certificate.
//!
//! Every node's certificate carries the DNS name `node-ID.CLUSTER.raft` (see
//! [`TlsConfig::node_name`]) and is signed by the cluster's CA. A dialer verifies that
//! the peer it reaches presents the name of the node it meant; an acceptor verifies the
//! caller's certificate chain, then that it names the node id the caller's hello claims.
//! A certificate of another CA, another cluster or another node never gets a
//! connection, and the connection is bound to the proven id.

use std::io;
use std::path::Path;
use std::sync::Arc;

use raft_core::NodeId;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The certificates a node proves itself with and trusts its peers by.
///
/// ```no_run
/// use raft_io::tcp::{TcpOptions, TlsConfig};
/// let tls = TlsConfig::from_pem_files("ca.pem", "node-1.pem", "node-1.key")?;
/// let options = TcpOptions { cluster_id: "prod".into(), tls: Some(tls), ..TcpOptions::default() };
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl core::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("trusted_cas", &self.roots.len())
            .field("chain_certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.into())
}

impl TlsConfig {
    /// The DNS name a node's certificate must carry: `node-ID.CLUSTER.raft`.
    pub fn node_name(cluster_id: &str, id: NodeId) -> String {
        format!("node-{id}.{cluster_id}.raft")
    }

    /// From PEM text: the CA certificate(s) to trust, this node's certificate chain
    /// (its own first) and its private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// `InvalidInput` when a part is missing or does not parse.
    pub fn from_pem(ca: &[u8], cert_chain: &[u8], key: &[u8]) -> io::Result<Self> {
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(ca) {
            let certificate =
                certificate.map_err(|error| invalid(format!("CA certificate: {error}")))?;
            roots
                .add(certificate)
                .map_err(|error| invalid(format!("CA certificate: {error}")))?;
        }
        if roots.is_empty() {
            return Err(invalid("no CA certificate in the CA file"));
        }
        let chain = CertificateDer::pem_slice_iter(cert_chain)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| invalid(format!("certificate: {error}")))?;
        if chain.is_empty() {
            return Err(invalid("no certificate in the certificate file"));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|error| invalid(format!("private key: {error}")))?;
        Ok(Self {
            roots: Arc::new(roots),
            chain,
            key: Arc::new(key),
        })
    }

    /// [`TlsConfig::from_pem`] from files.
    ///
    /// # Errors
    /// A file cannot be read (the error names it), or its contents do not parse.
    pub fn from_pem_files(
        ca: impl AsRef<Path>,
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<Self> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|error| {
                io::Error::new(error.kind(), format!("{}: {error}", path.display()))
            })
        };
        Self::from_pem(
            &read(ca.as_ref())?,
            &read(cert_chain.as_ref())?,
            &read(key.as_ref())?,
        )
    }

    /// Whether `certificate` names node `id` of `cluster_id` (its chain is checked by
    /// the TLS handshake itself).
    pub(crate) fn certificate_names(
        certificate: &CertificateDer<'_>,
        cluster_id: &str,
        id: NodeId,
    ) -> bool {
        let Ok(name) = ServerName::try_from(Self::node_name(cluster_id, id)) else {
            return false;
        };
        webpki::EndEntityCert::try_from(certificate)
            .is_ok_and(|certificate| certificate.verify_is_valid_for_subject_name(&name).is_ok())
    }

    /// The rustls configurations of node `id`: one to accept, one to dial.
    ///
    /// # Errors
    /// `InvalidInput` when the key does not match the certificate, or the certificate
    /// does not name node `id` of `cluster_id`.
    pub(crate) fn build(&self, cluster_id: &str, id: NodeId) -> io::Result<Tls> {
        if !Self::certificate_names(&self.chain[0], cluster_id, id) {
            return Err(invalid(format!(
                "this node's certificate does not name {}",
                Self::node_name(cluster_id, id)
            )));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_error = |error: rustls::Error| invalid(format!("TLS configuration: {error}"));
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::clone(&self.roots), provider.clone())
                .build()
                .map_err(|error| invalid(format!("client verifier: {error}")))?;
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(tls_error)?;
        // No session tickets: the dialer's side of a connection stays silent after the
        // handshake, so anything readable there means the acceptor closed it.
        server.send_tls13_tickets = 0;
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error)?
            .with_root_certificates(Arc::clone(&self.roots))
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(tls_error)?;
        Ok(Tls {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }
}

/// The built rustls configurations of one transport.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) server: Arc<ServerConfig>,
    pub(crate) client: Arc<ClientConfig>,
}
