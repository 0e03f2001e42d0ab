//! `exorun-sim shrink` turns a seed that catches a planted bug into a smaller scenario that
//! still fails the same way.

use exorun_sim::plant::Plant;
use exorun_sim::scenario::{self, Scenario};

use crate::support::{describe, exorun_sim, run_seed, scratch_dir, sim};

/// How far to look for a seed that catches the plant (the plants' own bound).
const SEEDS_MAX: u64 = 1000;

#[test]
fn shrinking_a_planted_bug_keeps_its_violation_in_a_smaller_scenario() {
    let plant = Plant::DoubleExecute;
    let kind = plant.caught_as();
    let seed = (0..SEEDS_MAX)
        .find(|seed| {
            let report = run_seed(*seed, Some(plant));
            report.violations.iter().any(|v| v.kind == kind)
        })
        .expect("some seed catches double-execute");
    let out = scratch_dir("shrink").join("shrunk.toml");
    let cli = exorun_sim(&[
        "shrink",
        "--seed",
        &seed.to_string(),
        "--plant",
        plant.name(),
        "--out",
        &out.to_string_lossy(),
    ]);
    assert_eq!(cli.code, Some(0), "{}", cli.output());
    for line in [
        "before: nodes 3, instances 11, calls ",
        "after:  nodes ",
        " runs (",
    ] {
        assert!(
            cli.stdout.contains(line),
            "no {line:?} in\n{}",
            cli.output()
        );
    }
    let shrunk = match Scenario::load(&out) {
        Ok(shrunk) => shrunk,
        Err(e) => panic!("{e}\n{}", cli.output()),
    };
    let original = scenario::generate(seed);
    let (before, after) = (original.size(), shrunk.size());
    assert_eq!(shrunk.seed, seed);
    assert!(after.calls < before.calls, "{before:?} -> {after:?}");
    assert!(
        after.instances < before.instances,
        "{before:?} -> {after:?}"
    );
    assert!(after.nodes <= before.nodes, "{before:?} -> {after:?}");
    assert!(after.faults <= before.faults, "{before:?} -> {after:?}");
    assert!(after.time_ms <= before.time_ms, "{before:?} -> {after:?}");
    let report = sim().run(&shrunk, Some(plant));
    let caught = report.violations.iter().any(|v| v.kind == kind);
    assert!(
        caught,
        "the shrunk scenario no longer fails:\n{}",
        describe(&report)
    );
}
