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

/// Seeds per round of `bench`'s timed pass: each round runs them with every fault, with none,
/// with direct calls only, then the echo, so that all four run under the same load. (Run one
/// after the other, the echo's CPU time for the same work moved by half between two runs on a
/// shared machine, and the ratio with it.)
const BENCH_ROUND_SEEDS: u64 = 20;

/// Wall and CPU time spent in one part of `bench`'s timed pass, summed over its rounds.
struct Spent {
    wall: f64,
    /// Clock ticks; `None` once a reading failed.
    cpu: Option<u64>,
}

impl Spent {
    fn new() -> Spent {
        Spent {
            wall: 0.0,
            cpu: Some(0),
        }
    }

    /// Runs `work`, adding its wall and CPU time.
    fn time<T>(&mut self, work: impl FnOnce() -> T) -> T {
        let (wall, cpu) = (wall_now(), cpu_ticks());
        let out = work();
        self.wall += (wall_now() - wall).as_secs_f64();
        self.cpu = match (self.cpu, ticks_between(cpu, cpu_ticks())) {
            (Some(sum), Some(ticks)) => Some(sum + ticks),
            _ => None,
        };
        out
    }

    fn wall(&self) -> f64 {
        self.wall.max(1e-9)
    }
}

/// One kind of seed in `bench`'s timed rounds: its time, and what its runs did.
struct Variant {
    spent: Spent,
    summary: Summary,
}

impl Variant {
    fn new() -> Variant {
        Variant {
            spent: Spent::new(),
            summary: Summary::default(),
        }
    }

    /// Runs `scenario`, timed, and counts it; a failure is told as `seed S failed {told}`.
    fn run(&mut self, sim: &Simulator, scenario: &Scenario, told: Option<&str>) {
        let report = self.spent.time(|| sim.run(scenario, None));
        if let (false, Some(told)) = (report.passed(), told) {
            println!("seed {} failed {told}", scenario.seed);
        }
        self.summary.add(&report);
    }

    /// Its RPCs: the exchanges its time is divided by.
    fn exchanges(&self) -> u64 {
        self.summary.tally.rpcs.max(1)
    }

    /// `  LABEL  seeds/s  calls/s  exchanges/s`, the start of its speed line.
    fn speed(&self, label: &str, seeds: u64) -> String {
        let wall = self.spent.wall();
        format!(
            "  {label:<9} {:>8.1} seeds/s  {:>9.0} calls/s  {:>9.0} exchanges/s",
            seeds as f64 / wall,
            self.summary.tally.calls as f64 / wall,
            self.exchanges() as f64 / wall
        )
    }
}

