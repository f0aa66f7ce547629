//! Proptest strategies over every message kind (feature `arbitrary`), one generator for
//! the core's robustness tests and the codec's round-trip tests.
//!
//! Numbers lean toward the interesting ones (small, near the ceilings, `u64::MAX`) but
//! cover the whole range, so both validation and the codec meet every edge.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use crate::membership::Membership;
use crate::message::{
    AppendEntries, AppendEntriesReply, InstallSnapshot, InstallSnapshotReply, Message, PreVote,
    PreVoteReply, ReadConfirm, ReadConfirmReply, ReadIndexReply, ReadIndexRequest, RequestVote,
    RequestVoteReply, TimeoutNow,
};
use crate::types::{EntryKind, LogEntry, TERM_MAX};

/// A term, index or round: small ones most often, then the ceilings and any `u64`.
pub fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..8,
        2 => 0u64..200,
        1 => Just(TERM_MAX),
        1 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        1 => any::<u64>(),
    ]
}

/// A node id: one of 1..=4 most often (a small cluster's members), else any number.
pub fn node_id() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1u64..=4, 1 => number()]
}

/// Any entry: any term and index, a normal or no-op kind, up to 40 bytes.
pub fn entry() -> impl Strategy<Value = LogEntry> {
    (
        number(),
        number(),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(term, index, noop, command)| LogEntry {
            term,
            index,
            kind: if noop {
                EntryKind::Noop
            } else {
                EntryKind::Normal
            },
            command: command.into(),
        })
}

/// An AppendEntries that passes validation more often than not: small terms, entries
/// contiguous after `prev_log_index`, terms within the leader's.
pub fn plausible_append() -> impl Strategy<Value = Message> {
    (1u64..6, node_id(), 0u64..6, 0u64..4, 0u64..5, 0u64..10).prop_map(
        |(term, leader, prev_log_index, prev_log_term, count, leader_commit)| {
            let prev_log_term = if prev_log_index == 0 {
                0
            } else {
                prev_log_term.min(term)
            };
            let entries = (1..=count)
                .map(|offset| LogEntry::new(term, prev_log_index + offset, vec![1u8; 3]))
                .collect();
            append_entries(
                (term, leader, prev_log_index, prev_log_term),
                entries,
                leader_commit,
            )
        },
    )
}

/// An AppendEntries from (term, leader, previous index, previous term).
fn append_entries(
    (term, leader, prev_log_index, prev_log_term): (u64, u64, u64, u64),
    entries: Vec<LogEntry>,
    leader_commit: u64,
) -> Message {
    Message::AppendEntries(AppendEntries {
        term,
        leader,
        prev_log_index,
        prev_log_term,
        entries,
        leader_commit,
    })
}

fn install_snapshot() -> impl Strategy<Value = Message> {
    (
        (number(), node_id(), number(), number()),
        proptest::collection::vec(node_id(), 0..4),
        proptest::collection::vec(node_id(), 0..3),
        // Outgoing voters: a joint configuration when not empty.
        (proptest::collection::vec(node_id(), 0..3), any::<bool>()),
        (
            number(),
            proptest::collection::vec(any::<u8>(), 0..40),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (term, leader, index, last_term),
                voters,
                learners,
                (outgoing, auto_leave),
                (offset, data, done),
            )| {
                let incoming = Membership::new(voters, learners);
                let membership = Membership::new(outgoing, [])
                    .enter_joint(&incoming, auto_leave)
                    .unwrap_or(incoming);
                Message::InstallSnapshot(Box::new(InstallSnapshot {
                    term,
                    leader,
                    last_included_index: index,
                    last_included_term: last_term,
                    membership,
                    offset,
                    data: data.into(),
                    done,
                }))
            },
        )
}

fn append_entries_reply() -> impl Strategy<Value = Message> {
    (
        number(),
        any::<bool>(),
        node_id(),
        (number(), number(), number(), number()),
    )
        .prop_map(
            |(
                term,
                success,
                from,
                (prev_log_index, match_index, conflict_index, conflict_term),
            )| {
                Message::AppendEntriesReply(AppendEntriesReply {
                    term,
                    success,
                    from,
                    prev_log_index,
                    match_index,
                    conflict_index,
                    conflict_term,
                    incarnation: 0,
                })
            },
        )
}

/// Any message of any kind, every field over its whole range (plus plausible appends,
/// so that some reach past validation); a reply's incarnation too.
pub fn message() -> impl Strategy<Value = Message> {
    (any_kind(), prop_oneof![Just(0), number()]).prop_map(|(mut message, incarnation)| {
        message.set_sender_incarnation(incarnation);
        message
    })
}

fn any_kind() -> impl Strategy<Value = Message> {
    prop_oneof![
        (number(), node_id(), number(), number()).prop_map(|(term, candidate, index, last)| {
            Message::PreVote(PreVote {
                term,
                candidate,
                last_log_index: index,
                last_log_term: last,
            })
        }),
        (number(), any::<bool>(), node_id()).prop_map(|(term, vote_granted, from)| {
            Message::PreVoteReply(PreVoteReply {
                term,
                vote_granted,
                from,
                incarnation: 0,
            })
        }),
        (number(), node_id(), number(), number(), any::<bool>()).prop_map(
            |(term, candidate, index, last, force)| {
                Message::RequestVote(RequestVote {
                    term,
                    candidate,
                    last_log_index: index,
                    last_log_term: last,
                    force,
                })
            }
        ),
        (number(), any::<bool>(), node_id()).prop_map(|(term, vote_granted, from)| {
            Message::RequestVoteReply(RequestVoteReply {
                term,
                vote_granted,
                from,
                incarnation: 0,
            })
        }),
        (
            (number(), node_id(), number(), number()),
            proptest::collection::vec(entry(), 0..6),
            number(),
        )
            .prop_map(|(previous, entries, leader_commit)| append_entries(
                previous,
                entries,
                leader_commit
            )),
        plausible_append(),
        append_entries_reply(),
        (number(), node_id())
            .prop_map(|(term, leader)| Message::TimeoutNow(TimeoutNow { term, leader })),
        (number(), node_id(), number()).prop_map(|(term, leader, round)| {
            Message::ReadConfirm(ReadConfirm {
                term,
                leader,
                round,
            })
        }),
        (number(), node_id(), number()).prop_map(|(term, from, round)| {
            Message::ReadConfirmReply(ReadConfirmReply {
                term,
                from,
                round,
                incarnation: 0,
            })
        }),
        install_snapshot(),
        (number(), node_id(), number(), number(), any::<bool>()).prop_map(
            |(term, from, index, next_offset, done)| {
                Message::InstallSnapshotReply(InstallSnapshotReply {
                    term,
                    from,
                    last_included_index: index,
                    next_offset,
                    done,
                    incarnation: 0,
                })
            }
        ),
        (
            number(),
            node_id(),
            proptest::collection::vec(any::<u8>(), 0..12)
        )
            .prop_map(|(term, from, context)| {
                Message::ReadIndexRequest(ReadIndexRequest {
                    term,
                    from,
                    context: context.into(),
                })
            }),
        (
            (number(), node_id(), number()),
            proptest::collection::vec(any::<u8>(), 0..12)
        )
            .prop_map(|((term, leader, index), context)| {
                Message::ReadIndexReply(ReadIndexReply {
                    term,
                    leader,
                    index,
                    context: context.into(),
                })
            }),
    ]
}

/// Up to `len_max` arbitrary messages.
pub fn messages(len_max: usize) -> impl Strategy<Value = Vec<Message>> {
    proptest::collection::vec(message(), 0..=len_max)
}
