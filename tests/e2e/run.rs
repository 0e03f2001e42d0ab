//! `exorun-sim run --seed S`: one seed, its scenario's knobs, the outcome and the trace hash;
//! exit status 0 on a pass, 1 on a violation, 2 on a bad scenario file.

use crate::fixtures::{PLANT, SEEDS, planted_seed, whole};
use crate::support::{arg, exorun_sim, scratch_dir, shipped_path};

/// A seed of [`SEEDS`], so that its hash can be compared with the report's.
const SEED: u64 = 3;
const _: () = assert!(SEED.checked_sub(SEEDS.start).is_some());
const _: () = assert!(SEED < SEEDS.end);

#[test]
fn a_passing_seed_exits_0_with_its_knobs_outcome_and_hash() {
    let seed = SEED.to_string();
    let cli = exorun_sim(&["run", "--seed", &seed]);
    cli.assert_exit(0);
    cli.assert_stdout(&[
        &format!("exorun-sim run: seed {SEED}\n"),
        "\noutcome: pass\n",
    ]);
    let hash = cli.stdout_value("trace-hash: ");
    assert_eq!(hash.len(), 16, "{}", cli.output());
    // The same seed in another process, explored among others, had the same trace.
    let explored = whole().lines.iter().find(|line| line.seed == SEED);
    let Some(explored) = explored else {
        panic!("seed {SEED} is not in the exploration's report");
    };
    assert_eq!(hash, explored.trace_hash);
    insta::assert_snapshot!("run_seed_3", cli.stdout);
}

#[test]
fn a_planted_bug_exits_1_with_the_seed_the_violation_and_the_replay_command() {
    let seed = planted_seed();
    let seed_arg = seed.to_string();
    let cli = exorun_sim(&["run", "--seed", &seed_arg, "--plant", PLANT.name()]);
    cli.assert_exit(1);
    let kind = PLANT.caught_as();
    cli.assert_stdout(&[
        &format!("planted bug: {PLANT} (must be caught as {kind})\n"),
        &format!("\nseed {seed}: VIOLATION {kind} at event "),
        "\n  >> ",
        &format!("\nreplay: scripts/sim.sh run --seed {seed} --plant {PLANT} --trace\n"),
        "\ntrace-hash: ",
    ]);
}

/// A planted bug in a hand-written scenario, for a golden that does not move with the
/// generator and is short: one violation (a generated seed's planted run shows a hundred).
#[test]
fn a_planted_bug_in_a_scenario_file_prints_its_golden_failure() {
    let scenario = "sim/scenarios/partition.toml";
    let cli = exorun_sim(&[
        "run",
        "--seed",
        "7",
        "--scenario",
        scenario,
        "--plant",
        "forget-pending",
    ]);
    cli.assert_exit(1);
    let replay =
        format!("scripts/sim.sh run --seed 7 --scenario {scenario} --plant forget-pending");
    cli.assert_stdout(&[
        "\nseed 7: VIOLATION no-leak at event ",
        &format!("\nreplay: {replay} --trace\n"),
    ]);
    insta::assert_snapshot!("run_partition_7_forget_pending", cli.stdout);
}

/// Scenario files that are wrong in one place each, and what the error must name.
#[test]
fn a_bad_scenario_file_exits_2_naming_what_is_wrong() {
    let partition = match std::fs::read_to_string(shipped_path("partition")) {
        Ok(text) => text,
        Err(e) => panic!("partition.toml: {e}"),
    };
    let dir = scratch_dir("run-bad-scenario");
    let edit = |name: &str, from: &str, to: &str| {
        assert!(partition.contains(from), "partition.toml has no {from:?}");
        let path = dir.join(name);
        let written = std::fs::write(&path, partition.replacen(from, to, 1));
        if let Err(e) = written {
            panic!("{}: {e}", path.display());
        }
        path
    };
    let cases = [
        (
            edit("via.toml", "via = \"calc-client\"", "via = \"nowhere\""),
            "scenario field `call[0].op.via`",
        ),
        (
            edit("fuel.toml", "fuel = 2_000_000", "fuel = 0"),
            "scenario field `limits.fuel`",
        ),
        (
            edit("key.toml", "heal_ms = 10000 ", "heal_after_ms = 10000 "),
            "heal_after_ms",
        ),
        (dir.join("missing.toml"), "scenario file `"),
    ];
    for (path, named) in cases {
        let cli = exorun_sim(&["run", "--seed", "1", "--scenario", &arg(&path)]);
        cli.assert_exit(2);
        cli.assert_stderr(&[named]);
        assert!(cli.stdout.is_empty(), "{}", cli.output());
    }
}

/// `run --html FILE` writes the picture of the run: titled with the seed and the command that
/// replays it, the violation called out.
#[test]
fn run_html_writes_the_page_of_the_run() {
    let seed = planted_seed();
    let path = scratch_dir("run-html").join("run.html");
    let cli = exorun_sim(&[
        "run",
        "--seed",
        &seed.to_string(),
        "--plant",
        PLANT.name(),
        "--html",
        &arg(&path),
    ]);
    cli.assert_exit(1);
    cli.assert_stdout(&[&format!("\nhtml: {}\n", arg(&path))]);
    let page = match std::fs::read_to_string(&path) {
        Ok(page) => page,
        Err(e) => panic!("{}: {e}\n{}", path.display(), cli.output()),
    };
    for text in [
        format!("exorun-sim seed {seed}"),
        format!("--plant {PLANT}"),
        "class=\"callout\"".to_owned(),
    ] {
        assert!(page.contains(&text), "no {text:?} in {}", path.display());
    }
}
