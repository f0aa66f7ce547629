//! The replicated key-value store the simulated clients drive: put, get, delete and
//! compare-and-set on a few keys, with per-client sequence numbers so a retried
//! command applies at most once.

use std::collections::BTreeMap;

/// Keys are small integers so that clients contend.
pub type Key = u8;
/// Values are integers; each put writes a value no other put writes.
pub type Value = u64;

/// A client operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`.
    Put(Key, Value),
    /// Read `key`.
    Get(Key),
    /// Remove `key`.
    Delete(Key),
    /// Set `key` to `new` if it currently holds `expected`.
    Cas(Key, Option<Value>, Value),
}

impl Op {
    /// The key the operation touches.
    pub fn key(&self) -> Key {
        match *self {
            Op::Put(key, _) | Op::Get(key) | Op::Delete(key) | Op::Cas(key, _, _) => key,
        }
    }
}

/// What an operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Put and delete.
    Done,
    /// Get: the value read.
    Read(Option<Value>),
    /// Cas: whether it swapped.
    Swapped(bool),
}

/// A command in the log: who sent it, its sequence number, the operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    /// The client.
    pub client: u64,
    /// The client's sequence number, starting at 1, one per operation (retries reuse it).
    pub seq: u64,
    /// The operation.
    pub op: Op,
}

impl Command {
    /// Encodes the command: client, seq (u64 LE), tag, key, then values.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(&self.client.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        match self.op {
            Op::Put(key, value) => {
                out.extend_from_slice(&[0, key]);
                out.extend_from_slice(&value.to_le_bytes());
            }
            Op::Get(key) => out.extend_from_slice(&[1, key]),
            Op::Delete(key) => out.extend_from_slice(&[2, key]),
            Op::Cas(key, expected, new) => {
                out.extend_from_slice(&[3, key, u8::from(expected.is_some())]);
                out.extend_from_slice(&expected.unwrap_or(0).to_le_bytes());
                out.extend_from_slice(&new.to_le_bytes());
            }
        }
        out
    }

    /// Decodes what [`Command::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let word = |at: usize| {
            bytes
                .get(at..at + 8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        let client = word(0)?;
        let seq = word(8)?;
        let key = *bytes.get(17)?;
        let op = match *bytes.get(16)? {
            0 => Op::Put(key, word(18)?),
            1 => Op::Get(key),
            2 => Op::Delete(key),
            3 => {
                let expected = match *bytes.get(18)? {
                    0 => None,
                    _ => Some(word(19)?),
                };
                Op::Cas(key, expected, word(27)?)
            }
            _ => return None,
        };
        Some(Self { client, seq, op })
    }
}

/// The state machine: the map plus, per client, the last sequence number applied and
/// its outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    data: BTreeMap<Key, Value>,
    sessions: BTreeMap<u64, (u64, Outcome)>,
}

impl Kv {
    /// Applies a command once; a command already applied returns its first outcome.
    pub fn apply(&mut self, command: &Command) -> Outcome {
        if let Some(&(seq, outcome)) = self.sessions.get(&command.client) {
            if command.seq == seq {
                return outcome;
            }
            if command.seq < seq {
                // An older retry: its reply went out long ago and nobody waits for it.
                return Outcome::Done;
            }
        }
        let outcome = match command.op {
            Op::Put(key, value) => {
                let _ = self.data.insert(key, value);
                Outcome::Done
            }
            Op::Get(key) => Outcome::Read(self.data.get(&key).copied()),
            Op::Delete(key) => {
                let _ = self.data.remove(&key);
                Outcome::Done
            }
            Op::Cas(key, expected, new) => {
                let swapped = self.data.get(&key).copied() == expected;
                if swapped {
                    let _ = self.data.insert(key, new);
                }
                Outcome::Swapped(swapped)
            }
        };
        let _ = self.sessions.insert(command.client, (command.seq, outcome));
        outcome
    }

    /// The key-value pairs.
    pub fn data(&self) -> &BTreeMap<Key, Value> {
        &self.data
    }

    /// The whole state, sessions included, as a snapshot's data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.data.len() as u32).to_le_bytes());
        for (&key, &value) in &self.data {
            out.push(key);
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&(self.sessions.len() as u32).to_le_bytes());
        for (&client, &(seq, outcome)) in &self.sessions {
            out.extend_from_slice(&client.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
            let (tag, present, value) = match outcome {
                Outcome::Done => (0u8, 0u8, 0u64),
                Outcome::Read(value) => (1, u8::from(value.is_some()), value.unwrap_or(0)),
                Outcome::Swapped(swapped) => (2, u8::from(swapped), 0),
            };
            out.extend_from_slice(&[tag, present]);
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// Decodes [`Kv::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut at = 0usize;
        let mut take = |length: usize| {
            let slice = bytes.get(at..at + length)?;
            at += length;
            Some(slice)
        };
        let mut kv = Kv::default();
        let count = u32::from_le_bytes(take(4)?.try_into().ok()?);
        for _ in 0..count {
            let key = take(1)?[0];
            let value = u64::from_le_bytes(take(8)?.try_into().ok()?);
            let _ = kv.data.insert(key, value);
        }
        let sessions = u32::from_le_bytes(take(4)?.try_into().ok()?);
        for _ in 0..sessions {
            let client = u64::from_le_bytes(take(8)?.try_into().ok()?);
            let seq = u64::from_le_bytes(take(8)?.try_into().ok()?);
            let flags = take(2)?;
            let value = u64::from_le_bytes(take(8)?.try_into().ok()?);
            let outcome = match (flags[0], flags[1]) {
                (0, _) => Outcome::Done,
                (1, 0) => Outcome::Read(None),
                (1, _) => Outcome::Read(Some(value)),
                (2, swapped) => Outcome::Swapped(swapped != 0),
                _ => return None,
            };
            let _ = kv.sessions.insert(client, (seq, outcome));
        }
        (at == bytes.len()).then_some(kv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Commands round-trip through their encoding.
    #[test]
    fn commands_round_trip() {
        for op in [
            Op::Put(3, 9),
            Op::Get(1),
            Op::Delete(2),
            Op::Cas(0, Some(4), 5),
            Op::Cas(0, None, 6),
        ] {
            let command = Command {
                client: 7,
                seq: 11,
                op,
            };
            assert_eq!(Command::decode(&command.encode()), Some(command));
        }
    }

    // The state, sessions included, round-trips through a snapshot's encoding.
    #[test]
    fn state_round_trips() {
        let mut kv = Kv::default();
        let _ = kv.apply(&Command {
            client: 1,
            seq: 1,
            op: Op::Put(2, 9),
        });
        let _ = kv.apply(&Command {
            client: 2,
            seq: 4,
            op: Op::Cas(2, Some(9), 10),
        });
        let _ = kv.apply(&Command {
            client: 3,
            seq: 1,
            op: Op::Get(7),
        });
        assert_eq!(Kv::decode(&kv.encode()), Some(kv));
    }

    // A retried command applies once and returns its first outcome.
    #[test]
    fn retries_apply_at_most_once() {
        let mut kv = Kv::default();
        let cas = Command {
            client: 1,
            seq: 1,
            op: Op::Cas(0, None, 5),
        };
        assert_eq!(kv.apply(&cas), Outcome::Swapped(true));
        assert_eq!(kv.apply(&cas), Outcome::Swapped(true), "cached, not re-run");
        assert_eq!(kv.data().get(&0), Some(&5));
    }
}
