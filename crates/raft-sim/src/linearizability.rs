//! A linearizability checker for the key-value history, after Wing & Gong with Lowe's
//! memoisation: each key is a register, checked on its own (linearizability is local,
//! and every operation touches one key).

use std::collections::{BTreeMap, HashSet};

use crate::kv::{Key, Op, Outcome, Value};

/// One client operation as the client saw it. Times are unique, totally ordered
/// instants (the simulator's event counter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The client.
    pub client: u64,
    /// When the client first sent it.
    pub invoked: u64,
    /// When the client got the answer; `None` if it never did (it may or may not have
    /// taken effect).
    pub returned: Option<(u64, Outcome)>,
    /// The operation.
    pub op: Op,
}

/// Applies `op` to a register holding `state`; `None` if the recorded outcome is
/// impossible from that state.
fn step(state: Option<Value>, op: Op, outcome: Option<Outcome>) -> Option<Option<Value>> {
    let (next, produced) = match op {
        Op::Put(_, value) => (Some(value), Outcome::Done),
        Op::Get(_) => (state, Outcome::Read(state)),
        Op::Delete(_) => (None, Outcome::Done),
        Op::Cas(_, expected, new) if state == expected => (Some(new), Outcome::Swapped(true)),
        Op::Cas(..) => (state, Outcome::Swapped(false)),
    };
    match outcome {
        Some(outcome) if outcome != produced => None,
        _ => Some(next),
    }
}

struct Search<'a> {
    ops: &'a [Recorded],
    done: Vec<bool>,
    seen: HashSet<(Vec<u64>, Option<Value>)>,
    budget: u64,
}

impl Search<'_> {
    fn key(&self, state: Option<Value>) -> (Vec<u64>, Option<Value>) {
        let mut bits = vec![0u64; self.done.len().div_ceil(64)];
        for (position, &done) in self.done.iter().enumerate() {
            if done {
                bits[position / 64] |= 1 << (position % 64);
            }
        }
        (bits, state)
    }

    /// Whether the remaining operations can be linearized from `state`.
    fn solve(&mut self, state: Option<Value>) -> Result<bool, String> {
        // Every completed operation placed: pending ones may simply never take effect.
        if self
            .ops
            .iter()
            .zip(&self.done)
            .all(|(op, &done)| done || op.returned.is_none())
        {
            return Ok(true);
        }
        if self.budget == 0 {
            return Err("search budget exhausted".into());
        }
        self.budget -= 1;
        if !self.seen.insert(self.key(state)) {
            return Ok(false);
        }
        // Only operations invoked before the earliest pending return can go next.
        let horizon = self
            .ops
            .iter()
            .zip(&self.done)
            .filter(|(_, done)| !**done)
            .filter_map(|(op, _)| op.returned.map(|(at, _)| at))
            .min()
            .unwrap_or(u64::MAX);
        for position in 0..self.ops.len() {
            if self.done[position] || self.ops[position].invoked > horizon {
                continue;
            }
            let op = &self.ops[position];
            if let Some(next) = step(state, op.op, op.returned.map(|(_, outcome)| outcome)) {
                self.done[position] = true;
                let found = self.solve(next)?;
                self.done[position] = false;
                if found {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// Checks a whole history, key by key.
///
/// # Errors
/// The first key whose operations admit no linearization (or whose search exceeds its
/// budget), with its operations listed.
pub fn check(history: &[Recorded]) -> Result<(), String> {
    let mut by_key: BTreeMap<Key, Vec<Recorded>> = BTreeMap::new();
    for op in history {
        by_key.entry(op.op.key()).or_default().push(op.clone());
    }
    for (key, ops) in by_key {
        let mut search = Search {
            ops: &ops,
            done: vec![false; ops.len()],
            seen: HashSet::new(),
            budget: 2_000_000,
        };
        match search.solve(None) {
            Ok(true) => {}
            Ok(false) => return Err(format!("key {key} is not linearizable: {ops:?}")),
            Err(reason) => return Err(format!("key {key}: {reason}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: u64, invoked: u64, returned: Option<(u64, Outcome)>, op: Op) -> Recorded {
        Recorded {
            client,
            invoked,
            returned,
            op,
        }
    }

    // Concurrent writes may be read in either order; a sequential read must see the last.
    #[test]
    fn accepts_valid_and_rejects_stale_reads() {
        let valid = [
            op(1, 1, Some((5, Outcome::Done)), Op::Put(0, 1)),
            op(2, 2, Some((6, Outcome::Done)), Op::Put(0, 2)),
            op(3, 7, Some((8, Outcome::Read(Some(1)))), Op::Get(0)),
        ];
        assert!(check(&valid).is_ok(), "put 2 may linearize before put 1");
        let stale = [
            op(1, 1, Some((2, Outcome::Done)), Op::Put(0, 1)),
            op(2, 3, Some((4, Outcome::Done)), Op::Put(0, 2)),
            op(3, 5, Some((6, Outcome::Read(Some(1)))), Op::Get(0)),
        ];
        assert!(
            check(&stale).is_err(),
            "a read after both puts returned must see 2"
        );
    }

    // An operation that never returned may or may not have taken effect.
    #[test]
    fn pending_operations_are_optional() {
        let took_effect = [
            op(1, 1, None, Op::Put(0, 7)),
            op(2, 3, Some((4, Outcome::Read(Some(7)))), Op::Get(0)),
        ];
        assert!(check(&took_effect).is_ok());
        let did_not = [
            op(1, 1, None, Op::Put(0, 7)),
            op(2, 3, Some((4, Outcome::Read(None))), Op::Get(0)),
        ];
        assert!(check(&did_not).is_ok());
        let impossible = [op(2, 3, Some((4, Outcome::Read(Some(9)))), Op::Get(0))];
        assert!(check(&impossible).is_err());
    }

    // Compare-and-set outcomes must agree with the order chosen.
    #[test]
    fn cas_outcomes_constrain_the_order() {
        let both_swapped = [
            op(1, 1, Some((4, Outcome::Swapped(true))), Op::Cas(0, None, 1)),
            op(2, 2, Some((5, Outcome::Swapped(true))), Op::Cas(0, None, 2)),
        ];
        assert!(
            check(&both_swapped).is_err(),
            "only one cas from empty can win"
        );
    }
}
