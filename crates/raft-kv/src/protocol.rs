//! The client protocol: one request per line, one response line per request, over
//! TCP. Keys and values are single words (no whitespace), so `nc` is a client:
//!
//! ```text
//! put color blue          -> OK
//! get color               -> VALUE blue        (or NONE)
//! cas color blue green    -> SWAPPED           (or UNCHANGED; `-` means "absent")
//! del color               -> OK
//! status                  -> STATUS id=1 role=leader term=2 leader=1 commit=9 applied=9 digest=…
//! add-learner 4 127.0.0.1:7004 127.0.0.1:8004 -> OK   (membership, leader only)
//! promote 4               -> OK                (once node 4 has caught up)
//! remove 1                -> OK
//! set-voters 1,4,5 if 12  -> OK                (any voter set in one joint change;
//!                                               `if` refuses it unless the configuration
//!                                               in force is status's `config=12`)
//! isolate 500             -> OK                (tests, with --allow-fault-injection:
//!                                               drop Raft traffic for 500 ms)
//! auth TOKEN              -> OK                (this connection may now send admin
//!                                               requests: add-learner, promote,
//!                                               remove, isolate)
//! register                -> SESSION 41        (a session the cluster assigns: the log
//!                                               index of this request)
//! @41:12 put color red    -> OK                (session 41, sequence 12: applied at most
//!                                               once; an unknown session is refused)
//! ```
//!
//! A follower answers `REDIRECT <address>` (the leader's client address) or
//! `ERR no-leader`; `ERR retry <why>` means the outcome of a write is unknown (the
//! leader lost its leadership or timed out): retry with the same session and sequence
//! number and it applies at most once.

use core::fmt;

use serde::{Deserialize, Serialize};

mod status;

pub use status::{PeerMatch, Status};

/// At-most-once identity of a write: a client id (not 0) and its sequence number,
/// which grows by one per new operation and stays the same across retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The client.
    pub client: u64,
    /// The operation's sequence number.
    pub seq: u64,
}

/// A client request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Read a key (linearizable: confirmed by a quorum through ReadIndex).
    Get {
        /// The key.
        key: String,
    },
    /// Set a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: String,
    },
    /// Set `key` to `new` if it holds `expected` (`None`: if it is absent).
    Cas {
        /// The key.
        key: String,
        /// The value it must hold.
        expected: Option<String>,
        /// The value to store.
        new: String,
    },
    /// The node's view of the cluster (answered locally, not linearizable).
    Status,
    /// Leader only: add node `id` (listening at `raft` for peers and `client` for
    /// clients) as a learner. Its addresses are replicated through the log.
    AddLearner {
        /// The new node.
        id: u64,
        /// Its Raft address.
        raft: String,
        /// Its client address.
        client: String,
    },
    /// Leader only: make learner `id` a voter (refused until it has caught up).
    Promote {
        /// The learner.
        id: u64,
    },
    /// Leader only: remove node `id` from the cluster.
    Remove {
        /// The node.
        id: u64,
    },
    /// Leader only: make exactly these nodes the voters, in one joint change (learners
    /// listed are promoted once caught up, voters not listed leave the cluster).
    SetVoters {
        /// The new voters (members already: learners or voters).
        ids: Vec<u64>,
        /// Refuse unless the configuration in force is still the one at this index.
        expected_config: Option<u64>,
    },
    /// Fault injection for tests: the node drops every Raft message in and out for
    /// this many milliseconds, as if cut off by a network partition, while it keeps
    /// serving clients.
    Isolate {
        /// How long.
        millis: u64,
    },
    /// Authenticates the connection for admin requests with the node's admin token.
    /// Handled by the connection, never logged or sent anywhere.
    Auth {
        /// The token.
        token: String,
    },
    /// Opens a session (Raft thesis §6.3): it goes through the log and its index is
    /// the session's id, the same on every replica.
    Register,
}

impl Request {
    /// Whether the request changes the store (and so goes through the log).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Put { .. } | Request::Delete { .. } | Request::Cas { .. }
        )
    }

    /// Whether it goes through the log: a write, or a session registration.
    pub fn is_logged(&self) -> bool {
        self.is_write() || *self == Request::Register
    }
}

/// A request line: an optional session and the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLine {
    /// The session, for at-most-once writes.
    pub session: Option<Session>,
    /// The request.
    pub request: Request,
}

