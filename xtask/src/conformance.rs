//! `cargo xtask conformance`: the Raft rules, the tests that check them, and where each
//! rule lives (the table in ARCHITECTURE.md, checked against the code).

use std::collections::BTreeMap;
use std::path::Path;

use crate::cargo;

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
        rule: "recovery: a node that lost entries elects no leader without them",
        test_binary: "recovery",
        test: "a_follower_that_lost_a_committed_entry_does_not_elect_a_leader_without_it",
    },
    Rule {
        rule: "recovery: votes only for logs as good as the lost one",
        test_binary: "recovery",
        test: "a_repairing_node_votes_only_for_logs_as_good_as_the_lost_one",
    },
    Rule {
        rule: "recovery: a damaged leader is repaired by the next",
        test_binary: "recovery",
        test: "a_leader_whose_own_entry_is_damaged_is_repaired_by_the_next_leader",
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
        rule: "Figure 2 every AppendEntries answered (but a bare commit notice)",
        test_binary: "replication",
        test: "every_append_entries_is_answered_but_a_commit_notice",
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

/// Runs every rule test and prints one line per rule, then checks the rule table in
/// ARCHITECTURE.md: each home (file and functions) exists, each test it names passed.
pub(crate) fn conformance() -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let homes = match read_homes(&root) {
        Ok(homes) => homes,
        Err(error) => {
            eprintln!("ARCHITECTURE.md: {error}");
            return false;
        }
    };
    let mut binaries: Vec<&str> = RULES.iter().map(|rule| rule.test_binary).collect();
    binaries.extend(
        homes
            .iter()
            .flat_map(|home| home.tests.iter().map(|test| test.0.as_str())),
    );
    binaries.sort_unstable();
    binaries.dedup();
    let Some(outcomes) = run_tests(&binaries) else {
        return false;
    };
    let mut all_passed = true;
    println!("{:<46} {:<60} result", "rule", "test");
    for rule in RULES {
        let passed = outcomes
            .get(&(rule.test_binary.to_owned(), rule.test.to_owned()))
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
    println!();
    println!("{:<56} {:<70} result", "rule (ARCHITECTURE.md)", "home");
    for home in &homes {
        let missing_home = check_home(&root, &home.home);
        let mut result = String::from("pass");
        if let Some(missing) = &missing_home {
            result = format!("HOME? {missing}");
        }
        for (binary, pattern) in &home.tests {
            let matching: Vec<bool> = outcomes
                .iter()
                .filter(|((b, name), _)| b == binary && matches(pattern, name))
                .map(|(_, &passed)| passed)
                .collect();
            if matching.is_empty() {
                result = format!("MISSING {binary}::{pattern}");
            } else if matching.contains(&false) {
                result = format!("FAIL {binary}::{pattern}");
            }
        }
        all_passed &= result == "pass";
        println!(
            "{:<56} {:<70} {result}",
            home.rule,
            home.home.replace('`', "")
        );
    }
    all_passed
}

/// Runs the named raft-core test binaries; every test's outcome by (binary, name).
fn run_tests(binaries: &[&str]) -> Option<BTreeMap<(String, String), bool>> {
    let mut outcomes = BTreeMap::new();
    for &binary in binaries {
        let output = match cargo(&["test", "-p", "raft-core", "--test", binary]).output() {
            Ok(output) => output,
            Err(error) => {
                eprintln!("cannot run cargo: {error}");
                return None;
            }
        };
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some(rest) = line.strip_prefix("test ")
                && let Some((name, outcome)) = rest.split_once(" ... ")
            {
                let _ =
                    outcomes.insert((binary.to_owned(), name.to_owned()), outcome.trim() == "ok");
            }
        }
        if !output.status.success() {
            // Failing tests print their names in the output above; keep going.
            eprintln!("{binary}: some tests failed");
        }
    }
    Some(outcomes)
}

/// One row of ARCHITECTURE.md's rule table.
struct Home {
    rule: String,
    home: String,
    /// (test binary, test name or `prefix*`).
    tests: Vec<(String, String)>,
}

/// The text between backticks in `cell`, in order.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn read_homes(root: &Path) -> Result<Vec<Home>, String> {
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).map_err(|e| e.to_string())?;
    let mut lines = text
        .lines()
        .skip_while(|line| !line.starts_with("| rule | home |"));
    if lines.next().is_none() {
        return Err("no rule table (a header `| rule | home | ...`)".into());
    }
    let mut homes = Vec::new();
    for line in lines.skip(1).take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, rule, home, tests, ..] = cells[..] else {
            return Err(format!("a row without three cells: {line}"));
        };
        let tests = backticked(tests)
            .into_iter()
            .filter_map(|test| test.split_once("::"))
            .map(|(binary, name)| (binary.to_owned(), name.to_owned()))
            .collect::<Vec<_>>();
        if tests.is_empty() {
            return Err(format!("a rule without a test: {rule}"));
        }
        homes.push(Home {
            rule: rule.to_owned(),
            home: home.to_owned(),
            tests,
        });
    }
    if homes.is_empty() {
        return Err("the rule table is empty".into());
    }
    Ok(homes)
}

/// Whether `name` is `pattern`, or starts with it when it ends in `*`.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// Checks a home cell against raft-core's sources: each `file.rs` exists and each
/// function named after it is defined there (or anywhere in raft-core when no file
/// precedes it). Returns what is missing.
fn check_home(root: &Path, home: &str) -> Option<String> {
    let src = root.join("crates/raft-core/src");
    let mut file: Option<String> = None;
    for token in backticked(home) {
        if token.ends_with(".rs") {
            let path = src.join(token);
            match std::fs::read_to_string(&path) {
                Ok(text) => file = Some(text),
                Err(_) => return Some(token.to_owned()),
            }
        } else if token.contains('/') {
            // A folder (`node/`): nothing to check by name.
        } else {
            let name = token.rsplit("::").next().unwrap_or(token);
            let defined = |text: &str| {
                text.contains(&format!("fn {name}("))
                    || text.contains(&format!("fn {name}<"))
                    || text.contains(&format!("struct {name}"))
            };
            let found = match &file {
                Some(text) => defined(text),
                None => all_sources(&src).iter().any(|text| defined(text)),
            };
            if !found {
                return Some(token.to_owned());
            }
        }
    }
    None
}

fn all_sources(dir: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return texts;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            texts.extend(all_sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs")
            && let Ok(text) = std::fs::read_to_string(&path)
        {
            texts.push(text);
        }
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    // The table parses, and its homes name files and functions that exist.
    #[test]
    fn architecture_homes_exist() {
        let homes = read_homes(&root()).expect("the rule table parses");
        assert!(homes.len() >= 20);
        for home in &homes {
            assert_eq!(check_home(&root(), &home.home), None, "{}", home.rule);
        }
    }

    // A home naming a file or function that does not exist is reported.
    #[test]
    fn a_stale_home_is_reported() {
        let missing = check_home(&root(), "`node/receive.rs` `no_such_function`");
        assert_eq!(missing.as_deref(), Some("no_such_function"));
        let missing = check_home(&root(), "`node/gone.rs` `receive`");
        assert_eq!(missing.as_deref(), Some("node/gone.rs"));
        assert!(matches("check_quorum_*", "check_quorum_isolated"));
        assert!(!matches("check_quorum", "check_quorum_isolated"));
    }
}
