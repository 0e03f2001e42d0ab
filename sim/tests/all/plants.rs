//! Each planted bug must be found, as its own kind of violation, within a bounded number of
//! seeds of the default scenario; the seed that finds it passes without the plant.

use exorun_sim::plant::Plant;

use crate::support::{describe, run_seed};

/// The bound: a plant must be caught within this many seeds.
const SEEDS_MAX: u64 = 1000;

/// The first seed (from 0) at which `plant` shows up as its violation kind.
fn first_detection(plant: Plant) -> Option<u64> {
    (0..SEEDS_MAX).find(|seed| {
        let report = run_seed(*seed, Some(plant));
        report
            .violations
            .iter()
            .any(|v| v.kind == plant.caught_as())
    })
}

fn check(plant: Plant) {
    let Some(seed) = first_detection(plant) else {
        panic!(
            "{plant} was not caught as {} within {SEEDS_MAX} seeds",
            plant.caught_as()
        );
    };
    let clean = run_seed(seed, None);
    assert!(
        clean.passed(),
        "seed {seed} fails without the plant:\n{}",
        describe(&clean)
    );
}

#[test]
fn forget_pending_is_caught_as_a_leak() {
    check(Plant::ForgetPending);
}

#[test]
fn double_execute_is_caught_as_at_most_once() {
    check(Plant::DoubleExecute);
}

#[test]
fn misroute_reply_is_caught_as_correlation() {
    check(Plant::MisrouteReply);
}

#[test]
fn alter_domain_code_is_caught_as_failure_fidelity() {
    check(Plant::AlterDomainCode);
}

#[test]
fn skip_contract_check_is_caught_as_contract() {
    check(Plant::SkipContractCheck);
}

#[test]
fn split_store_is_caught_as_shared_state() {
    check(Plant::SplitStore);
}
