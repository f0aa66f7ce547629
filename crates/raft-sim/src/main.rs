//! `raft-sim sim --seeds N [--start S] [--faults PROFILE] [--mutant NAME]` runs seeds
//! and prints a summary; `raft-sim repro --seed S [--faults PROFILE] [--mutant NAME]`
//! (or `--schedule FILE`) prints one run's trace; `raft-sim shrink --seed S ...` cuts a
//! failing run down and writes its schedule file; `raft-sim mutants [--seeds-max N] [--faults PROFILE]` shows
//! that every protocol mutant is caught (feature `mutants`). Usually reached through
//! `cargo xtask sim` / `repro` / `mutants`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use raft_sim::{Profile, Schedule, SimConfig, record_seed, run_seed, trace_seed};

const USAGE: &str = "usage: raft-sim sim --seeds N [--start S] [--faults PROFILE] [--mutant NAME]
       raft-sim repro --seed S [--faults PROFILE] [--mutant NAME]
       raft-sim repro --schedule FILE [--trace-json FILE]
       raft-sim timeline (--seed S [--faults PROFILE] [--mutant NAME] | --schedule FILE) --out run.html
       raft-sim shrink --seed S [--faults PROFILE] [--mutant NAME] [--out FILE]
       raft-sim mutants [--seeds-max N] [--faults PROFILE]
PROFILE: none|network|partitions|crashes|transfers|membership|snapshots|disk|all
NAME (feature mutants): commit-old-term-by-count, vote-without-log-check,
  reply-before-sync, truncate-without-conflict, count-vote-twice, apply-before-commit,
  forget-membership-rule, read-without-quorum, ignore-repair-mark, ignore-incarnation";

fn value<T: std::str::FromStr>(args: &[String], flag: &str, default: T) -> Result<T, String> {
    match args.iter().position(|arg| arg == flag) {
        Some(position) => args
            .get(position + 1)
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| format!("{flag} needs a valid value")),
        None => Ok(default),
    }
}

/// The run configuration for `seed`, with the `--mutant` switched on if one was named.
fn config_for(args: &[String], seed: u64, profile: Profile) -> Result<SimConfig, String> {
    let named: Option<String> = match args.iter().position(|arg| arg == "--mutant") {
        Some(position) => Some(
            args.get(position + 1)
                .cloned()
                .ok_or("--mutant needs a name")?,
        ),
        None => None,
    };
    match named {
        None => Ok(SimConfig::for_seed(seed, profile)),
        Some(name) => mutant_config(&name, seed, profile),
    }
}

#[cfg(feature = "mutants")]
fn mutant_config(name: &str, seed: u64, profile: Profile) -> Result<SimConfig, String> {
    let mutant = raft_core::Mutant::from_name(name)
        .ok_or_else(|| format!("unknown mutant {name:?}\n{USAGE}"))?;
    Ok(raft_sim::mutants::mutant_config(seed, profile, mutant))
}

#[cfg(not(feature = "mutants"))]
fn mutant_config(_: &str, _: u64, _: Profile) -> Result<SimConfig, String> {
    Err(
        "this raft-sim was built without feature `mutants`: use `cargo xtask sim --mutant NAME`"
            .into(),
    )
}

