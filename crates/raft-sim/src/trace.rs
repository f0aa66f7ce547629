//! A recorded run as structured events: what `--trace-json FILE` writes (one JSON object
//! per line, documented in docs/TRACE.md) and what the timeline picture is drawn from.

use std::fmt::Write as _;

use raft_core::{Index, Message, NodeId, Term};

use crate::config::TIME_PER_TICK;

/// What happened to a message the network was handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Delivered once.
    Delivered,
    /// Delivered twice.
    Duplicated,
    /// Lost by the network.
    Dropped,
    /// Cut by a partition.
    Blocked,
}

impl Fate {
    fn name(self) -> &'static str {
        match self {
            Fate::Delivered => "delivered",
            Fate::Duplicated => "duplicated",
            Fate::Dropped => "dropped",
            Fate::Blocked => "blocked",
        }
    }
}

/// One event of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A node's visible state after a step, when it changed: role (`follower` (a
    /// pre-candidate included), `candidate`, `leader`, or `down`), term, commit and
    /// applied index, last log index.
    State {
        /// The node.
        node: NodeId,
        /// Its role.
        role: &'static str,
        /// Its term.
        term: Term,
        /// Its commit index.
        commit: Index,
        /// Its last applied index.
        applied: Index,
        /// Its last log index.
        last_index: Index,
    },
    /// A message handed to the network.
    Send {
        /// Its number in the run.
        id: u64,
        /// The sender.
        from: NodeId,
        /// The recipient.
        to: NodeId,
        /// The message kind (`AppendEntries`, ...).
        kind: &'static str,
        /// The message's term.
        term: Term,
        /// Entries it carries (AppendEntries only).
        entries: u64,
        /// What the network did with it.
        fate: Fate,
        /// When each copy arrives (simulated time).
        arrive: Vec<u64>,
    },
    /// A message copy reached its recipient.
    Deliver {
        /// The message's number.
        id: u64,
        /// The recipient.
        to: NodeId,
    },
    /// A node crashed (losing what it had not synced).
    Crash {
        /// The node.
        node: NodeId,
    },
    /// A node restarted from its durable state.
    Restart {
        /// The node.
        node: NodeId,
    },
    /// The links cut from now on (directed pairs); empty: the network is whole.
    Partition {
        /// Blocked (from, to) links.
        cut: Vec<(NodeId, NodeId)>,
    },
    /// A client invoked an operation.
    Invoke {
        /// The client.
        client: u64,
        /// Its operation number.
        seq: u64,
        /// The operation.
        op: String,
    },
    /// A client's operation returned.
    Complete {
        /// The client.
        client: u64,
        /// Its operation number.
        seq: u64,
        /// The outcome.
        outcome: String,
    },
    /// Something the nemesis did or a node said (a transfer or membership change asked,
    /// a read served, a snapshot taken).
    Note {
        /// The node concerned, if any.
        node: Option<NodeId>,
        /// What.
        text: String,
    },
    /// The run broke a property: the last event.
    Violation {
        /// The property.
        property: String,
        /// What was seen.
        detail: String,
    },
}

/// An event at a simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    /// Simulated time ([`TIME_PER_TICK`] per tick).
    pub time: u64,
    /// The event.
    pub event: TraceEvent,
}

/// The kind, term and entry count of a message, for the trace.
pub(crate) fn summary(message: &Message) -> (&'static str, Term, u64) {
    let kind = message.kind();
    let entries = match message {
        Message::AppendEntries(append) => append.entries.len() as u64,
        _ => 0,
    };
    (kind, message.term(), entries)
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Timed {
    /// One JSON object on one line (the `--trace-json` format, docs/TRACE.md).
    pub fn to_json(&self) -> String {
        let mut out = format!(
            "{{\"time\":{},\"tick\":{}.{:02},",
            self.time,
            self.time / TIME_PER_TICK,
            self.time % TIME_PER_TICK
        );
        let body = match &self.event {
            TraceEvent::State {
                node,
                role,
                term,
                commit,
                applied,
                last_index,
            } => format!(
                "\"event\":\"state\",\"node\":{node},\"role\":\"{role}\",\"term\":{term},\"commit\":{commit},\"applied\":{applied},\"last_index\":{last_index}"
            ),
            TraceEvent::Send {
                id,
                from,
                to,
                kind,
                term,
                entries,
                fate,
                arrive,
            } => {
                let arrive: Vec<String> = arrive.iter().map(u64::to_string).collect();
                format!(
                    "\"event\":\"send\",\"id\":{id},\"from\":{from},\"to\":{to},\"kind\":\"{kind}\",\"term\":{term},\"entries\":{entries},\"fate\":\"{}\",\"arrive\":[{}]",
                    fate.name(),
                    arrive.join(",")
                )
            }
            TraceEvent::Deliver { id, to } => {
                format!("\"event\":\"deliver\",\"id\":{id},\"to\":{to}")
            }
            TraceEvent::Crash { node } => format!("\"event\":\"crash\",\"node\":{node}"),
            TraceEvent::Restart { node } => format!("\"event\":\"restart\",\"node\":{node}"),
            TraceEvent::Partition { cut } => {
                let cut: Vec<String> = cut.iter().map(|(a, b)| format!("[{a},{b}]")).collect();
                format!("\"event\":\"partition\",\"cut\":[{}]", cut.join(","))
            }
            TraceEvent::Invoke { client, seq, op } => format!(
                "\"event\":\"invoke\",\"client\":{client},\"seq\":{seq},\"op\":{}",
                json_string(op)
            ),
            TraceEvent::Complete {
                client,
                seq,
                outcome,
            } => format!(
                "\"event\":\"complete\",\"client\":{client},\"seq\":{seq},\"outcome\":{}",
                json_string(outcome)
            ),
            TraceEvent::Note { node, text } => format!(
                "\"event\":\"note\",\"node\":{},\"text\":{}",
                node.map_or_else(|| "null".to_owned(), |id| id.to_string()),
                json_string(text)
            ),
            TraceEvent::Violation { property, detail } => format!(
                "\"event\":\"violation\",\"property\":{},\"detail\":{}",
                json_string(property),
                json_string(detail)
            ),
        };
        out.push_str(&body);
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the JSON lines are well formed for every event kind, strings escaped.
    #[test]
    fn json_lines() {
        let note = Timed {
            time: 1234,
            event: TraceEvent::Note {
                node: None,
                text: "a \"quoted\"\nline\u{1}".into(),
            },
        };
        assert_eq!(
            note.to_json(),
            r#"{"time":1234,"tick":12.34,"event":"note","node":null,"text":"a \"quoted\"\nline\u0001"}"#
        );
        let send = Timed {
            time: 5,
            event: TraceEvent::Send {
                id: 7,
                from: 1,
                to: 2,
                kind: "AppendEntries",
                term: 3,
                entries: 2,
                fate: Fate::Duplicated,
                arrive: vec![40, 90],
            },
        };
        assert_eq!(
            send.to_json(),
            r#"{"time":5,"tick":0.05,"event":"send","id":7,"from":1,"to":2,"kind":"AppendEntries","term":3,"entries":2,"fate":"duplicated","arrive":[40,90]}"#
        );
        let cut = Timed {
            time: 0,
            event: TraceEvent::Partition {
                cut: vec![(1, 2), (2, 1)],
            },
        };
        assert!(cut.to_json().ends_with(r#""cut":[[1,2],[2,1]]}"#));
    }
}
