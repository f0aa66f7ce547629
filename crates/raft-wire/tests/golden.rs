//! Golden vectors: the frozen encoding of one sample per message kind. A test fails if
//! encoding any of them changes by one byte, or if decoding a vector gives anything but
//! its sample. Regenerate only for a new kind: `RAFT_WIRE_BLESS=1 cargo test -p
//! raft-wire --test golden` writes missing files and never overwrites existing ones.

#[path = "support/messages.rs"]
mod messages;

use std::path::PathBuf;

use messages::{from_hex, samples, to_hex};
use raft_wire::{MESSAGE_KINDS, decode, encode, message_kind};

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.hex"))
}

// Every kind has a sample, and the samples cover kinds 0..MESSAGE_KINDS once each.
#[test]
fn every_kind_has_a_golden_sample() {
    let mut kinds: Vec<u64> = samples()
        .iter()
        .map(|(_, m)| message_kind(m).unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, (0..MESSAGE_KINDS).collect::<Vec<_>>());
}

// Encoding each sample gives its checked-in bytes, and those bytes decode to it.
#[test]
fn golden_vectors_are_frozen() {
    let bless = std::env::var_os("RAFT_WIRE_BLESS").is_some();
    for (name, message) in samples() {
        let frame = encode(&message).unwrap();
        let path = golden_path(name);
        if bless && !path.exists() {
            let text = format!(
                "# {name}: frame header (12 bytes) then payload\n{}\n",
                to_hex(&frame)
            );
            std::fs::write(&path, text).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!("{}: {error} (RAFT_WIRE_BLESS=1 creates it)", path.display())
        });
        let golden = from_hex(&text);
        assert_eq!(
            to_hex(&frame),
            to_hex(&golden),
            "encoding of {name} changed"
        );
        assert_eq!(
            decode(&golden).unwrap(),
            message,
            "decoding of {name} changed"
        );
    }
}

// The worked example of docs/PROTOCOL.md, byte for byte.
#[test]
fn protocol_doc_worked_example() {
    let (_, message) = samples()
        .into_iter()
        .find(|(name, _)| *name == "timeout_now")
        .unwrap();
    let frame = encode(&message).unwrap();
    assert_eq!(to_hex(&frame), "525701000300000029915865060702");
}
