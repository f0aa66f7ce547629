//! The checker catches every protocol mutant within a bounded number of seeds, and the
//! seed that catches it passes without the mutant: what fails is the bug, not the seed
//! (feature `mutants`; CI also runs `raft-sim mutants` in release mode).
#![cfg(feature = "mutants")]

use raft_core::Mutant;
use raft_sim::mutants::find_failing_seed;
use raft_sim::{Profile, SimConfig, run_seed};

#[test]
fn every_mutant_is_caught_within_200_seeds_by_a_seed_that_passes_without_it() {
    for mutant in Mutant::ALL {
        let caught = find_failing_seed(mutant, Profile::All, 0, 200)
            .unwrap_or_else(|| panic!("{mutant} survived 200 seeds: a gap in the checker"));
        println!("{mutant}: seed {} ({})", caught.seed, caught.what);
        let config = SimConfig::for_seed(caught.seed, Profile::All);
        assert!(
            run_seed(caught.seed, config).is_ok(),
            "seed {} fails without {mutant}",
            caught.seed
        );
    }
}
