//! The one entry to the project's chores: `cargo xtask <command>`.
//!
//! - `ci`: what CI runs — fmt check, clippy with warnings denied, the tests, the docs
//!   with warnings denied.
//! - `test`: the README's test command (`cargo test --workspace --all-features`).
//! - `conformance`: runs the protocol scenario tests and prints one line per Raft rule,
//!   then the rule table of ARCHITECTURE.md with each home checked against the code.
//! - `chaos [--seeds N]`: the seeded fault runs of raft-core, in release mode, over N
//!   seeds (default 5000).
//! - `fuzz TARGET [--seconds N]`: runs one cargo-fuzz target (frame_decode,
//!   stream_decode, message_decode, node_step) for N seconds (default 60) on the nightly toolchain,
//!   installing cargo-fuzz from crates.io if it is missing. New inputs land in
//!   fuzz/corpus/TARGET, which the stable tests replay.
//! - `sim [--seeds N] [--start S] [--faults PROFILE]`: the raft-sim kitchen-sink suite
//!   in release mode (default 5000 seeds, all faults), with a progress bar and summary.
//! - `repro --seed S [--faults PROFILE]`: replays one simulated run and prints its trace.
//!   `sim` and `repro` take `--mutant NAME` to run with one classic protocol bug switched
//!   on (raft-sim built with feature `mutants`).
//! - `repro --schedule FILE`: replays a schedule file (written by `shrink`) exactly.
//! - `shrink --seed S [--faults PROFILE] [--mutant NAME] [--out FILE]`: cuts a failing
//!   run down to a small one that breaks the same property and writes its schedule.
//! - `timeline (--seed S [--mutant NAME] | --schedule FILE) --out run.html`: the run as
//!   one self-contained HTML page (inline SVG): lanes, roles and terms, messages,
//!   faults, client operations, the first violation. `repro ... --trace-json FILE`
//!   writes the same run as JSON lines (docs/TRACE.md).
//! - `mutants [--seeds-max N] [--faults PROFILE]`: for every protocol mutant, the first
//!   seed the checker catches it on; fails if one survives N seeds (default 2000).
//! - `bench`: the criterion benches (commit, codec and WAL throughput).
//! - `instructions [--baseline REV]`: instructions per entry (per trial) for each row of
//!   issue 20's table, counted with callgrind (needs valgrind): steady where timings are
//!   noisy. `--baseline` builds REV in a worktree too and prints the ratio.
//! - `cluster [--nodes N] [--demo]`: a local raft-kv cluster of N server processes on
//!   127.0.0.1 (data in a temporary directory) until Ctrl-C; `--demo` runs the scripted
//!   demo instead (election, writes, leader SIGKILL, failover, catch-up).
//! - `cluster-test [--secs N] [--clients C] [--seed S]`: the SIGKILL crash test across
//!   processes with the linearizability check, for N seconds (default 10).
//! - `cluster-bench [--clients 1,16] [--secs N] [--failovers K]`: write throughput and
//!   p50/p99 latency with fsync on, and failover time after a leader kill.

mod conformance;
mod instructions;

use std::process::{Command, ExitCode};

use conformance::conformance;

pub(crate) fn cargo(args: &[&str]) -> Command {
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

/// Runs the raft-sim binary in release mode with `args`. It is built with feature
/// `mutants` (as in CI), so `--mutant` and schedules naming one work; every mutant is off
/// unless named, and no other build of raft-core has the feature.
fn raft_sim(args: &[String]) -> bool {
    let mut command = cargo(&[
        "run",
        "--release",
        "--quiet",
        "-p",
        "raft-sim",
        "--features",
        "mutants",
        "--",
    ]);
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
        Some("repro" | "mutants" | "shrink" | "timeline") => raft_sim(&args),
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
        Some("instructions") => {
            let baseline = match args.iter().position(|arg| arg == "--baseline") {
                Some(position) => match args.get(position + 1) {
                    Some(rev) => Some(rev.as_str()),
                    None => {
                        eprintln!("--baseline takes a git revision");
                        return ExitCode::from(2);
                    }
                },
                None => None,
            };
            instructions::instructions_per_row(baseline)
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
                "usage: cargo xtask <ci | test | conformance | chaos [--seeds N] | sim [--seeds N] [--start S] [--faults P] [--mutant NAME] | repro --seed S [--mutant NAME] | repro --schedule FILE | shrink --seed S [--mutant NAME] [--out FILE] | timeline --seed S --out run.html | mutants [--seeds-max N] | fuzz TARGET [--seconds N] | bench | instructions [--baseline REV] | cluster [--nodes N] [--demo] | cluster-test [--secs N] [--clients C] [--seed S] | cluster-bench [--clients 1,16] [--secs N] [--failovers K]>"
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
