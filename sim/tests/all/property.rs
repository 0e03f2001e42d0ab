//! "Every checker holds" as a proptest property over scenarios: proptest generates them from
//! seeds and, when one fails, shrinks it to fewer calls and faults. A failing case is written to
//! `corpus/proptest-regressions.txt` (not a hidden file) and replayed first on the next run.

use exorun_sim::plant::Plant;
use exorun_sim::strategy;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestError, TestRunner};

use crate::support::{describe, sim};

/// Where failing cases persist: the corpus, relative to this crate (cargo runs tests there).
const PERSISTENCE: &str = "../corpus/proptest-regressions.txt";

/// Cases per run: each is a whole simulated seed.
const CASES: u32 = 6;

/// A fixed seed, so that CI runs the same cases every time (a flaky simulated test would be a
/// determinism bug); `PROPTEST_RNG_SEED` picks others, to explore.
fn rng_seed() -> RngSeed {
    match Config::default().rng_seed {
        RngSeed::Random => RngSeed::Fixed(0x5eed),
        chosen => chosen,
    }
}

fn config() -> Config {
    Config {
        cases: CASES,
        rng_seed: rng_seed(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(PERSISTENCE))),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_checker_holds(scenario in strategy::scenarios()) {
        let report = sim().run(&scenario, None);
        prop_assert!(report.passed(), "seed {}:\n{}", scenario.seed, describe(&report));
    }
}

/// With a planted bug the property fails, and proptest shrinks the failing scenario to fewer
/// calls that still fail the same way.
#[test]
fn a_planted_bug_fails_the_property_and_shrinks() {
    let plant = Plant::DoubleExecute;
    let config = Config {
        cases: 64,
        max_shrink_iters: 24,
        failure_persistence: None,
        rng_seed: rng_seed(),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&strategy::scenarios(), |scenario| {
        let report = sim().run(&scenario, Some(plant));
        let caught = report
            .violations
            .iter()
            .any(|v| v.kind == plant.caught_as());
        prop_assert!(!caught, "{} calls", scenario.calls.len());
        Ok(())
    });
    let Err(TestError::Fail(_, minimal)) = outcome else {
        panic!("{plant} was not caught in 64 cases: {outcome:?}");
    };
    let original = exorun_sim::scenario::generate(minimal.seed);
    assert!(
        minimal.calls.len() < original.calls.len(),
        "not shrunk: {} of {} calls",
        minimal.calls.len(),
        original.calls.len()
    );
    let again = sim().run(&minimal, Some(plant));
    assert!(again.violations.iter().any(|v| v.kind == plant.caught_as()));
}
