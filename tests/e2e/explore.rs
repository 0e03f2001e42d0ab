//! `exorun-sim explore`: a small range passes with its summary and a report line per seed; a
//! planted bug stops it at the first failing seed with exit status 1; bad flags exit 2 before
//! any seed runs.

use crate::fixtures::{PLANT, SEEDS, planted, whole};
use crate::support::{exorun_sim, redact_wall};

#[test]
fn a_small_range_passes_with_its_summary_and_a_line_per_seed() {
    let explored = whole();
    let cli = &explored.cli;
    cli.assert_exit(0);
    let (start, end, count) = (SEEDS.start, SEEDS.end, SEEDS.end - SEEDS.start);
    cli.assert_stdout(&[
        &format!("exorun-sim explore: seeds {start}..{end} of the default scenario\n"),
        &format!("\n  seeds                  {count}\n"),
        "\n  failed                 0\n",
    ]);
    let seeds: Vec<u64> = explored.lines.iter().map(|line| line.seed).collect();
    assert_eq!(seeds, SEEDS.collect::<Vec<_>>());
    assert!(explored.lines.iter().all(|line| line.passed()));
    insta::assert_snapshot!("explore_seeds_0_6", redact_wall(&cli.stdout));
}

#[test]
fn a_planted_bug_stops_the_exploration_at_the_first_failing_seed() {
    let (seed, cli) = planted();
    cli.assert_exit(1);
    let kind = PLANT.caught_as();
    cli.assert_stdout(&[
        &format!("planted bug: {PLANT} (must be caught as {kind})\n"),
        &format!("seed {seed}: VIOLATION {kind} at event "),
        &format!("replay: scripts/sim.sh run --seed {seed} --plant {PLANT} --trace\n"),
        &format!("the summary covers seeds 0..{}", seed + 1),
        "\n  failed                 1\n",
        &format!("\n  failing seeds          {seed}\n"),
    ]);
}

/// Flags that are wrong, refused with the flag named, before the apps are compiled.
#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let cases: [(&[&str], &str); 5] = [
        (&["--jobs", "0"], "'--jobs <JOBS>'"),
        (
            &["--time-limit", "5x"],
            "--time-limit `5x`: unknown unit `x`",
        ),
        (&["--shard", "3/3"], "the index must be below the count"),
        (
            &["--shard", "1/2", "--shard-count", "2"],
            "--shard-count goes with",
        ),
        (
            &["--scenario", "no-such.toml"],
            "scenario file `no-such.toml`",
        ),
    ];
    for (flags, named) in cases {
        let mut args = vec!["explore", "--seeds", "2"];
        args.extend_from_slice(flags);
        let cli = exorun_sim(&args);
        cli.assert_exit(2);
        cli.assert_stderr(&[named]);
    }
}
