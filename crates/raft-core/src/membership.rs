//! Cluster membership: voters and learners, and the single-server changes between them.

use alloc::vec::Vec;

use crate::types::NodeId;

/// The members of a configuration: voters (who elect and form quorums) and learners
/// (who receive the log but neither vote nor count toward quorums). Both lists are
/// sorted and disjoint.
///
/// ```
/// use raft_core::Membership;
/// let membership = Membership::new([3, 1, 2], [4]);
/// assert_eq!(membership.voters(), &[1, 2, 3]);
/// assert!(membership.is_learner(4) && !membership.is_voter(4));
/// assert_eq!(Membership::decode(&membership.encode()), Some(membership));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Membership {
    voters: Vec<NodeId>,
    learners: Vec<NodeId>,
}

/// One single-server membership change (Raft thesis §4.1), proposed with
/// [`Event::ChangeMembership`](crate::Event::ChangeMembership).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MembershipChange {
    /// Add a non-member as a learner: it receives the log and catches up.
    AddLearner(NodeId),
    /// Make a caught-up learner a voter.
    PromoteLearner(NodeId),
    /// Add a voter directly (a learner is promoted, with the same catch-up check).
    AddVoter(NodeId),
    /// Remove a voter or a learner.
    RemoveMember(NodeId),
}

impl MembershipChange {
    /// The node the change is about.
    pub fn node(&self) -> NodeId {
        match *self {
            MembershipChange::AddLearner(node)
            | MembershipChange::PromoteLearner(node)
            | MembershipChange::AddVoter(node)
            | MembershipChange::RemoveMember(node) => node,
        }
    }
}

impl Membership {
    /// A membership with these voters and learners (sorted, deduplicated; a node in
    /// both lists is a voter).
    pub fn new(
        voters: impl IntoIterator<Item = NodeId>,
        learners: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        let mut learners: Vec<NodeId> = learners
            .into_iter()
            .filter(|node| voters.binary_search(node).is_err())
            .collect();
        learners.sort_unstable();
        learners.dedup();
        Self { voters, learners }
    }

    /// The voters, sorted.
    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    /// The learners, sorted.
    pub fn learners(&self) -> &[NodeId] {
        &self.learners
    }

    /// Whether `node` votes.
    pub fn is_voter(&self, node: NodeId) -> bool {
        self.voters.binary_search(&node).is_ok()
    }

    /// Whether `node` is a learner.
    pub fn is_learner(&self, node: NodeId) -> bool {
        self.learners.binary_search(&node).is_ok()
    }

    /// Whether `node` is a voter or a learner.
    pub fn is_member(&self, node: NodeId) -> bool {
        self.is_voter(node) || self.is_learner(node)
    }

    /// Every member, voters then learners.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(&self.learners).copied()
    }

    /// The membership after `change`, or why it cannot apply. The learner catch-up
    /// check is the leader's, not this function's.
    pub fn apply(&self, change: MembershipChange) -> Result<Self, &'static str> {
        let node = change.node();
        match change {
            MembershipChange::AddLearner(_) if self.is_member(node) => {
                Err("the node is already a member")
            }
            MembershipChange::AddLearner(_) => Ok(Self::new(
                self.voters.iter().copied(),
                self.learners.iter().copied().chain([node]),
            )),
            MembershipChange::PromoteLearner(_) if !self.is_learner(node) => {
                Err("the node is not a learner")
            }
            MembershipChange::PromoteLearner(_) | MembershipChange::AddVoter(_)
                if self.is_voter(node) =>
            {
                Err("the node is already a voter")
            }
            MembershipChange::PromoteLearner(_) | MembershipChange::AddVoter(_) => Ok(Self::new(
                self.voters.iter().copied().chain([node]),
                self.learners
                    .iter()
                    .copied()
                    .filter(|&learner| learner != node),
            )),
            MembershipChange::RemoveMember(_) if !self.is_member(node) => {
                Err("the node is not a member")
            }
            MembershipChange::RemoveMember(_) if self.voters == [node] => {
                Err("the last voter cannot be removed")
            }
            MembershipChange::RemoveMember(_) => Ok(Self::new(
                self.voters.iter().copied().filter(|&voter| voter != node),
                self.learners
                    .iter()
                    .copied()
                    .filter(|&learner| learner != node),
            )),
        }
    }

    /// The encoding carried by a configuration entry: a version byte (1), then the
    /// voter count and ids, then the learner count and ids (u32 / u64 little-endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + 8 * (self.voters.len() + self.learners.len()));
        out.push(1);
        for list in [&self.voters, &self.learners] {
            out.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for node in list {
                out.extend_from_slice(&node.to_le_bytes());
            }
        }
        out
    }

    /// Decodes [`Membership::encode`]'s output; `None` if malformed (wrong version,
    /// short, trailing bytes, unsorted or overlapping lists).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&version, mut rest) = bytes.split_first()?;
        if version != 1 {
            return None;
        }
        let mut lists: [Vec<NodeId>; 2] = [Vec::new(), Vec::new()];
        for list in &mut lists {
            let (count, tail) = rest.split_first_chunk::<4>()?;
            rest = tail;
            let count = u32::from_le_bytes(*count) as usize;
            if rest.len() < count.checked_mul(8)? {
                return None;
            }
            for _ in 0..count {
                let (id, tail) = rest.split_first_chunk::<8>()?;
                rest = tail;
                list.push(NodeId::from_le_bytes(*id));
            }
        }
        let [voters, learners] = lists;
        let membership = Self::new(voters.iter().copied(), learners.iter().copied());
        (rest.is_empty() && membership.voters == voters && membership.learners == learners)
            .then_some(membership)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves each change's rules, including the ones that must be refused.
    #[test]
    fn changes_follow_their_rules() {
        let base = Membership::new([1, 2, 3], []);
        let with_learner = base.apply(MembershipChange::AddLearner(4)).unwrap();
        assert_eq!(with_learner.learners(), &[4]);
        assert!(with_learner.apply(MembershipChange::AddLearner(4)).is_err());
        let promoted = with_learner
            .apply(MembershipChange::PromoteLearner(4))
            .unwrap();
        assert_eq!(
            (promoted.voters(), promoted.learners()),
            (&[1, 2, 3, 4][..], &[][..])
        );
        assert!(base.apply(MembershipChange::PromoteLearner(9)).is_err());
        assert!(base.apply(MembershipChange::AddVoter(2)).is_err());
        assert_eq!(
            base.apply(MembershipChange::RemoveMember(2))
                .unwrap()
                .voters(),
            &[1, 3]
        );
        assert!(base.apply(MembershipChange::RemoveMember(9)).is_err());
        assert!(
            Membership::new([1], [])
                .apply(MembershipChange::RemoveMember(1))
                .is_err()
        );
    }

    // Proves malformed encodings are refused.
    #[test]
    fn decode_is_strict() {
        let good = Membership::new([1, 2], [5]).encode();
        assert!(Membership::decode(&good).is_some());
        assert!(Membership::decode(&good[..good.len() - 1]).is_none());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(Membership::decode(&trailing).is_none());
        let mut version = good;
        version[0] = 2;
        assert!(Membership::decode(&version).is_none());
        let unsorted = Membership {
            voters: alloc::vec![2, 1],
            learners: alloc::vec![],
        }
        .encode();
        assert!(Membership::decode(&unsorted).is_none());
    }
}