fn word(text: &str) -> Result<String, String> {
    if text.is_empty() || text.chars().any(char::is_whitespace) {
        return Err(format!("`{}` is not a single word", text.escape_debug()));
    }
    // Control characters would reach terminals raw when the value is printed.
    if text.chars().any(char::is_control) {
        return Err(format!(
            "`{}` holds control characters",
            text.escape_debug()
        ));
    }
    Ok(text.to_owned())
}

/// A value to store: a word other than `-`, which stands for "absent" in `cas` and so
/// could never be compared against.
fn value(text: &str) -> Result<String, String> {
    if text == "-" {
        return Err("`-` means an absent value (in cas) and cannot be stored".into());
    }
    word(text)
}

fn node_id(text: &str) -> Result<u64, String> {
    match text.parse() {
        Ok(0) | Err(_) => Err(format!("`{text}` is not a node id (1 or more)")),
        Ok(id) => Ok(id),
    }
}

/// A comma-separated list of node ids: at least one, at most 64, no repeats.
fn node_ids(text: &str) -> Result<Vec<u64>, String> {
    let ids = text
        .split(',')
        .map(node_id)
        .collect::<Result<Vec<u64>, String>>()?;
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != ids.len() {
        return Err(format!("`{text}` names a node twice"));
    }
    if ids.len() > 64 {
        return Err("at most 64 voters".into());
    }
    Ok(sorted)
}

fn address(text: &str) -> Result<String, String> {
    text.parse::<std::net::SocketAddr>()
        .map(|address| address.to_string())
        .map_err(|_| format!("`{text}` is not an IP:PORT address"))
}

fn optional(text: &str) -> Result<Option<String>, String> {
    if text == "-" {
        Ok(None)
    } else {
        word(text).map(Some)
    }
}

impl RequestLine {
    /// Parses one line (without its newline).
    ///
    /// # Errors
    /// A description of what is wrong with it.
    ///
    /// ```
    /// use raft_kv::protocol::{Request, RequestLine, Session};
    /// let line = RequestLine::parse("@3:9 cas k - v1").unwrap();
    /// assert_eq!(line.session, Some(Session { client: 3, seq: 9 }));
    /// assert_eq!(line.request, Request::Cas { key: "k".into(), expected: None, new: "v1".into() });
    /// assert!(RequestLine::parse("put onlykey").is_err());
    /// ```
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut words: Vec<&str> = line.split_whitespace().collect();
        let mut session = None;
        if let Some(first) = words.first()
            && let Some(rest) = first.strip_prefix('@')
        {
            let (client, seq) = rest
                .split_once(':')
                .ok_or("a session is written @CLIENT:SEQ")?;
            let client: u64 = client.parse().map_err(|_| "bad session client")?;
            let seq: u64 = seq.parse().map_err(|_| "bad session sequence number")?;
            if client == 0 || seq == 0 {
                return Err("session client and sequence number start at 1".into());
            }
            session = Some(Session { client, seq });
            let _ = words.remove(0);
        }
        // Command words in any case (`GET`, `Put`); keys and values as written.
        let verb = words.first().map(|verb| verb.to_ascii_lowercase());
        if let (Some(verb), Some(first)) = (&verb, words.first_mut()) {
            *first = verb.as_str();
        }
        let request = match words.as_slice() {
            ["get", key] => Request::Get { key: word(key)? },
            ["put", key, new] => Request::Put {
                key: word(key)?,
                value: value(new)?,
            },
            ["del", key] => Request::Delete { key: word(key)? },
            ["cas", key, expected, new] => Request::Cas {
                key: word(key)?,
                expected: optional(expected)?,
                new: value(new)?,
            },
            ["status"] => Request::Status,
            ["add-learner", id, raft, client] => Request::AddLearner {
                id: node_id(id)?,
                raft: address(raft)?,
                client: address(client)?,
            },
            ["promote", id] => Request::Promote { id: node_id(id)? },
            ["remove", id] => Request::Remove { id: node_id(id)? },
            ["set-voters", ids] => Request::SetVoters {
                ids: node_ids(ids)?,
                expected_config: None,
            },
            ["set-voters", ids, "if", index] => Request::SetVoters {
                ids: node_ids(ids)?,
                expected_config: Some(
                    index
                        .parse()
                        .map_err(|_| "set-voters ... if takes a configuration index")?,
                ),
            },
            ["isolate", millis] => Request::Isolate {
                millis: millis.parse().map_err(|_| "isolate takes milliseconds")?,
            },
            ["auth", token] => Request::Auth {
                token: word(token)?,
            },
            ["register"] => Request::Register,
            [] => return Err("empty request".into()),
            _ => {
                return Err(
                    "expected: get KEY | put KEY VALUE | del KEY | cas KEY OLD|- NEW | status \
                     | auth TOKEN | add-learner ID RAFT_ADDR CLIENT_ADDR | promote ID | remove ID \
                     | set-voters ID,ID,... [if CONFIG_INDEX]"
                        .into(),
                );
            }
        };
        Ok(Self { session, request })
    }
}

