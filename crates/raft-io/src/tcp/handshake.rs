//! The connection handshake: who is calling whom, in which cluster.
//!
//! Right after a connection opens (after the TLS handshake, with TLS), the dialer sends
//! one hello and the acceptor answers with one status byte; frames follow only after a
//! `0`. The hello binds the connection to a node id: every frame whose sender is
//! another node is dropped. The layout (docs/PROTOCOL.md, "Connection handshake"):
//!
//! ```text
//! offset size  field
//! 0      8     magic "RAFTHELO"
//! 8      1     handshake version, 1
//! 9      1     cluster id length n, 1..=63
//! 10     n     cluster id, ASCII [a-z0-9-], not starting or ending with '-'
//! 10+n   8     from: the dialing node's id, little-endian
//! 18+n   8     to: the node it means to reach, little-endian
//! ```

use std::io::{self, Read, Write};

use raft_core::NodeId;

/// The first eight bytes of a hello.
pub(crate) const MAGIC: &[u8; 8] = b"RAFTHELO";
/// The handshake version this build speaks.
pub(crate) const VERSION: u8 = 1;
/// The longest cluster id.
pub const CLUSTER_ID_BYTES_MAX: usize = 63;

/// The acceptor's answer to a hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Accepted = 0,
    OtherCluster = 1,
    UnknownNode = 2,
    WrongTarget = 3,
    IdentityMismatch = 4,
    Malformed = 5,
}

impl Status {
    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Self::Accepted,
            1 => Self::OtherCluster,
            2 => Self::UnknownNode,
            3 => Self::WrongTarget,
            4 => Self::IdentityMismatch,
            5 => Self::Malformed,
            _ => return None,
        })
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::OtherCluster => "the peer belongs to another cluster",
            Self::UnknownNode => "the calling node is not one of the peer's configured peers",
            Self::WrongTarget => "the peer is not the node that was meant",
            Self::IdentityMismatch => "the certificate does not prove the claimed node id",
            Self::Malformed => "the hello is malformed",
        }
    }
}

/// Whether `cluster_id` can name a cluster: 1 to 63 characters of `a-z`, `0-9` and
/// `-`, neither first nor last a `-` (it is a DNS label in TLS certificate names).
pub fn valid_cluster_id(cluster_id: &str) -> bool {
    let bytes = cluster_id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= CLUSTER_ID_BYTES_MAX
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

/// The hello node `from` sends to reach node `to` of cluster `cluster_id`.
///
/// # Panics
/// If `cluster_id` is not [valid](valid_cluster_id); the transport checks it at start.
pub fn hello_bytes(cluster_id: &str, from: NodeId, to: NodeId) -> Vec<u8> {
    assert!(valid_cluster_id(cluster_id), "invalid cluster id");
    let mut hello = Vec::with_capacity(10 + cluster_id.len() + 16);
    hello.extend_from_slice(MAGIC);
    hello.push(VERSION);
    hello.push(cluster_id.len() as u8);
    hello.extend_from_slice(cluster_id.as_bytes());
    hello.extend_from_slice(&from.to_le_bytes());
    hello.extend_from_slice(&to.to_le_bytes());
    hello
}

/// A hello as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) cluster_id: String,
    pub(crate) from: NodeId,
    pub(crate) to: NodeId,
}

/// Reads one hello; at most 10 + 63 + 16 bytes are read, whatever arrives.
///
/// # Errors
/// `InvalidData` for a hello that is not one (bad magic, version, length or cluster
/// id); the reader's own errors (a timeout) otherwise.
pub(crate) fn read_hello(reader: &mut impl Read) -> io::Result<Hello> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut head = [0u8; 10];
    reader.read_exact(&mut head)?;
    if &head[..8] != MAGIC {
        return Err(invalid("not a raft-io hello (bad magic)"));
    }
    if head[8] != VERSION {
        return Err(invalid("unknown handshake version"));
    }
    let length = usize::from(head[9]);
    if length == 0 || length > CLUSTER_ID_BYTES_MAX {
        return Err(invalid("cluster id length out of range"));
    }
    let mut rest = [0u8; CLUSTER_ID_BYTES_MAX + 16];
    let rest = &mut rest[..length + 16];
    reader.read_exact(rest)?;
    let cluster_id = core::str::from_utf8(&rest[..length])
        .ok()
        .filter(|id| valid_cluster_id(id))
        .ok_or_else(|| invalid("cluster id is not [a-z0-9-]"))?
        .to_owned();
    let number = |bytes: &[u8]| {
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        u64::from_le_bytes(array)
    };
    Ok(Hello {
        cluster_id,
        from: number(&rest[length..length + 8]),
        to: number(&rest[length + 8..]),
    })
}

/// Sends the one-byte answer.
pub(crate) fn write_status(writer: &mut impl Write, status: Status) -> io::Result<()> {
    writer.write_all(&[status as u8])?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a hello reads back as written, and that each malformed part is refused.
    #[test]
    fn hello_round_trips_and_malformed_ones_are_refused() {
        let hello = hello_bytes("prod-7", 3, 1);
        assert_eq!(
            read_hello(&mut &hello[..]).unwrap(),
            Hello {
                cluster_id: "prod-7".into(),
                from: 3,
                to: 1
            }
        );
        let mut bad_magic = hello.clone();
        bad_magic[0] = b'X';
        let mut bad_version = hello.clone();
        bad_version[8] = 2;
        let mut bad_length = hello.clone();
        bad_length[9] = 64;
        let mut bad_char = hello.clone();
        bad_char[10] = b'P';
        for bad in [bad_magic, bad_version, bad_length, bad_char] {
            let error = read_hello(&mut &bad[..]).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        }
        let truncated = &hello[..hello.len() - 1];
        assert!(read_hello(&mut &truncated[..]).is_err());
    }

    // Proves the hello's bytes are the ones docs/PROTOCOL.md gives (a frozen vector).
    #[test]
    fn hello_matches_the_documented_vector() {
        let documented = "5241465448454c4f010470726f6403000000000000000100000000000000";
        let hex: String = hello_bytes("prod", 3, 1)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(hex, documented);
    }

    // Proves the cluster id rule: a DNS label of lowercase letters, digits and dashes.
    #[test]
    fn cluster_ids_are_dns_labels() {
        for good in ["a", "raft", "prod-eu-1", &"x".repeat(63)] {
            assert!(valid_cluster_id(good), "{good}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a b", &"x".repeat(64)] {
            assert!(!valid_cluster_id(bad), "{bad}");
        }
    }
}
