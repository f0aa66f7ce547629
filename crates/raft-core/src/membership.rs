//! Cluster membership: voters and learners, the single-server changes between them, and
//! the joint configurations (Raft thesis §4.3) that change any set of voters at once,
//! and the incarnation each member runs as (docs/RECOVERY.md, rule 2).

use alloc::vec::Vec;

use crate::types::{Incarnation, NodeId};

mod encoding;
mod ids;

use ids::Ids;

/// The members of a configuration: voters (who elect and form quorums) and learners
/// (who receive the log but neither vote nor count toward quorums). Both lists are
/// sorted and disjoint.
///
/// A **joint** configuration (`C_old,new`, Raft thesis §4.3) also names the voters of
/// the configuration being left ([`Membership::outgoing_voters`]): while it is in
/// force, every decision (commitment, elections, read rounds, check-quorum) needs a
/// majority of [`Membership::voters`] *and* a majority of the outgoing voters. A voter
/// being made a learner is listed in both the outgoing voters and the learners, and
/// votes until the joint configuration is left.
///
/// ```
/// use raft_core::Membership;
/// let membership = Membership::new([3, 1, 2], [4]);
/// assert_eq!(membership.voters(), &[1, 2, 3]);
/// assert!(membership.is_learner(4) && !membership.is_voter(4));
/// assert_eq!(Membership::decode(&membership.encode()), Some(membership.clone()));
///
/// // Replace voters 2 and 3 by 4 and 5 in one change.
/// let joint = membership.enter_joint(&Membership::new([1, 4, 5], []), true).unwrap();
/// assert!(joint.is_joint() && joint.is_voter(2) && joint.is_voter(5));
/// assert_eq!(joint.outgoing_voters(), &[1, 2, 3]);
/// assert_eq!(Membership::decode(&joint.encode()), Some(joint.clone()));
/// assert_eq!(joint.leave_joint(), Membership::new([1, 4, 5], []));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Membership {
    /// The voters (of the incoming configuration, when joint).
    voters: Ids,
    /// The learners (of the incoming configuration, when joint); disjoint from
    /// `voters`, may overlap `outgoing` (a voter being demoted).
    learners: Ids,
    /// The voters of the configuration being left; empty unless joint.
    outgoing: Ids,
    /// Joint only: the leader leaves on its own once this configuration commits.
    auto_leave: bool,
    /// Incarnations, rejoining learners and retired incarnations (rule 2); `None` when
    /// there are none, which is nearly always, so a configuration stays small.
    named: Option<alloc::boxed::Box<Named>>,
}

/// What a configuration says of members that lost their durable state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Named {
    /// The nodes whose incarnation is not 0, sorted by node, with it: members, and
    /// nodes removed since (so a node added back is named as it was last).
    incarnations: Vec<(NodeId, Incarnation)>,
    /// Learners that were voters until the leader replaced their lost incarnation
    /// ([`MembershipChange::Reincarnate`]); sorted. The leader promotes each back once
    /// it has caught up.
    rejoining: Vec<NodeId>,
    /// Incarnations a [`MembershipChange::Reincarnate`] replaced, sorted: each lost its
    /// state for good, so the leader never names one again (a late reply of a lost
    /// incarnation cannot take the node back to it; a wiped node restarted by mistake
    /// as incarnation 0 after it was replaced cannot count as the voter it was).
    retired: Vec<(NodeId, Incarnation)>,
}

impl Named {
    /// Whether it names nothing (the configuration is then written as version 1).
    fn is_empty(&self) -> bool {
        self.incarnations.is_empty() && self.rejoining.is_empty() && self.retired.is_empty()
    }
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
    /// Name a new incarnation for a member that lost its durable state (its vote, or
    /// its whole data directory: docs/RECOVERY.md, rule 2). A voter becomes a learner
    /// (listed in [`Membership::rejoining`], promoted back by the leader once caught
    /// up); a learner stays one. Votes, acknowledgements and read confirmations count
    /// only from the incarnation the configuration names. The leader proposes it on
    /// its own when a member answers with an incarnation other than the named one.
    Reincarnate {
        /// The member.
        node: NodeId,
        /// Its new incarnation.
        incarnation: Incarnation,
    },
}

