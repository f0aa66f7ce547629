//! The replicated state machine: a string map plus, per client session, the last
//! sequence number applied and its response, so a retried write applies at most once.

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

/// The key-value store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    data: BTreeMap<String, String>,
    sessions: BTreeMap<u64, (u64, Response)>,
}

impl Store {
    /// Applies a committed write once per session sequence number and returns its
    /// response (a retry of the last one gets the first response again).
    ///
    /// ```
    /// use raft_kv::protocol::{Request, Response, Session};
    /// use raft_kv::store::{Command, Store};
    /// let mut store = Store::default();
    /// let put = Command {
    ///     session: Some(Session { client: 1, seq: 1 }),
    ///     request: Request::Cas { key: "k".into(), expected: None, new: "v".into() },
    /// };
    /// assert_eq!(store.apply(&put), Response::Swapped(true));
    /// // The same session and sequence number again: not applied twice.
    /// assert_eq!(store.apply(&put), Response::Swapped(true));
    /// assert_eq!(store.get("k"), Some("v"));
    /// ```
    pub fn apply(&mut self, command: &Command) -> Response {
        if let Some(session) = command.session
            && let Some((seq, response)) = self.sessions.get(&session.client)
        {
            if session.seq == *seq {
                return response.clone();
            }
            if session.seq < *seq {
                // An old retry: its client moved on and nobody waits for the answer.
                return Response::Retry("stale sequence number".into());
            }
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
            Request::Get { .. } | Request::Status | Request::Isolate { .. } => {
                Response::Invalid("only writes go through the log".into())
            }
        };
        if let Some(session) = command.session {
            let _ = self
                .sessions
                .insert(session.client, (session.seq, response.clone()));
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

    #[test]
    fn sessions_apply_each_write_once() {
        let mut store = Store::default();
        let put = |value: &str| Request::Put {
            key: "k".into(),
            value: value.into(),
        };
        assert_eq!(store.apply(&write(1, 1, put("a"))), Response::Done);
        assert_eq!(store.apply(&write(2, 1, put("b"))), Response::Done);
        // Client 1 retries its first write after client 2's: not applied again.
        assert_eq!(store.apply(&write(1, 1, put("a"))), Response::Done);
        assert_eq!(store.get("k"), Some("b"));
        let delete = write(1, 2, Request::Delete { key: "k".into() });
        assert_eq!(store.apply(&delete), Response::Done);
        assert!(store.is_empty());
        assert!(matches!(
            store.apply(&write(1, 1, put("a"))),
            Response::Retry(_)
        ));
        assert!(store.is_empty());
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
        assert_eq!(store.apply(&cas(Some("x"), "y")), Response::Swapped(false));
        assert_eq!(store.apply(&cas(None, "y")), Response::Swapped(true));
        assert_eq!(store.apply(&cas(None, "z")), Response::Swapped(false));
        assert_eq!(store.apply(&cas(Some("y"), "z")), Response::Swapped(true));
        assert_ne!(store.digest(), empty);
        let copy = Store::decode(&store.encode()).unwrap();
        assert_eq!(copy, store);
        assert_eq!(copy.digest(), store.digest());
        assert!(Store::decode(b"\xff\xff\xff").is_none());
        let command = cas(None, "v");
        assert_eq!(Command::decode(&command.encode()), Some(command));
    }
}