impl fmt::Display for RequestLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(session) = self.session {
            write!(f, "@{}:{} ", session.client, session.seq)?;
        }
        match &self.request {
            Request::Get { key } => write!(f, "get {key}"),
            Request::Put { key, value } => write!(f, "put {key} {value}"),
            Request::Delete { key } => write!(f, "del {key}"),
            Request::Cas { key, expected, new } => {
                write!(f, "cas {key} {} {new}", expected.as_deref().unwrap_or("-"))
            }
            Request::Status => write!(f, "status"),
            Request::Isolate { millis } => write!(f, "isolate {millis}"),
            Request::AddLearner { id, raft, client } => {
                write!(f, "add-learner {id} {raft} {client}")
            }
            Request::Promote { id } => write!(f, "promote {id}"),
            Request::Remove { id } => write!(f, "remove {id}"),
            Request::SetVoters {
                ids,
                expected_config,
            } => {
                let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
                write!(f, "set-voters {}", ids.join(","))?;
                match expected_config {
                    Some(index) => write!(f, " if {index}"),
                    None => Ok(()),
                }
            }
            Request::Auth { token } => write!(f, "auth {token}"),
            Request::Register => write!(f, "register"),
        }
    }
}

/// A response line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A put or delete applied.
    Done,
    /// A get's answer.
    Value(Option<String>),
    /// A cas's answer: whether it swapped.
    Swapped(bool),
    /// Ask the leader at this client address instead.
    Redirect(String),
    /// No leader is known right now; retry shortly.
    NoLeader,
    /// The outcome is unknown (leadership lost, timed out, overloaded): retry, with
    /// the same session for writes.
    Retry(String),
    /// The request was malformed.
    Invalid(String),
    /// The node's status, as `key=value` words.
    Status(String),
    /// A `register`'s answer: the new session's id.
    Session(u64),
}

impl Response {
    /// Whether this is a final answer to the request (as opposed to "go elsewhere" or
    /// "try again").
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Response::Done
                | Response::Value(_)
                | Response::Swapped(_)
                | Response::Status(_)
                | Response::Session(_)
        )
    }

    /// Parses a response line.
    ///
    /// # Errors
    /// The line is not a response.
    pub fn parse(line: &str) -> Result<Self, String> {
        let line = line.trim_end();
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        Ok(match head {
            "OK" => Response::Done,
            "NONE" => Response::Value(None),
            "VALUE" => Response::Value(Some(word(rest)?)),
            "SWAPPED" => Response::Swapped(true),
            "UNCHANGED" => Response::Swapped(false),
            "REDIRECT" => Response::Redirect(word(rest)?),
            "STATUS" => Response::Status(rest.to_owned()),
            "SESSION" => Response::Session(rest.parse().map_err(|_| "bad session id")?),
            "ERR" => {
                let (kind, why) = rest.split_once(' ').unwrap_or((rest, ""));
                match kind {
                    "no-leader" => Response::NoLeader,
                    "retry" => Response::Retry(why.to_owned()),
                    "invalid" => Response::Invalid(why.to_owned()),
                    _ => return Err(format!("unknown error `{line}`")),
                }
            }
            _ => return Err(format!("not a response: `{line}`")),
        })
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Done => write!(f, "OK"),
            Response::Value(Some(value)) => write!(f, "VALUE {value}"),
            Response::Value(None) => write!(f, "NONE"),
            Response::Swapped(true) => write!(f, "SWAPPED"),
            Response::Swapped(false) => write!(f, "UNCHANGED"),
            Response::Redirect(address) => write!(f, "REDIRECT {address}"),
            Response::NoLeader => write!(f, "ERR no-leader"),
            Response::Retry(why) => write!(f, "ERR retry {why}"),
            Response::Invalid(why) => write!(f, "ERR invalid {}", why.replace('\n', " ")),
            Response::Status(status) => write!(f, "STATUS {status}"),
            Response::Session(id) => write!(f, "SESSION {id}"),
        }
    }
}