impl MembershipChange {
    /// The node the change is about.
    pub fn node(&self) -> NodeId {
        match *self {
            MembershipChange::AddLearner(node)
            | MembershipChange::PromoteLearner(node)
            | MembershipChange::AddVoter(node)
            | MembershipChange::RemoveMember(node)
            | MembershipChange::Reincarnate { node, .. } => node,
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
        Self::plain(voters.into(), learners.into())
    }

    /// A configuration that is not joint and names no incarnation, from canonical
    /// lists.
    fn plain(voters: Ids, learners: Ids) -> Self {
        Self {
            voters,
            learners,
            outgoing: Ids::default(),
            auto_leave: false,
            named: None,
        }
    }

    /// The incarnation the configuration names for `node` (0 unless a
    /// [`MembershipChange::Reincarnate`] named another).
    #[inline]
    pub fn incarnation(&self, node: NodeId) -> Incarnation {
        let Some(named) = self.named.as_deref() else {
            return 0;
        };
        let incarnations = &named.incarnations;
        incarnations
            .binary_search_by_key(&node, |&(member, _)| member)
            .map_or(0, |position| incarnations[position].1)
    }

    /// The nodes whose incarnation is not 0, sorted by node, with it (members, and
    /// nodes removed since: added back, a node is named as it was last).
    pub fn incarnations(&self) -> &[(NodeId, Incarnation)] {
        self.named
            .as_deref()
            .map_or(&[], |named| &named.incarnations)
    }

    /// Learners the leader promotes back once they have caught up: voters whose lost
    /// incarnation was replaced ([`MembershipChange::Reincarnate`]). Sorted.
    pub fn rejoining(&self) -> &[NodeId] {
        self.named.as_deref().map_or(&[], |named| &named.rejoining)
    }

    /// Incarnations a [`MembershipChange::Reincarnate`] replaced (each lost its state
    /// for good: never named again), sorted.
    pub fn retired(&self) -> &[(NodeId, Incarnation)] {
        self.named.as_deref().map_or(&[], |named| &named.retired)
    }

    /// Whether `incarnation` of `node` was replaced ([`Membership::retired`]).
    pub fn is_retired(&self, node: NodeId, incarnation: Incarnation) -> bool {
        self.retired().binary_search(&(node, incarnation)).is_ok()
    }

    /// Sets what the configuration names (`None` when it names nothing).
    fn set_named(&mut self, named: Named) {
        self.named = (!named.is_empty()).then(|| alloc::boxed::Box::new(named));
    }

    /// Whether `node` votes in this configuration as `incarnation`: a voter named with
    /// that incarnation.
    pub fn votes_as(&self, node: NodeId, incarnation: Incarnation) -> bool {
        self.is_voter(node) && self.incarnation(node) == incarnation
    }

    /// `self` with the incarnations `from` names (a removed node's too: added back, it
    /// is named as it was last, or a wiped node that was removed and then made a voter
    /// again would be named 0 and never count), and the rejoining learners of `from`
    /// that are still learners here.
    pub(crate) fn carrying(mut self, from: &Membership) -> Self {
        let rejoining = from
            .rejoining()
            .iter()
            .copied()
            .filter(|&node| self.is_learner(node))
            .collect();
        self.set_named(Named {
            incarnations: from.incarnations().to_vec(),
            rejoining,
            retired: from.retired().to_vec(),
        });
        self
    }

    /// The voters, sorted (of the incoming configuration, when joint).
    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    /// The learners, sorted (of the incoming configuration, when joint).
    pub fn learners(&self) -> &[NodeId] {
        &self.learners
    }

    /// Joint only: the voters of the configuration being left, sorted; empty otherwise.
    pub fn outgoing_voters(&self) -> &[NodeId] {
        &self.outgoing
    }

    /// Whether this is a joint configuration (`C_old,new`).
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Joint only: whether the leader leaves the joint configuration on its own once it
    /// commits (otherwise it waits for an explicit
    /// [`ConfigChange::leave_joint`](crate::ConfigChange::leave_joint)).
    pub fn auto_leave(&self) -> bool {
        self.auto_leave
    }

    /// Whether `node` votes: a voter of the configuration, or of either half of a joint
    /// one.
    pub fn is_voter(&self, node: NodeId) -> bool {
        self.voters.binary_search(&node).is_ok() || self.outgoing.binary_search(&node).is_ok()
    }

    /// Whether `node` is a learner (and not, during a joint change, still an outgoing
    /// voter).
    pub fn is_learner(&self, node: NodeId) -> bool {
        self.learners.binary_search(&node).is_ok() && !self.is_voter(node)
    }

    /// Whether `node` is a voter or a learner.
    pub fn is_member(&self, node: NodeId) -> bool {
        self.is_voter(node) || self.learners.binary_search(&node).is_ok()
    }

    /// Every node that votes, once: the voters, then (when joint) the outgoing voters
    /// that are not voters.
    pub fn all_voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        let outgoing_only = self
            .outgoing
            .iter()
            .filter(|node| self.voters.binary_search(node).is_err());
        self.voters.iter().chain(outgoing_only).copied()
    }

