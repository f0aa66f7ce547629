//! The replicated state machine: a string map plus, per client session, the last
//! sequence number applied and its response, so a retried write applies at most once.
//! A session unused for [`Store::SESSION_TTL_ENTRIES`] log entries is forgotten, at
//! points fixed by the log itself, so every replica forgets it at the same entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::{Request, Response, Session};

/// A write as it travels through the Raft log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Who sent it, for at-most-once application; `None` for a write without session.
    pub session: Option<Session>,
    /// The write (never a get or status).
    pub request: Request,
}

impl Command {
    /// The log entry's bytes.
    ///
    /// # Panics
    /// Never: postcard cannot fail to encode these types into a `Vec`.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("encoding into a Vec cannot fail")
    }

    /// Decodes a log entry; `None` if it is not a command.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

/// What the store remembers of a client: its last sequence number, that write's
/// response, and the log index where the client was last seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SessionState {
    seq: u64,
    response: Response,
    seen_at: u64,
}

/// The key-value store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    data: BTreeMap<String, String>,
    sessions: BTreeMap<u64, SessionState>,
    /// Sessions unused for this many entries are forgotten.
    session_ttl: u64,
    /// The next log index at or after which expired sessions are swept.
    next_sweep: u64,
    /// Addresses of nodes added at run time: id → (Raft address, client address).
    members: BTreeMap<u64, (String, String)>,
}

impl Default for Store {
    fn default() -> Self {
        Self::with_session_ttl(Self::SESSION_TTL_ENTRIES)
    }
}

impl Store {
    /// Log entries after which an unused session is forgotten (its client must
    /// register again; retries come within seconds).
    pub const SESSION_TTL_ENTRIES: u64 = 1 << 20;
    /// How far past a session's last sequence number a write may be: a client has at
    /// most a few writes outstanding, and a number further ahead (a bug, or a guess)
    /// would otherwise make every honest one stale.
    pub const SEQ_WINDOW: u64 = 1024;

    /// An empty store forgetting sessions unused for `ttl` entries.
    pub fn with_session_ttl(ttl: u64) -> Self {
        Self {
            data: BTreeMap::new(),
            sessions: BTreeMap::new(),
            session_ttl: ttl.max(1),
            next_sweep: ttl.max(1),
            members: BTreeMap::new(),
        }
    }

    /// Nodes added at run time, with their Raft and client addresses.
    pub fn members(&self) -> &BTreeMap<u64, (String, String)> {
        &self.members
    }

