//! The simulator shared by every test: the apps are read and compiled once per process.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::OnceLock;

use exorun_sim::explore::{self, Explored, Options, Seed, Watch};
use exorun_sim::jsonl::SeedLine;
use exorun_sim::plant::Plant;
use exorun_sim::pool::Flow;
use exorun_sim::report::{Report, Summary};
use exorun_sim::run::Simulator;
use exorun_sim::scenario::{self, Scenario};

/// Where scripts/build_apps.sh writes the apps.
pub fn apps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/exorun/tests/fixtures")
}

pub fn sim() -> &'static Simulator {
    static SIM: OnceLock<Simulator> = OnceLock::new();
    SIM.get_or_init(|| match Simulator::new(&apps_dir()) {
        Ok(sim) => sim,
        Err(e) => panic!("cannot set the simulator up (run scripts/build_apps.sh): {e}"),
    })
}

/// Runs the generated scenario of `seed`.
pub fn run_seed(seed: u64, plant: Option<Plant>) -> Report {
    sim().run(&scenario::generate(seed), plant)
}

/// A shipped scenario file, by name.
pub fn shipped(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    match Scenario::load(&path) {
        Ok(scenario) => scenario,
        Err(e) => panic!("{name}.toml: {e}"),
    }
}

/// What a failed run says, for assertion messages.
pub fn describe(report: &Report) -> String {
    let replay = exorun_sim::report::Replay::default();
    exorun_sim::report::failure(report, &replay)
}

/// What an exploration handed on: every seed's line, in the order it came.
#[derive(Default)]
pub struct Lines(pub Vec<SeedLine>);

impl Watch for Lines {
    fn seed(&mut self, seed: &Seed, _summary: &Summary) -> Flow {
        self.0.push(seed.line.clone());
        Flow::Continue
    }

    fn tick(&mut self, _summary: &Summary) -> Flow {
        Flow::Continue
    }
}

/// The exploration options for `seeds` of the generated scenarios on `jobs` workers.
pub fn options(seeds: Range<u64>, jobs: usize) -> Options {
    Options {
        seeds,
        scenario: None,
        plant: None,
        jobs,
        stop_on_failure: false,
        replay: exorun_sim::report::Replay::default(),
    }
}

/// Explores with `options`; the result and the lines, in the order they came.
pub fn explore_lines(options: &Options) -> (Explored, Vec<SeedLine>) {
    let mut lines = Lines::default();
    let explored = explore::explore(sim(), options, &mut lines);
    (explored, lines.0)
}
