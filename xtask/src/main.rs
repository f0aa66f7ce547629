//! The one entry to the project's chores: `cargo xtask <command>`.
//!
//! - `ci`: what CI runs — fmt check, clippy with warnings denied, the tests, the docs
//!   with warnings denied.
//! - `test`: the README's test command (`cargo test --workspace --all-features`).
//! - `conformance`: runs the protocol scenario tests and prints one line per Raft rule.
//! - `chaos [--seeds N]`: the seeded fault runs of raft-core, in release mode, over N
//!   seeds (default 5000).
//! - `fuzz TARGET [--seconds N]`: runs one cargo-fuzz target (frame_decode,
//!   stream_decode, message_decode, node_step) for N seconds (default 60) on the nightly toolchain,
//!   installing cargo-fuzz from crates.io if it is missing. New inputs land in
//!   fuzz/corpus/TARGET, which the stable tests replay.
//! - `sim [--seeds N] [--start S] [--faults PROFILE]`: the raft-sim kitchen-sink suite
//!   in release mode (default 5000 seeds, all faults), with a progress bar and summary.
//! - `repro --seed S [--faults PROFILE]`: replays one simulated run and prints its trace.
//! - `bench`: the criterion benches (commit, codec and WAL throughput).
//! - `cluster [--nodes N] [--demo]`: a local raft-kv cluster of N server processes on
//!   127.0.0.1 (data in a temporary directory) until Ctrl-C; `--demo` runs the scripted
//!   demo instead (election, writes, leader SIGKILL, failover, catch-up).
//! - `cluster-test [--secs N] [--clients C] [--seed S]`: the SIGKILL crash test across
//!   processes with the linearizability check, for N seconds (default 10).
//! - `cluster-bench [--clients 1,16] [--secs N] [--failovers K]`: write throughput and
//!   p50/p99 latency with fsync on, and failover time after a leader kill.

use std::process::{Command, ExitCode};

