//! The shrinker: cuts a failing run down to a small one that still breaks the same
//! property — fewer nodes, clients, keys and operations, fewer faults, a quieter
//! network, fewer features, a shorter and denser schedule — by trying one
//! simplification at a time and keeping it when the run still fails the same way.
//! Every run it tries is an ordinary deterministic run, so the result replays exactly
//! from its [`Schedule`]. When simplifying under the original seed gets stuck (a
//! change to the random draws hides the failure), it also tries the plainest run with
//! the same fault kinds under a few hundred other seeds and walks again from the
//! shortest that breaks the same property: the result may carry another seed.

use std::panic::{self, AssertUnwindSafe};

use crate::config::SimConfig;
use crate::schedule::Schedule;
use crate::sim::Simulation;

/// A failing run, cut down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shrunk {
    /// The small run.
    pub schedule: Schedule,
    /// The property both runs break.
    pub property: String,
    /// Events the original run processed until it failed.
    pub events_before: u64,
    /// Events the small run processes until it fails.
    pub events_after: u64,
    /// Runs tried.
    pub attempts: u64,
}

/// How a run ended: the property it broke and after how many events, or `None` if it
/// passed. A node's own assertion counts as a broken property.
fn outcome(seed: u64, config: SimConfig) -> Option<(String, u64)> {
    let mut simulation = Simulation::new(seed, config, false);
    let result = panic::catch_unwind(AssertUnwindSafe(|| simulation.run()));
    match result {
        Ok(Ok(_)) => None,
        Ok(Err(violation)) => Some((violation.property.to_owned(), violation.events)),
        Err(_) => Some(("node assertion".to_owned(), simulation.events())),
    }
}

/// One simplification of `config`, or `None` if it does not apply.
type Step = fn(&SimConfig, u64) -> Option<SimConfig>;

/// The simplifications, roughly biggest first. The `u64` is a parameter some steps
/// take (a fault number, a bound).
const STEPS: &[(&str, Step)] = &[
    ("three nodes", |c, _| {
        (c.nodes > 3).then_some(SimConfig { nodes: 3, ..*c })
    }),
    ("one client", |c, _| {
        (c.clients > 1).then_some(SimConfig { clients: 1, ..*c })
    }),
    ("one fewer client", |c, _| {
        (c.clients > 2).then_some(SimConfig {
            clients: c.clients - 1,
            ..*c
        })
    }),
    ("one key", |c, _| {
        (c.keys > 1).then_some(SimConfig { keys: 1, ..*c })
    }),
    ("no loss", |c, _| {
        lower(c, |c| &mut c.faults.drop_per_mille, 0)
    }),
    ("no duplicates", |c, _| {
        lower(c, |c| &mut c.faults.duplicate_per_mille, 0)
    }),
    ("no delay", |c, _| {
        let mut next = *c;
        (c.faults.delay_ticks_max > 1).then(|| {
            next.faults.delay_ticks_max = 1;
            next
        })
    }),
    ("no clock skew", |c, _| off(c, |c| &mut c.faults.clock_skew)),
    ("no transfers", |c, _| off(c, |c| &mut c.faults.transfers)),
    ("no membership churn", |c, _| {
        off(c, |c| &mut c.faults.membership)
    }),
    ("no snapshots", |c, _| off(c, |c| &mut c.faults.snapshots)),
    ("no disk errors", |c, _| off(c, |c| &mut c.faults.storage)),
    ("no damaged disks", |c, _| off(c, |c| &mut c.faults.disk)),
    ("no partitions", |c, _| off(c, |c| &mut c.faults.partitions)),
    ("no crashes", |c, _| off(c, |c| &mut c.faults.crashes)),
    ("memory logs", |c, _| {
        c.durable.then_some(SimConfig {
            durable: false,
            ..*c
        })
    }),
    ("synced leader", |c, _| {
        c.deferred_sync.then_some(SimConfig {
            deferred_sync: false,
            ..*c
        })
    }),
    ("synced every step", |c, _| {
        c.async_persistence.then_some(SimConfig {
            async_persistence: false,
            ..*c
        })
    }),
    ("fewer faults", |c, bound| {
        (bound < c.faults_max).then_some(SimConfig {
            faults_max: bound,
            ..*c
        })
    }),
    ("skip a fault", |c, number| {
        (number < 64 && number < c.faults_max && c.skip_faults & (1 << number) == 0).then_some(
            SimConfig {
                skip_faults: c.skip_faults | (1 << number),
                ..*c
            },
        )
    }),
    ("fewer operations", |c, bound| {
        (bound >= 1 && bound < c.operations_max).then_some(SimConfig {
            operations_max: bound,
            ..*c
        })
    }),
    ("earlier first fault", |c, tick| {
        (tick >= 1 && tick < c.first_fault_tick).then_some(SimConfig {
            first_fault_tick: tick,
            ..*c
        })
    }),
    ("shorter faults phase", |c, ticks| {
        (ticks >= 1 && ticks < c.fault_ticks).then_some(SimConfig {
            fault_ticks: ticks,
            ..*c
        })
    }),
    ("shorter gaps between faults", |c, gap| {
        (gap >= 1 && gap < c.fault_gap_ticks.1).then_some(SimConfig {
            fault_gap_ticks: (c.fault_gap_ticks.0.min(gap), gap),
            ..*c
        })
    }),
];