    /// Every member once: voters, then outgoing voters that are not voters, then
    /// learners that are not outgoing voters.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        let outgoing_only = self
            .outgoing
            .iter()
            .filter(|node| self.voters.binary_search(node).is_err());
        let learners = self
            .learners
            .iter()
            .filter(|node| self.outgoing.binary_search(node).is_err());
        self.voters
            .iter()
            .chain(outgoing_only)
            .chain(learners)
            .copied()
    }

    /// Like [`Membership::new`] for lists already sorted without repeats and disjoint
    /// (a [`RaftConfig`](crate::RaftConfig)'s): each list is copied once, with no
    /// sorting. Lists that are not canonical go through [`Membership::new`].
    pub(crate) fn from_sorted(voters: &[NodeId], learners: &[NodeId]) -> Self {
        if !canonical_lists(voters, learners) {
            return Self::new(voters.iter().copied(), learners.iter().copied());
        }
        Self::plain(voters.into(), learners.into())
    }

    /// The joint configuration `C_old,new` from this configuration (`C_old`) to `next`
    /// (`C_new`). With `auto_leave` the leader appends `C_new` on its own once the
    /// joint configuration commits.
    ///
    /// # Errors
    /// If either configuration is joint already, or either has no voters.
    pub fn enter_joint(&self, next: &Membership, auto_leave: bool) -> Result<Self, &'static str> {
        if self.is_joint() || next.is_joint() {
            return Err("a joint configuration is already in force");
        }
        if next.voters.is_empty() {
            return Err("the new configuration has no voters");
        }
        if self.voters.is_empty() {
            return Err("the configuration being left has no voters");
        }
        let joint = Self {
            voters: next.voters.clone(),
            learners: next.learners.clone(),
            outgoing: self.voters.clone(),
            auto_leave,
            named: None,
        };
        Ok(joint.carrying(self))
    }

    /// The incoming configuration `C_new` of a joint configuration (itself if not
    /// joint).
    pub fn leave_joint(&self) -> Self {
        Self::new(self.voters.iter().copied(), self.learners.iter().copied()).carrying(self)
    }

    /// The membership after `change`, or why it cannot apply. The learner catch-up
    /// check is the leader's, not this function's. A joint configuration takes no
    /// single-server change.
    pub fn apply(&self, change: MembershipChange) -> Result<Self, &'static str> {
        let node = change.node();
        if let MembershipChange::Reincarnate { incarnation, .. } = change {
            return self.reincarnate(node, incarnation);
        }
        if self.is_joint() {
            return Err("a joint configuration is in force");
        }
        let next = match change {
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
            MembershipChange::RemoveMember(_) if *self.voters == [node] => {
                Err("the last voter cannot be removed")
            }
            MembershipChange::RemoveMember(_) => Ok(Self::new(
                self.voters.iter().copied().filter(|&voter| voter != node),
                self.learners
                    .iter()
                    .copied()
                    .filter(|&learner| learner != node),
            )),
            MembershipChange::Reincarnate { .. } => unreachable!("handled above"),
        };
        next.map(|next| next.carrying(self))
    }

    /// [`MembershipChange::Reincarnate`]: `node` named with `incarnation`, a learner
    /// (rejoining if it was a voter). The one change a joint configuration takes: it
    /// removes one voter from each half, and a majority of a half with one voter fewer
    /// meets every majority of the half before, so the joint quorums still meet.
    fn reincarnate(&self, node: NodeId, incarnation: Incarnation) -> Result<Self, &'static str> {
        if !self.is_member(node) {
            return Err("the node is not a member");
        }
        if self.incarnation(node) == incarnation {
            return Err("the configuration names this incarnation already");
        }
        if self.is_retired(node, incarnation) {
            return Err("this incarnation was replaced: it lost its state");
        }
        if *self.voters == [node] || *self.outgoing == [node] {
            return Err("the last voter cannot be replaced");
        }
        let was_voter = self.is_voter(node);
        let without = |list: &[NodeId]| -> Vec<NodeId> {
            list.iter()
                .copied()
                .filter(|&voter| voter != node)
                .collect()
        };
        let mut learners = self.learners.to_vec();
        if let Err(at) = learners.binary_search(&node) {
            learners.insert(at, node);
        }
        let mut next = Self {
            voters: without(&self.voters).into(),
            learners: learners.into(),
            outgoing: without(&self.outgoing).into(),
            auto_leave: self.auto_leave,
            named: None,
        }
        .carrying(self);
        let mut incarnations = next.incarnations().to_vec();
        let mut rejoining = next.rejoining().to_vec();
        let mut retired = next.retired().to_vec();
        incarnations.retain(|&(member, _)| member != node);
        if incarnation != 0 {
            let at = incarnations.partition_point(|&(member, _)| member < node);
            incarnations.insert(at, (node, incarnation));
        }
        if was_voter && let Err(at) = rejoining.binary_search(&node) {
            rejoining.insert(at, node);
        }
        if let Err(at) = retired.binary_search(&(node, self.incarnation(node))) {
            retired.insert(at, (node, self.incarnation(node)));
        }
        next.set_named(Named {
            incarnations,
            rejoining,
            retired,
        });
        Ok(next)
    }
}

