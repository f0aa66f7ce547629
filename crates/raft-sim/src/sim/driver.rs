//! A simulated node: up (its `RaftNode` over its storage) or down (only what its
//! storage kept), never both and never neither; plus its state machine and the
//! clients it owes answers.

use std::collections::BTreeSet;

use raft_core::{Index, Membership, RaftNode, Term};

use crate::kv::{Key, Kv};
use crate::log::{SimLog, SimStorage};

pub(super) struct Node {
    /// Up (running its RaftNode) or down (only its storage survives).
    pub(super) life: Life,
    pub(super) kv: Kv,
    pub(super) waiting: BTreeSet<(u64, u64)>,
    /// Confirmed reads waiting for the state machine to reach their index.
    pub(super) reads: Vec<ConfirmedRead>,
    /// Memory storage: set to make the node's next sync fail.
    pub(super) disk_fault: Option<std::rc::Rc<std::cell::Cell<bool>>>,
    pub(super) period: u64,
    /// While leading: the end of its log, for Leader Append-Only.
    pub(super) leading: Option<Leading>,
    /// While leading: the commit index and configuration index after its last step.
    pub(super) led: Option<Led>,
    /// Restarted with a damaged disk at this time; cleared when repaired.
    pub(super) repairing_since: Option<u64>,
    /// Wiped (its storage replaced by an empty one of a new incarnation) at this time;
    /// cleared once a committed configuration names the new incarnation as what the
    /// old one was (docs/RECOVERY.md, rule 2).
    pub(super) wiped_since: Option<u64>,
    /// The last configuration the node reported (`Action::MembershipChanged`), which
    /// its log may still hold while it is down.
    pub(super) last_membership: Option<Membership>,
}

/// A read the leader confirmed at `index`, answered once the state machine has
/// applied that far.
/// What a leader had committed and which configuration it had after its last step, to
/// check the commit rule (Figure 8) and the configuration rule (2015) as they happen.
#[derive(Clone, Copy, Debug)]
pub(super) struct Led {
    pub(super) term: Term,
    pub(super) commit: Index,
    pub(super) config_index: Index,
}

pub(super) struct ConfirmedRead {
    pub(super) index: Index,
    pub(super) client: u64,
    pub(super) seq: u64,
    pub(super) key: Key,
}

/// A leader's log end as last seen: in `term`, the entry at `index` had `index_term`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Leading {
    pub(super) term: Term,
    pub(super) index: Index,
    pub(super) index_term: Term,
}

/// A crashed node's storage: the memory log already reduced to what survived, or the
/// directory of its WalLog, recovered on restart.
pub(super) enum Down {
    Memory(Box<SimLog>),
    Wal {
        dir: std::path::PathBuf,
        /// A file the crash damaged and its bytes before (only whether there is one
        /// matters now: a log refused for a lost vote is replaced by an empty one of
        /// a new incarnation).
        undo: Option<(std::path::PathBuf, Vec<u8>)>,
    },
}

/// A node is up or down: never both, never neither.
pub(super) enum Life {
    Up(Box<RaftNode<SimStorage>>),
    Down(Down),
}

impl Node {
    pub(super) fn raft(&self) -> Option<&RaftNode<SimStorage>> {
        match &self.life {
            Life::Up(raft) => Some(raft),
            Life::Down(_) => None,
        }
    }

    pub(super) fn raft_mut(&mut self) -> Option<&mut RaftNode<SimStorage>> {
        match &mut self.life {
            Life::Up(raft) => Some(raft),
            Life::Down(_) => None,
        }
    }

    pub(super) fn is_up(&self) -> bool {
        matches!(self.life, Life::Up(_))
    }
}
