//! `raft-sim sim --seeds N [--start S] [--faults PROFILE]` runs seeds and prints a
//! summary; `raft-sim repro --seed S [--faults PROFILE]` prints one run's trace.
//! Usually reached through `cargo xtask sim` / `cargo xtask repro`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use raft_sim::{Profile, SimConfig, run_seed, trace_seed};

fn value<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> Result<T, String> {
    match args.iter().position(|arg| arg == flag) {
        Some(position) => args
            .get(position + 1)
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| format!("{flag} needs a valid value")),
        None => Ok(default),
    }
}

fn sim(args: &[String]) -> Result<bool, String> {
    let seeds: u64 = value(args, "--seeds", 1000)?;
    let start: u64 = value(args, "--start", 0)?;
    let profile: Profile = value(args, "--faults", Profile::All)?;
    let started = Instant::now();
    let (mut events, mut operations, mut failures) = (0u64, 0u64, 0u64);
    let mut stderr = std::io::stderr();
    for (done, seed) in (start..start + seeds).enumerate() {
        match run_seed(seed, SimConfig::for_seed(seed, profile)) {
            Ok(stats) => {
                events += stats.events;
                operations += stats.operations;
            }
            Err(violation) => {
                failures += 1;
                println!("{violation}");
            }
        }
        if (done + 1) % 50 == 0 || done as u64 + 1 == seeds {
            let width = 40;
            let filled = (done + 1) * width / seeds as usize;
            let _ = write!(
                stderr,
                "\r[{}{}] {}/{seeds}",
                "#".repeat(filled),
                ".".repeat(width - filled),
                done + 1
            );
            let _ = stderr.flush();
        }
    }
    let _ = writeln!(stderr);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{seeds} seeds ({profile} faults) from {start}: {failures} violations, {events} events, {operations} client operations, {:.0} events/s, {:.0} seeds/min",
        events as f64 / seconds,
        seeds as f64 * 60.0 / seconds
    );
    println!("{} passed, {failures} failed", seeds - failures);
    Ok(failures == 0)
}

fn repro(args: &[String]) -> Result<bool, String> {
    let seed: u64 = value(args, "--seed", u64::MAX)?;
    if seed == u64::MAX {
        return Err("repro needs --seed S".into());
    }
    let profile: Profile = value(args, "--faults", Profile::All)?;
    let (trace, result) = trace_seed(seed, SimConfig::for_seed(seed, profile));
    print!("{trace}");
    Ok(result.is_ok())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sim") => sim(&args),
        Some("repro") => repro(&args),
        _ => Err("usage: raft-sim sim --seeds N [--start S] [--faults none|network|partitions|crashes|transfers|membership|snapshots|all]\n       raft-sim repro --seed S [--faults PROFILE]".into()),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
