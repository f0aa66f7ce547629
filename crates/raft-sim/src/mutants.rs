//! Proving the checker (feature `mutants`): run seeds with one protocol bug switched on
//! until a seed fails. A mutant no seed catches is a gap in the checker.

use std::panic::{self, AssertUnwindSafe};

use raft_core::Mutant;

use crate::config::{Profile, SimConfig};
use crate::sim::run_seed;

/// How a mutant was caught.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caught {
    /// The first failing seed.
    pub seed: u64,
    /// Seeds run, the failing one included.
    pub seeds_run: u64,
    /// What failed: the property the checker reported, or the node's own assertion.
    pub what: String,
}

/// The configuration `seed` runs with under `profile` with `mutant` switched on.
pub fn mutant_config(seed: u64, profile: Profile, mutant: Mutant) -> SimConfig {
    SimConfig {
        mutant: Some(mutant),
        ..SimConfig::for_seed(seed, profile)
    }
}

/// Runs seeds `start..start + seeds_max` with `mutant` until one fails. A node that
/// panics on one of its own assertions counts as caught (the core's checks are part of
/// the defence). `None` if every seed passed.
pub fn find_failing_seed(
    mutant: Mutant,
    profile: Profile,
    start: u64,
    seeds_max: u64,
) -> Option<Caught> {
    let quiet = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut caught = None;
    for (run, seed) in (start..start.saturating_add(seeds_max)).enumerate() {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            run_seed(seed, mutant_config(seed, profile, mutant))
        }));
        let what = match outcome {
            Ok(Ok(_)) => continue,
            Ok(Err(violation)) => violation.property.to_owned(),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                format!("node assertion: {message}")
            }
        };
        caught = Some(Caught {
            seed,
            seeds_run: run as u64 + 1,
            what,
        });
        break;
    }
    panic::set_hook(quiet);
    caught
}
