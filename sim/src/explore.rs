//! Exploring a range of seeds: each seed's scenario is run and checked on a worker thread, and
//! the results are summed in seed order ([`crate::pool`]), so that the summary, the failures
//! reported and the per-seed lines are the same for any number of workers.

use std::ops::Range;

use crate::jsonl::{self, SeedLine};
use crate::plant::Plant;
use crate::pool::{self, Flow};
use crate::report::{self, Replay, Summary};
use crate::run::Simulator;
use crate::scenario::{self, Scenario};

/// What to explore.
#[derive(Debug, Clone)]
pub struct Options {
    pub seeds: Range<u64>,
    /// A scenario to run with each seed instead of the generated ones.
    pub scenario: Option<Scenario>,
    pub plant: Option<Plant>,
    /// Worker threads, 1 to [`pool::JOBS_MAX`].
    pub jobs: usize,
    /// Stop at the first failing seed, in seed order.
    pub stop_on_failure: bool,
    /// How a failure names the command that replays it.
    pub replay: Replay,
}

/// One seed's result, as the exploration hands it on.
#[derive(Debug, Clone)]
pub struct Seed {
    pub line: SeedLine,
    /// A failed run's report: each violation with the events that prove it, and the command
    /// that replays the seed ([`report::failure`]).
    pub failure: Option<String>,
}

/// Why an exploration ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every seed ran.
    Finished,
    /// `stop_on_failure`, at this seed.
    Failure { seed: u64 },
    /// The watch asked (a time limit, a report that cannot be written).
    Watch,
}

/// What an exploration did.
#[derive(Debug, Clone)]
pub struct Explored {
    /// The summary of the seeds in `seeds`.
    pub summary: Summary,
    /// The seeds summed: the first seeds of the range, with no gap.
    pub seeds: Range<u64>,
    pub stopped: Stopped,
    /// Seeds that completed after a stop but did not follow on, left out of the summary.
    pub left_out: u64,
}

/// What follows an exploration as it goes, on the calling thread.
pub trait Watch {
    /// A seed's result, in seed order, with the summary that now counts it. [`Flow::Stop`]
    /// merges no further seed.
    fn seed(&mut self, seed: &Seed, summary: &Summary) -> Flow;
    /// Called after each result and at least every [`pool::TICK`] while waiting.
    /// [`Flow::Stop`] starts no further seed; the seeds running are merged if they follow on.
    fn tick(&mut self, summary: &Summary) -> Flow;
}

/// A watch that watches nothing.
pub struct Unwatched;

impl Watch for Unwatched {
    fn seed(&mut self, _seed: &Seed, _summary: &Summary) -> Flow {
        Flow::Continue
    }

    fn tick(&mut self, _summary: &Summary) -> Flow {
        Flow::Continue
    }
}

/// Runs the seeds of `options` and sums them, telling `watch` as it goes.
pub fn explore(sim: &Simulator, options: &Options, watch: &mut impl Watch) -> Explored {
    let run = |seed| run_seed(sim, options, seed);
    let mut merger = Merger {
        summary: Summary::default(),
        watch,
        stop_on_failure: options.stop_on_failure,
        stopped: Stopped::Finished,
    };
    let ended = pool::in_seed_order(options.seeds.clone(), options.jobs, run, &mut merger);
    Explored {
        summary: merger.summary,
        seeds: ended.merged,
        stopped: merger.stopped,
        left_out: ended.left_out,
    }
}

/// The scenario for `seed`: the file's, with its seed replaced, or a generated one.
pub fn scenario_for(seed: u64, file: Option<&Scenario>) -> Scenario {
    match file {
        Some(base) => Scenario {
            seed,
            ..base.clone()
        },
        None => scenario::generate(seed),
    }
}

/// On a worker: runs and checks one seed, and keeps what the merge needs (not the trace).
fn run_seed(sim: &Simulator, options: &Options, seed: u64) -> Seed {
    let scenario = scenario_for(seed, options.scenario.as_ref());
    let report = sim.run(&scenario, options.plant);
    let failure = (!report.passed()).then(|| report::failure(&report, &options.replay));
    let line = SeedLine::of(&report);
    Seed { line, failure }
}

struct Merger<'w, W> {
    summary: Summary,
    watch: &'w mut W,
    stop_on_failure: bool,
    stopped: Stopped,
}

impl<W: Watch> pool::Merge<Seed> for Merger<'_, W> {
    fn merge(&mut self, seed: u64, result: Seed) -> Flow {
        jsonl::add(&mut self.summary, &result.line);
        let asked = self.watch.seed(&result, &self.summary);
        if self.stop_on_failure && !result.line.passed() {
            self.stopped = Stopped::Failure { seed };
            return Flow::Stop;
        }
        if asked == Flow::Stop {
            self.stopped = Stopped::Watch;
        }
        asked
    }

    fn tick(&mut self) -> Flow {
        let asked = self.watch.tick(&self.summary);
        if asked == Flow::Stop {
            self.stopped = Stopped::Watch;
        }
        asked
    }
}
