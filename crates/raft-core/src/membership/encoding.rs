//! The configuration entry's byte encoding (versions 1 and 2) and the serde form.

use alloc::vec::Vec;

use super::{Membership, Named, canonical_lists, sorted_unique};
use crate::types::{Incarnation, NodeId};

impl Membership {
    /// The encoding carried by a configuration entry: a version byte (1), then the
    /// voter count and ids, then the learner count and ids (u32 / u64 little-endian).
    /// A joint configuration appends the outgoing voter count and ids and one flags
    /// byte (bit 0: leave automatically); a plain one's encoding is unchanged.
    ///
    /// A configuration that names an incarnation other than 0 or a rejoining learner
    /// (docs/RECOVERY.md, rule 2) is written as version 2, which a reader that predates
    /// incarnations refuses rather than misreads: the voters, learners and outgoing
    /// voters (the last list empty unless joint), the flags byte, then the incarnation
    /// count and `(node, incarnation)` pairs (u64 each; a removed node's kept), then
    /// the rejoining learners, then the retired `(node, incarnation)` pairs.
    pub fn encode(&self) -> Vec<u8> {
        if self.named.is_some() {
            return self.encode_version_2();
        }
        let ids = self.voters.len() + self.learners.len() + self.outgoing.len();
        let mut out = Vec::with_capacity(14 + 8 * ids);
        out.push(1);
        let lists: &[&[NodeId]] = if self.is_joint() {
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
        if version == 2 {
            return Self::decode_version_2(rest);
        }
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
        let canonical = canonical_lists(&voters, &learners)
            && sorted_unique(&outgoing)
            && (!auto_leave || !outgoing.is_empty());
        canonical.then_some(Self {
            voters: voters.into(),
            learners: learners.into(),
            outgoing: outgoing.into(),
            auto_leave,
            named: None,
        })
    }

    fn encode_version_2(&self) -> Vec<u8> {
        let ids = self.voters.len()
            + self.learners.len()
            + self.outgoing.len()
            + 2 * self.incarnations().len()
            + self.rejoining().len()
            + 2 * self.retired().len();
        let mut out = Vec::with_capacity(22 + 8 * ids);
        out.push(2);
        for list in [&self.voters, &self.learners, &self.outgoing] {
            write_ids(&mut out, list);
        }
        out.push(u8::from(self.auto_leave));
        write_pairs(&mut out, self.incarnations());
        write_ids(&mut out, self.rejoining());
        write_pairs(&mut out, self.retired());
        out
    }

    /// Version 2 after its version byte. Canonical only: incarnations not 0, sorted by
    /// node (a removed node's kept); rejoining nodes learners, sorted; retired pairs
    /// sorted, none the incarnation named now; and at least one of the three lists not
    /// empty (otherwise the configuration is written as version 1).
    fn decode_version_2(mut rest: &[u8]) -> Option<Self> {
        let voters = read_ids(&mut rest)?;
        let learners = read_ids(&mut rest)?;
        let outgoing = read_ids(&mut rest)?;
        let (&flags, tail) = rest.split_first()?;
        rest = tail;
        if flags > 1 || (outgoing.is_empty() && flags != 0) {
            return None;
        }
        let incarnations = read_pairs(&mut rest)?;
        let rejoining = read_ids(&mut rest)?;
        let retired = read_pairs(&mut rest)?;
        let named = Named {
            incarnations,
            rejoining,
            retired,
        };
        if !rest.is_empty() || named.is_empty() {
            return None;
        }
        let mut membership = Self::from_parts(voters, learners, outgoing, flags == 1)?;
        let incarnations_canonical = named
            .incarnations
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0)
            && named
                .incarnations
                .iter()
                .all(|&(_, incarnation)| incarnation != 0);
        let rejoining_canonical = named.rejoining.windows(2).all(|pair| pair[0] < pair[1])
            && named
                .rejoining
                .iter()
                .all(|&node| membership.is_learner(node));
        membership.set_named(named);
        let retired_canonical = membership
            .retired()
            .windows(2)
            .all(|pair| pair[0] < pair[1])
            && membership
                .retired()
                .iter()
                .all(|&(node, incarnation)| membership.incarnation(node) != incarnation);
        (incarnations_canonical && rejoining_canonical && retired_canonical).then_some(membership)
    }
}