fn sim(args: &[String]) -> Result<bool, String> {
    let seeds: u64 = value(args, "--seeds", 1000)?;
    let start: u64 = value(args, "--start", 0)?;
    let profile: Profile = value(args, "--faults", Profile::All)?;
    let started = Instant::now();
    let (mut events, mut operations, mut failures) = (0u64, 0u64, 0u64);
    let (mut damages, mut repairs, mut repair_ticks_max, mut refusals) = (0u64, 0u64, 0u64, 0u64);
    let (mut torn, mut wipes, mut rejoins, mut rejoin_ticks_max) = (0u64, 0u64, 0u64, 0u64);
    let mut stderr = std::io::stderr();
    for (done, seed) in (start..start + seeds).enumerate() {
        match run_seed(seed, config_for(args, seed, profile)?) {
            Ok(stats) => {
                events += stats.events;
                operations += stats.operations;
                damages += stats.disk_damages;
                repairs += stats.repairs;
                repair_ticks_max = repair_ticks_max.max(stats.repair_ticks_max);
                refusals += stats.disk_refusals;
                torn += stats.torn_writes;
                wipes += stats.wipes;
                rejoins += stats.rejoins;
                rejoin_ticks_max = rejoin_ticks_max.max(stats.rejoin_ticks_max);
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
    if damages > 0 || torn > 0 {
        println!(
            "damaged disks: {damages}, crashes that tore a sync: {torn}, repairs completed: {repairs}, longest repair {repair_ticks_max} ticks (a seed passes only if every member ends repaired); WALs refused for a damaged vote file (rule 2; restarted empty as a new incarnation): {refusals}"
        );
    }
    if wipes > 0 {
        println!(
            "wiped storages: {wipes}, named again as their new incarnation: {rejoins}, longest {rejoin_ticks_max} ticks (a seed passes only if every member ends named with its incarnation)"
        );
    }
    println!("{} passed, {failures} failed", seeds - failures);
    Ok(failures == 0)
}

/// The value after `flag`, if given.
fn text(args: &[String], flag: &str) -> Result<Option<String>, String> {
    match args.iter().position(|arg| arg == flag) {
        Some(position) => args
            .get(position + 1)
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("{flag} needs a value")),
        None => Ok(None),
    }
}

/// The run `repro` and `shrink` are about: `--schedule FILE`, or `--seed S` with
/// `--faults` and `--mutant`.
fn chosen_run(args: &[String]) -> Result<Schedule, String> {
    if let Some(path) = text(args, "--schedule")? {
        let content = std::fs::read_to_string(&path).map_err(|error| format!("{path}: {error}"))?;
        return Schedule::parse(&content).map_err(|error| format!("{path}: {error}"));
    }
    let seed: u64 = value(args, "--seed", u64::MAX)?;
    if seed == u64::MAX {
        return Err("needs --seed S or --schedule FILE".into());
    }
    let profile: Profile = value(args, "--faults", Profile::All)?;
    Ok(Schedule::new(seed, config_for(args, seed, profile)?))
}

fn repro(args: &[String]) -> Result<bool, String> {
    let run = chosen_run(args)?;
    let (trace, result) = trace_seed(run.seed, run.config);
    print!("{trace}");
    if let Some(path) = text(args, "--trace-json")? {
        let (events, _) = record_seed(run.seed, run.config);
        let mut json = String::new();
        for event in &events {
            json.push_str(&event.to_json());
            json.push('\n');
        }
        std::fs::write(&path, json).map_err(|error| format!("{path}: {error}"))?;
        eprintln!(
            "{} events written to {path} (format: docs/TRACE.md)",
            events.len()
        );
    }
    if let (Some(expected), Err(violation)) = (&run.expect, &result)
        && violation.property != expected
    {
        println!(
            "(the schedule expected {expected}, the run broke {})",
            violation.property
        );
    }
    Ok(result.is_ok())
}

fn shrink(args: &[String]) -> Result<bool, String> {
    let run = chosen_run(args)?;
    let started = Instant::now();
    let Some(shrunk) = raft_sim::shrink(run.seed, run.config) else {
        println!("seed {} passes: nothing to shrink", run.seed);
        return Ok(true);
    };
    let text = shrunk.schedule.to_text();
    let out = text_or(args, "--out", format!("shrunk-{}.schedule", run.seed))?;
    std::fs::write(&out, &text).map_err(|error| format!("{out}: {error}"))?;
    println!(
        "seed {} breaks {}: {} events shrunk to {} ({:.1}%) in {} runs, {:.1} s",
        run.seed,
        shrunk.property,
        shrunk.events_before,
        shrunk.events_after,
        100.0 * shrunk.events_after as f64 / shrunk.events_before.max(1) as f64,
        shrunk.attempts,
        started.elapsed().as_secs_f64()
    );
    print!("{text}");
    println!("written to {out}; replay: cargo xtask repro --schedule {out}");
    Ok(false)
}

fn timeline(args: &[String]) -> Result<bool, String> {
    let run = chosen_run(args)?;
    let out = text(args, "--out")?.ok_or("timeline needs --out FILE.html")?;
    let (events, result) = record_seed(run.seed, run.config);
    let outcome = match &result {
        Ok(_) => "passes".to_owned(),
        Err(violation) => format!("breaks {}", violation.property),
    };
    let title = format!("raft-sim seed {}: {outcome}", run.seed);
    std::fs::write(&out, raft_sim::timeline_html(&title, &events))
        .map_err(|error| format!("{out}: {error}"))?;
    println!("{title}; {} events drawn in {out}", events.len());
    Ok(true)
}

fn text_or(args: &[String], flag: &str, default: String) -> Result<String, String> {
    Ok(text(args, flag)?.unwrap_or(default))
}

#[cfg(feature = "mutants")]
fn mutants(args: &[String]) -> Result<bool, String> {
    let seeds_max: u64 = value(args, "--seeds-max", 2000)?;
    let profile: Profile = value(args, "--faults", Profile::All)?;
    let mut all_caught = true;
    for mutant in raft_core::Mutant::ALL {
        let started = Instant::now();
        match raft_sim::mutants::find_failing_seed(mutant, profile, 0, seeds_max) {
            Some(caught) => println!(
                "{mutant}: caught by seed {} after {} seeds ({:.1} s): {}\n  replay: cargo xtask repro --mutant {mutant} --seed {}",
                caught.seed,
                caught.seeds_run,
                started.elapsed().as_secs_f64(),
                caught.what,
                caught.seed
            ),
            None => {
                all_caught = false;
                println!("{mutant}: NOT caught in {seeds_max} seeds: a gap in the checker");
            }
        }
    }
    Ok(all_caught)
}

#[cfg(not(feature = "mutants"))]
fn mutants(_: &[String]) -> Result<bool, String> {
    mutant_config("", 0, Profile::All).map(|_| false)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sim") => sim(&args),
        Some("repro") => repro(&args),
        Some("shrink") => shrink(&args),
        Some("timeline") => timeline(&args),
        Some("mutants") => mutants(&args),
        _ => Err(USAGE.into()),
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
