//! `exorun-sim replay`: runs a seed twice, or a corpus entry once, and checks that the trace
//! is the one it was. Same: `replay: deterministic, trace-hash <hex>`. Different: an error
//! that shows the first event where the two traces part ways.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use exorun_sim::replay::first_difference;
use exorun_sim::report::{self, Report};

use super::corpus::{Replayed, explain, replay_entry};
use super::pick::Pick;

/// `replay --seed S [--plant BUG] [--scenario FILE]` or `replay --entry corpus/NAME.toml`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pick: Pick,
    /// A corpus entry to replay instead: its outcome and trace hash (and its trace, if it
    /// keeps one) must be the recorded ones.
    #[arg(long, conflicts_with_all = ["seed", "scenario", "plant"])]
    entry: Option<PathBuf>,
    /// Where the compiled apps are.
    #[arg(long, default_value_os_t = crate::default_apps_dir())]
    apps: PathBuf,
}

pub fn main(args: Args) -> ExitCode {
    match &args.entry {
        Some(entry) => replay_one_entry(entry, &args.apps),
        None => replay_seed(&args),
    }
}

/// Runs the picked scenario twice in this process and compares the traces.
fn replay_seed(args: &Args) -> ExitCode {
    let scenario = match args.pick.scenario() {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let sim = match super::setup(&args.apps) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    println!(
        "exorun-sim replay: {}, run twice",
        args.pick.describe(&scenario)
    );
    let first = sim.run(&scenario, args.pick.plant);
    let second = sim.run(&scenario, args.pick.plant);
    println!("outcome: {}", super::outcome(&first));
    let (original, replayed) = (first.trace.text(), second.trace.text());
    if original != replayed {
        eprintln!(
            "exorun-sim: replay: determinism broke: seed {} gave trace-hash {:016x}, then {:016x}",
            scenario.seed,
            first.trace.hash(),
            second.trace.hash()
        );
        if let Some(difference) = first_difference(&original, &replayed) {
            eprint!("{difference}");
        }
        return ExitCode::from(1);
    }
    if !first.passed() {
        print!("{}", report::failure(&first, &args.pick.replay()));
    }
    println!(
        "replay: deterministic, trace-hash {:016x}",
        first.trace.hash()
    );
    ExitCode::from(if first.passed() { 0 } else { 1 })
}

/// Runs a corpus entry and compares it with what the entry recorded.
fn replay_one_entry(path: &Path, apps: &Path) -> ExitCode {
    let sim = match super::setup(apps) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    let replayed = match replay_entry(&sim, path) {
        Ok(replayed) => replayed,
        Err(error) => {
            eprintln!("exorun-sim: {error}");
            return ExitCode::from(2);
        }
    };
    let Replayed { entry, report, .. } = &replayed;
    println!(
        "exorun-sim replay: entry {}: {}; expects {}",
        path.display(),
        super::corpus::describe(entry),
        entry.expect
    );
    println!("outcome: {}", super::outcome(report));
    if !report.passed() {
        print!("{}", violations(report));
        println!("replay: scripts/sim.sh replay --entry {}", path.display());
    }
    if !replayed.mismatches.is_empty() {
        eprintln!(
            "exorun-sim: replay: entry {} replays otherwise than recorded",
            path.display()
        );
        eprint!("{}", explain(&replayed));
        return ExitCode::from(1);
    }
    println!(
        "replay: deterministic, trace-hash {:016x}",
        report.trace.hash()
    );
    ExitCode::SUCCESS
}

/// `report::failure` without its last line, the `run` command that replays a seed: a corpus
/// entry's scenario may be in no file of its own.
fn violations(report: &Report) -> String {
    let failure = report::failure(report, &report::Replay::default());
    let body = failure.trim_end_matches('\n');
    match body.rsplit_once('\n') {
        Some((body, last)) if last.starts_with("replay: ") => format!("{body}\n"),
        _ => failure,
    }
}
