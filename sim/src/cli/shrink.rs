//! `exorun-sim shrink`: runs a failing seed, then shrinks its scenario to a smaller one that
//! still fails with the same violation kind, and writes it as TOML.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use exorun_sim::check::ViolationKind;
use exorun_sim::report::{Replay, Report};
use exorun_sim::scenario::Scenario;
use exorun_sim::shrink::{self, SHRINK_RUNS_MAX, Step};

use super::pick::Pick;

/// `shrink --seed S [--plant BUG] [--scenario FILE] [--out FILE]`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pick: Pick,
    /// Where to write the smallest failing scenario (default: shrunk-SEED.toml).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The most runs shrinking may spend.
    #[arg(long, default_value_t = SHRINK_RUNS_MAX)]
    runs_max: u64,
    /// Where the compiled apps are.
    #[arg(long, default_value_os_t = crate::default_apps_dir())]
    apps: PathBuf,
}

/// How the seed fails, which every smaller candidate must too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Violation(ViolationKind),
    /// The run broke (a panic, the virtual time limit).
    Broken,
}

impl Target {
    /// The planted bug's kind if the run shows it, else the first violation's kind, else a
    /// broken run; `None` if the run passed.
    fn of(report: &Report, pick: &Pick) -> Option<Target> {
        let planted = pick.plant.map(|plant| plant.caught_as());
        let shown = planted.filter(|kind| report.violations.iter().any(|v| v.kind == *kind));
        let first = report.violations.first().map(|v| v.kind);
        match (shown.or(first), &report.panicked) {
            (Some(kind), _) => Some(Target::Violation(kind)),
            (None, Some(_)) => Some(Target::Broken),
            (None, None) => None,
        }
    }

    fn hit(self, report: &Report) -> bool {
        match self {
            Target::Violation(kind) => report.violations.iter().any(|v| v.kind == kind),
            Target::Broken => report.panicked.is_some(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Target::Violation(kind) => kind.name(),
            Target::Broken => "a broken run",
        }
    }
}

pub fn main(args: Args) -> ExitCode {
    let scenario = match args.pick.scenario() {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let sim = match super::setup(&args.apps) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    println!("exorun-sim shrink: {}", args.pick.describe(&scenario));
    let started = super::wall_now();
    let original = sim.run(&scenario, args.pick.plant);
    let Some(target) = Target::of(&original, &args.pick) else {
        eprintln!(
            "exorun-sim: seed {} passes: nothing to shrink",
            scenario.seed
        );
        return ExitCode::from(2);
    };
    println!(
        "outcome: {}; shrinking while it still fails with {}, at most {} runs",
        super::outcome(&original),
        target.name(),
        args.runs_max
    );
    let shrunk = shrink::shrink(
        &scenario,
        args.runs_max,
        |candidate| target.hit(&sim.run(candidate, args.pick.plant)),
        print_step,
    );
    let last = sim.run(&shrunk.scenario, args.pick.plant);
    if !target.hit(&last) {
        eprintln!(
            "exorun-sim: shrink: determinism broke: the shrunk scenario failed with {} while \
             shrinking, and not when run again",
            target.name()
        );
        return ExitCode::from(1);
    }
    let wall = super::wall_now().saturating_sub(started);
    println!("before: {}", size_line(&scenario, &original));
    println!("after:  {}", size_line(&shrunk.scenario, &last));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("shrunk-{}.toml", scenario.seed)));
    let text = shrunk_toml(&args.pick, &shrunk.scenario, target);
    if let Err(error) = std::fs::write(&out, text) {
        eprintln!("exorun-sim: {}: {error}", out.display());
        return ExitCode::from(2);
    }
    let stop = match shrunk.exhausted {
        true => format!(", stopped at the limit of {} runs", args.runs_max),
        false => String::new(),
    };
    println!(
        "shrunk in {} runs (and 2 more: the original and a last check){stop}, {:.1} s; wrote {}",
        shrunk.runs,
        wall.as_secs_f64(),
        out.display()
    );
    print_replay(&args.pick, scenario.seed, &out);
    ExitCode::SUCCESS
}

fn print_step(step: &Step) {
    let size = step.size;
    println!(
        "  run {:>3}  {:<34} nodes {}, instances {}, calls {}, faults {}, time {} ms",
        step.runs,
        step.pass.name(),
        size.nodes,
        size.instances,
        size.calls,
        size.faults,
        size.time_ms
    );
}

/// `nodes 3, instances 11, calls 240, faults 3, trace events 4214, virtual time 16.881 s
/// (limit 20000 ms)`.
fn size_line(scenario: &Scenario, report: &Report) -> String {
    let size = scenario.size();
    let virtual_s = report.tally.virtual_us as f64 / 1e6;
    format!(
        "nodes {}, instances {}, calls {}, faults {}, trace events {}, virtual time {virtual_s:.3} s (limit {} ms)",
        size.nodes,
        size.instances,
        size.calls,
        size.faults,
        report.trace.events.len(),
        size.time_ms
    )
}

/// The shrunk scenario's TOML, after a comment that says where it came from.
fn shrunk_toml(pick: &Pick, scenario: &Scenario, target: Target) -> String {
    let mut text = format!(
        "# Shrunk by `exorun-sim shrink` from {}:\n# the smallest scenario found that still fails with {}.\n",
        pick.describe(scenario),
        target.name()
    );
    text.push_str(&scenario.to_toml());
    text
}

fn print_replay(pick: &Pick, seed: u64, out: &Path) {
    let replay = Replay {
        scenario_file: Some(out.display().to_string()),
        plant: pick.plant,
    };
    println!("replay: {}", replay.command(seed));
    let mut add = format!("scripts/sim.sh corpus add --scenario {}", out.display());
    if let Some(plant) = pick.plant {
        add.push_str(&format!(" --plant {plant}"));
    }
    add.push_str(" --trace");
    println!("keep it: {add}");
}
