//! Runs that several tests judge, each made once per process: an exploration of [`SEEDS`] with
//! its report, the same seeds in [`SHARDS`] shards by `--shard`, and the first seed that catches
//! [`PLANT`].

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use exorun_sim::jsonl::SeedLine;
use exorun_sim::plant::Plant;

use crate::support::{Cli, arg, exorun_sim, scratch_dir};

/// The range the small explorations run: a few seeds of the default scenario.
pub const SEEDS: Range<u64> = 0..6;

/// How many shards [`by_flag`] splits [`SEEDS`] into.
pub const SHARDS: u64 = 3;

/// The planted bug the failing runs plant.
pub const PLANT: Plant = Plant::DoubleExecute;

/// How far [`planted_seed`] looks for a seed that catches [`PLANT`].
const PLANTED_SEEDS_MAX: u64 = 200;

/// One `explore` and the report it wrote.
pub struct Explored {
    pub cli: Cli,
    pub lines: Vec<SeedLine>,
}

/// `explore --from F --seeds N ARGS --report FILE`, in a scratch directory named `name`; the
/// report's lines are read back.
pub fn explore(name: &str, seeds: &Range<u64>, args: &[&str], env: &[(&str, &str)]) -> Explored {
    let dir = scratch_dir(name);
    let report = dir.join("report.jsonl");
    let (from, count) = (
        seeds.start.to_string(),
        (seeds.end - seeds.start).to_string(),
    );
    let mut all = vec!["explore", "--from", &from, "--seeds", &count];
    all.extend_from_slice(args);
    let report_arg = arg(&report);
    all.extend(["--report", &report_arg]);
    let cli = crate::support::exorun_sim_env(&all, env);
    let lines = read_report(&report, &cli);
    Explored { cli, lines }
}

/// The lines of a report `explore` wrote.
pub fn read_report(path: &Path, cli: &Cli) -> Vec<SeedLine> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => panic!("{}: {e}\n{}", path.display(), cli.output()),
    };
    let parse = |line: &str| match SeedLine::parse(line) {
        Ok(line) => line,
        Err(e) => panic!("{}: {e}: {line}", path.display()),
    };
    text.lines().map(parse).collect()
}

/// `explore` of [`SEEDS`] of the default scenario, unsharded, on one worker.
pub fn whole() -> &'static Explored {
    static WHOLE: OnceLock<Explored> = OnceLock::new();
    WHOLE.get_or_init(|| explore("whole", &SEEDS, &[], &[]))
}

/// [`SEEDS`] explored as `--shard I/SHARDS` for each I, on two workers each.
pub fn by_flag() -> &'static [Explored] {
    static SHARDED: OnceLock<Vec<Explored>> = OnceLock::new();
    SHARDED.get_or_init(|| {
        let shard = |index: u64| {
            let flag = format!("{index}/{SHARDS}");
            let name = format!("shard-flag-{index}");
            explore(&name, &SEEDS, &["--shard", &flag, "--jobs", "2"], &[])
        };
        (0..SHARDS).map(shard).collect()
    })
}

/// The first seed of the default scenario that catches [`PLANT`], as `explore
/// --stop-on-failure` finds it, and that exploration.
pub fn planted() -> &'static (u64, Cli) {
    static PLANTED: OnceLock<(u64, Cli)> = OnceLock::new();
    PLANTED.get_or_init(|| {
        let seeds = PLANTED_SEEDS_MAX.to_string();
        let cli = exorun_sim(&[
            "explore",
            "--seeds",
            &seeds,
            "--plant",
            PLANT.name(),
            "--stop-on-failure",
        ]);
        let stop = cli.stdout_value("stopped at the first failing seed, ");
        let seed = stop.split(':').next().and_then(|s| s.parse().ok());
        let Some(seed) = seed else {
            panic!("no failing seed in {stop:?}:\n{}", cli.output());
        };
        (seed, cli)
    })
}

/// [`planted`]'s seed.
pub fn planted_seed() -> u64 {
    planted().0
}
