//! One seed, one trace: two runs of a seed give the same trace bytes, whatever ran before them
//! on the thread; a golden trace guards the text form; madsim's own determinism check passes on
//! a whole scenario.

use exorun_sim::scenario;

use crate::support::{run_seed, shipped, sim};

#[test]
fn two_runs_of_a_seed_give_the_same_trace() {
    for seed in 0..20 {
        let first = run_seed(seed, None);
        let second = run_seed(seed, None);
        assert_eq!(
            first.trace.hash(),
            second.trace.hash(),
            "seed {seed}: the traces differ from line {:?}",
            first_difference(&first.trace.text(), &second.trace.text())
        );
        assert!(first.trace.events.len() > 100, "seed {seed} did little");
    }
}

/// A seed run after others on the same thread gives the trace it gives as the first run of a
/// thread (as `run --seed` runs it): no run depends on the runs before it.
#[test]
fn a_seed_run_after_others_gives_the_trace_it_gives_alone() {
    let on_a_fresh_thread = |seeds: &[u64]| {
        let runs = || {
            let mut last = None;
            for seed in seeds {
                last = Some(run_seed(*seed, None));
            }
            last
        };
        let last = std::thread::scope(|s| s.spawn(runs).join());
        match last {
            Ok(Some(report)) => report.trace.hash(),
            _ => panic!("the runs of {seeds:?} broke"),
        }
    };
    for seed in 1..4 {
        let alone = on_a_fresh_thread(&[seed]);
        let after_others = on_a_fresh_thread(&[seed + 10, seed - 1, seed]);
        assert_eq!(alone, after_others, "seed {seed}");
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let hashes: std::collections::BTreeSet<u64> = (0..10)
        .map(|seed| run_seed(seed, None).trace.hash())
        .collect();
    assert_eq!(hashes.len(), 10);
}

#[test]
fn a_golden_trace_keeps_its_text() {
    let mut scenario = shipped("partition");
    scenario.seed = 7;
    let report = sim().run(&scenario, None);
    assert!(report.passed(), "{:?}", report.violations);
    insta::assert_snapshot!("partition_seed_7", report.trace.text());
}

/// madsim runs the scenario twice and compares every random draw of the two runs.
#[test]
fn madsim_check_determinism_passes_on_a_scenario() {
    let config = madsim::Config::default();
    let report = madsim::runtime::Runtime::check_determinism(3, config, || async {
        let scenario = scenario::generate(3);
        let report = sim().run_here(&scenario, None).await;
        (report.trace.hash(), report.passed())
    });
    assert!(report.1, "seed 3 failed under check_determinism");
}

fn first_difference(a: &str, b: &str) -> Option<(usize, String, String)> {
    let mut lines = a.lines().zip(b.lines()).enumerate();
    let (i, (x, y)) = lines.find(|(_, (x, y))| x != y)?;
    Some((i, x.to_owned(), y.to_owned()))
}