/// A Raft rule and the scenario test that checks it.
struct Rule {
    rule: &'static str,
    test_binary: &'static str,
    test: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        rule: "§5.1 higher term converts to follower",
        test_binary: "election",
        test: "term_rule_higher_term_converts_to_follower",
    },
    Rule {
        rule: "§5.1 stale-term request rejected",
        test_binary: "election",
        test: "term_rule_stale_request_is_rejected_with_current_term",
    },
    Rule {
        rule: "§5.2 single node elects itself",
        test_binary: "election",
        test: "election_one_node_wins_alone",
    },
    Rule {
        rule: "§5.2 one-round outcomes (3, 5 nodes)",
        test_binary: "election",
        test: "election_one_round_outcomes_for_3_and_5",
    },
    Rule {
        rule: "§5.2 one vote per term",
        test_binary: "election",
        test: "election_one_vote_per_term",
    },
    Rule {
        rule: "§5.2 timeouts within configured range",
        test_binary: "election",
        test: "election_timeout_within_range",
    },
    Rule {
        rule: "§5.2 clusters of 1/3/5 elect one leader",
        test_binary: "election",
        test: "clusters_of_1_3_5_elect_one_leader",
    },
    Rule {
        rule: "§5.4.1 election restriction",
        test_binary: "election",
        test: "election_restriction_refuses_stale_logs",
    },
    Rule {
        rule: "Figure 2 vote persists across restart",
        test_binary: "election",
        test: "vote_persists_across_restart",
    },
    Rule {
        rule: "votes from non-members not counted",
        test_binary: "election",
        test: "votes_from_non_members_are_not_counted",
    },
    Rule {
        rule: "§9.6 pre-vote keeps the term",
        test_binary: "election",
        test: "pre_vote_does_not_bump_term",
    },
    Rule {
        rule: "§9.6 pre-vote needs a higher term",
        test_binary: "election",
        test: "pre_vote_requires_a_strictly_higher_term",
    },
    Rule {
        rule: "§9.6 rejoining node does not depose leader",
        test_binary: "election",
        test: "pre_vote_rejoining_node_does_not_depose_leader",
    },
    Rule {
        rule: "§4.2.3 leader stickiness",
        test_binary: "election",
        test: "leader_stickiness_refuses_votes_while_leader_is_fresh",
    },
    Rule {
        rule: "§3.10 forced election bypasses stickiness",
        test_binary: "election",
        test: "forced_vote_request_bypasses_stickiness",
    },
    Rule {
        rule: "§6.2 check-quorum: isolated leader steps down",
        test_binary: "election",
        test: "check_quorum_isolated_leader_steps_down",
    },
    Rule {
        rule: "term ceiling: no frame ends all elections",
        test_binary: "election",
        test: "term_ceiling_refuses_terms_no_election_could_follow",
    },
    Rule {
        rule: "§5.3 consistency check",
        test_binary: "replication",
        test: "append_consistency_check_rejects_missing_predecessor",
    },
    Rule {
        rule: "§5.3 conflicting suffix replaced",
        test_binary: "replication",
        test: "append_conflict_truncates_and_replaces",
    },
    Rule {
        rule: "§5.3 stale append keeps longer log",
        test_binary: "replication",
        test: "append_of_present_entries_keeps_longer_log",
    },
    Rule {
        rule: "§5.3 commit = min(leaderCommit, last new)",
        test_binary: "replication",
        test: "follower_commit_is_bounded_by_last_new_entry",
    },
    Rule {
        rule: "commit index never decreases",
        test_binary: "replication",
        test: "follower_commit_never_decreases_on_reorder",
    },
    Rule {
        rule: "malformed append refused, not fatal",
        test_binary: "replication",
        test: "malformed_append_is_refused_not_fatal",
    },
    Rule {
        rule: "committed entries never truncated",
        test_binary: "replication",
        test: "append_contradicting_committed_entries_is_refused",
    },
    Rule {
        rule: "Figure 7 followers converge",
        test_binary: "replication",
        test: "figure_7_each_follower_converges_to_the_leader",
    },
    Rule {
        rule: "Figure 8 no commit by counting old terms",
        test_binary: "replication",
        test: "figure_8_no_commit_by_counting_old_term_replicas",
    },
    Rule {
        rule: "Figure 8 uncommitted old entry overwritten",
        test_binary: "replication",
        test: "figure_8_scenario_old_entry_on_majority_is_overwritten_safely",
    },
    Rule {
        rule: "§5.3 apply in order, exactly once",
        test_binary: "replication",
        test: "committed_entries_apply_in_order_exactly_once",
    },
    Rule {
        rule: "§5.4.2 no-op commits inherited tail",
        test_binary: "replication",
        test: "new_leader_commits_inherited_tail_without_proposals",
    },
    Rule {
        rule: "fresh leader appends no no-op",
        test_binary: "replication",
        test: "fresh_leader_appends_no_noop",
    },
    Rule {
        rule: "fast conflict back-off",
        test_binary: "replication",
        test: "fast_backoff_needs_few_round_trips",
    },
    Rule {
        rule: "flow control bounds a silent follower",
        test_binary: "replication",
        test: "flow_control_bounds_a_silent_follower",
    },
    Rule {
        rule: "a batch is one append per follower",
        test_binary: "replication",
        test: "batch_is_one_append_per_follower",
    },
    Rule {
        rule: "safety under seeded faults",
        test_binary: "faults",
        test: "seeded_chaos_runs_stay_safe_and_converge",
    },
    Rule {
        rule: "same seed, same trace",
        test_binary: "faults",
        test: "same_seed_same_trace",
    },
    Rule {
        rule: "§3.10 transfer: target takes over at once",
        test_binary: "transfer",
        test: "transfer_to_an_up_to_date_follower_completes_at_once",
    },
    Rule {
        rule: "§3.10 transfer: target caught up first",
        test_binary: "transfer",
        test: "lagging_target_is_caught_up_before_timeout_now",
    },
    Rule {
        rule: "§3.10 transfer: aborts, proposals resume",
        test_binary: "transfer",
        test: "unreachable_target_is_abandoned_and_proposals_resume",
    },
    Rule {
        rule: "§3.10 transfer: invalid targets refused",
        test_binary: "transfer",
        test: "invalid_transfers_are_refused",
    },
    Rule {
        rule: "§6.4 ReadIndex waits for a quorum round",
        test_binary: "reads",
        test: "read_index_waits_for_a_quorum_round",
    },
    Rule {
        rule: "§6.4 new leader reads after own-term commit",
        test_binary: "reads",
        test: "new_leader_waits_for_an_entry_of_its_term",
    },
    Rule {
        rule: "§6.4 isolated leader confirms no read",
        test_binary: "reads",
        test: "isolated_leader_never_confirms_and_drops_the_read",
    },
    Rule {
        rule: "§6.4 lease reads only while fresh",
        test_binary: "reads",
        test: "lease_reads_answer_at_once_while_fresh",
    },
    Rule {
        rule: "§4.1 learners replicate, then promote",
        test_binary: "membership",
        test: "learner_replicates_then_promotes",
    },
    Rule {
        rule: "§4.1 catch-up first, one change at a time",
        test_binary: "membership",
        test: "promotion_needs_catch_up_and_one_change_at_a_time",
    },
    Rule {
        rule: "§4.2.2 removed leader steps down on commit",
        test_binary: "membership",
        test: "leader_removing_itself_steps_down_after_commit",
    },
    Rule {
        rule: "§4.2.3 removed voter cannot disrupt",
        test_binary: "membership",
        test: "removed_voter_stops_counting_and_cannot_disrupt",
    },
    Rule {
        rule: "2015 fix: commit own term before a change",
        test_binary: "membership",
        test: "fresh_leader_commits_its_term_before_changing_configuration",
    },
    Rule {
        rule: "2015 fix: a held change abandoned on step-down is reported",
        test_binary: "membership",
        test: "held_change_abandoned_by_a_step_down_is_reported",
    },
    Rule {
        rule: "configuration survives restart",
        test_binary: "membership",
        test: "configuration_survives_restart",
    },
    Rule {
        rule: "§7 lagging follower installs a chunked snapshot",
        test_binary: "snapshots",
        test: "lagging_follower_catches_up_from_a_chunked_snapshot",
    },
    Rule {
        rule: "§7 lost/duplicated chunks are harmless",
        test_binary: "snapshots",
        test: "lost_and_duplicated_chunks_are_harmless",
    },
    Rule {
        rule: "§7 old snapshot acknowledged, not restored",
        test_binary: "snapshots",
        test: "old_snapshot_is_acknowledged_not_restored",
    },
    Rule {
        rule: "§7 restart restores snapshot then applies",
        test_binary: "snapshots",
        test: "restart_restores_the_snapshot_then_applies_the_rest",
    },
    Rule {
        rule: "vote synced before its reply",
        test_binary: "durability",
        test: "vote_is_synced_before_the_reply",
    },
    Rule {
        rule: "one sync per step (group commit)",
        test_binary: "durability",
        test: "append_and_term_share_one_sync",
    },
    Rule {
        rule: "§10.2.1 deferred leader sync: own copy counts only once synced",
        test_binary: "durability",
        test: "deferred_sync_replicates_first_and_counts_the_leader_only_after_its_sync",
    },
    Rule {
        rule: "§10.2.1 deferred leader sync: followers alone can commit",
        test_binary: "durability",
        test: "deferred_sync_commits_on_followers_alone",
    },
    Rule {
        rule: "storage failure stops the node",
        test_binary: "durability",
        test: "failed_sync_stops_the_node",
    },
    Rule {
        rule: "restart restores term, vote, commit",
        test_binary: "durability",
        test: "restart_restores_term_vote_and_commit",
    },
    Rule {
        rule: "Figure 2 every AppendEntries answered",
        test_binary: "replication",
        test: "every_append_entries_is_answered",
    },
    Rule {
        rule: "§6.2 connected leader stays when followers tick slower",
        test_binary: "defence",
        test: "check_quorum_connected_leader_stays_when_followers_tick_slower",
    },
    Rule {
        rule: "§6.2 connected leader stays through membership changes",
        test_binary: "defence",
        test: "check_quorum_connected_leader_stays_through_membership_changes",
    },
    Rule {
        rule: "§6.2 check-quorum ignores replies to what was never sent",
        test_binary: "defence",
        test: "check_quorum_ignores_replies_to_what_was_never_sent",
    },
    Rule {
        rule: "index ceiling: hostile indexes refused in every role",
        test_binary: "defence",
        test: "index_ceiling_refuses_hostile_indexes_in_every_role",
    },
    Rule {
        rule: "index ceiling: a full log refuses proposals",
        test_binary: "defence",
        test: "index_ceiling_log_full_refuses_proposals",
    },
    Rule {
        rule: "acknowledgements count only up to what was sent",
        test_binary: "defence",
        test: "reply_past_what_was_sent_commits_nothing",
    },
    Rule {
        rule: "read confirmations count only for started rounds",
        test_binary: "defence",
        test: "read_confirm_reply_counts_only_for_started_rounds",
    },
    Rule {
        rule: "append contradicting the snapshot refused",
        test_binary: "defence",
        test: "append_contradicting_the_snapshot_is_refused",
    },
    Rule {
        rule: "oversized proposals refused (entry_bytes_max)",
        test_binary: "defence",
        test: "entry_bytes_max_refuses_oversized_proposals",
    },
    Rule {
        rule: "every AppendEntries within the byte cap",
        test_binary: "defence",
        test: "entry_bytes_max_keeps_every_append_within_the_cap",
    },
    Rule {
        rule: "read queues bounded (pending_reads_max)",
        test_binary: "defence",
        test: "pending_reads_max_bounds_both_read_queues",
    },
    Rule {
        rule: "incoming snapshot bounded (snapshot_bytes_max)",
        test_binary: "defence",
        test: "snapshot_bytes_max_bounds_the_incoming_buffer",
    },
    Rule {
        rule: "broken RaftLog contract is a storage error",
        test_binary: "defence",
        test: "broken_log_contract_is_a_storage_error",
    },
    Rule {
        rule: "node_step fuzz corpus replays clean",
        test_binary: "node_step",
        test: "node_step_corpus_replays_clean",
    },
    Rule {
        rule: "node_step seeded inputs hold every check",
        test_binary: "node_step",
        test: "node_step_random_inputs_hold_the_checks",
    },
];

fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    let _ = command.args(args);
    command
}

fn run(mut command: Command) -> bool {
    eprintln!("$ {command:?}");
    command.status().is_ok_and(|status| status.success())
}

fn ci() -> bool {
    let mut doc = cargo(&["doc", "--workspace", "--all-features", "--no-deps"]);
    let _ = doc.env("RUSTDOCFLAGS", "-D warnings");
    run(cargo(&["fmt", "--all", "--", "--check"]))
        && run(cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))
        && run(cargo(&["test", "--workspace", "--all-features"]))
        && run(doc)
        && raft_sim(&["sim".to_owned(), "--seeds".to_owned(), "2000".to_owned()])
}

fn conformance() -> bool {
    let mut binaries: Vec<&str> = RULES.iter().map(|rule| rule.test_binary).collect();
    binaries.sort_unstable();
    binaries.dedup();
    let mut outcomes = std::collections::BTreeMap::new();
    for binary in binaries {
        let output = match cargo(&["test", "-p", "raft-core", "--test", binary]).output() {
            Ok(output) => output,
            Err(error) => {
                eprintln!("cannot run cargo: {error}");
                return false;
            }
        };
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some(rest) = line.strip_prefix("test ")
                && let Some((name, outcome)) = rest.split_once(" ... ")
            {
                let _ = outcomes.insert((binary, name.to_owned()), outcome.trim() == "ok");
            }
        }
        if !output.status.success() {
            // Failing tests print their names in the output above; keep going.
            eprintln!("{binary}: some tests failed");
        }
    }
    let mut all_passed = true;
    println!("{:<46} {:<60} result", "rule", "test");
    for rule in RULES {
        let passed = outcomes
            .get(&(rule.test_binary, rule.test.to_owned()))
            .copied();
        let result = match passed {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "MISSING",
        };
        all_passed &= passed == Some(true);
        println!(
            "{:<46} {:<60} {result}",
            rule.rule,
            format!("{}::{}", rule.test_binary, rule.test)
        );
    }
    all_passed
}

