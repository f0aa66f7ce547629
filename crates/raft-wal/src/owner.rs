//! `raft-wal.owner`: whom a log directory belongs to (a cluster and a node id in it),
//! recorded by the first [`WalLog::claim`] and checked by every later one. A node
//! started on another node's directory would carry that node's term and vote and could
//! vote twice in one term (Election Safety); the claim refuses it before the node runs.
//!
//! ```text
//! raft-wal owner 1
//! cluster <cluster id>
//! node <node id>
//! ```
//!
//! Written atomically (temporary file, sync, rename, directory sync), like the format
//! marker.

use std::fs;
use std::path::Path;

use raft_core::NodeId;

use crate::dir::write_atomically;
use crate::error::WalError;
use crate::wal::WalLog;

/// The file's name in the log directory.
pub(crate) const FILE_NAME: &str = "raft-wal.owner";
const HEADER: &str = "raft-wal owner 1";
/// The longest cluster id accepted.
const CLUSTER_ID_BYTES_MAX: usize = 255;

/// The owner of a log directory: a cluster id and a node id in that cluster.
///
/// ```
/// use raft_wal::{Claim, DirOwner, WalLog};
///
/// let dir = std::env::temp_dir().join(format!("raft-wal-owner-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let mut log = WalLog::open(&dir)?;
/// let me = DirOwner::new("payments", 3)?;
/// assert_eq!(log.claim(&me)?, Claim::Recorded);
/// assert_eq!(log.claim(&me)?, Claim::Confirmed);
/// // Node 2 pointed at node 3's directory is refused.
/// assert!(log.claim(&DirOwner::new("payments", 2)?).is_err());
/// # drop(log);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), raft_wal::WalError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirOwner {
    cluster: String,
    node: NodeId,
}

impl DirOwner {
    /// An owner; `cluster` is one word of printable ASCII (no spaces), 1 to 255 bytes.
    ///
    /// # Errors
    /// [`WalError::InvalidOption`] for an empty, too long or non-printable cluster id.
    pub fn new(cluster: impl Into<String>, node: NodeId) -> Result<Self, WalError> {
        let cluster = cluster.into();
        let printable = cluster.bytes().all(|byte| byte.is_ascii_graphic());
        if cluster.is_empty() || cluster.len() > CLUSTER_ID_BYTES_MAX || !printable {
            return Err(WalError::InvalidOption(format!(
                "cluster id {cluster:?} must be 1 to {CLUSTER_ID_BYTES_MAX} printable ASCII \
                 characters without spaces"
            )));
        }
        Ok(Self { cluster, node })
    }

    /// The cluster id.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The node id.
    pub fn node(&self) -> NodeId {
        self.node
    }

    fn encode(&self) -> String {
        format!("{HEADER}\ncluster {}\nnode {}\n", self.cluster, self.node)
    }

    /// Strict: exactly the three lines `encode` writes.
    fn decode(text: &str) -> Option<Self> {
        let mut lines = text.strip_suffix('\n')?.split('\n');
        if lines.next()? != HEADER {
            return None;
        }
        let cluster = lines.next()?.strip_prefix("cluster ")?;
        let node = lines.next()?.strip_prefix("node ")?;
        if lines.next().is_some() || node.starts_with('+') || node.starts_with('0') {
            return None;
        }
        Self::new(cluster, node.parse().ok()?).ok()
    }
}

impl core::fmt::Display for DirOwner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "node {} of cluster {}", self.node, self.cluster)
    }
}

/// What [`WalLog::claim`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The directory named no owner: this one is recorded now (a new directory, or one
    /// written before owners were recorded).
    Recorded,
    /// The directory already names this owner.
    Confirmed,
}

impl WalLog {
    /// Records `owner` in a directory that names none, or checks that it names this
    /// one. Call it right after opening, before the node runs: a node started on
    /// another node's (or another cluster's) directory is refused, since it would
    /// carry that node's term and vote.
    ///
    /// # Errors
    /// [`WalError::WrongOwner`] when the directory belongs to another node or cluster;
    /// [`WalError::Corrupt`] when the owner file does not parse; [`WalError::Io`].
    pub fn claim(&mut self, owner: &DirOwner) -> Result<Claim, WalError> {
        match self.owner()? {
            Some(found) if found == *owner => Ok(Claim::Confirmed),
            Some(found) => Err(WalError::WrongOwner {
                path: self.dir().to_path_buf(),
                owner: found.to_string(),
                claimant: owner.to_string(),
            }),
            None => {
                let fsync = self.options().fsync;
                write_atomically(self.dir(), FILE_NAME, owner.encode().as_bytes(), fsync)?;
                Ok(Claim::Recorded)
            }
        }
    }

