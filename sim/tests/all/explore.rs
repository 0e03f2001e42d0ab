//! A few hundred seeds of the default scenario pass, and over them every fault kind was
//! injected.

use exorun_sim::check::Tally;

use crate::support::{describe, run_seed};

const SEEDS: u64 = 200;

#[test]
fn default_seeds_pass_with_every_fault_kind_injected() {
    let mut total = Tally::default();
    for seed in 0..SEEDS {
        let report = run_seed(seed, None);
        assert!(
            report.passed(),
            "seed {seed} failed:\n{}",
            describe(&report)
        );
        total.add(&report.tally);
    }
    assert!(total.calls > SEEDS * 100, "calls: {}", total.calls);
    assert!(total.drops > 0, "no frame was dropped: {total:?}");
    assert!(total.duplicates > 0, "no frame was duplicated: {total:?}");
    assert!(total.reorders > 0, "no frame was reordered: {total:?}");
    assert!(total.partitions > 0, "no link was cut: {total:?}");
    assert!(total.crashes > 0, "no node crashed: {total:?}");
    assert!(total.restarts > 0, "no node restarted: {total:?}");
    let ok = total.outcomes.get("ok").copied().unwrap_or(0);
    assert!(ok > total.calls / 2, "most calls should succeed: {total:?}");
}