/// `bench`: first the scenario's seeds alone, for memory (what a long exploration does); then
/// the same seeds again, timed, in rounds that alternate the scenario, the scenario without
/// faults, its cheapest workload (each call one direct `calc.add`, no faults) and the echo.
/// Interleaving the echo's runtimes with the scenario's makes the resident size creep, which is
/// not what an exploration does: hence the first pass.
fn bench(seeds: u64, apps: &Path) -> ExitCode {
    let sim = match setup(apps) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    let mut failed = 0;
    let mut rss_warm = None;
    for seed in 0..seeds {
        let report = sim.run(&scenario::generate(seed), None);
        if !report.passed() {
            // Each seed runs again in the timed pass: its failure is told once, here.
            failed += 1;
            print!("{}", report::failure(&report, &Replay::default()));
        }
        if seed + 1 == BENCH_WARMUP_SEEDS.min(seeds) {
            rss_warm = memory_kib("VmRSS");
        }
    }
    let rss_end = memory_kib("VmRSS");
    let peak = memory_kib("VmHWM");

    let (mut faulty, mut calm, mut direct) = (Variant::new(), Variant::new(), Variant::new());
    let mut echo = Spent::new();
    let (mut echoed, mut echo_exchanges, mut rounds) = (0, 0, 0);
    let mut round_start = 0;
    while round_start < seeds {
        let round = round_start..(round_start + BENCH_ROUND_SEEDS).min(seeds);
        let rpcs_before = faulty.summary.tally.rpcs;
        for seed in round.clone() {
            // Its failures were told in the first pass.
            faulty.run(&sim, &scenario::generate(seed), None);
        }
        // The same seeds with their fault plans emptied: what the faults (and what they set
        // off: retries, reconnects, reboots) cost, against what the steady workload does.
        for seed in round.clone() {
            let mut scenario = scenario::generate(seed);
            scenario.faults = scenario::Faults::default();
            calm.run(
                &sim,
                &scenario,
                Some("with its fault plan emptied (bench's no-faults row)"),
            );
        }
        // The cheapest workload on the same nodes: as many calls, each one direct `calc.add`
        // exchange, no faults. What the runtime and the harness cost per exchange before the
        // scenario's proxies, guests on both sides, faults and recoveries add anything.
        for seed in round.clone() {
            if let Some(scenario) = exorun_sim::bench::direct_only(&scenario::generate(seed)) {
                direct.run(
                    &sim,
                    &scenario,
                    Some("with direct calls only (bench's direct row)"),
                );
            }
        }
        // The echo's seeds make as many exchanges as this round's scenario seeds did.
        let round_rpcs = faulty.summary.tally.rpcs - rpcs_before;
        let per_client = u32::try_from(round_rpcs / (round.end - round.start) / 3)
            .unwrap_or(u32::MAX)
            .max(1);
        for seed in round.clone() {
            echoed += echo.time(|| exorun_sim::bench::echo(seed, 3, per_client));
        }
        echo_exchanges += u64::from(per_client);
        rounds += 1;
        round_start = round.end;
    }
    let per_client = echo_exchanges / rounds.max(1);
    println!(
        "bench: {seeds} seeds of the default scenario for memory, then again in rounds of {BENCH_ROUND_SEEDS}: with every fault, with none, with direct calls only, and a raw madsim echo"
    );
    println!(
        "{}  simulated/wall {:.1}x  ({} failed)",
        faulty.speed("scenario", seeds),
        faulty.summary.tally.virtual_us as f64 / 1e6 / faulty.spent.wall(),
        faulty.summary.failed
    );
    println!(
        "{}  ({} failed)",
        calm.speed("no faults", seeds),
        calm.summary.failed
    );
    println!(
        "{}  ({} failed; each call one direct calc.add, no faults)",
        direct.speed("direct", seeds),
        direct.summary.failed
    );
    println!(
        "  echo      {:>8.1} seeds/s  3 clients x {per_client} exchanges (mean)  {:>9.0} exchanges/s",
        seeds as f64 / echo.wall(),
        echoed as f64 / echo.wall()
    );
    let echo_per_exchange = echo.wall() / echoed.max(1) as f64;
    println!(
        "  ratio     {:.2}x the echo's time per exchange",
        faulty.spent.wall() / faulty.exchanges() as f64 / echo_per_exchange
    );
    // The same ratio in CPU time, which other processes on the machine do not inflate the
    // way they inflate wall time.
    if let (Some(faulty_cpu), Some(calm_cpu), Some(direct_cpu), Some(echo_cpu)) =
        (faulty.spent.cpu, calm.spent.cpu, direct.spent.cpu, echo.cpu)
    {
        let echo_per_exchange = echo_cpu.max(1) as f64 / echoed.max(1) as f64;
        let ratio = |cpu: u64, variant: &Variant| {
            format!(
                "{:.2}x the echo's CPU time per exchange",
                cpu as f64 / variant.exchanges() as f64 / echo_per_exchange
            )
        };
        println!(
            "  cpu ratio {} ({faulty_cpu} and {echo_cpu} clock ticks)",
            ratio(faulty_cpu, &faulty)
        );
        println!(
            "  no faults {} ({calm_cpu} clock ticks)",
            ratio(calm_cpu, &calm)
        );
        println!(
            "  direct    {} ({direct_cpu} clock ticks): the cheapest workload",
            ratio(direct_cpu, &direct)
        );
    }
    let mib =
        |kib: Option<u64>| kib.map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
    println!(
        "  memory    rss after {} seeds {}, after {seeds} {}, peak {} (the first pass: the scenario alone)",
        BENCH_WARMUP_SEEDS.min(seeds),
        mib(rss_warm),
        mib(rss_end),
        mib(peak)
    );
    let failed = failed + faulty.summary.failed + calm.summary.failed + direct.summary.failed;
    ExitCode::from(if failed == 0 { 0 } else { 1 })
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
