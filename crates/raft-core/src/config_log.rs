//! The configurations a node knows, by log index: the one below the log (initial, or
//! the snapshot's) and each configuration entry in the log. The configuration in force
//! is the last of them (a change takes effect when appended, Raft thesis §4.1).

use alloc::vec::Vec;

use crate::membership::Membership;
use crate::types::Index;

/// Configurations by index.
#[derive(Clone, Debug)]
pub(crate) struct ConfigLog {
    /// In force below the first entry: the initial configuration or the snapshot's.
    base: Membership,
    /// The index `base` is known by: 0 for the initial configuration, its entry's
    /// index once compacted here, the snapshot's index when installed from a leader.
    base_index: Index,
    // Invariant: indexes strictly ascending.
    entries: Vec<(Index, Membership)>,
}

impl ConfigLog {
    /// Only `base` (known by `base_index`), no configuration entry.
    pub(crate) fn new(base: Membership, base_index: Index) -> Self {
        Self {
            base,
            base_index,
            entries: Vec::new(),
        }
    }

    /// The index of the configuration in force: the last entry's, else the base's.
    pub(crate) fn index_in_force(&self) -> Index {
        self.last_index().unwrap_or(self.base_index)
    }

    /// The configuration in force: the last entry's, else the base.
    pub(crate) fn current(&self) -> &Membership {
        self.entries
            .last()
            .map_or(&self.base, |(_, membership)| membership)
    }

    /// The configuration in force at `index` (the last entry at or below it, else the
    /// base). O(log n).
    pub(crate) fn at(&self, index: Index) -> &Membership {
        let after = self.entries.partition_point(|&(entry, _)| entry <= index);
        match after.checked_sub(1) {
            Some(position) => &self.entries[position].1,
            None => &self.base,
        }
    }

    /// The index of the last configuration entry, if the log holds one.
    pub(crate) fn last_index(&self) -> Option<Index> {
        self.entries.last().map(|&(index, _)| index)
    }

    /// A configuration entry appended at `index`.
    ///
    /// # Panics
    /// If `index` is not past the last entry (the log only grows at its end).
    pub(crate) fn push(&mut self, index: Index, membership: Membership) {
        assert!(
            self.last_index().is_none_or(|last| last < index),
            "configuration entries out of order"
        );
        self.entries.push((index, membership));
    }

    /// The log was truncated from `index` on: entries there are gone. Returns whether
    /// any configuration entry went with them.
    pub(crate) fn truncate_from(&mut self, index: Index) -> bool {
        let keep = self.entries.partition_point(|&(entry, _)| entry < index);
        let removed = keep < self.entries.len();
        self.entries.truncate(keep);
        removed
    }

    /// A snapshot now covers everything up to `index`: the configuration in force
    /// there becomes the base; entries at or below it are dropped. Returns the base.
    pub(crate) fn compact_to(&mut self, index: Index) -> Membership {
        let base = self.at(index).clone();
        let keep_from = self.entries.partition_point(|&(entry, _)| entry <= index);
        if let Some(&(entry, _)) = keep_from.checked_sub(1).map(|last| &self.entries[last]) {
            self.base_index = entry;
        }
        let _ = self.entries.drain(..keep_from);
        self.base = base.clone();
        base
    }

    /// A snapshot through `index` with `membership` was installed and the log now ends
    /// at `last_index`: entries outside `(index, last_index]` are gone.
    pub(crate) fn install(&mut self, index: Index, membership: Membership, last_index: Index) {
        // Known by its entry's index when this node holds that entry (or already has
        // it as the base), else by the snapshot's.
        let known = self.entry_at_or_below(index);
        self.base_index = match known {
            Some((entry, in_force)) if *in_force == membership => entry,
            _ => index,
        };
        self.entries
            .retain(|&(entry, _)| entry > index && entry <= last_index);
        self.base = membership;
    }

    /// The configuration in force at `index` with the index it is known by.
    fn entry_at_or_below(&self, index: Index) -> Option<(Index, &Membership)> {
        let after = self.entries.partition_point(|&(entry, _)| entry <= index);
        match after.checked_sub(1) {
            Some(position) => Some((self.entries[position].0, &self.entries[position].1)),
            None => Some((self.base_index, &self.base)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voters(ids: &[u64]) -> Membership {
        Membership::new(ids.iter().copied(), [])
    }

    // Proves the configuration in force at any index is the last entry at or below it.
    #[test]
    fn configuration_at_an_index() {
        let mut log = ConfigLog::new(voters(&[1]), 0);
        log.push(5, voters(&[1, 2]));
        log.push(9, voters(&[1, 2, 3]));
        assert_eq!(log.at(0), &voters(&[1]));
        assert_eq!(log.at(4), &voters(&[1]));
        assert_eq!(log.at(5), &voters(&[1, 2]));
        assert_eq!(log.at(8), &voters(&[1, 2]));
        assert_eq!(log.at(100), &voters(&[1, 2, 3]));
        assert_eq!(log.current(), &voters(&[1, 2, 3]));
        assert_eq!(log.last_index(), Some(9));
    }

    // Proves truncation undoes configuration entries and reports it.
    #[test]
    fn truncation_reverts() {
        let mut log = ConfigLog::new(voters(&[1]), 0);
        log.push(5, voters(&[1, 2]));
        assert!(!log.truncate_from(6));
        assert!(log.truncate_from(5));
        assert_eq!(log.current(), &voters(&[1]));
        assert_eq!(log.last_index(), None);
    }

    // Proves compaction moves the configuration in force at the snapshot into the base.
    #[test]
    fn compaction_and_install() {
        let mut log = ConfigLog::new(voters(&[1]), 0);
        log.push(5, voters(&[1, 2]));
        log.push(9, voters(&[1, 2, 3]));
        assert_eq!(log.compact_to(7), voters(&[1, 2]));
        assert_eq!(log.at(7), &voters(&[1, 2]));
        assert_eq!(log.last_index(), Some(9));
        assert_eq!(log.compact_to(9), voters(&[1, 2, 3]));
        assert_eq!((log.last_index(), log.index_in_force()), (None, 9));
        log.install(20, voters(&[4, 5, 6]), 20);
        assert_eq!(log.current(), &voters(&[4, 5, 6]));
        assert_eq!((log.last_index(), log.index_in_force()), (None, 20));
        log.push(25, voters(&[4, 5]));
        log.install(30, voters(&[4, 5]), 30);
        assert_eq!(
            log.index_in_force(),
            25,
            "the entry this node holds names it"
        );
    }

    // Proves entries are kept in order.
    #[test]
    #[should_panic(expected = "out of order")]
    fn pushing_out_of_order_panics() {
        let mut log = ConfigLog::new(voters(&[1]), 0);
        log.push(5, voters(&[1, 2]));
        log.push(5, voters(&[1]));
    }
}
