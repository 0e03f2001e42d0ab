//! The subcommands, in the simulated build.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use exorun_sim::explore::scenario_for;
use exorun_sim::plant::Plant;
use exorun_sim::report::{self, Replay, Summary};
use exorun_sim::run::Simulator;
use exorun_sim::scenario::{self, Scenario};

use crate::Command;

pub mod corpus;
mod explore;
pub mod html;
mod pick;
pub mod replay;
pub mod shrink;
mod summarize;

pub fn main(command: Command) -> ExitCode {
    match command {
        Command::Run {
            seed,
            scenario,
            trace,
            html,
            plant,
            apps,
        } => run(seed, scenario, trace, html, plant, &apps),
        Command::Explore {
            seeds,
            from,
            scenario,
            plant,
            stop_on_failure,
            apps,
            jobs,
            time_limit,
            report,
            shard,
            shard_count,
        } => explore::main(explore::Args {
            seeds,
            from,
            scenario,
            plant,
            stop_on_failure,
            apps,
            jobs: usize::from(jobs),
            time_limit,
            report,
            shard,
            shard_count,
        }),
        Command::Summarize { files } => summarize::main(&files),
        Command::Bench { seeds, apps } => bench(seeds, &apps),
        Command::Replay(args) => replay::main(args),
        Command::Shrink(args) => shrink::main(args),
        Command::Corpus(args) => corpus::main(args),
    }
}

/// Seeds after which `bench` takes its first memory reading (the baseline of growth).
const BENCH_WARMUP_SEEDS: u64 = 100;

fn bench(seeds: u64, apps: &Path) -> ExitCode {
    let sim = match setup(apps) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    let started = wall_now();
    let cpu_started = cpu_ticks();
    let mut summary = Summary::default();
    let mut rss_warm = None;
    for seed in 0..seeds {
        let report = sim.run(&scenario::generate(seed), None);
        summary.add(&report);
        if seed + 1 == BENCH_WARMUP_SEEDS.min(seeds) {
            rss_warm = memory_kib("VmRSS");
        }
    }
    let scenario_wall = (wall_now() - started).as_secs_f64().max(1e-9);
    let scenario_cpu = ticks_between(cpu_started, cpu_ticks());
    let rss_end = memory_kib("VmRSS");
    let peak = memory_kib("VmHWM");
    let t = &summary.tally;
    let exchanges = t.rpcs.max(1);
    let per_client = u32::try_from(exchanges / seeds.max(1) / 3)
        .unwrap_or(u32::MAX)
        .max(1);
    // The same seeds with their fault plans emptied: what the faults (and what they set off:
    // retries, reconnects, reboots) cost, against what the steady workload does.
    let started = wall_now();
    let cpu_started = cpu_ticks();
    let mut calm = Summary::default();
    for seed in 0..seeds {
        let mut scenario = scenario::generate(seed);
        scenario.faults = scenario::Faults::default();
        calm.add(&sim.run(&scenario, None));
    }
    let calm_wall = (wall_now() - started).as_secs_f64().max(1e-9);
    let calm_cpu = ticks_between(cpu_started, cpu_ticks());
    let calm_exchanges = calm.tally.rpcs.max(1);
    let started = wall_now();
    let cpu_started = cpu_ticks();
    let mut echoed = 0;
    for seed in 0..seeds {
        echoed += exorun_sim::bench::echo(seed, 3, per_client);
    }
    let echo_wall = (wall_now() - started).as_secs_f64().max(1e-9);
    let echo_cpu = ticks_between(cpu_started, cpu_ticks());
    let scenario_per_exchange = scenario_wall / exchanges as f64;
    let echo_per_exchange = echo_wall / echoed.max(1) as f64;
    println!("bench: {seeds} seeds of the default scenario, then of a raw madsim echo");
    println!(
        "  scenario  {:>8.1} seeds/s  {:>9.0} calls/s  {:>9.0} exchanges/s  simulated/wall {:.1}x  ({} failed)",
        seeds as f64 / scenario_wall,
        t.calls as f64 / scenario_wall,
        exchanges as f64 / scenario_wall,
        t.virtual_us as f64 / 1e6 / scenario_wall,
        summary.failed
    );
    println!(
        "  no faults {:>8.1} seeds/s  {:>9.0} calls/s  {:>9.0} exchanges/s  ({} failed)",
        seeds as f64 / calm_wall,
        calm.tally.calls as f64 / calm_wall,
        calm_exchanges as f64 / calm_wall,
        calm.failed
    );
    println!(
        "  echo      {:>8.1} seeds/s  3 clients x {per_client} exchanges  {:>9.0} exchanges/s",
        seeds as f64 / echo_wall,
        echoed as f64 / echo_wall
    );
    println!(
        "  ratio     {:.2}x the echo's time per exchange",
        scenario_per_exchange / echo_per_exchange
    );
    // The same ratio in CPU time, which other processes on the machine do not inflate the
    // way they inflate wall time.
    if let (Some(scenario_cpu), Some(echo_cpu)) = (scenario_cpu, echo_cpu) {
        let scenario_per_exchange = scenario_cpu as f64 / exchanges as f64;
        let echo_per_exchange = echo_cpu.max(1) as f64 / echoed.max(1) as f64;
        println!(
            "  cpu ratio {:.2}x the echo's CPU time per exchange ({scenario_cpu} and {echo_cpu} clock ticks)",
            scenario_per_exchange / echo_per_exchange
        );
        if let Some(calm_cpu) = calm_cpu {
            let calm_per_exchange = calm_cpu as f64 / calm_exchanges as f64;
            println!(
                "  no faults {:.2}x the echo's CPU time per exchange ({calm_cpu} clock ticks)",
                calm_per_exchange / echo_per_exchange
            );
        }
    }
    let mib =
        |kib: Option<u64>| kib.map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    println!(
        "  memory    rss after {} seeds {}, after {seeds} {}, peak {}",
        BENCH_WARMUP_SEEDS.min(seeds),
        mib(rss_warm),
        mib(rss_end),
        mib(peak)
    );
    ExitCode::from(if summary.failed + calm.failed == 0 {
        0
    } else {
        1
    })
}

