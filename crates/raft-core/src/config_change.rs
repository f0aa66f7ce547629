//! A membership change of any size, made through a joint configuration (Raft thesis
//! §4.3), optionally guarded by the configuration it was built against.

use alloc::vec::Vec;

use crate::error::{Error, Result};
use crate::membership::{Membership, MembershipChange};
use crate::types::{Index, NodeId};

/// A request to change the configuration, proposed with
/// [`Event::ChangeConfig`](crate::Event::ChangeConfig).
///
/// A change that alters the voters goes through a joint configuration: the leader
/// appends `C_old,new`, and while it is in force every decision needs a majority of the
/// old voters and a majority of the new ones; once it commits the leader appends
/// `C_new` on its own (or, with [`ConfigChange::explicit_leave`], when asked with
/// [`ConfigChange::leave_joint`]). A change of learners only is appended directly.
///
/// ```
/// use raft_core::{ConfigChange, MembershipChange};
/// // Swap voters 2 and 3 for 4 and 5 (learners that have caught up), in one change,
/// // refused if the configuration in force is no longer the one at index 7.
/// let change = ConfigChange::set_voters([1, 4, 5]).guarded(7);
/// assert_eq!(change.expected_config_index(), Some(7));
/// // Promote learner 4 and remove voter 2 at once.
/// let change = ConfigChange::new([
///     MembershipChange::PromoteLearner(4),
///     MembershipChange::RemoveMember(2),
/// ]);
/// assert_eq!(change.changes().len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigChange {
    target: Target,
    expected_config_index: Option<Index>,
    auto_leave: bool,
}

/// What a [`ConfigChange`] asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Target {
    /// These steps, applied in order to the configuration in force.
    Steps(Vec<MembershipChange>),
    /// These voters; learners stay unless they become voters; other voters leave.
    Voters(Vec<NodeId>),
    /// Leave the joint configuration in force.
    Leave,
}

impl ConfigChange {
    /// The configuration in force with `changes` applied in order (a voter removed and
    /// added back as a learner is a demotion). Each step follows
    /// [`Membership::apply`]'s rules; a learner made a voter must have caught up.
    pub fn new(changes: impl IntoIterator<Item = MembershipChange>) -> Self {
        Self::with_target(Target::Steps(changes.into_iter().collect()))
    }

    /// Exactly these voters: current voters not listed are removed, listed learners
    /// are promoted (they must have caught up), listed non-members join as voters;
    /// other learners stay learners.
    pub fn set_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        Self::with_target(Target::Voters(voters))
    }

    /// Leave the joint configuration in force (needed only after a change made with
    /// [`ConfigChange::explicit_leave`]; refused until the joint configuration commits).
    pub fn leave_joint() -> Self {
        Self::with_target(Target::Leave)
    }

    fn with_target(target: Target) -> Self {
        Self {
            target,
            expected_config_index: None,
            auto_leave: true,
        }
    }

    /// Refuse the change with [`Error::ConfigChanged`](crate::Error::ConfigChanged)
    /// unless the configuration in force is still the one at `config_index` (as
    /// reported by [`RaftNode::config_index`](crate::RaftNode::config_index)).
    #[must_use]
    pub fn guarded(mut self, config_index: Index) -> Self {
        self.expected_config_index = Some(config_index);
        self
    }

    /// Stay in the joint configuration once it commits, until asked to leave with
    /// [`ConfigChange::leave_joint`] (etcd's explicit transition).
    #[must_use]
    pub fn explicit_leave(mut self) -> Self {
        self.auto_leave = false;
        self
    }

    /// The configuration index this change is guarded by, if any.
    pub fn expected_config_index(&self) -> Option<Index> {
        self.expected_config_index
    }

    /// The steps of a change built with [`ConfigChange::new`]; empty otherwise.
    pub fn changes(&self) -> &[MembershipChange] {
        match &self.target {
            Target::Steps(steps) => steps,
            _ => &[],
        }
    }

    /// Whether this asks to leave a joint configuration.
    pub fn is_leave(&self) -> bool {
        self.target == Target::Leave
    }

    /// The configuration to append given `current` (the plain configuration in force):
    /// the joint configuration when voters change, else the new plain one. Learner
    /// catch-up is the leader's check, not this function's.
    ///
    /// # Errors
    /// [`Error::InvalidMembershipChange`] when a step does not apply,
    /// [`Error::InvalidConfigChange`] when the voter list is empty, nothing would
    /// change, or this is a request to leave.
    pub(crate) fn next_configuration(&self, current: &Membership) -> Result<Membership> {
        let invalid = |reason| Error::InvalidConfigChange { reason };
        let next = match &self.target {
            Target::Leave => return Err(invalid("no joint configuration to leave")),
            Target::Steps(steps) => {
                let mut next = current.clone();
                for &step in steps {
                    next = next
                        .apply(step)
                        .map_err(|reason| Error::InvalidMembershipChange {
                            node: step.node(),
                            reason,
                        })?;
                }
                next
            }
            Target::Voters(voters) => {
                if voters.is_empty() {
                    return Err(invalid("the new configuration has no voters"));
                }
                // (Incarnations and rejoining learners carried over: the change is
                // about voters, and dropping them would count a lost incarnation.)
                Membership::new(voters.iter().copied(), current.learners().iter().copied())
                    .carrying(current)
            }
        };
        if next == *current {
            return Err(invalid("the change changes nothing"));
        }
        if next.voters() == current.voters() {
            return Ok(next);
        }
        current.enter_joint(&next, self.auto_leave).map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a voter-list change keeps the incarnations the configuration names and its
    // rejoining learners (rule 2): dropping them would name a lost incarnation again.
    // The simulator found it (all-fault seed 16268: a set-voters naming the same
    // voters left a wiped node counted as 0).
    #[test]
    fn a_voter_list_change_keeps_incarnations() {
        let current = Membership::new([1, 2, 3], [4])
            .apply(MembershipChange::Reincarnate {
                node: 3,
                incarnation: 7,
            })
            .unwrap()
            .apply(MembershipChange::PromoteLearner(3))
            .unwrap()
            .apply(MembershipChange::Reincarnate {
                node: 2,
                incarnation: 5,
            })
            .unwrap();
        assert_eq!(current.rejoining(), &[2]);
        let same_voters = ConfigChange::set_voters([1, 3])
            .next_configuration(&current)
            .unwrap_err();
        assert!(matches!(same_voters, Error::InvalidConfigChange { .. }));
        let joint = ConfigChange::set_voters([1, 3, 4])
            .next_configuration(&current)
            .unwrap();
        assert_eq!((joint.incarnation(3), joint.incarnation(2)), (7, 5));
        assert_eq!(joint.rejoining(), &[2]);
        assert_eq!(joint.leave_joint().incarnation(3), 7);
    }
}
