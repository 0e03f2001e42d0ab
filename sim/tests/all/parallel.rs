//! Exploring on several worker threads gives what one worker gives: the same summary, the same
//! line for every seed, in seed order; a stop leaves the first seeds with no gap; and a seed
//! explored among others has the trace it has when run alone.

use exorun_sim::explore::{self, Seed, Stopped, Watch};
use exorun_sim::pool::Flow;
use exorun_sim::report::Summary;

use crate::support::{explore_lines, options, run_seed, sim};

#[test]
fn two_workers_give_the_summary_of_one() {
    let (one, one_lines) = explore_lines(&options(0..12, 1));
    let (two, two_lines) = explore_lines(&options(0..12, 2));
    assert_eq!(one.seeds, 0..12);
    assert_eq!(two.seeds, 0..12);
    assert_eq!(one.summary, two.summary);
    assert_eq!(one.summary.render(None), two.summary.render(None));
    assert_eq!(one_lines.len(), two_lines.len());
    for (one, two) in one_lines.iter().zip(&two_lines) {
        assert_eq!(one, two, "seed {}", one.seed);
    }
    let seeds: Vec<u64> = two_lines.iter().map(|l| l.seed).collect();
    assert_eq!(seeds, (0..12).collect::<Vec<_>>());
}

#[test]
fn stopping_at_the_first_failure_does_not_depend_on_the_workers() {
    let mut stopping = options(20..30, 1);
    stopping.stop_on_failure = true;
    let (one, one_lines) = explore_lines(&stopping);
    stopping.jobs = 3;
    let (three, three_lines) = explore_lines(&stopping);
    assert_eq!(one.stopped, three.stopped);
    assert_eq!(one.seeds, three.seeds);
    assert_eq!(one.summary, three.summary);
    assert_eq!(one_lines, three_lines);
    if let Stopped::Failure { seed } = one.stopped {
        assert_eq!(one.seeds, 20..seed + 1);
        assert_eq!(one.summary.failed, 1);
    }
}

/// Asks to stop after a number of seeds, as the time limit does after a time.
struct StopAfter {
    seeds: u64,
}

impl Watch for StopAfter {
    fn seed(&mut self, _seed: &Seed, _summary: &Summary) -> Flow {
        Flow::Continue
    }

    fn tick(&mut self, summary: &Summary) -> Flow {
        match summary.seeds >= self.seeds {
            true => Flow::Stop,
            false => Flow::Continue,
        }
    }
}

/// A stop while seeds run (the time limit) keeps the first seeds, with no gap, and their
/// summary is the summary of exploring just them.
#[test]
fn a_stop_keeps_the_first_seeds_with_no_gap() {
    let mut watch = StopAfter { seeds: 3 };
    let explored = explore::explore(sim(), &options(100..200, 2), &mut watch);
    assert_eq!(explored.stopped, Stopped::Watch);
    let ran = explored.seeds.clone();
    assert_eq!(ran.start, 100);
    assert!(ran.end >= 103 && ran.end < 200, "{ran:?}");
    assert_eq!(explored.summary.seeds, ran.end - ran.start);
    let (alone, _) = explore_lines(&options(ran, 1));
    assert_eq!(explored.summary, alone.summary);
}

/// A seed explored after others, on a reused worker, has the trace `run --seed` gives it alone,
/// as the first run of a process.
#[test]
fn an_explored_seed_has_the_trace_it_has_alone() {
    let (_, lines) = explore_lines(&options(0..4, 1));
    for line in &lines {
        let alone = std::thread::scope(|s| s.spawn(|| run_seed(line.seed, None)).join());
        let Ok(alone) = alone else {
            panic!("seed {} panicked", line.seed);
        };
        let hash = format!("{:016x}", alone.trace.hash());
        assert_eq!(line.trace_hash, hash, "seed {}", line.seed);
    }
}
