//! A schedule file: one simulated run written down as `name = value` lines a person
//! can read and edit (the seed, the cluster's shape, every fault knob, the mutant), so
//! `raft-sim repro --schedule FILE` replays it exactly. The shrinker writes them.
//!
//! ```
//! use raft_sim::{Profile, Schedule, SimConfig};
//! let schedule = Schedule::new(7, SimConfig::for_seed(7, Profile::All));
//! let text = schedule.to_text();
//! assert_eq!(Schedule::parse(&text), Ok(schedule));
//! ```

use std::fmt::Write as _;

use crate::config::{Faults, SimConfig};

/// One run: a seed and the configuration it runs with, and, when written by the
/// shrinker, the property it is expected to break.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The seed every random draw comes from.
    pub seed: u64,
    /// The run's shape and faults.
    pub config: SimConfig,
    /// The property the run breaks, if it is a failing run.
    pub expect: Option<String>,
}

/// Longest schedule file accepted, in bytes.
const TEXT_BYTES_MAX: usize = 64 << 10;

fn on_off(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

impl Schedule {
    /// The run of `seed` with `config`, no expectation.
    pub fn new(seed: u64, config: SimConfig) -> Self {
        Self {
            seed,
            config,
            expect: None,
        }
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let c = &self.config;
        let f = &c.faults;
        let mut out = String::from(
            "# raft-sim schedule: `cargo xtask repro --schedule FILE` replays this run exactly.\n",
        );
        let mut line = |name: &str, value: String| {
            let _ = writeln!(out, "{name} = {value}");
        };
        line("seed", self.seed.to_string());
        #[cfg(feature = "mutants")]
        if let Some(mutant) = c.mutant {
            line("mutant", mutant.name().to_owned());
        }
        if let Some(expect) = &self.expect {
            line("expect", expect.clone());
        }
        line("nodes", c.nodes.to_string());
        line("clients", c.clients.to_string());
        line("keys", c.keys.to_string());
        line("operations_max", limit(c.operations_max));
        line("fault_ticks", c.fault_ticks.to_string());
        line("settle_ticks", c.settle_ticks.to_string());
        line("first_fault_tick", c.first_fault_tick.to_string());
        line(
            "fault_gap_ticks",
            format!("{}..{}", c.fault_gap_ticks.0, c.fault_gap_ticks.1),
        );
        line("faults_max", limit(c.faults_max));
        line("skip_faults", skip_list(c.skip_faults));
        line("drop_per_mille", f.drop_per_mille.to_string());
        line("duplicate_per_mille", f.duplicate_per_mille.to_string());
        line("delay_ticks_max", f.delay_ticks_max.to_string());
        for (name, on) in [
            ("partitions", f.partitions),
            ("crashes", f.crashes),
            ("clock_skew", f.clock_skew),
            ("transfers", f.transfers),
            ("membership", f.membership),
            ("snapshots", f.snapshots),
            ("storage", f.storage),
            ("disk", f.disk),
            ("durable", c.durable),
            ("deferred_sync", c.deferred_sync),
            ("async_persistence", c.async_persistence),
            ("lease_reads", c.lease_reads),
            ("coalescing", c.coalescing),
            ("follower_reads", c.follower_reads),
        ] {
            line(name, on_off(on).to_owned());
        }
        out
    }

    /// Reads a schedule file: every line `name = value`, `#` comments and blank lines
    /// ignored; unknown names, repeated names, bad values and missing fields are errors.
    ///
    /// # Errors
    /// What is wrong, with the line number.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > TEXT_BYTES_MAX {
            return Err(format!("a schedule is at most {TEXT_BYTES_MAX} bytes"));
        }
        let mut values: Vec<(&str, &str, usize)> = Vec::new();
        for (number, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line
                .split_once('=')
                .ok_or_else(|| format!("line {}: expected `name = value`", number + 1))?;
            let (name, value) = (name.trim(), value.trim());
            if values.iter().any(|(seen, _, _)| *seen == name) {
                return Err(format!("line {}: `{name}` given twice", number + 1));
            }
            values.push((name, value, number + 1));
        }
        let mut reader = Reader { values };
        let seed = reader.number("seed")?;
        let mut config = SimConfig::for_seed(seed, crate::Profile::None);
        config.nodes = reader.number("nodes")?;
        if !(1..=9).contains(&config.nodes) {
            return Err("nodes: 1 to 9".into());
        }
        config.clients = reader.number("clients")?;
        if !(1..=16).contains(&config.clients) {
            return Err("clients: 1 to 16".into());
        }
        config.keys = u8::try_from(reader.number("keys")?)
            .ok()
            .filter(|keys| *keys >= 1)
            .ok_or("keys: 1 to 255")?;
        config.operations_max = reader.limit("operations_max")?;
        config.fault_ticks = reader.number("fault_ticks")?;
        config.settle_ticks = reader.number("settle_ticks")?;
        if config.fault_ticks > 1_000_000 || config.settle_ticks > 1_000_000 {
            return Err("fault_ticks and settle_ticks: at most 1000000".into());
        }
        config.first_fault_tick = reader.number("first_fault_tick")?;
        config.fault_gap_ticks = reader.range("fault_gap_ticks")?;
        config.faults_max = reader.limit("faults_max")?;
        config.skip_faults = reader.skip("skip_faults")?;
        let mut faults = Faults::NONE;
        faults.drop_per_mille = reader.per_mille("drop_per_mille")?;
        faults.duplicate_per_mille = reader.per_mille("duplicate_per_mille")?;
        faults.delay_ticks_max = reader.number("delay_ticks_max")?;
        if !(1..=100).contains(&faults.delay_ticks_max) {
            return Err("delay_ticks_max: 1 to 100".into());
        }
        faults.partitions = reader.flag("partitions")?;
        faults.crashes = reader.flag("crashes")?;
        faults.clock_skew = reader.flag("clock_skew")?;
        faults.transfers = reader.flag("transfers")?;
        faults.membership = reader.flag("membership")?;
        faults.snapshots = reader.flag("snapshots")?;
        faults.storage = reader.flag("storage")?;
        faults.disk = reader.flag("disk")?;
        config.faults = faults;
        config.durable = reader.flag("durable")?;
        config.deferred_sync = reader.flag("deferred_sync")?;
        config.async_persistence = reader.flag("async_persistence")?;
        config.lease_reads = reader.flag("lease_reads")?;
        config.coalescing = reader.flag("coalescing")?;
        config.follower_reads = reader.flag("follower_reads")?;
        let expect = reader.take("expect").map(|(value, _)| value.to_owned());
        let mutant = reader.take("mutant");
        #[cfg(feature = "mutants")]
        if let Some((name, line)) = mutant {
            config.mutant = Some(
                raft_core::Mutant::from_name(name)
                    .ok_or_else(|| format!("line {line}: unknown mutant `{name}`"))?,
            );
        }
        #[cfg(not(feature = "mutants"))]
        if let Some((_, line)) = mutant {
            return Err(format!(
                "line {line}: a mutant needs raft-sim built with feature `mutants` (cargo xtask repro)"
            ));
        }
        if let Some((name, _, line)) = reader.values.first() {
            return Err(format!("line {line}: unknown name `{name}`"));
        }
        Ok(Self {
            seed,
            config,
            expect,
        })
    }
}