/// Whether `list` is sorted without repeats.
fn sorted_unique(list: &[NodeId]) -> bool {
    list.windows(2).all(|pair| pair[0] < pair[1])
}

/// Whether voters and learners are as a configuration keeps them: each sorted without
/// repeats, and disjoint.
fn canonical_lists(voters: &[NodeId], learners: &[NodeId]) -> bool {
    sorted_unique(voters)
        && sorted_unique(learners)
        && learners
            .iter()
            .all(|node| voters.binary_search(node).is_err())
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

    fn hex(bytes: &[u8]) -> alloc::string::String {
        bytes
            .iter()
            .map(|byte| alloc::format!("{byte:02x}"))
            .collect()
    }

    // Proves the configuration entry's encoding is frozen: a plain configuration's bytes
    // are what they were before joint configurations existed, and a joint one appends
    // the outgoing voters and the flags byte.
    #[test]
    fn encoding_is_frozen() {
        let plain = Membership::new([1, 2], [5]);
        assert_eq!(
            hex(&plain.encode()),
            "010200000001000000000000000200000000000000010000000500000000000000"
        );
        let joint = Membership::new([1, 2, 3], [])
            .enter_joint(&Membership::new([1, 4], [3]), true)
            .unwrap();
        assert_eq!(
            hex(&joint.encode()),
            concat!(
                "01",
                "02000000",
                "0100000000000000",
                "0400000000000000",
                "01000000",
                "0300000000000000",
                "03000000",
                "0100000000000000",
                "0200000000000000",
                "0300000000000000",
                "01"
            )
        );
        assert_eq!(Membership::decode(&joint.encode()), Some(joint.clone()));
        let explicit = Membership::new([1, 2, 3], [])
            .enter_joint(&Membership::new([1, 4], []), false)
            .unwrap();
        assert_eq!(explicit.encode().last(), Some(&0));
        assert!(!Membership::decode(&explicit.encode()).unwrap().auto_leave());
    }

    // Proves version 2 (incarnations, rule 2) is frozen and strict: written only when
    // something is named, read back exactly, anything not canonical refused.
    #[test]
    fn incarnations_are_encoded_as_version_2() {
        let named = Membership::new([1, 2, 3], [])
            .apply(MembershipChange::Reincarnate {
                node: 3,
                incarnation: 0x0102,
            })
            .unwrap();
        assert_eq!(
            hex(&named.encode()),
            concat!(
                "02",
                "02000000",
                "0100000000000000",
                "0200000000000000",
                "01000000",
                "0300000000000000",
                "00000000",
                "00",
                "01000000",
                "0300000000000000",
                "0201000000000000",
                "01000000",
                "0300000000000000",
                "01000000",
                "0300000000000000",
                "0000000000000000",
            )
        );
        assert_eq!(Membership::decode(&named.encode()), Some(named.clone()));
        assert_eq!(Membership::new([1, 2, 3], []).encode()[0], 1);
        let good = named.encode();
        let refused = |patch: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = good.clone();
            patch(&mut bytes);
            Membership::decode(&bytes).is_none()
        };
        // Incarnation 0 is never listed; a rejoining node must be a learner; a retired
        // incarnation is not the one named; flags without outgoing voters; trailing
        // bytes.
        let at = 50;
        assert!(refused(&|bytes| bytes[at..at + 8].fill(0)));
        // Naming node 9 instead of 3 leaves 3 named 0, its retired incarnation.
        assert!(refused(&|bytes| bytes[at - 8] = 9));
        assert!(refused(&|bytes| bytes[62] = 1));
        assert!(refused(&|bytes| bytes[82..84].copy_from_slice(&[2, 1])));
        assert!(refused(&|bytes| bytes[37] = 1));
        assert!(refused(&|bytes| bytes.push(0)));
        // Version 2 with nothing named is not canonical (version 1 says it).
        let mut bare = good[..at - 12].to_vec();
        bare.extend_from_slice(&[0; 12]);
        assert!(Membership::decode(&bare).is_none());
    }

    // Proves the joint rules: who votes, who is a member, what takes no single change.
    #[test]
    fn joint_configurations() {
        let old = Membership::new([1, 2, 3], [9]);
        let joint = old
            .enter_joint(&Membership::new([1, 4], [3, 9]), true)
            .unwrap();
        assert!(joint.is_voter(2) && joint.is_voter(3) && joint.is_voter(4));
        assert!(
            !joint.is_learner(3),
            "a demoted voter votes until the change is left"
        );
        assert!(joint.is_learner(9) && joint.is_member(9));
        let mut members: Vec<NodeId> = joint.members().collect();
        members.sort_unstable();
        assert_eq!(members, [1, 2, 3, 4, 9]);
        assert!(joint.apply(MembershipChange::AddLearner(7)).is_err());
        assert!(joint.enter_joint(&old, true).is_err());
        assert!(old.enter_joint(&Membership::default(), true).is_err());
        let left = joint.leave_joint();
        assert_eq!((left.voters(), left.learners()), (&[1, 4][..], &[3, 9][..]));
        assert!(!left.is_joint() && left.is_learner(3));
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
        let mut version = good.clone();
        version[0] = 2;
        assert!(Membership::decode(&version).is_none());
        // A joint trailer with no outgoing voters, or an unknown flag.
        let mut empty_outgoing = good.clone();
        empty_outgoing.extend_from_slice(&[0, 0, 0, 0, 1]);
        assert!(Membership::decode(&empty_outgoing).is_none());
        let mut bad_flag = good;
        bad_flag.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert!(Membership::decode(&bad_flag).is_none());
        let _ = bad_flag.pop();
        bad_flag.push(1);
        assert!(Membership::decode(&bad_flag).is_some());
        let unsorted = Membership {
            voters: alloc::vec![2, 1].into(),
            ..Membership::default()
        }
        .encode();
        assert!(Membership::decode(&unsorted).is_none());
    }

    // Proves the constructor for sorted lists gives what `new` gives, canonical input
    // or not.
    #[test]
    fn from_sorted_matches_new() {
        let cases: [(&[NodeId], &[NodeId]); 5] = [
            (&[1, 2, 3], &[]),
            (&[1, 2, 3], &[4, 5]),
            (&[3, 1, 2], &[5, 4]),
            (&[1, 1, 2], &[2, 3]),
            (&[], &[7]),
        ];
        for (voters, learners) in cases {
            assert_eq!(
                Membership::from_sorted(voters, learners),
                Membership::new(voters.iter().copied(), learners.iter().copied())
            );
        }
    }
}