/// Writes a list of `(node, incarnation)` pairs: a u32 count, then two u64 each.
fn write_pairs(out: &mut Vec<u8>, pairs: &[(NodeId, Incarnation)]) {
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for &(node, incarnation) in pairs {
        out.extend_from_slice(&node.to_le_bytes());
        out.extend_from_slice(&incarnation.to_le_bytes());
    }
}

/// Reads what [`write_pairs`] wrote.
fn read_pairs(rest: &mut &[u8]) -> Option<Vec<(NodeId, Incarnation)>> {
    let (count, tail) = rest.split_first_chunk::<4>()?;
    let count = u32::from_le_bytes(*count) as usize;
    let (pairs, tail) = tail.split_at_checked(count.checked_mul(16)?)?;
    *rest = tail;
    Some(
        pairs
            .chunks_exact(16)
            .map(|pair| {
                let (node, incarnation) = pair.split_at(8);
                (
                    NodeId::from_le_bytes(node.try_into().expect("8 bytes")),
                    Incarnation::from_le_bytes(incarnation.try_into().expect("8 bytes")),
                )
            })
            .collect(),
    )
}

/// Writes one list of the encoding: a u32 count, then the u64 ids.
fn write_ids(out: &mut Vec<u8>, ids: &[NodeId]) {
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for node in ids {
        out.extend_from_slice(&node.to_le_bytes());
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
/// unchanged), `{voters, learners, outgoing, auto_leave}` for a joint one, and those
/// four plus `incarnations` and `rejoining` for one that names incarnations.
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
            let incarnated = self.named.is_some();
            let fields = match (incarnated, self.is_joint()) {
                (true, _) => 7,
                (false, true) => 4,
                (false, false) => 2,
            };
            let mut state = serializer.serialize_struct("Membership", fields)?;
            state.serialize_field("voters", self.voters.as_slice())?;
            state.serialize_field("learners", self.learners.as_slice())?;
            if fields >= 4 {
                state.serialize_field("outgoing", self.outgoing.as_slice())?;
                state.serialize_field("auto_leave", &self.auto_leave)?;
            }
            if incarnated {
                state.serialize_field("incarnations", self.incarnations())?;
                state.serialize_field("rejoining", self.rejoining())?;
                state.serialize_field("retired", self.retired())?;
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
            let (mut incarnations, mut rejoining, mut retired) = (None, None, None);
            while let Some(key) = map.next_key::<&str>()? {
                match key {
                    "incarnations" => incarnations = Some(map.next_value()?),
                    "rejoining" => rejoining = Some(map.next_value()?),
                    "retired" => retired = Some(map.next_value()?),
                    "voters" => voters = Some(map.next_value()?),
                    "learners" => learners = Some(map.next_value()?),
                    "outgoing" => outgoing = Some(map.next_value()?),
                    "auto_leave" => auto_leave = Some(map.next_value()?),
                    other => return Err(A::Error::unknown_field(other, FIELDS)),
                }
            }
            let not_canonical = || A::Error::custom("membership lists not canonical");
            let mut membership = Membership::from_parts(
                voters.ok_or_else(|| A::Error::missing_field("voters"))?,
                learners.ok_or_else(|| A::Error::missing_field("learners"))?,
                outgoing.unwrap_or_default(),
                auto_leave.unwrap_or(false),
            )
            .ok_or_else(not_canonical)?;
            membership.set_named(Named {
                incarnations: incarnations.unwrap_or_default(),
                rejoining: rejoining.unwrap_or_default(),
                retired: retired.unwrap_or_default(),
            });
            // The byte encoding's checks decide what is canonical, for both forms.
            match Membership::decode(&membership.encode()) {
                Some(decoded) if decoded == membership => Ok(membership),
                _ => Err(not_canonical()),
            }
        }
    }

    const FIELDS: &[&str] = &[
        "voters",
        "learners",
        "outgoing",
        "auto_leave",
        "incarnations",
        "rejoining",
        "retired",
    ];
}
