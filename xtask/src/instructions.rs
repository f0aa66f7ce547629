//! `cargo xtask instructions`: instructions per entry (or per trial) for each row of
//! issue 20's table, counted by callgrind (valgrind). A count does not move with the
//! machine's load, so it settles small changes that wall-clock timings on a noisy
//! machine cannot; it is not a time (cache misses and allocator behaviour are not in
//! it), so quote it beside the timings, not instead of them.

use std::path::Path;
use std::process::Command;

use crate::cargo;

/// The rows (as the `workload` example names them) and how many entries or trials
/// each run counts.
const ROWS: [(&str, u64); 7] = [
    ("3-nodes/B=1", 5_000),
    ("3-nodes/B=64", 64_000),
    ("3-nodes/B=1024", 102_400),
    ("3-nodes/each/B=64", 64_000),
    ("1-node/each/B=64", 64_000),
    ("3-nodes/build", 2_000),
    ("3-nodes/elect", 500),
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

pub(crate) fn instructions_per_row() -> bool {
    if !Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
    {
        eprintln!("cargo xtask instructions needs valgrind (Debian: apt-get install valgrind)");
        return false;
    }
    let built = cargo(&[
        "build",
        "--release",
        "-p",
        "raft-core",
        "--example",
        "workload",
    ])
    .status()
    .is_ok_and(|status| status.success());
    if !built {
        return false;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let example = target.join("release/examples/workload");
    println!("{:<20} {:>16}", "row", "instructions each");
    for (row, count) in ROWS {
        // The run with zero counts start-up and the cluster's setup (election included
        // for the commit rows); the difference is the rows' own work.
        let (Some(base), Some(total)) = (
            instructions(&example, row, 0),
            instructions(&example, row, count),
        ) else {
            return false;
        };
        let unit = if row.ends_with("build") || row.ends_with("elect") {
            "per trial"
        } else {
            "per entry"
        };
        println!(
            "{row:<20} {:>16.0} {unit}",
            total.saturating_sub(base) as f64 / count as f64
        );
    }
    true
}