/// The process's CPU time so far, user and system, in clock ticks (Linux: `/proc/self/stat`),
/// every thread included.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let (_, after) = stat.rsplit_once(')')?;
    let mut fields = after.split_whitespace();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_between(start: Option<u64>, end: Option<u64>) -> Option<u64> {
    end?.checked_sub(start?)
}

/// `pass`, `the run broke: ...`, or the first violation's kind and how many there are.
fn outcome(report: &exorun_sim::report::Report) -> String {
    if let Some(message) = &report.panicked {
        return format!("the run broke: {message}");
    }
    match report.violations.as_slice() {
        [] => "pass".to_owned(),
        [only] => format!("{} (one violation: {only})", only.kind),
        [first, ..] => format!(
            "{} ({} violations, the first: {first})",
            first.kind,
            report.violations.len()
        ),
    }
}

/// A `/proc/self/status` field in KiB (Linux), for the memory report.
fn memory_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn setup(apps: &Path) -> Result<Simulator, ExitCode> {
    Simulator::new(apps).map_err(|e| {
        eprintln!("exorun-sim: {e}");
        ExitCode::from(2)
    })
}

fn load(file: Option<&PathBuf>) -> Result<Option<Scenario>, ExitCode> {
    let Some(path) = file else {
        return Ok(None);
    };
    Scenario::load(path).map(Some).map_err(|e| {
        eprintln!("exorun-sim: {e}");
        ExitCode::from(2)
    })
}

fn run(
    seed: u64,
    file: Option<PathBuf>,
    print_trace: bool,
    html_file: Option<PathBuf>,
    plant: Option<Plant>,
    apps: &Path,
) -> ExitCode {
    let base = match load(file.as_ref()) {
        Ok(base) => base,
        Err(code) => return code,
    };
    let sim = match setup(apps) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    let scenario = scenario_for(seed, base.as_ref());
    println!("exorun-sim run: seed {seed}");
    if let Some(plant) = plant {
        println!(
            "planted bug: {plant} (must be caught as {})",
            plant.caught_as()
        );
    }
    print!("{}", scenario.knobs());
    let report = sim.run(&scenario, plant);
    if print_trace {
        print!("{}", report.trace.text());
    }
    let replay = Replay {
        scenario_file: file.map(|f| f.display().to_string()),
        plant,
    };
    let t = &report.tally;
    println!(
        "calls {}, frames {}, drops {}, duplicates {}, reorders {}, partitions {}, crashes {}, restarts {}",
        t.calls, t.frames, t.drops, t.duplicates, t.reorders, t.partitions, t.crashes, t.restarts
    );
    let passed = report.passed();
    match passed {
        true => println!("outcome: pass"),
        false => print!("{}", report::failure(&report, &replay)),
    }
    println!("trace-hash: {:016x}", report.trace.hash());
    if let Some(path) = html_file {
        let title = format!("exorun-sim seed {seed} · replay: {}", replay.command(seed));
        if let Err(e) = html::write(&path, &report, &title) {
            eprintln!("exorun-sim: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
        println!("html: {}", path.display());
    }
    ExitCode::from(if passed { 0 } else { 1 })
}

/// The wall clock, for seeds/s only: never inside a simulation.
#[allow(
    clippy::disallowed_methods,
    reason = "wall time of the exploration, outside any run"
)]
fn wall_now() -> std::time::Duration {
    // Under madsim `Instant::now` outside a runtime is not available; the system clock is.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}
