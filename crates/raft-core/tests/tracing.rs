//! Feature `tracing`: a span per step with the node, term and role; info events for
//! role and term changes and membership changes; debug events for messages.
#![cfg(feature = "tracing")]

#[path = "support/cluster.rs"]
mod cluster;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use cluster::Cluster;
use raft_core::{Event, MembershipChange};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};

/// Records every event as `LEVEL field=value ...` and every span as `span NAME fields`.
#[derive(Clone, Default)]
struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        let line = format!("span {} {}", span.metadata().name(), fields.0);
        self.lines.lock().unwrap().push(line);
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let line = format!("{} {}", event.metadata().level(), fields.0);
        self.lines.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

// Proves an election and a membership change are reported: the step spans carry the
// node, term and role; info events say who campaigned, who leads, the new term and the
// new configuration; messages are debug events.
#[test]
fn elections_and_membership_changes_are_reported() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        let mut cluster = Cluster::new(3, 4);
        cluster.elect(1);
        let _ = cluster
            .step(
                1,
                Event::ChangeMembership(MembershipChange::RemoveMember(3)),
            )
            .unwrap();
        cluster.deliver_all();
    });
    let lines = capture.lines.lock().unwrap();
    let has = |needle: &str| lines.iter().any(|line| line.contains(needle));
    assert!(has("span step node=1 term=0 role=Follower"), "{lines:#?}");
    assert!(has("INFO message=campaigning term=1 forced=false"));
    assert!(has("INFO message=became leader term=1"));
    assert!(has("INFO message=new term from=0 to=1"));
    assert!(has(
        "INFO message=configuration changed voters=[1, 2] outgoing=[] learners=[]"
    ));
    assert!(has(
        "DEBUG message=message from=1 term=1 kind=\"AppendEntries\""
    ));
}