    /// The owner the directory names, if any (see [`WalLog::claim`]).
    ///
    /// # Errors
    /// [`WalError::Corrupt`] when the owner file does not parse; [`WalError::Io`].
    pub fn owner(&self) -> Result<Option<DirOwner>, WalError> {
        Self::owner_of(self.dir())
    }

    /// The owner `dir` names, if any, without opening or locking the log (a service
    /// that finds its log refused uses it to check the directory is its own before
    /// setting it aside).
    ///
    /// # Errors
    /// [`WalError::Corrupt`] when the owner file does not parse; [`WalError::Io`].
    pub fn owner_of(dir: impl AsRef<Path>) -> Result<Option<DirOwner>, WalError> {
        let path = dir.as_ref().join(FILE_NAME);
        match fs::read_to_string(&path) {
            Ok(text) => DirOwner::decode(&text)
                .map(Some)
                .ok_or_else(|| WalError::Corrupt {
                    segment: path,
                    offset: 0,
                    reason: "the owner file does not parse".into(),
                }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(WalError::io(&path, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("raft-wal-owner-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    // Proves the first claim records the owner, later ones confirm it across reopens,
    // and another node or cluster is refused with both names in the error.
    #[test]
    fn claim_records_then_confirms_and_refuses_others() {
        let dir = temp_dir("claim");
        let me = DirOwner::new("kv-prod", 2).unwrap();
        {
            let mut log = WalLog::open(&dir).unwrap();
            assert_eq!(log.owner().unwrap(), None);
            assert_eq!(log.claim(&me).unwrap(), Claim::Recorded);
        }
        let mut log = WalLog::open(&dir).unwrap();
        assert_eq!(log.owner().unwrap(), Some(me.clone()));
        assert_eq!(log.claim(&me).unwrap(), Claim::Confirmed);
        for other in [
            DirOwner::new("kv-prod", 3).unwrap(),
            DirOwner::new("kv-test", 2).unwrap(),
        ] {
            let error = log.claim(&other).unwrap_err();
            let WalError::WrongOwner {
                owner, claimant, ..
            } = &error
            else {
                panic!("{error:?}");
            };
            assert_eq!(
                (owner.as_str(), claimant.as_str()),
                ("node 2 of cluster kv-prod", other.to_string().as_str())
            );
        }
        // A refused claim leaves the file as it was.
        assert_eq!(log.owner().unwrap(), Some(me));
        drop(log);
        fs::remove_dir_all(&dir).unwrap();
    }

    // Proves a damaged or hand-edited owner file is refused as corrupt, never
    // overwritten: only a missing file is claimed.
    #[test]
    fn a_damaged_owner_file_is_refused() {
        let dir = temp_dir("damaged");
        let me = DirOwner::new("c", 1).unwrap();
        let mut log = WalLog::open(&dir).unwrap();
        let cases = [
            "",
            "raft-wal owner 1\ncluster c\nnode 1",
            "raft-wal owner 2\ncluster c\nnode 1\n",
            "raft-wal owner 1\ncluster c\nnode 01\n",
            "raft-wal owner 1\ncluster c\nnode +1\n",
            "raft-wal owner 1\ncluster c\nnode x\n",
            "raft-wal owner 1\ncluster \nnode 1\n",
            "raft-wal owner 1\ncluster c d\nnode 1\n",
            "raft-wal owner 1\ncluster c\nnode 1\nextra\n",
            "raft-wal owner 1\ncluster c\nnode 18446744073709551616\n",
        ];
        for text in cases {
            fs::write(dir.join(FILE_NAME), text).unwrap();
            assert!(
                matches!(log.claim(&me), Err(WalError::Corrupt { .. })),
                "{text:?}"
            );
            assert!(log.owner().is_err(), "{text:?}");
            assert_eq!(fs::read_to_string(dir.join(FILE_NAME)).unwrap(), text);
        }
        fs::write(dir.join(FILE_NAME), "raft-wal owner 1\ncluster c\nnode 1\n").unwrap();
        assert_eq!(log.claim(&me).unwrap(), Claim::Confirmed);
        drop(log);
        fs::remove_dir_all(&dir).unwrap();
    }

    // Proves cluster ids are one printable word of bounded length.
    #[test]
    fn cluster_ids_are_validated() {
        assert!(DirOwner::new("raft-kv", 1).is_ok());
        assert!(DirOwner::new("a".repeat(255), 1).is_ok());
        for bad in [
            String::new(),
            "a".repeat(256),
            "a b".into(),
            "a\nb".into(),
            "é".into(),
        ] {
            assert!(
                matches!(
                    DirOwner::new(bad.clone(), 1),
                    Err(WalError::InvalidOption(_))
                ),
                "{bad:?}"
            );
        }
    }
}
