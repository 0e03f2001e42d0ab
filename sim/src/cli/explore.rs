//! `explore`: many seeds on worker threads, one shard of the range at a time, a progress bar on a
//! terminal (progress lines otherwise), a time limit, and a per-seed JSON-lines report.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use exorun_sim::explore::{self, Explored, Options, Seed, Stopped, Watch};
use exorun_sim::plant::Plant;
use exorun_sim::pool::Flow;
use exorun_sim::report::{Replay, Summary};
use exorun_sim::scenario::Scenario;
use exorun_sim::shard::{self, Chosen};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{setup, wall_now};

/// How often `explore` prints a progress line when stdout is not a terminal, in seeds.
const PROGRESS_EVERY: u64 = 100;

/// How many failing seeds `explore` describes in full.
const FAILURES_DESCRIBED_MAX: u64 = 3;

/// The longest `--time-limit`: a year, far past any exploration.
const TIME_LIMIT_MAX: Duration = Duration::from_secs(366 * 24 * 3600);

/// The flags of `explore`.
#[derive(Debug)]
pub struct Args {
    pub seeds: u64,
    pub from: u64,
    pub scenario: Option<PathBuf>,
    pub plant: Option<Plant>,
    pub stop_on_failure: bool,
    pub apps: PathBuf,
    pub jobs: usize,
    pub time_limit: Option<String>,
    pub report: Option<PathBuf>,
    pub shard: Option<String>,
    pub shard_count: Option<u64>,
}

pub fn main(args: Args) -> ExitCode {
    let (options, chosen, time_limit, report) = match prepare(&args) {
        Ok(prepared) => prepared,
        Err(message) => {
            eprintln!("exorun-sim explore: {message}");
            return ExitCode::from(2);
        }
    };
    let sim = match setup(&args.apps) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    let range = args.from..args.from.saturating_add(args.seeds);
    print_header(&options, &range, &chosen, time_limit);
    let started = wall_now();
    let mut progress = Progress::new(&options.seeds, started, time_limit, report);
    let explored = explore::explore(&sim, &options, &mut progress);
    let wall = wall_now() - started;
    progress.finish();
    print!("{}", explored.summary.render(Some(wall)));
    print_stop(&explored, &options.seeds, time_limit, progress.timed_out);
    if let Err(message) = progress.close_report() {
        eprintln!("exorun-sim explore: {message}");
        return ExitCode::from(2);
    }
    ExitCode::from(if explored.summary.failed == 0 { 0 } else { 1 })
}

type Prepared = (Options, Chosen, Option<Duration>, Option<Report>);