/// `config` with the flag `field` picks turned off, if it was on.
fn off(config: &SimConfig, field: fn(&mut SimConfig) -> &mut bool) -> Option<SimConfig> {
    let mut next = *config;
    let flag = field(&mut next);
    if !*flag {
        return None;
    }
    *flag = false;
    Some(next)
}

/// `config` with the rate `field` picks lowered to `to`, if it was above.
fn lower(config: &SimConfig, field: fn(&mut SimConfig) -> &mut u32, to: u32) -> Option<SimConfig> {
    let mut next = *config;
    let rate = field(&mut next);
    if *rate <= to {
        return None;
    }
    *rate = to;
    Some(next)
}

/// The parameters worth trying for a step, smallest first.
fn parameters(name: &str, config: &SimConfig, events: u64) -> Vec<u64> {
    let halving = |top: u64| {
        let mut values = vec![0u64, 1, 2, 3];
        let mut value = top;
        while value > 3 {
            value /= 2;
            values.push(value);
        }
        values.sort_unstable();
        values.dedup();
        values
    };
    match name {
        "fewer faults" => halving(config.faults_max.min(events)),
        "skip a fault" => (0..config.faults_max.min(64)).collect(),
        "fewer operations" => halving(config.operations_max.min(events))
            .into_iter()
            .filter(|&bound| bound >= 1)
            .collect(),
        "earlier first fault" => halving(config.first_fault_tick),
        "shorter gaps between faults" => halving(config.fault_gap_ticks.1),
        "shorter faults phase" => halving(config.fault_ticks),
        _ => vec![0],
    }
}

/// Shrinks the failing run of `seed` with `config`. `None` if it does not fail.
/// Deterministic: the same run always shrinks to the same schedule.
pub fn shrink(seed: u64, config: SimConfig) -> Option<Shrunk> {
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = shrink_quietly(seed, config);
    panic::set_hook(quiet);
    result
}

fn shrink_quietly(seed: u64, config: SimConfig) -> Option<Shrunk> {
    let (property, events_before) = outcome(seed, config)?;
    let mut attempts = 1;
    let (mut best_seed, mut best, mut best_events) =
        walk(seed, config, events_before, &property, &mut attempts);
    // The walk keeps the seed, and a simplification that changes the random draws can
    // hide the failure. So also try the plainest run that keeps the walk's fault kinds
    // under other seeds, and walk again from the shortest that fails the same way.
    let plain = plainest(&best);
    let mut found: Option<(u64, u64)> = None;
    for other in (0..RESEED_MAX).map(|k| seed.wrapping_add(k)) {
        attempts += 1;
        if let Some((broken, events)) = outcome(other, plain)
            && broken == property
            && found.is_none_or(|(_, shortest)| events < shortest)
        {
            found = Some((other, events));
        }
    }
    if let Some((other, events)) = found.filter(|&(_, events)| events < best_events) {
        let (walked, config, walked_events) = walk(other, plain, events, &property, &mut attempts);
        if walked_events < best_events {
            (best_seed, best, best_events) = (walked, config, walked_events);
        }
    }
    let mut schedule = Schedule::new(best_seed, best);
    schedule.expect = Some(property.clone());
    Some(Shrunk {
        schedule,
        property,
        events_before,
        events_after: best_events,
        attempts,
    })
}

/// Seeds tried for the plainest run.
const RESEED_MAX: u64 = 200;

/// `config` with everything but its fault kinds turned down: three nodes, one client
/// and key, a few operations, a quiet network, faults early and often.
fn plainest(config: &SimConfig) -> SimConfig {
    let mut plain = *config;
    plain.nodes = 3;
    plain.clients = 1;
    plain.keys = 1;
    plain.operations_max = config.operations_max.min(10);
    plain.faults.drop_per_mille = 0;
    plain.faults.duplicate_per_mille = 0;
    plain.faults.delay_ticks_max = 1;
    plain.faults.clock_skew = false;
    plain.faults.storage = false;
    plain.durable = false;
    plain.first_fault_tick = config.first_fault_tick.min(15);
    plain.fault_gap_ticks = (3, 10);
    plain.faults_max = config.faults_max.min(10);
    plain.skip_faults = 0;
    plain
}

/// The greedy walk from `config` under `seed`: every step only simplifies (a flag goes
/// off, a number goes down), so it ends. A simpler run that fails the same way is kept
/// even if it takes somewhat longer to fail, since it may open the way to much shorter
/// ones; the shortest failing run met on the way is the answer.
fn walk(
    seed: u64,
    config: SimConfig,
    events: u64,
    property: &str,
    attempts: &mut u64,
) -> (u64, SimConfig, u64) {
    let (mut current, mut current_events) = (config, events);
    let (mut best, mut best_events) = (config, events);
    for _ in 0..40 {
        let mut moved = false;
        for &(name, step) in STEPS {
            for parameter in parameters(name, &current, current_events) {
                let Some(candidate) = step(&current, parameter) else {
                    continue;
                };
                *attempts += 1;
                let Some((broken, events)) = outcome(seed, candidate) else {
                    continue;
                };
                if broken != property || events > current_events.saturating_mul(2) {
                    continue;
                }
                current = candidate;
                current_events = events;
                moved = true;
                if events <= best_events {
                    best = candidate;
                    best_events = events;
                }
                // Parameters run smallest first: the first that works is kept.
                break;
            }
        }
        if !moved {
            break;
        }
    }
    (seed, best, best_events)
}