    /// Sessions remembered.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Applies the committed write at log `index` once per session sequence number
    /// and returns its response (a retry of the last one gets the first response
    /// again). A `register` opens the session whose id is `index`; a write naming a
    /// session that does not exist (never registered, or expired) is refused, as is
    /// one whose sequence number is more than [`Store::SEQ_WINDOW`] ahead.
    ///
    /// ```
    /// use raft_kv::protocol::{Request, Response, Session};
    /// use raft_kv::store::{Command, Store};
    /// let mut store = Store::default();
    /// let register = Command { session: None, request: Request::Register };
    /// assert_eq!(store.apply(1, &register), Response::Session(1));
    /// let put = Command {
    ///     session: Some(Session { client: 1, seq: 1 }),
    ///     request: Request::Cas { key: "k".into(), expected: None, new: "v".into() },
    /// };
    /// assert_eq!(store.apply(2, &put), Response::Swapped(true));
    /// // The same session and sequence number again: not applied twice.
    /// assert_eq!(store.apply(3, &put), Response::Swapped(true));
    /// assert_eq!(store.get("k"), Some("v"));
    /// ```
    pub fn apply(&mut self, index: u64, command: &Command) -> Response {
        if index >= self.next_sweep {
            let ttl = self.session_ttl;
            self.sessions
                .retain(|_, state| state.seen_at.saturating_add(ttl) > index);
            self.next_sweep = index + ttl.div_ceil(4).max(1);
        }
        if command.request == Request::Register {
            let state = SessionState {
                seq: 0,
                response: Response::Done,
                seen_at: index,
            };
            let _ = self.sessions.insert(index, state);
            return Response::Session(index);
        }
        if let Some(session) = command.session {
            let Some(state) = self.sessions.get_mut(&session.client) else {
                return Response::Invalid(format!(
                    "unknown session {}: sessions are assigned by `register` (an unused \
                     one expires)",
                    session.client
                ));
            };
            if session.seq == state.seq {
                state.seen_at = index;
                return state.response.clone();
            }
            if session.seq < state.seq {
                // An old retry: its client moved on and nobody waits for the answer.
                return Response::Invalid("stale sequence number".into());
            }
            if session.seq - state.seq > Self::SEQ_WINDOW {
                return Response::Invalid(format!(
                    "sequence number {} is more than {} past the session's last ({})",
                    session.seq,
                    Self::SEQ_WINDOW,
                    state.seq
                ));
            }
            state.seen_at = index;
        }
        let response = match &command.request {
            Request::Put { key, value } => {
                let _ = self.data.insert(key.clone(), value.clone());
                Response::Done
            }
            Request::Delete { key } => {
                let _ = self.data.remove(key);
                Response::Done
            }
            Request::Cas { key, expected, new } => {
                let swapped = self.data.get(key) == expected.as_ref();
                if swapped {
                    let _ = self.data.insert(key.clone(), new.clone());
                }
                Response::Swapped(swapped)
            }
            Request::AddLearner { id, raft, client } => {
                let _ = self.members.insert(*id, (raft.clone(), client.clone()));
                Response::Done
            }
            Request::Register => Response::Invalid("register is handled first".into()),
            Request::Get { .. }
            | Request::Status
            | Request::Isolate { .. }
            | Request::Auth { .. }
            | Request::Promote { .. }
            | Request::Remove { .. }
            | Request::SetVoters { .. } => {
                Response::Invalid("only writes go through the log".into())
            }
        };
        if let Some(session) = command.session {
            let state = SessionState {
                seq: session.seq,
                response: response.clone(),
                seen_at: index,
            };
            let _ = self.sessions.insert(session.client, state);
        }
        response
    }

    /// A key's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data.get(key).map(String::as_str)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// A CRC-32 of the map (sessions excluded): replicas that applied the same
    /// entries have the same digest.
    pub fn digest(&self) -> u32 {
        let mut hasher = crc32fast::Hasher::new();
        for (key, value) in &self.data {
            hasher.update(&(key.len() as u64).to_le_bytes());
            hasher.update(key.as_bytes());
            hasher.update(&(value.len() as u64).to_le_bytes());
            hasher.update(value.as_bytes());
        }
        hasher.finalize()
    }

