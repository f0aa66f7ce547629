//! `cargo xtask instructions`: instructions per entry (or per trial) for each row of
//! issue 20's table, counted by callgrind (valgrind). A count does not move with the
//! machine's load, so it settles small changes that wall-clock timings on a noisy
//! machine cannot; it is not a time (cache misses and allocator behaviour are not in
//! it), so quote it beside the timings, not instead of them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cargo;

/// The rows (as the `workload` example names them) and how many entries or trials
/// each run counts.
const ROWS: [(&str, u64); 8] = [
    ("3-nodes/B=1", 5_000),
    ("3-nodes/B=64", 64_000),
    ("3-nodes/B=1024", 102_400),
    ("3-nodes/each/B=64", 64_000),
    ("1-node/each/B=64", 64_000),
    ("3-nodes/build", 2_000),
    ("3-nodes/elect", 500),
    ("3-nodes/elect/all-tick", 500),
];

/// Instructions one run of the example executes, from callgrind's summary line.
fn instructions(example: &Path, row: &str, count: u64) -> Option<u64> {
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(example)
        .args([row, &count.to_string()])
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("{row}: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|line| {
            line.split_once("Collected : ")
                .map(|(_, n)| n.trim().to_owned())
        })
        .and_then(|n| n.parse().ok())
}

/// Builds the `workload` example of the checkout at `root` into `target`; returns the
/// binary.
fn build_example(root: &Path, target: &Path) -> Option<PathBuf> {
    let built = cargo(&[
        "build",
        "--release",
        "-p",
        "raft-core",
        "--example",
        "workload",
    ])
    .current_dir(root)
    .env("CARGO_TARGET_DIR", target)
    .status()
    .is_ok_and(|status| status.success());
    built.then(|| target.join("release/examples/workload"))
}

/// Instructions each (per entry or per trial) for every row: the run with zero counts
/// start-up and the cluster's setup (election included for the commit rows), and the
/// difference is the rows' own work.
fn per_row(example: &Path) -> Option<Vec<f64>> {
    ROWS.iter()
        .map(|&(row, count)| {
            let base = instructions(example, row, 0)?;
            let total = instructions(example, row, count)?;
            Some(total.saturating_sub(base) as f64 / count as f64)
        })
        .collect()
}

/// A checkout of `rev` beside the target directory, with this tree's `workload`
/// example and bench cluster copied over its own (they use only the public API), so
/// both sides run the same rows the same way.
fn baseline_checkout(root: &Path, target: &Path, rev: &str) -> Option<PathBuf> {
    let dir = target.join("instructions-baseline");
    let _ = Command::new("git")
        .current_dir(root)
        .args(["worktree", "remove", "--force"])
        .arg(&dir)
        .output();
    let added = Command::new("git")
        .current_dir(root)
        .args(["worktree", "add", "--detach", "--force"])
        .arg(&dir)
        .arg(rev)
        .status()
        .is_ok_and(|status| status.success());
    if !added {
        eprintln!("cannot check out {rev}");
        return None;
    }
    for file in [
        "crates/raft-core/examples/workload.rs",
        "crates/raft-core/benches/support/cluster.rs",
    ] {
        let to = dir.join(file);
        std::fs::create_dir_all(to.parent()?).ok()?;
        std::fs::copy(root.join(file), &to).ok()?;
    }
    Some(dir)
}

/// `cargo xtask instructions [--baseline REV]`.
pub(crate) fn instructions_per_row(baseline: Option<&str>) -> bool {
    if !Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
    {
        eprintln!("cargo xtask instructions needs valgrind (Debian: apt-get install valgrind)");
        return false;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target: PathBuf =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let Some(now) = build_example(&root, &target).and_then(|example| per_row(&example)) else {
        return false;
    };
    let base = match baseline {
        None => None,
        Some(rev) => {
            let Some(checkout) = baseline_checkout(&root, &target, rev) else {
                return false;
            };
            // Its own target directory: the two builds must not share artefacts.
            let counts = build_example(&checkout, &checkout.join("target"))
                .and_then(|example| per_row(&example));
            let _ = Command::new("git")
                .current_dir(&root)
                .args(["worktree", "remove", "--force"])
                .arg(&checkout)
                .output();
            match counts {
                Some(counts) => Some((rev, counts)),
                None => return false,
            }
        }
    };
    match &base {
        None => println!("{:<24} {:>12}", "row", "instructions"),
        Some((rev, _)) => println!(
            "{:<24} {:>12} {:>12} {:>9}",
            "row",
            "now",
            &rev[..rev.len().min(12)],
            "now/base"
        ),
    }
    for (position, &(row, _)) in ROWS.iter().enumerate() {
        let unit = if row.contains("build") || row.contains("elect") {
            "per trial"
        } else {
            "per entry"
        };
        match &base {
            None => println!("{row:<24} {:>12.0} {unit}", now[position]),
            Some((_, base)) => println!(
                "{row:<24} {:>12.0} {:>12.0} {:>9.3} {unit}",
                now[position],
                base[position],
                now[position] / base[position]
            ),
        }
    }
    true
}
