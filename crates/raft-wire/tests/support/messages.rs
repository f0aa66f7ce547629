//! Messages for the codec tests: one fixed sample per kind (the golden vectors). The
//! random ones come from `raft_core::testing::arbitrary`, the core's own generator.
#![allow(dead_code)]

use raft_core::{
    AppendEntries, AppendEntriesReply, Bytes, InstallSnapshot, InstallSnapshotReply, LogEntry,
    Membership, MembershipChange, Message, PreVote, PreVoteReply, ReadConfirm, ReadConfirmReply,
    ReadIndexReply, ReadIndexRequest, RequestVote, RequestVoteReply, TimeoutNow,
};

/// One sample per message kind, with field values that exercise one- and multi-byte
/// varints. Changing any of these changes a golden vector: don't.
pub fn samples() -> Vec<(&'static str, Message)> {
    vec![
        (
            "pre_vote",
            Message::PreVote(PreVote {
                term: 5,
                candidate: 2,
                last_log_index: 300,
                last_log_term: 4,
            }),
        ),
        (
            "pre_vote_reply",
            Message::PreVoteReply(PreVoteReply {
                term: 5,
                vote_granted: true,
                from: 3,
                incarnation: 0,
            }),
        ),
        (
            "request_vote",
            Message::RequestVote(RequestVote {
                term: 6,
                candidate: 2,
                last_log_index: 300,
                last_log_term: 4,
                force: false,
            }),
        ),
        (
            "request_vote_reply",
            Message::RequestVoteReply(RequestVoteReply {
                term: 6,
                vote_granted: false,
                from: 1,
                incarnation: 0,
            }),
        ),
        (
            "append_entries",
            Message::AppendEntries(AppendEntries {
                term: 6,
                leader: 2,
                prev_log_index: 300,
                prev_log_term: 4,
                entries: vec![
                    LogEntry::noop(6, 301),
                    LogEntry::new(6, 302, Bytes::from_static(b"set x = 1")),
                ],
                leader_commit: 299,
            }),
        ),
        (
            "append_entries_reply",
            Message::AppendEntriesReply(AppendEntriesReply {
                term: 6,
                success: false,
                from: 3,
                prev_log_index: 300,
                match_index: 0,
                conflict_index: 128,
                conflict_term: 3,
                incarnation: 0,
            }),
        ),
        (
            "timeout_now",
            Message::TimeoutNow(TimeoutNow { term: 7, leader: 2 }),
        ),
        (
            "read_confirm",
            Message::ReadConfirm(ReadConfirm {
                term: 7,
                leader: 2,
                round: 200,
            }),
        ),
        (
            "read_confirm_reply",
            Message::ReadConfirmReply(ReadConfirmReply {
                term: 7,
                from: 3,
                round: 200,
                incarnation: 0,
            }),
        ),
        (
            "install_snapshot",
            Message::InstallSnapshot(Box::new(InstallSnapshot {
                term: 8,
                leader: 2,
                last_included_index: 300,
                last_included_term: 6,
                membership: Membership::new([1, 2, 3], [4]),
                offset: 128,
                data: Bytes::from_static(b"chunk"),
                done: true,
            })),
        ),
        (
            "install_snapshot_joint",
            Message::InstallSnapshot(Box::new(InstallSnapshot {
                term: 8,
                leader: 2,
                last_included_index: 300,
                last_included_term: 6,
                membership: Membership::new([1, 2, 3], [])
                    .enter_joint(&Membership::new([1, 4, 5], [3]), true)
                    .unwrap(),
                offset: 128,
                data: Bytes::from_static(b"chunk"),
                done: true,
            })),
        ),
        (
            "read_index_request",
            Message::ReadIndexRequest(ReadIndexRequest {
                term: 8,
                from: 3,
                context: Bytes::from_static(b"read 7"),
            }),
        ),
        (
            "read_index_reply",
            Message::ReadIndexReply(ReadIndexReply {
                term: 8,
                leader: 2,
                index: 301,
                context: Bytes::from_static(b"read 7"),
            }),
        ),
        (
            "install_snapshot_reply",
            Message::InstallSnapshotReply(InstallSnapshotReply {
                term: 8,
                from: 3,
                last_included_index: 300,
                next_offset: 133,
                done: true,
                incarnation: 0,
            }),
        ),
        (
            "append_entries_reply_incarnated",
            Message::AppendEntriesReply(AppendEntriesReply {
                term: 8,
                success: true,
                from: 3,
                prev_log_index: 300,
                match_index: 302,
                conflict_index: 0,
                conflict_term: 0,
                incarnation: 0x1234_5678_9abc_def0,
            }),
        ),
        (
            "install_snapshot_incarnated",
            Message::InstallSnapshot(Box::new(InstallSnapshot {
                term: 8,
                leader: 2,
                last_included_index: 300,
                last_included_term: 6,
                membership: Membership::new([1, 2, 3], [])
                    .apply(MembershipChange::Reincarnate {
                        node: 3,
                        incarnation: 77,
                    })
                    .unwrap(),
                offset: 128,
                data: Bytes::from_static(b"chunk"),
                done: true,
            })),
        ),
    ]
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Parses hex, ignoring whitespace and `#` comments to the end of a line.
pub fn from_hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..digits.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&digits[at..at + 2], 16).expect("hex digit pair"))
        .collect()
}
