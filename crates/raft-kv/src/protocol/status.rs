//! The `status` answer: one line of `name=value` words, parsed back by clients.

/// A node's status, parsed from [`Response::Status`](super::Response::Status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The node.
    pub id: u64,
    /// `leader`, `follower` or `candidate`.
    pub role: String,
    /// Its term.
    pub term: u64,
    /// The leader it knows of (0: none).
    pub leader: u64,
    /// Its commit index.
    pub commit: u64,
    /// Its last applied index.
    pub applied: u64,
    /// A checksum of its store (equal stores, equal digests).
    pub digest: u32,
    /// Keys in its store.
    pub keys: u64,
    /// Ticks this process has stepped since it started.
    pub ticks: u64,
    /// The voters in the configuration it follows.
    pub voters: Vec<u64>,
    /// The learners in the configuration it follows.
    pub learners: Vec<u64>,
    /// The last index in its log.
    pub last_index: u64,
    /// On a leader: how far each peer's log matches, and when it last answered.
    pub peers: Vec<PeerMatch>,
    /// The index of the configuration in force (what `set-voters ... if INDEX` names).
    pub config_index: u64,
    /// During a joint change: the voters being left (empty otherwise).
    pub outgoing: Vec<u64>,
    /// fsyncs of its log since the process started.
    pub syncs: u64,
    /// The incarnation its data directory holds (0 unless it was created for a node
    /// that lost its data: docs/RECOVERY.md, rule 2).
    pub incarnation: u64,
    /// The members the configuration it follows names with an incarnation other than
    /// 0, as `(id, incarnation)`.
    pub incarnations: Vec<(u64, u64)>,
}

/// A leader's view of one peer in [`Status`]: `id:match:ticks-ago` on the wire (`-`
/// for a peer not heard from in this term).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerMatch {
    /// The peer.
    pub id: u64,
    /// The highest index known to match the leader's log.
    pub match_index: u64,
    /// Ticks since it last answered, if it has in this term.
    pub heard_ticks_ago: Option<u64>,
}

fn peer_list(peers: &[PeerMatch]) -> String {
    peers
        .iter()
        .map(|peer| match peer.heard_ticks_ago {
            Some(ago) => format!("{}:{}:{ago}", peer.id, peer.match_index),
            None => format!("{}:{}:-", peer.id, peer.match_index),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_peers(value: &str) -> Result<Vec<PeerMatch>, String> {
    let bad = || format!("bad peer list `{value}`");
    value
        .split(',')
        .filter(|peer| !peer.is_empty())
        .map(|peer| {
            let mut parts = peer.split(':');
            let (Some(id), Some(match_index), Some(ago), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            Ok(PeerMatch {
                id: id.parse().map_err(|_| bad())?,
                match_index: match_index.parse().map_err(|_| bad())?,
                heard_ticks_ago: match ago {
                    "-" => None,
                    ago => Some(ago.parse().map_err(|_| bad())?),
                },
            })
        })
        .collect()
}

fn parse_pairs(value: &str) -> Result<Vec<(u64, u64)>, String> {
    let bad = || format!("bad incarnation list `{value}`");
    value
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (id, incarnation) = pair.split_once(':').ok_or_else(bad)?;
            Ok((
                id.parse().map_err(|_| bad())?,
                incarnation.parse().map_err(|_| bad())?,
            ))
        })
        .collect()
}

fn list(ids: &[u64]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_list(value: &str) -> Result<Vec<u64>, String> {
    value
        .split(',')
        .filter(|id| !id.is_empty())
        .map(|id| id.parse().map_err(|_| format!("bad node id `{id}`")))
        .collect()
}

impl Status {
    /// Formats the status as a response payload.
    pub fn to_words(&self) -> String {
        format!(
            "id={} role={} term={} leader={} commit={} applied={} digest={:08x} keys={} ticks={} \
             voters={} learners={} last={} peers={} config={} outgoing={} syncs={} \
             incarnation={} incarnations={}",
            self.id,
            self.role,
            self.term,
            self.leader,
            self.commit,
            self.applied,
            self.digest,
            self.keys,
            self.ticks,
            list(&self.voters),
            list(&self.learners),
            self.last_index,
            peer_list(&self.peers),
            self.config_index,
            list(&self.outgoing),
            self.syncs,
            self.incarnation,
            self.incarnations
                .iter()
                .map(|(id, incarnation)| format!("{id}:{incarnation}"))
                .collect::<Vec<_>>()
                .join(","),
        )
    }

    /// Parses what [`Status::to_words`] wrote.
    ///
    /// # Errors
    /// A missing or malformed field.
    pub fn parse(words: &str) -> Result<Self, String> {
        let mut status = Status::default();
        for pair in words.split_whitespace() {
            let (name, value) = pair.split_once('=').ok_or("status word without =")?;
            let number = || value.parse::<u64>().map_err(|_| format!("bad {name}"));
            match name {
                "id" => status.id = number()?,
                "role" => value.clone_into(&mut status.role),
                "term" => status.term = number()?,
                "leader" => status.leader = number()?,
                "commit" => status.commit = number()?,
                "applied" => status.applied = number()?,
                "digest" => {
                    status.digest = u32::from_str_radix(value, 16).map_err(|_| "bad digest")?;
                }
                "keys" => status.keys = number()?,
                "ticks" => status.ticks = number()?,
                "voters" => status.voters = parse_list(value)?,
                "learners" => status.learners = parse_list(value)?,
                "last" => status.last_index = number()?,
                "peers" => status.peers = parse_peers(value)?,
                "config" => status.config_index = number()?,
                "outgoing" => status.outgoing = parse_list(value)?,
                "syncs" => status.syncs = number()?,
                "incarnation" => status.incarnation = number()?,
                "incarnations" => status.incarnations = parse_pairs(value)?,
                _ => {}
            }
        }
        if status.id == 0 {
            return Err("status without id".into());
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        let status = Status {
            id: 2,
            role: "leader".into(),
            term: 5,
            leader: 2,
            commit: 10,
            applied: 9,
            digest: 0xdead_beef,
            keys: 3,
            ticks: 1234,
            voters: vec![1, 2, 5],
            learners: vec![7],
            last_index: 11,
            peers: vec![
                PeerMatch {
                    id: 1,
                    match_index: 10,
                    heard_ticks_ago: Some(2),
                },
                PeerMatch {
                    id: 7,
                    match_index: 0,
                    heard_ticks_ago: None,
                },
            ],
            config_index: 8,
            outgoing: vec![1, 2, 3],
            syncs: 77,
            incarnation: 9,
            incarnations: vec![(3, 12), (7, 1)],
        };
        assert_eq!(Status::parse(&status.to_words()).unwrap(), status);
        // An older server's line (no last, no peers) still parses.
        let old = "id=1 role=follower term=1 leader=0 commit=0 applied=0 digest=0 keys=0 \
                   ticks=0 voters=1 learners=";
        assert!(Status::parse(old).unwrap().peers.is_empty());
        for bad in ["peers=1:2", "peers=1:2:3:4", "peers=x:1:-", "peers=1:2:?"] {
            assert!(Status::parse(bad).is_err(), "{bad}");
        }
    }
}
