//! Majority quorums: the one place quorum arithmetic lives. Commitment, elections, read
//! confirmations and check-quorum all ask a [`Quorum`] of the configuration in force: a
//! [`Majority`] of its voters, and during a joint change (Raft thesis §4.3) also a
//! majority of the outgoing voters: both must agree.

use alloc::vec::Vec;

use crate::types::{Index, NodeId};

/// Configurations up to this many voters compute a committed index on the stack.
const STACK_VOTERS: usize = 7;

/// The outcome of an election (or pre-vote) so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VoteResult {
    /// A majority granted.
    Won,
    /// A majority refused: the election cannot be won.
    Lost,
    /// Neither yet.
    Pending,
}

/// A majority of a set of voters (sorted or not; each counted once).
///
/// An empty set is a quorum of nobody, as in etcd: everything is committed, every
/// election won, every check passed. A configuration in force always has voters; the
/// convention matters for the empty half of a joint configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Majority<'a> {
    voters: &'a [NodeId],
}

impl<'a> Majority<'a> {
    pub(crate) fn new(voters: &'a [NodeId]) -> Self {
        Self { voters }
    }

    /// How many voters make a majority.
    pub(crate) fn size(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Whether `id` alone is a majority (a cluster of one, and that one is `id`).
    pub(crate) fn is_only(&self, id: NodeId) -> bool {
        self.voters == [id]
    }

    /// The highest value a majority has reached, given each voter's value (a match
    /// index, an acknowledged read round): the majority-th largest. `scratch` is reused
    /// to avoid an allocation per call. O(v log v) in the voters, independent of the
    /// log.
    pub(crate) fn committed_index(
        &self,
        value_of: impl Fn(NodeId) -> Index,
        scratch: &mut Vec<Index>,
    ) -> Index {
        match *self.voters {
            [] => return Index::MAX,
            [only] => return value_of(only),
            [a, b, c] => {
                // Three voters (the usual cluster): the median, without a sort.
                let (a, b, c) = (value_of(a), value_of(b), value_of(c));
                return a.min(b).max(a.max(b).min(c));
            }
            _ => {}
        }
        if self.voters.len() <= STACK_VOTERS {
            // The common case: no scratch vector, a sort of a few values on the stack.
            let mut values = [0; STACK_VOTERS];
            for (value, &voter) in values.iter_mut().zip(self.voters) {
                *value = value_of(voter);
            }
            let values = &mut values[..self.voters.len()];
            values.sort_unstable();
            return values[self.voters.len() - self.size()];
        }
        scratch.clear();
        scratch.extend(self.voters.iter().map(|&voter| value_of(voter)));
        scratch.sort_unstable_by(|a, b| b.cmp(a));
        scratch[self.size() - 1]
    }

    /// The election's result given each voter's answer (`None`: not yet).
    pub(crate) fn vote_result(&self, vote_of: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        let (mut granted, mut refused) = (0, 0);
        for &voter in self.voters {
            match vote_of(voter) {
                Some(true) => granted += 1,
                Some(false) => refused += 1,
                None => {}
            }
        }
        if self.voters.is_empty() || granted >= self.size() {
            VoteResult::Won
        } else if refused >= self.size() {
            VoteResult::Lost
        } else {
            VoteResult::Pending
        }
    }

    /// Whether a majority is active (heard from since the last check).
    pub(crate) fn is_active(&self, active: impl Fn(NodeId) -> bool) -> bool {
        self.voters.is_empty()
            || self.voters.iter().filter(|&&voter| active(voter)).count() >= self.size()
    }
}

/// The quorum of a configuration: a majority of its voters and, when joint, a majority
/// of its outgoing voters as well (an empty outgoing set agrees to everything, so a
/// plain configuration is just its majority).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quorum<'a> {
    incoming: Majority<'a>,
    outgoing: Majority<'a>,
}

impl<'a> Quorum<'a> {
    pub(crate) fn new(membership: &'a crate::membership::Membership) -> Self {
        Self {
            incoming: Majority::new(membership.voters()),
            outgoing: Majority::new(membership.outgoing_voters()),
        }
    }

    /// Whether `id` alone is the quorum (a plain configuration whose one voter is
    /// `id`: a leader outside a one-voter configuration is not its own quorum).
    pub(crate) fn is_only(&self, id: NodeId) -> bool {
        self.incoming.is_only(id) && self.outgoing.voters.is_empty()
    }

    /// The highest value both majorities have reached.
    pub(crate) fn committed_index(
        &self,
        value_of: impl Fn(NodeId) -> Index,
        scratch: &mut Vec<Index>,
    ) -> Index {
        let incoming = self.incoming.committed_index(&value_of, scratch);
        if self.outgoing.voters.is_empty() {
            return incoming;
        }
        incoming.min(self.outgoing.committed_index(&value_of, scratch))
    }

