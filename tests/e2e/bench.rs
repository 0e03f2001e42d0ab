//! `exorun-sim bench`: the default scenario beside a raw madsim echo, with the ratio per
//! exchange in wall time and in CPU time, and the memory readings.

use crate::support::exorun_sim;

#[test]
fn bench_prints_both_halves_their_ratios_and_memory() {
    let cli = exorun_sim(&["bench", "--seeds", "3"]);
    cli.assert_exit(0);
    cli.assert_stdout(&[
        "bench: 3 seeds of the default scenario for memory, then again in rounds of 20: with every fault, with none, with direct calls only, and a raw madsim echo\n",
        "(0 failed)\n",
        "  no faults ",
        "  direct ",
        "  echo ",
        "x the echo's time per exchange\n",
        "x the echo's CPU time per exchange (",
        "  memory    rss after 3 seeds ",
    ]);
    // The seeds without faults: their speed, and their own CPU ratio to the echo.
    let calm = cli
        .stdout
        .lines()
        .filter(|l| l.starts_with("  no faults "))
        .count();
    assert_eq!(calm, 2, "{}", cli.output());
    // The runtime's floor: direct calls, their speed and their CPU ratio, none failed.
    let direct: Vec<&str> = cli
        .stdout
        .lines()
        .filter(|l| l.starts_with("  direct "))
        .collect();
    assert_eq!(direct.len(), 2, "{}", cli.output());
    assert!(
        direct[0].contains("(0 failed; each call one direct calc.add, no faults)"),
        "{}",
        cli.output()
    );
    assert!(
        direct[1].ends_with("clock ticks): the cheapest workload"),
        "{}",
        cli.output()
    );
    let ratio = cli.stdout_value("  ratio ");
    let value: f64 = ratio
        .split_whitespace()
        .next()
        .and_then(|r| r.strip_suffix('x'))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no ratio in {ratio:?}"));
    assert!(value > 0.0 && value.is_finite(), "{ratio}");
}