fn limit(value: u64) -> String {
    if value == u64::MAX {
        "none".into()
    } else {
        value.to_string()
    }
}

fn skip_list(mask: u64) -> String {
    let skipped: Vec<String> = (0..64)
        .filter(|bit| mask & (1 << bit) != 0)
        .map(|bit: u64| bit.to_string())
        .collect();
    if skipped.is_empty() {
        "none".into()
    } else {
        skipped.join(",")
    }
}

/// The parsed `name = value` pairs, taken one by one.
struct Reader<'a> {
    values: Vec<(&'a str, &'a str, usize)>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, name: &str) -> Option<(&'a str, usize)> {
        let position = self.values.iter().position(|(seen, _, _)| *seen == name)?;
        let (_, value, line) = self.values.remove(position);
        Some((value, line))
    }

    fn required(&mut self, name: &str) -> Result<(&'a str, usize), String> {
        self.take(name)
            .ok_or_else(|| format!("`{name}` is missing"))
    }

    fn number(&mut self, name: &str) -> Result<u64, String> {
        let (value, line) = self.required(name)?;
        value
            .parse()
            .map_err(|_| format!("line {line}: `{name}` takes a number, not `{value}`"))
    }

    fn per_mille(&mut self, name: &str) -> Result<u32, String> {
        let value = self.number(name)?;
        u32::try_from(value)
            .ok()
            .filter(|value| *value <= 1000)
            .ok_or_else(|| format!("`{name}`: 0 to 1000"))
    }

    fn limit(&mut self, name: &str) -> Result<u64, String> {
        let (value, line) = self.required(name)?;
        if value == "none" {
            return Ok(u64::MAX);
        }
        value
            .parse()
            .map_err(|_| format!("line {line}: `{name}` takes a number or `none`"))
    }

    fn flag(&mut self, name: &str) -> Result<bool, String> {
        match self.required(name)? {
            ("true", _) => Ok(true),
            ("false", _) => Ok(false),
            (value, line) => Err(format!(
                "line {line}: `{name}` is true or false, not `{value}`"
            )),
        }
    }

    fn range(&mut self, name: &str) -> Result<(u64, u64), String> {
        let (value, line) = self.required(name)?;
        let bad = || format!("line {line}: `{name}` takes LOW..HIGH (1 <= LOW <= HIGH <= 10000)");
        let (low, high) = value.split_once("..").ok_or_else(bad)?;
        let (low, high): (u64, u64) = (
            low.trim().parse().map_err(|_| bad())?,
            high.trim().parse().map_err(|_| bad())?,
        );
        if low == 0 || low > high || high > 10_000 {
            return Err(bad());
        }
        Ok((low, high))
    }

    fn skip(&mut self, name: &str) -> Result<u64, String> {
        let (value, line) = self.required(name)?;
        if value == "none" {
            return Ok(0);
        }
        let mut mask = 0u64;
        for part in value.split(',') {
            let bit: u64 = part
                .trim()
                .parse()
                .ok()
                .filter(|bit| *bit < 64)
                .ok_or_else(|| format!("line {line}: `{name}` lists fault numbers 0 to 63"))?;
            mask |= 1 << bit;
        }
        Ok(mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Profile;

    // Proves a schedule round-trips through its text, knobs and all.
    #[test]
    fn round_trip() {
        let mut config = SimConfig::for_seed(11, Profile::Membership);
        config.skip_faults = 0b1010;
        config.faults_max = 7;
        config.operations_max = 3;
        config.fault_gap_ticks = (5, 9);
        let schedule = Schedule {
            seed: 11,
            config,
            expect: Some("Leader Completeness".into()),
        };
        assert_eq!(Schedule::parse(&schedule.to_text()), Ok(schedule));
    }

    // Proves the replay hint names the profile a seed's own run uses, and points to a
    // schedule file when the knobs were changed.
    #[test]
    fn replay_commands() {
        let config = SimConfig::for_seed(5, Profile::Membership);
        assert_eq!(
            config.replay_command(5),
            "cargo xtask repro --seed 5 --faults membership"
        );
        let shrunk = SimConfig {
            clients: 1,
            ..config
        };
        assert!(shrunk.replay_command(5).contains("--schedule FILE"));
    }

    // Proves malformed files are refused with a reason rather than half-read.
    #[test]
    fn bad_files_are_refused() {
        let good = Schedule::new(2, SimConfig::for_seed(2, Profile::All)).to_text();
        assert!(Schedule::parse(&good).is_ok());
        for (from, to) in [
            ("nodes = 3", "nodes = 0"),
            ("nodes = 3", "nodes = x"),
            ("clients = 3", "clients = 99"),
            ("keys = 3", "keys = 0"),
            ("fault_gap_ticks = 10..60", "fault_gap_ticks = 60..10"),
            ("fault_gap_ticks = 10..60", "fault_gap_ticks = 0..1"),
            ("skip_faults = none", "skip_faults = 64"),
            ("drop_per_mille = 50", "drop_per_mille = 1001"),
            ("partitions = true", "partitions = yes"),
            ("seed = 2", "seed = -1"),
        ] {
            assert!(good.contains(from), "{from}");
            let bad = good.replace(from, to);
            assert!(Schedule::parse(&bad).is_err(), "{to}");
        }
        assert!(Schedule::parse(&format!("{good}colour = blue\n")).is_err());
        assert!(Schedule::parse(&format!("{good}nodes = 3\n")).is_err());
        assert!(Schedule::parse(&good.replace("keys = 3\n", "")).is_err());
        assert!(Schedule::parse("seed 3").is_err());
        assert!(Schedule::parse(&"#".repeat(TEXT_BYTES_MAX + 1)).is_err());
    }
}
