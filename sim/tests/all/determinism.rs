//! One seed, one trace: two runs of a seed give the same trace bytes, whatever ran before them
//! on the thread; golden traces of each built-in scenario guard the text form and what a seed
//! does; madsim's own determinism check passes on a whole scenario.

use std::collections::BTreeMap;

use exorun_sim::report::Report;
use exorun_sim::scenario::{self, Scenario};

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

// Golden traces of the built-in scenarios, one fixed seed each (the hand-written files at their
// own seed). A change of a trace's text is a visible diff in review (`cargo insta review`).

#[test]
fn a_golden_trace_keeps_its_text() {
    let mut scenario = shipped("partition");
    scenario.seed = 7;
    let report = sim().run(&scenario, None);
    assert!(report.passed(), "{:?}", report.violations);
    insta::assert_snapshot!("partition_seed_7", report.trace.text());
}

#[test]
fn the_upgrade_scenario_keeps_its_golden_trace() {
    let scenario = shipped("upgrade");
    assert_eq!(
        scenario.seed, 11,
        "the golden is of upgrade.toml's own seed"
    );
    let report = sim().run(&scenario, None);
    assert!(report.passed(), "{:?}", report.violations);
    insta::assert_snapshot!("upgrade_seed_11", report.trace.text());
}

/// Generated seeds of the default scenario keep their golden digests.
#[test]
fn generated_default_seeds_keep_their_golden_digests() {
    for seed in DEFAULT_GOLDEN_SEEDS {
        let scenario = scenario::generate(seed);
        let report = sim().run(&scenario, None);
        assert!(report.passed(), "seed {seed}: {:?}", report.violations);
        let digest = digest(&scenario, &report);
        insta::assert_snapshot!(format!("default_seed_{seed}"), digest);
    }
}

/// The generated seeds with a golden digest.
const DEFAULT_GOLDEN_SEEDS: [u64; 3] = [0, 1, 2];

/// How many lines of the trace a digest shows at its start and at its end.
const DIGEST_EDGE_LINES: usize = 60;

/// A generated seed runs for twenty virtual seconds, some two hundred calls, and its trace has
/// thousands of events: too many to review line by line. Its golden is a digest instead: the
/// knobs the seed chose (the whole scenario, as `run` prints it), the trace's length and hash
/// (which pin every byte of it), its events counted by node and kind (a change of behaviour
/// shows as a changed count), and its first and last [`DIGEST_EDGE_LINES`] lines (the nodes
/// starting, and the end-of-run facts the checkers read).
fn digest(scenario: &Scenario, report: &Report) -> String {
    let text = report.trace.text();
    let lines: Vec<&str> = text.lines().collect();
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for line in &lines {
        let mut words = line.split_whitespace().skip(1);
        let (Some(node), Some(kind)) = (words.next(), words.next()) else {
            panic!("an event line without a node and a kind: {line:?}");
        };
        *counts.entry((node, kind)).or_default() += 1;
    }
    let mut out = scenario.knobs();
    out.push_str(&format!(
        "trace: {} events, hash {:016x}\n",
        lines.len(),
        report.trace.hash()
    ));
    out.push_str("events by node and kind:\n");
    for ((node, kind), count) in &counts {
        out.push_str(&format!("  {node:<6} {kind:<16} {count}\n"));
    }
    let head = DIGEST_EDGE_LINES.min(lines.len());
    let tail = DIGEST_EDGE_LINES.min(lines.len() - head);
    out.push_str(&format!("first {head} events:\n"));
    for line in &lines[..head] {
        out.push_str(&format!("{line}\n"));
    }
    out.push_str(&format!("... {} events ...\n", lines.len() - head - tail));
    out.push_str(&format!("last {tail} events:\n"));
    for line in &lines[lines.len() - tail..] {
        out.push_str(&format!("{line}\n"));
    }
    out
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