    /// Won when both majorities granted, lost when either refused.
    pub(crate) fn vote_result(&self, vote_of: impl Fn(NodeId) -> Option<bool>) -> VoteResult {
        match (
            self.incoming.vote_result(&vote_of),
            self.outgoing.vote_result(&vote_of),
        ) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// Whether a majority of both is active.
    pub(crate) fn is_active(&self, active: impl Fn(NodeId) -> bool) -> bool {
        self.incoming.is_active(&active) && self.outgoing.is_active(&active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// The naive model: the largest value that at least a majority has reached.
    fn naive_committed(values: &[Index]) -> Index {
        let majority = values.len() / 2 + 1;
        let mut best = 0;
        for &candidate in values {
            let reached = values.iter().filter(|&&value| value >= candidate).count();
            if reached >= majority {
                best = best.max(candidate);
            }
        }
        best
    }

    // Proves the committed index is the largest value a majority has reached, for
    // every voter count up to 9 (the stack path and the scratch path) and many value
    // mixes (against the naive model).
    #[test]
    fn committed_index_matches_the_naive_model() {
        let mut scratch = Vec::new();
        let mut state = 0x5eed_u64;
        for voters in 1..=9u64 {
            let ids: Vec<NodeId> = (1..=voters).collect();
            for _ in 0..500 {
                let values: Vec<Index> = ids
                    .iter()
                    .map(|_| {
                        state = state
                            .wrapping_mul(6_364_136_223_846_793_005)
                            .wrapping_add(1_442_695_040_888_963_407);
                        (state >> 60) % 6
                    })
                    .collect();
                let majority = Majority::new(&ids);
                let got = majority.committed_index(|id| values[id as usize - 1], &mut scratch);
                assert_eq!(got, naive_committed(&values), "{values:?}");
            }
        }
        assert_eq!(
            Majority::new(&[]).committed_index(|_| 0, &mut scratch),
            Index::MAX
        );
    }

    // Proves votes are won by a majority of grants, lost by a majority of refusals,
    // and pending otherwise.
    #[test]
    fn vote_results() {
        let ids = vec![1, 2, 3, 4, 5];
        let majority = Majority::new(&ids);
        let votes = |granted: &[NodeId], refused: &[NodeId]| {
            let (granted, refused) = (granted.to_vec(), refused.to_vec());
            move |id: NodeId| {
                if granted.contains(&id) {
                    Some(true)
                } else if refused.contains(&id) {
                    Some(false)
                } else {
                    None
                }
            }
        };
        assert_eq!(
            majority.vote_result(votes(&[1, 2, 3], &[])),
            VoteResult::Won
        );
        assert_eq!(
            majority.vote_result(votes(&[1, 2], &[3, 4, 5])),
            VoteResult::Lost
        );
        assert_eq!(
            majority.vote_result(votes(&[1, 2], &[3, 4])),
            VoteResult::Pending
        );
        assert_eq!(
            Majority::new(&[7]).vote_result(|_| Some(true)),
            VoteResult::Won
        );
        assert_eq!(Majority::new(&[]).vote_result(|_| None), VoteResult::Won);
    }

    // Proves check-quorum's test: a majority active, this node counted by the caller.
    #[test]
    fn activity() {
        let ids = vec![1, 2, 3, 4];
        let majority = Majority::new(&ids);
        assert_eq!(majority.size(), 3);
        assert!(majority.is_active(|id| id != 4));
        assert!(!majority.is_active(|id| id <= 2));
        assert!(Majority::new(&[]).is_active(|_| false));
        assert!(Majority::new(&[9]).is_only(9) && !Majority::new(&[9]).is_only(1));
    }

    // Proves a joint quorum needs both majorities for commitment, votes and activity,
    // and that a plain configuration's quorum is its majority.
    #[test]
    fn joint_quorum_needs_both_majorities() {
        use crate::membership::Membership;
        let old = Membership::new([1, 2, 3], []);
        let joint = old
            .enter_joint(&Membership::new([1, 4, 5], []), true)
            .unwrap();
        let quorum = Quorum::new(&joint);
        let mut scratch = Vec::new();
        // 1, 4, 5 at 10 (a new majority), 2 and 3 at 0: the old majority is at 0.
        let matches = |id: NodeId| if [1, 4, 5].contains(&id) { 10 } else { 0 };
        assert_eq!(quorum.committed_index(matches, &mut scratch), 0);
        let matches = |id: NodeId| if [1, 2, 4].contains(&id) { 10 } else { 0 };
        assert_eq!(quorum.committed_index(matches, &mut scratch), 10);
        let votes = |yes: &'static [NodeId], no: &'static [NodeId]| {
            move |id: NodeId| {
                if yes.contains(&id) {
                    Some(true)
                } else if no.contains(&id) {
                    Some(false)
                } else {
                    None
                }
            }
        };
        assert_eq!(
            quorum.vote_result(votes(&[1, 4, 5], &[])),
            VoteResult::Pending
        );
        assert_eq!(
            quorum.vote_result(votes(&[1, 4, 5], &[2, 3])),
            VoteResult::Lost
        );
        assert_eq!(quorum.vote_result(votes(&[1, 2, 4], &[])), VoteResult::Won);
        assert!(!quorum.is_active(|id| [1, 4, 5].contains(&id)));
        assert!(quorum.is_active(|id| [1, 3, 5].contains(&id)));
        assert!(!quorum.is_only(1));
        let plain = Membership::new([7], []);
        assert!(Quorum::new(&plain).is_only(7));
        assert!(
            !Quorum::new(&plain).is_only(1),
            "a leader outside a one-voter C_new"
        );
        assert_eq!(Quorum::new(&plain).committed_index(|_| 4, &mut scratch), 4);
    }
}
