//! The node's log: raft-core's `tracing` events at info and above written as raft-kv's
//! own lines (`[node N] became leader term=3`), next to what the server says itself.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Writes the protocol core's events for node `id` to stdout.
pub struct NodeLog {
    id: u64,
    spans: AtomicU64,
}

impl NodeLog {
    /// A log for node `id`.
    pub fn new(id: u64) -> Self {
        Self {
            id,
            spans: AtomicU64::new(1),
        }
    }

    /// One line for `event`: its message, then its other fields.
    pub fn line(&self, event: &Event<'_>) -> String {
        let mut fields = Line::default();
        event.record(&mut fields);
        format!("[node {}] {}{}", self.id, fields.message, fields.rest)
    }

    /// Installs this log for the process (one node per `raft-kv serve` process).
    ///
    /// # Errors
    /// Another subscriber is installed already.
    pub fn install(id: u64) -> Result<(), String> {
        tracing::subscriber::set_global_default(Self::new(id))
            .map_err(|error| format!("installing the log: {error}"))
    }
}

#[derive(Default)]
struct Line {
    message: String,
    rest: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for NodeLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Spans are cheap to skip; events at info and above are the node's log.
        metadata.is_event() && *metadata.level() <= Level::INFO
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.spans.fetch_add(1, Ordering::Relaxed))
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        println!("{}", self.line(event));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Captures lines instead of printing them.
    struct Captured(NodeLog, Arc<Mutex<Vec<String>>>);

    impl Subscriber for Captured {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            self.0.enabled(metadata)
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            self.0.new_span(span)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            self.1.lock().unwrap().push(self.0.line(event));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    // Proves the core's events become raft-kv's lines, info and above only.
    #[test]
    fn core_events_become_node_lines() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let captured = Captured(NodeLog::new(7), Arc::clone(&lines));
        tracing::subscriber::with_default(captured, || {
            let mut node = raft_io::RaftNode::new(raft_io::RaftConfig::new(7, [7]));
            for _ in 0..40 {
                let _ = node.step(raft_io::Event::Tick).unwrap();
            }
            assert!(node.is_leader());
        });
        let lines = lines.lock().unwrap();
        assert!(
            lines.contains(&"[node 7] became leader term=1".to_owned()),
            "{lines:?}"
        );
        assert!(lines.iter().all(|line| !line.contains("message=")));
    }
}
