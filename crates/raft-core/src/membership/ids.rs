//! A configuration's list of node ids, shared between its copies.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::hash::{Hash, Hasher};
use core::ops::Deref;

use crate::types::NodeId;

/// A list of node ids behind a reference count: a configuration is copied whenever it
/// is put in force, reported or kept by index, and a copy of this list costs no
/// allocation. An empty list (learners and outgoing voters, nearly always) holds none.
/// The list never changes once built; a new configuration builds new lists.
#[derive(Clone, Default)]
pub(super) struct Ids(Option<Arc<[NodeId]>>);

impl Ids {
    /// The list as a slice.
    #[inline]
    pub(super) fn as_slice(&self) -> &[NodeId] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl Deref for Ids {
    type Target = [NodeId];

    #[inline]
    fn deref(&self) -> &[NodeId] {
        self.as_slice()
    }
}

impl From<Vec<NodeId>> for Ids {
    fn from(ids: Vec<NodeId>) -> Self {
        if ids.is_empty() {
            Self(None)
        } else {
            Self(Some(Arc::from(ids)))
        }
    }
}

impl From<&[NodeId]> for Ids {
    fn from(ids: &[NodeId]) -> Self {
        if ids.is_empty() {
            Self(None)
        } else {
            Self(Some(Arc::from(ids)))
        }
    }
}

impl PartialEq for Ids {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Ids {}

impl Hash for Ids {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl core::fmt::Debug for Ids {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.as_slice().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    // Proves a copy shares the list, an empty list allocates nothing, and equality
    // and hashing follow the ids, not the sharing.
    #[test]
    fn copies_share_and_compare_by_content() {
        let ids = Ids::from(vec![1, 2, 3]);
        let copy = ids.clone();
        assert_eq!(ids.as_ptr(), copy.as_ptr());
        assert_eq!(ids, Ids::from(&[1, 2, 3][..]));
        assert_ne!(ids, Ids::from(vec![1, 2]));
        assert!(Ids::from(Vec::new()).0.is_none());
        assert_eq!(Ids::default(), Ids::from(&[][..]));
        assert_eq!(&*ids, &[1, 2, 3]);
    }
}