    /// The snapshot bytes.
    ///
    /// # Panics
    /// Never: postcard cannot fail to encode these types into a `Vec`.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("encoding into a Vec cannot fail")
    }

    /// Restores a store from [`Store::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(client: u64, seq: u64, request: Request) -> Command {
        Command {
            session: Some(Session { client, seq }),
            request,
        }
    }

    fn register() -> Command {
        Command {
            session: None,
            request: Request::Register,
        }
    }

    // Proves each write of a session applies once, whatever the retries.
    #[test]
    fn sessions_apply_each_write_once() {
        let mut store = Store::default();
        let put = |value: &str| Request::Put {
            key: "k".into(),
            value: value.into(),
        };
        assert_eq!(store.apply(1, &register()), Response::Session(1));
        assert_eq!(store.apply(2, &register()), Response::Session(2));
        assert_eq!(store.apply(3, &write(1, 1, put("a"))), Response::Done);
        assert_eq!(store.apply(4, &write(2, 1, put("b"))), Response::Done);
        // Session 1 retries its first write after session 2's: not applied again.
        assert_eq!(store.apply(5, &write(1, 1, put("a"))), Response::Done);
        assert_eq!(store.get("k"), Some("b"));
        let delete = write(1, 2, Request::Delete { key: "k".into() });
        assert_eq!(store.apply(6, &delete), Response::Done);
        assert!(store.is_empty());
        assert!(matches!(
            store.apply(7, &write(1, 1, put("a"))),
            Response::Invalid(_)
        ));
        assert!(store.is_empty());
    }

    // Issue 13: caller-chosen ids let two clients share a session (the second one's
    // write answered from the first one's cache, never applied) and a huge sequence
    // number lock an id out. Sessions are assigned; unknown ones and numbers too far
    // ahead are refused and change nothing.
    #[test]
    fn only_registered_sessions_and_sequence_numbers_within_the_window_count() {
        let mut store = Store::default();
        let put = |value: &str| Request::Put {
            key: "k".into(),
            value: value.into(),
        };
        // A session nobody registered.
        assert!(matches!(
            store.apply(1, &write(7, 1, put("a"))),
            Response::Invalid(why) if why.contains("unknown session 7")
        ));
        assert_eq!(store.get("k"), None);
        assert_eq!(store.apply(2, &register()), Response::Session(2));
        // Far ahead: refused, and the honest next number still works.
        let far = Store::SEQ_WINDOW + 1;
        assert!(matches!(
            store.apply(3, &write(2, far, put("x"))),
            Response::Invalid(_)
        ));
        assert_eq!(store.apply(4, &write(2, 1, put("a"))), Response::Done);
        assert_eq!(store.get("k"), Some("a"));
        assert_eq!(
            store.apply(5, &write(2, 1 + Store::SEQ_WINDOW, put("b"))),
            Response::Done
        );
    }

    // Proves sessions expire at points fixed by the log, the same on every replica.
    #[test]
    fn unused_sessions_are_forgotten_at_the_same_entries_on_every_replica() {
        let put = |value: &str| Request::Put {
            key: "k".into(),
            value: value.into(),
        };
        let mut replica = Store::with_session_ttl(100);
        let _ = replica.apply(1, &register());
        let _ = replica.apply(2, &register());
        let _ = replica.apply(3, &write(1, 1, put("a")));
        for index in 4..=90 {
            let _ = replica.apply(index, &write(2, index, put("b")));
        }
        // A snapshot taken now and restored elsewhere forgets at the same points.
        let mut restored = Store::decode(&replica.encode()).unwrap();
        assert_eq!(replica.sessions(), 2);
        for index in 91..=200 {
            let command = write(2, index, put("c"));
            assert_eq!(
                replica.apply(index, &command),
                restored.apply(index, &command)
            );
        }
        // Session 1 was last seen at entry 3: forgotten; session 2 is kept.
        assert_eq!(replica.sessions(), 1);
        assert_eq!(replica, restored);
        assert!(matches!(
            replica.apply(201, &write(1, 2, put("d"))),
            Response::Invalid(_)
        ));
    }

    #[test]
    fn cas_and_digest_and_snapshot() {
        let mut store = Store::default();
        let cas = |expected: Option<&str>, new: &str| Command {
            session: None,
            request: Request::Cas {
                key: "k".into(),
                expected: expected.map(Into::into),
                new: new.into(),
            },
        };
        let empty = store.digest();
        assert_eq!(
            store.apply(1, &cas(Some("x"), "y")),
            Response::Swapped(false)
        );
        assert_eq!(store.apply(2, &cas(None, "y")), Response::Swapped(true));
        assert_eq!(store.apply(3, &cas(None, "z")), Response::Swapped(false));
        assert_eq!(
            store.apply(4, &cas(Some("y"), "z")),
            Response::Swapped(true)
        );
        assert_ne!(store.digest(), empty);
        let copy = Store::decode(&store.encode()).unwrap();
        assert_eq!(copy, store);
        assert_eq!(copy.digest(), store.digest());
        assert!(Store::decode(b"\xff\xff\xff").is_none());
        let command = cas(None, "v");
        assert_eq!(Command::decode(&command.encode()), Some(command));
    }
}
