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

/// More runs than the engine's instance pool could hold at once, one after the other: each run
/// gives its nodes' instances back (madsim keeps a dropped runtime's pending tasks, so the run
/// kills its nodes first), and no run finds the pool full.
#[test]
fn runs_give_their_instances_back() {
    let runs = 2 * exorun::runtime::Pooling::default().component_instances_max / 11;
    for seed in 0..u64::from(runs) {
        let report = run_seed(seed, None);
        assert!(report.tally.calls > 0, "seed {seed} made no call");
        let text = report.trace.text();
        let pool_full = text.lines().find(|l| l.contains("concurrent limit"));
        assert!(pool_full.is_none(), "seed {seed}: {pool_full:?}");
    }
}
