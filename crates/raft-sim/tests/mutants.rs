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

// A failing run shrinks to a schedule whose replay (from its text) fails the same way
// after exactly the reported number of events, and shrinking is deterministic.
#[test]
fn a_shrunk_run_replays_exactly_from_its_schedule_file() {
    let seed = find_failing_seed(Mutant::CountVoteTwice, Profile::All, 0, 200)
        .expect("count-vote-twice is caught")
        .seed;
    let config = raft_sim::mutants::mutant_config(seed, Profile::All, Mutant::CountVoteTwice);
    let first = raft_sim::shrink(seed, config).expect("the seed fails with count-vote-twice");
    assert!(first.events_after <= first.events_before);
    let again = raft_sim::shrink(seed, config).expect("fails");
    assert_eq!(first, again, "shrinking is deterministic");
    let text = first.schedule.to_text();
    let replayed = raft_sim::Schedule::parse(&text).expect("its own text parses");
    let violation = run_seed(replayed.seed, replayed.config).expect_err("still fails");
    assert_eq!(violation.property, first.property);
    assert_eq!(violation.events, first.events_after);
}
