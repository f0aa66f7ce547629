//! Throwaway certificates for peer TLS: a CA and one certificate per node, named
//! `node-ID.CLUSTER.raft` as the transport requires (`raft_io::tcp::TlsConfig`).
//!
//! `raft-kv certs` writes them for a real deployment's first steps; the local cluster,
//! the crash test and the benchmark generate a set in their temporary directory. Keep
//! `ca.key` away from the nodes: whoever holds it can mint a node.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use raft_io::NodeId;
use raft_io::tcp::TlsConfig;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// The admin token file `generate` writes (see `raft-kv serve --admin-token-file`).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// A fresh random token: 32 hex digits from the operating system's randomness (the
/// keys std draws for each `RandomState`).
pub fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..2)
        .map(|part| {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(part);
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

/// The files of one node: CA certificate, node certificate, node key.
pub fn node_files(dir: &Path, id: NodeId) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join("ca.pem"),
        dir.join(format!("node-{id}.pem")),
        dir.join(format!("node-{id}.key")),
    )
}

fn other(error: impl std::fmt::Display) -> io::Error {
    io::Error::other(error.to_string())
}

/// Writes a new CA (`ca.pem`, `ca.key`), a certificate and key for each of `ids` of
/// cluster `cluster_id`, and an admin token (`admin-token`) into `dir` (created if
/// missing). Keys and the token are written owner-only.
///
/// # Errors
/// A file cannot be written, or a key cannot be generated.
pub fn generate(dir: &Path, cluster_id: &str, ids: &[NodeId]) -> io::Result<()> {
    if !raft_io::tcp::valid_cluster_id(cluster_id) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cluster id {cluster_id:?} is not 1 to 63 characters of a-z, 0-9 and '-'"),
        ));
    }
    fs::create_dir_all(dir)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(
        DnType::CommonName,
        format!("raft-kv CA of cluster {cluster_id}"),
    );
    let ca_key = KeyPair::generate().map_err(other)?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(params, ca_key).map_err(other)?;
    write(&dir.join("ca.pem"), ca.pem().as_bytes(), false)?;
    write(&dir.join("ca.key"), ca_key_pem.as_bytes(), true)?;
    let token = format!("{}\n", random_token());
    write(&dir.join(ADMIN_TOKEN_FILE), token.as_bytes(), true)?;
    for &id in ids {
        let key = KeyPair::generate().map_err(other)?;
        // Its peer name, and the service name clients verify on the client port.
        let names = vec![
            TlsConfig::node_name(cluster_id, id),
            crate::tls::service_name(cluster_id),
        ];
        let mut params = CertificateParams::new(names).map_err(other)?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("node {id} of {cluster_id}"));
        let certificate = params.signed_by(&key, &ca).map_err(other)?;
        let (_, cert_path, key_path) = node_files(dir, id);
        write(&cert_path, certificate.pem().as_bytes(), false)?;
        write(&key_path, key.serialize_pem().as_bytes(), true)?;
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8], secret: bool) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    let _ = options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    use io::Write;
    let mut file = options
        .open(path)
        .map_err(|error| io::Error::new(error.kind(), format!("{}: {error}", path.display())))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the generated files load as the transport's TLS configuration.
    #[test]
    fn generated_certificates_load() {
        let dir = crate::local::temp_dir("raft-kv-certs").unwrap();
        generate(&dir, "test", &[1, 2]).unwrap();
        for id in [1, 2] {
            let (ca, cert, key) = node_files(&dir, id);
            let _ = TlsConfig::from_pem_files(ca, cert, key).unwrap();
        }
        assert!(generate(&dir, "Bad Id", &[1]).is_err());
        let _ = fs::remove_dir_all(dir);
    }
}