impl Request {
    /// Whether only an authenticated connection may send it.
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Request::AddLearner { .. }
                | Request::Promote { .. }
                | Request::Remove { .. }
                | Request::SetVoters { .. }
                | Request::Isolate { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 13: command words in any case; `-` cannot be stored (cas could never match
    // it); control characters are refused rather than echoed raw to terminals.
    #[test]
    fn verbs_in_any_case_and_values_that_could_never_be_read_back_are_refused() {
        assert_eq!(
            RequestLine::parse("GET Key").unwrap().request,
            Request::Get { key: "Key".into() }
        );
        assert_eq!(
            RequestLine::parse("Put k V").unwrap().request,
            Request::Put {
                key: "k".into(),
                value: "V".into()
            }
        );
        assert!(RequestLine::parse("put k -").is_err());
        assert!(RequestLine::parse("cas k - -").is_err());
        assert!(RequestLine::parse("cas k - v").is_ok());
        assert!(RequestLine::parse("put k a\u{1b}[2Jb").is_err());
        assert!(RequestLine::parse("put \u{7}k v").is_err());
    }

    #[test]
    fn request_lines_round_trip() {
        for text in [
            "get a",
            "put a 1",
            "del a",
            "cas a - 2",
            "cas a 1 2",
            "status",
            "isolate 250",
            "add-learner 4 127.0.0.1:7004 127.0.0.1:8004",
            "promote 4",
            "remove 1",
            "set-voters 1,4,5",
            "set-voters 2,3 if 17",
            "auth s3cret",
            "@4:2 put a 1",
        ] {
            let line = RequestLine::parse(text).unwrap();
            assert_eq!(line.to_string(), text);
        }
    }

    #[test]
    fn malformed_requests_are_errors() {
        for text in [
            "",
            "get",
            "put a",
            "cas a b",
            "frob a",
            "@0:1 get a",
            "@1 get a",
            "@x:1 get a",
            "set-voters",
            "set-voters 1,1",
            "set-voters 0,2",
            "set-voters 1, 2",
            "set-voters 1,2 if",
            "set-voters 1,2 if x",
            "set-voters 1,2 unless 3",
        ] {
            assert!(RequestLine::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn responses_round_trip() {
        for response in [
            Response::Done,
            Response::Value(None),
            Response::Value(Some("x".into())),
            Response::Swapped(true),
            Response::Swapped(false),
            Response::Redirect("127.0.0.1:1".into()),
            Response::NoLeader,
            Response::Retry("leadership lost".into()),
            Response::Invalid("empty request".into()),
        ] {
            assert_eq!(Response::parse(&response.to_string()).unwrap(), response);
        }
        assert!(Response::parse("HELLO").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn word() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9_.:/-]{1,12}".prop_filter("`-` means absent", |word| word != "-")
        }

        fn request() -> impl Strategy<Value = Request> {
            prop_oneof![
                word().prop_map(|key| Request::Get { key }),
                (word(), word()).prop_map(|(key, value)| Request::Put { key, value }),
                word().prop_map(|key| Request::Delete { key }),
                (word(), proptest::option::of(word()), word())
                    .prop_map(|(key, expected, new)| Request::Cas { key, expected, new }),
                Just(Request::Status),
                any::<u64>().prop_map(|millis| Request::Isolate { millis }),
                (1..u64::MAX, any::<[u8; 4]>(), any::<u16>(), any::<u16>()).prop_map(
                    |(id, ip, raft, client)| Request::AddLearner {
                        id,
                        raft: std::net::SocketAddr::from((ip, raft)).to_string(),
                        client: std::net::SocketAddr::from((ip, client)).to_string(),
                    }
                ),
                (1..u64::MAX).prop_map(|id| Request::Promote { id }),
                (1..u64::MAX).prop_map(|id| Request::Remove { id }),
            ]
        }

        proptest! {
            #[test]
            fn any_line_parses_or_is_refused_without_panicking(line in "\\PC{0,40}") {
                if let Ok(parsed) = RequestLine::parse(&line) {
                    // Whatever parses prints back to something that parses the same.
                    prop_assert_eq!(RequestLine::parse(&parsed.to_string()), Ok(parsed));
                }
                let _ = Response::parse(&line);
                let _ = Status::parse(&line);
            }

            #[test]
            fn requests_round_trip(
                request in request(),
                session in proptest::option::of((1..u64::MAX, 1..u64::MAX)),
            ) {
                let line = RequestLine {
                    session: session.map(|(client, seq)| Session { client, seq }),
                    request,
                };
                prop_assert_eq!(RequestLine::parse(&line.to_string()), Ok(line));
            }
        }
    }
}
