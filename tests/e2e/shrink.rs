//! `exorun-sim shrink` turns a seed that catches a planted bug into a smaller scenario that
//! still fails the same way, and says how to replay and keep it.

use exorun_sim::scenario::{self, Scenario};

use crate::fixtures::{PLANT, planted_seed};
use crate::support::{arg, exorun_sim, scratch_dir};

#[test]
fn shrinking_a_planted_bug_keeps_its_violation_in_a_smaller_scenario() {
    let seed = planted_seed();
    let out = scratch_dir("shrink").join("shrunk.toml");
    let out_arg = arg(&out);
    let cli = exorun_sim(&[
        "shrink",
        "--seed",
        &seed.to_string(),
        "--plant",
        PLANT.name(),
        "--out",
        &out_arg,
    ]);
    cli.assert_exit(0);
    let plant = format!("--plant {PLANT}");
    let original = scenario::generate(seed);
    let before = original.size();
    let before_line = format!(
        "\nbefore: nodes {}, instances {}, calls {}, ",
        before.nodes, before.instances, before.calls
    );
    cli.assert_stdout(&[
        &before_line,
        "\nafter:  nodes ",
        " runs (and 2 more: the original and a last check)",
        &format!("; wrote {out_arg}\n"),
        &format!(
            "\nreplay: scripts/sim.sh run --seed {seed} --scenario {out_arg} {plant} --trace\n"
        ),
        &format!("\nkeep it: scripts/sim.sh corpus add --scenario {out_arg} {plant} --trace\n"),
    ]);
    let shrunk = match Scenario::load(&out) {
        Ok(shrunk) => shrunk,
        Err(e) => panic!("{e}\n{}", cli.output()),
    };
    let after = shrunk.size();
    assert_eq!(shrunk.seed, seed);
    assert!(after.calls < before.calls, "{before:?} -> {after:?}");
    assert!(
        after.instances < before.instances,
        "{before:?} -> {after:?}"
    );
    assert!(after.nodes <= before.nodes, "{before:?} -> {after:?}");
    assert!(after.faults <= before.faults, "{before:?} -> {after:?}");
    assert!(after.time_ms <= before.time_ms, "{before:?} -> {after:?}");

    // The replay command it printed fails, in another process, with the same violation.
    let replayed = exorun_sim(&[
        "run",
        "--seed",
        &seed.to_string(),
        "--scenario",
        &out_arg,
        "--plant",
        PLANT.name(),
    ]);
    replayed.assert_exit(1);
    replayed.assert_stdout(&[&format!(
        "\nseed {seed}: VIOLATION {} at event ",
        PLANT.caught_as()
    )]);
}

#[test]
fn shrinking_a_passing_seed_exits_2() {
    let out = scratch_dir("shrink-pass").join("shrunk.toml");
    let cli = exorun_sim(&["shrink", "--seed", "1", "--out", &arg(&out)]);
    cli.assert_exit(2);
    cli.assert_stderr(&["exorun-sim: seed 1 passes: nothing to shrink"]);
    assert!(!out.exists(), "{} was written", out.display());
}