fn chaos(seeds: &str) -> bool {
    let mut command = cargo(&[
        "test",
        "--release",
        "-p",
        "raft-core",
        "--test",
        "faults",
        "--",
        "seeded",
    ]);
    let _ = command.env("RAFT_CHAOS_SEEDS", seeds);
    run(command)
}

const FUZZ_TARGETS: &[&str] = &[
    "frame_decode",
    "stream_decode",
    "message_decode",
    "node_step",
];

fn fuzz(target: &str, seconds: &str) -> bool {
    if !FUZZ_TARGETS.contains(&target) {
        eprintln!("unknown fuzz target {target:?}; one of {FUZZ_TARGETS:?}");
        return false;
    }
    let nightly = Command::new("cargo")
        .args(["+nightly", "--version"])
        .output();
    if !nightly.is_ok_and(|output| output.status.success()) {
        eprintln!("cargo fuzz needs a nightly toolchain: rustup toolchain install nightly");
        return false;
    }
    let installed = Command::new("cargo").args(["fuzz", "--version"]).output();
    if !installed.is_ok_and(|output| output.status.success())
        && !run(cargo(&["install", "cargo-fuzz", "--locked"]))
    {
        return false;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut command = Command::new("cargo");
    let _ = command
        .current_dir(root.join("fuzz"))
        .args([
            "+nightly",
            "fuzz",
            "run",
            target,
            &format!("corpus/{target}"),
            "--",
        ])
        .arg(format!("-max_total_time={seconds}"));
    run(command)
}

fn flag_value(args: &[String], flag: &str, default: &str) -> Option<String> {
    let value = match args.iter().position(|arg| arg == flag) {
        Some(position) => args.get(position + 1).cloned().unwrap_or_default(),
        None => default.to_owned(),
    };
    if value.parse::<u64>().is_err() {
        eprintln!("{flag} takes a number");
        return None;
    }
    Some(value)
}

/// Runs the raft-sim binary in release mode with `args`.
fn raft_sim(args: &[String]) -> bool {
    let mut command = cargo(&["run", "--release", "--quiet", "-p", "raft-sim", "--"]);
    let _ = command.args(args);
    run(command)
}

/// Runs the raft-kv binary in release mode with `args`.
fn raft_kv(args: &[String]) -> bool {
    // Not --quiet: the first build takes minutes, and cargo says what it is doing (or
    // that it waits for the build lock) instead of looking hung.
    eprintln!("building raft-kv (release) if needed, then running it");
    let mut command = cargo(&["run", "--release", "-p", "raft-kv", "--"]);
    let _ = command.args(args);
    run(command)
}

/// `cargo xtask cluster [--nodes N] [--demo]`: a local cluster until Ctrl-C, or the
/// scripted demo.
fn cluster(args: &[String]) -> bool {
    let mut rest: Vec<String> = args
        .iter()
        .filter(|arg| *arg != "--demo")
        .cloned()
        .collect();
    if args.iter().any(|arg| arg == "--demo") {
        rest.insert(0, "demo".into());
    } else {
        rest.insert(0, "cluster".into());
    }
    raft_kv(&rest)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ok = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => run(cargo(&["test", "--workspace", "--all-features"])),
        Some("conformance") => conformance(),
        Some("chaos") => match flag_value(&args, "--seeds", "5000") {
            Some(seeds) => chaos(&seeds),
            None => return ExitCode::from(2),
        },
        Some("fuzz") => {
            let Some(target) = args.get(1) else {
                eprintln!(
                    "usage: cargo xtask fuzz <{}> [--seconds N]",
                    FUZZ_TARGETS.join(" | ")
                );
                return ExitCode::from(2);
            };
            match flag_value(&args, "--seconds", "60") {
                Some(seconds) => fuzz(target, &seconds),
                None => return ExitCode::from(2),
            }
        }
        // raft-sim's own arguments pass through (its default here: 5000 seeds).
        Some("sim") => {
            let mut rest = args.clone();
            if !rest.iter().any(|arg| arg == "--seeds") {
                rest.extend(["--seeds".to_owned(), "5000".to_owned()]);
            }
            raft_sim(&rest)
        }
        Some("repro") => raft_sim(&args),
        Some("cluster") => cluster(&args[1..]),
        Some("cluster-test") => {
            let mut rest = vec!["torture".to_owned()];
            rest.extend(args[1..].iter().cloned());
            raft_kv(&rest)
        }
        Some("cluster-bench") => {
            let mut rest = vec!["bench".to_owned()];
            rest.extend(args[1..].iter().cloned());
            raft_kv(&rest)
        }
        Some("bench") => {
            run(cargo(&[
                "bench",
                "-p",
                "raft-core",
                "--bench",
                "throughput",
            ])) && run(cargo(&["bench", "-p", "raft-wire", "--bench", "codec"]))
                && run(cargo(&[
                    "bench",
                    "-p",
                    "raft-io",
                    "--features",
                    "tls",
                    "--bench",
                    "tcp",
                ]))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <ci | test | conformance | chaos [--seeds N] | sim [--seeds N] [--start S] [--faults P] | repro --seed S | fuzz TARGET [--seconds N] | bench | cluster [--nodes N] [--demo] | cluster-test [--secs N] [--clients C] [--seed S] | cluster-bench [--clients 1,16] [--secs N] [--failovers K]>"
            );
            return ExitCode::from(2);
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
