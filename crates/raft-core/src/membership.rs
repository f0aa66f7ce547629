//! Cluster membership: voters and learners, the single-server changes between them, and
//! the joint configurations (Raft thesis §4.3) that change any set of voters at once.

use alloc::vec::Vec;

use crate::types::NodeId;

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
    voters: Vec<NodeId>,
    /// The learners (of the incoming configuration, when joint); disjoint from
    /// `voters`, may overlap `outgoing` (a voter being demoted).
    learners: Vec<NodeId>,
    /// The voters of the configuration being left; empty unless joint.
    outgoing: Vec<NodeId>,
    /// Joint only: the leader leaves on its own once this configuration commits.
    auto_leave: bool,
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
        Self {
            voters,
            learners,
            outgoing: Vec::new(),
            auto_leave: false,
        }
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
        Ok(Self {
            voters: next.voters.clone(),
            learners: next.learners.clone(),
            outgoing: self.voters.clone(),
            auto_leave,
        })
    }

    /// The incoming configuration `C_new` of a joint configuration (itself if not
    /// joint).
    pub fn leave_joint(&self) -> Self {
        Self::new(self.voters.iter().copied(), self.learners.iter().copied())
    }

    /// The membership after `change`, or why it cannot apply. The learner catch-up
    /// check is the leader's, not this function's. A joint configuration takes no
    /// single-server change.
    pub fn apply(&self, change: MembershipChange) -> Result<Self, &'static str> {
        let node = change.node();
        if self.is_joint() {
            return Err("a joint configuration is in force");
        }
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
    /// A joint configuration appends the outgoing voter count and ids and one flags
    /// byte (bit 0: leave automatically); a plain one's encoding is unchanged.
    pub fn encode(&self) -> Vec<u8> {
        let ids = self.voters.len() + self.learners.len() + self.outgoing.len();
        let mut out = Vec::with_capacity(14 + 8 * ids);
        out.push(1);
        let lists: &[&Vec<NodeId>] = if self.is_joint() {
            &[&self.voters, &self.learners, &self.outgoing]
        } else {
            &[&self.voters, &self.learners]
        };
        for list in lists {
            out.extend_from_slice(&(list.len() as u32).to_le_bytes());
            for node in list.iter() {
                out.extend_from_slice(&node.to_le_bytes());
            }
        }
        if self.is_joint() {
            out.push(u8::from(self.auto_leave));
        }
        out
    }

    /// Decodes [`Membership::encode`]'s output; `None` if malformed (wrong version,
    /// short, trailing bytes, unsorted or overlapping lists, an empty outgoing list, an
    /// unknown flag).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&version, mut rest) = bytes.split_first()?;
        if version != 1 {
            return None;
        }
        let voters = read_ids(&mut rest)?;
        let learners = read_ids(&mut rest)?;
        let (outgoing, auto_leave) = if rest.is_empty() {
            (Vec::new(), false)
        } else {
            let outgoing = read_ids(&mut rest)?;
            let (&flags, tail) = rest.split_first()?;
            rest = tail;
            if outgoing.is_empty() || flags > 1 {
                return None;
            }
            (outgoing, flags == 1)
        };
        let membership = Self::from_parts(voters, learners, outgoing, auto_leave)?;
        rest.is_empty().then_some(membership)
    }

    /// A membership from its four parts, if they are canonical: every list sorted
    /// without repeats, learners disjoint from voters, `auto_leave` only when joint.
    fn from_parts(
        voters: Vec<NodeId>,
        learners: Vec<NodeId>,
        outgoing: Vec<NodeId>,
        auto_leave: bool,
    ) -> Option<Self> {
        let sorted = |list: &[NodeId]| list.windows(2).all(|pair| pair[0] < pair[1]);
        let canonical = sorted(&voters)
            && sorted(&learners)
            && sorted(&outgoing)
            && learners
                .iter()
                .all(|node| voters.binary_search(node).is_err())
            && (!auto_leave || !outgoing.is_empty());
        canonical.then_some(Self {
            voters,
            learners,
            outgoing,
            auto_leave,
        })
    }
}

/// Reads one list of the encoding: a u32 count, then that many u64 ids.
fn read_ids(rest: &mut &[u8]) -> Option<Vec<NodeId>> {
    let (count, tail) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count) as usize;
    if tail.len() < count.checked_mul(8)? {
        return None;
    }
    let (ids, tail) = tail.split_at(count * 8);
    *rest = tail;
    Some(
        ids.chunks_exact(8)
            .map(|id| NodeId::from_le_bytes(id.try_into().expect("8 bytes")))
            .collect(),
    )
}

/// The serde form: `{voters, learners}` for a plain configuration, exactly as before
/// joint configurations existed (so the wire encoding of a snapshot chunk is
/// unchanged), and `{voters, learners, outgoing, auto_leave}` for a joint one.
/// Self-describing formats read both; positional formats such as postcard read the
/// plain form only, so `raft-wire` carries a snapshot of a joint configuration under
/// its own message kind.
#[cfg(feature = "serde")]
mod serde_form {
    use super::*;
    use serde::de::{Error as _, MapAccess, SeqAccess, Visitor};
    use serde::ser::SerializeStruct;

    impl serde::Serialize for Membership {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let fields = if self.is_joint() { 4 } else { 2 };
            let mut state = serializer.serialize_struct("Membership", fields)?;
            state.serialize_field("voters", &self.voters)?;
            state.serialize_field("learners", &self.learners)?;
            if self.is_joint() {
                state.serialize_field("outgoing", &self.outgoing)?;
                state.serialize_field("auto_leave", &self.auto_leave)?;
            }
            state.end()
        }
    }

    impl<'de> serde::Deserialize<'de> for Membership {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_struct("Membership", &["voters", "learners"], Form)
        }
    }

    struct Form;

    impl<'de> Visitor<'de> for Form {
        type Value = Membership;

        fn expecting(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            formatter.write_str("a membership: voters and learners")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Membership, A::Error> {
            let voters = seq
                .next_element()?
                .ok_or_else(|| A::Error::invalid_length(0, &self))?;
            let learners = seq
                .next_element()?
                .ok_or_else(|| A::Error::invalid_length(1, &self))?;
            Membership::from_parts(voters, learners, Vec::new(), false)
                .ok_or_else(|| A::Error::custom("membership lists not canonical"))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Membership, A::Error> {
            let (mut voters, mut learners, mut outgoing, mut auto_leave) = (None, None, None, None);
            while let Some(key) = map.next_key::<&str>()? {
                match key {
                    "voters" => voters = Some(map.next_value()?),
                    "learners" => learners = Some(map.next_value()?),
                    "outgoing" => outgoing = Some(map.next_value()?),
                    "auto_leave" => auto_leave = Some(map.next_value()?),
                    other => return Err(A::Error::unknown_field(other, FIELDS)),
                }
            }
            Membership::from_parts(
                voters.ok_or_else(|| A::Error::missing_field("voters"))?,
                learners.ok_or_else(|| A::Error::missing_field("learners"))?,
                outgoing.unwrap_or_default(),
                auto_leave.unwrap_or(false),
            )
            .ok_or_else(|| A::Error::custom("membership lists not canonical"))
        }
    }

    const FIELDS: &[&str] = &["voters", "learners", "outgoing", "auto_leave"];
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
            voters: alloc::vec![2, 1],
            ..Membership::default()
        }
        .encode();
        assert!(Membership::decode(&unsorted).is_none());
    }
}