/// Everything from the flags, before the apps are compiled: a bad flag fails fast.
fn prepare(args: &Args) -> Result<Prepared, String> {
    let env = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    let chosen =
        shard::choose(args.shard.as_deref(), args.shard_count, env).map_err(|e| e.to_string())?;
    let time_limit = match &args.time_limit {
        Some(text) => Some(parse_duration(text).map_err(|e| format!("--time-limit {e}"))?),
        None => None,
    };
    let scenario = match &args.scenario {
        Some(path) => Some(Scenario::load(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let report = match &args.report {
        Some(path) => Some(Report::create(path)?),
        None => None,
    };
    let range = args.from..args.from.saturating_add(args.seeds);
    let options = Options {
        seeds: chosen.shard.block(&range),
        scenario,
        plant: args.plant,
        jobs: args.jobs,
        stop_on_failure: args.stop_on_failure,
        replay: Replay {
            scenario_file: args.scenario.as_ref().map(|f| f.display().to_string()),
            plant: args.plant,
        },
    };
    Ok((options, chosen, time_limit, report))
}

fn print_header(options: &Options, range: &Range<u64>, chosen: &Chosen, limit: Option<Duration>) {
    let what = options
        .replay
        .scenario_file
        .as_deref()
        .unwrap_or("the default scenario");
    let seeds = &options.seeds;
    println!(
        "exorun-sim explore: seeds {}..{} of {what}",
        seeds.start, seeds.end
    );
    if chosen.shard.count > 1 {
        println!("shard: {chosen} of seeds {}..{}", range.start, range.end);
    }
    let jobs = options.jobs;
    println!(
        "jobs: {jobs} worker thread{}",
        if jobs == 1 { "" } else { "s" }
    );
    if let Some(limit) = limit {
        println!("time limit: {}", show_duration(limit));
    }
    if let Some(plant) = options.plant {
        println!(
            "planted bug: {plant} (must be caught as {})",
            plant.caught_as()
        );
    }
}

/// Why the exploration ended, when it did not run every seed.
fn print_stop(explored: &Explored, seeds: &Range<u64>, limit: Option<Duration>, timed_out: bool) {
    let ran = &explored.seeds;
    let not_run = ran.end..seeds.end;
    let why = match explored.stopped {
        Stopped::Finished => return,
        Stopped::Failure { seed } => format!("stopped at the first failing seed, {seed}"),
        Stopped::Watch if timed_out => format!(
            "stopped on the time limit ({})",
            limit.map_or("?".to_owned(), show_duration)
        ),
        Stopped::Watch => "stopped: the report could not be written".to_owned(),
    };
    println!(
        "{why}: the summary covers seeds {}..{}; seeds {}..{} did not count",
        ran.start, ran.end, not_run.start, not_run.end
    );
    if explored.left_out > 0 {
        println!(
            "  ({} of them finished on other workers but did not follow on, and were left out)",
            explored.left_out
        );
    }
}

/// The per-seed report file.
struct Report {
    path: PathBuf,
    out: BufWriter<File>,
    error: Option<std::io::Error>,
}

impl Report {
    fn create(path: &Path) -> Result<Report, String> {
        let file = File::create(path).map_err(|e| format!("--report {}: {e}", path.display()))?;
        Ok(Report {
            path: path.to_owned(),
            out: BufWriter::new(file),
            error: None,
        })
    }
}

/// What the user sees while seeds run, the report file, and the time limit.
struct Progress {
    bar: Option<ProgressBar>,
    started: Duration,
    deadline: Option<Duration>,
    report: Option<Report>,
    timed_out: bool,
}

impl Progress {
    fn new(
        seeds: &Range<u64>,
        started: Duration,
        limit: Option<Duration>,
        report: Option<Report>,
    ) -> Progress {
        let total = seeds.end - seeds.start;
        let bar = std::io::stdout().is_terminal().then(|| progress_bar(total));
        Progress {
            bar,
            started,
            deadline: limit.map(|limit| started + limit),
            report,
            timed_out: false,
        }
    }

    /// Prints above the bar, if there is one.
    fn print(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| print!("{text}")),
            None => print!("{text}"),
        }
    }

    fn show(&self, summary: &Summary) {
        let Some(bar) = &self.bar else {
            if summary.seeds.is_multiple_of(PROGRESS_EVERY) {
                let elapsed = wall_now() - self.started;
                println!(
                    "  {} seeds, {} failed, {:.1} seeds/s",
                    summary.seeds,
                    summary.failed,
                    summary.seeds as f64 / elapsed.as_secs_f64().max(1e-9)
                );
            }
            return;
        };
        let violations: u64 = summary.violations.values().sum();
        let elapsed = (wall_now() - self.started).as_secs_f64().max(1e-9);
        let rate = summary.seeds as f64 / elapsed;
        bar.set_position(summary.seeds);
        bar.set_message(format!(
            "{} failed, {violations} violations, {rate:.1} seeds/s",
            summary.failed
        ));
    }

    fn write(&mut self, seed: &Seed) -> Flow {
        let Some(report) = &mut self.report else {
            return Flow::Continue;
        };
        let Err(error) = seed.line.write(&mut report.out) else {
            return Flow::Continue;
        };
        report.error = Some(error);
        Flow::Stop
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn close_report(self) -> Result<(), String> {
        let Some(mut report) = self.report else {
            return Ok(());
        };
        let flushed = report.out.flush();
        match report.error.map_or(flushed, Err) {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("--report {}: {e}", report.path.display())),
        }
    }
}

impl Watch for Progress {
    fn seed(&mut self, seed: &Seed, summary: &Summary) -> Flow {
        if let Some(text) = &seed.failure
            && summary.failed <= FAILURES_DESCRIBED_MAX
        {
            self.print(text);
        }
        let flow = self.write(seed);
        self.show(summary);
        flow
    }

    fn tick(&mut self, _summary: &Summary) -> Flow {
        if let Some(bar) = &self.bar {
            bar.tick();
        }
        let Some(deadline) = self.deadline else {
            return Flow::Continue;
        };
        if wall_now() < deadline {
            return Flow::Continue;
        }
        self.timed_out = true;
        Flow::Stop
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    // The bar takes what the line leaves, so that the line fits the terminal.
    let template = "{pos}/{len} seeds, {msg}, ETA {eta} [{wide_bar}]";
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout())
        .with_style(style)
        .with_message("0 failed, 0 violations")
}

/// A duration as `--time-limit` takes it: numbers with units, `ms`, `s`, `m` or `h`, one after
/// the other (`90s`, `5m`, `1h30m`, `1500ms`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("`{text}`: {why} (expected e.g. 30s, 5m, 1h30m)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        if number.is_empty() {
            return Err(bad("a number must come before each unit"));
        }
        let number: u64 = number.parse().map_err(|_| bad("longer than a year"))?;
        let unit = match unit {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "" => return Err(bad("a unit must follow each number")),
            other => return Err(bad(&format!("unknown unit `{other}`"))),
        };
        let part = u32::try_from(number).ok().and_then(|n| unit.checked_mul(n));
        total = part
            .and_then(|part| total.checked_add(part))
            .filter(|total| *total <= TIME_LIMIT_MAX)
            .ok_or_else(|| bad("longer than a year"))?;
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

/// A duration the way `--time-limit` takes it, to the second (or in ms below one).
fn show_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let parts = [(h, "h"), (m, "m"), (s, "s")];
    let shown: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<Duration, &str>) {
        let parsed = parse_duration(text);
        match expected {
            Ok(duration) => assert_eq!(parsed, Ok(duration), "{text}"),
            Err(fragment) => {
                let message = parsed.expect_err(text);
                assert!(message.contains(fragment), "{text}: {message}");
            }
        }
    }

    #[test]
    fn time_limits_parse() {
        let secs = Duration::from_secs;
        check("30s", Ok(secs(30)));
        check("5m", Ok(secs(300)));
        check("1h", Ok(secs(3600)));
        check("1h30m", Ok(secs(5400)));
        check(" 2m10s ", Ok(secs(130)));
        check("1500ms", Ok(Duration::from_millis(1500)));
        check("0s", Ok(Duration::ZERO));
        check("", Err("empty"));
        check("30", Err("a unit must follow"));
        check("m", Err("a number must come before"));
        check("5x", Err("unknown unit `x`"));
        check("1.5h", Err("unknown unit `.`"));
        check("-5s", Err("a number must come before"));
        check("9000h", Err("longer than a year"));
        check("99999999999999999999s", Err("longer than a year"));
    }

    #[test]
    fn time_limits_show_as_they_are_written() {
        for text in ["30s", "5m", "1h", "1h30m", "2m10s", "1h1s", "500ms"] {
            assert_eq!(show_duration(parse_duration(text).unwrap()), text);
        }
    }
}
