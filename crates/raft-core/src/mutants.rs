//! Protocol mutants: classic Raft bugs that a simulation can switch on one at a time, to
//! show that its checker catches each (feature `mutants`; without it no mutant can be
//! chosen and every check below is a constant `false` the compiler removes).
//!
//! ```
//! # #[cfg(feature = "mutants")] {
//! use raft_core::{Mutant, RaftConfig};
//! let config = RaftConfig::new(1, [1, 2, 3]).with_mutant(Some(Mutant::VoteWithoutLogCheck));
//! assert_eq!(Mutant::from_name("vote-without-log-check"), Some(Mutant::VoteWithoutLogCheck));
//! # let _ = config;
//! # }
//! ```

// Without the feature only the enum is compiled (for the constant-false checks).
#![cfg_attr(not(feature = "mutants"), allow(dead_code))]

/// One classic Raft bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mutant {
    /// Figure 8: the leader commits an entry of an earlier term by counting replicas.
    CommitOldTermByCount,
    /// A vote (or pre-vote) is granted without the up-to-date check (§5.4.1).
    VoteWithoutLogCheck,
    /// Replies leave before the vote and the entries they depend on are synced.
    ReplyBeforeSync,
    /// A follower truncates its log after the entries of any AppendEntries, even one
    /// that conflicts with nothing (a delayed, older message).
    TruncateWithoutConflict,
    /// Votes are counted per reply, so a duplicated reply counts twice.
    CountVoteTwice,
    /// Entries are applied as soon as they are in the log, before they commit.
    ApplyBeforeCommit,
    /// A new leader changes the configuration before committing an entry of its own
    /// term (the 2015 single-server membership bug).
    ForgetMembershipRule,
    /// A leader serves reads without confirming it still leads (no quorum round).
    ReadWithoutQuorum,
    /// A node that lost entries to a damaged disk votes and campaigns as if its log
    /// were intact (no repair mark, docs/RECOVERY.md rule 1).
    IgnoreRepairMark,
    /// Votes and acknowledgements count whatever incarnation sent them: a node that
    /// lost its state counts as the voter it was (docs/RECOVERY.md rule 2).
    IgnoreIncarnation,
}

impl Mutant {
    /// Every mutant, in a fixed order.
    pub const ALL: [Mutant; 10] = [
        Mutant::CommitOldTermByCount,
        Mutant::VoteWithoutLogCheck,
        Mutant::ReplyBeforeSync,
        Mutant::TruncateWithoutConflict,
        Mutant::CountVoteTwice,
        Mutant::ApplyBeforeCommit,
        Mutant::ForgetMembershipRule,
        Mutant::ReadWithoutQuorum,
        Mutant::IgnoreRepairMark,
        Mutant::IgnoreIncarnation,
    ];

    /// The command-line name (`commit-old-term-by-count`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Mutant::CommitOldTermByCount => "commit-old-term-by-count",
            Mutant::VoteWithoutLogCheck => "vote-without-log-check",
            Mutant::ReplyBeforeSync => "reply-before-sync",
            Mutant::TruncateWithoutConflict => "truncate-without-conflict",
            Mutant::CountVoteTwice => "count-vote-twice",
            Mutant::ApplyBeforeCommit => "apply-before-commit",
            Mutant::ForgetMembershipRule => "forget-membership-rule",
            Mutant::ReadWithoutQuorum => "read-without-quorum",
            Mutant::IgnoreRepairMark => "ignore-repair-mark",
            Mutant::IgnoreIncarnation => "ignore-incarnation",
        }
    }

    /// The mutant with this command-line name.
    pub fn from_name(name: &str) -> Option<Mutant> {
        Mutant::ALL.into_iter().find(|mutant| mutant.name() == name)
    }
}

impl core::fmt::Display for Mutant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
