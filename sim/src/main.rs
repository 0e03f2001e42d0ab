//! `exorun-sim`: run one seeded scenario, or explore many.
//!
//! Exit codes: 0 every seed passed; 1 a violation (or a broken run); 2 bad usage or setup.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use exorun_sim::plant::Plant;

/// A seed allocates and frees hundreds of thousands of small objects (tasks, frames, trace
/// events, wasm stores) on its own thread: mimalloc's per-thread free lists serve that for less
/// than glibc's allocator (BENCHMARKS.md). Memory addresses never reach a trace, so the
/// allocator cannot change one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Deterministic simulation of exorun nodes: one seed drives a whole distributed scenario.
#[derive(Debug, Parser)]
#[command(name = "exorun-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs one seed: prints the scenario it chose, the outcome and the trace hash.
    Run {
        /// The seed. Without --scenario it also generates the scenario.
        #[arg(long)]
        seed: u64,
        /// A scenario file (TOML) to run with this seed instead of a generated one.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Prints the whole trace.
        #[arg(long)]
        trace: bool,
        /// Writes a picture of the run to FILE: an HTML page with the trace as a sequence
        /// diagram and the violations marked.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Plants a known bug (forget-pending, double-execute, misroute-reply,
        /// alter-domain-code, skip-contract-check, split-store).
        #[arg(long)]
        plant: Option<Plant>,
        /// Where the compiled apps are (scripts/build_apps.sh writes them there).
        #[arg(long, default_value_os_t = default_apps_dir())]
        apps: PathBuf,
    },
    /// Runs many seeds and prints a summary.
    Explore {
        /// How many seeds.
        #[arg(long, default_value_t = 1000)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// A scenario file (TOML) to run with each seed instead of generated ones.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Plants a known bug in every run.
        #[arg(long)]
        plant: Option<Plant>,
        /// Stops at the first failing seed.
        #[arg(long)]
        stop_on_failure: bool,
        /// Where the compiled apps are.
        #[arg(long, default_value_os_t = default_apps_dir())]
        apps: PathBuf,
        /// Worker threads; each runs one seed at a time. The summary does not depend on it.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=JOBS_MAX))]
        jobs: u16,
        /// Stops starting seeds after this much wall time (`90s`, `5m`, `1h30m`) and summarizes
        /// the seeds that ran, from the first with no gap.
        #[arg(long, value_name = "DURATION")]
        time_limit: Option<String>,
        /// Writes one JSON line per seed, in seed order, to this file (see `summarize`).
        #[arg(long, value_name = "FILE.jsonl")]
        report: Option<PathBuf>,
        /// Runs shard I of N of the seeds (a contiguous block). Without it, the shard comes from
        /// JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm), if set.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// The shard count beside JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's completions);
        /// or set EXORUN_SHARD_COUNT.
        #[arg(long, value_name = "N")]
        shard_count: Option<u64>,
    },
    /// Merges the JSON-lines reports of `explore --report` into one summary, and says which
    /// seeds they cover, which are missing and which appear twice.
    Summarize {
        /// The reports (FILE.jsonl), in any order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Measures the process's memory over seeds of the default scenario, then seeds/s of the
    /// same seeds beside a raw madsim echo with as many exchanges (the floor), beside the same
    /// seeds with no faults and beside their cheapest workload (each call one direct
    /// `calc.add`, no faults), alternating in short rounds so that all see the same load.
    Bench {
        /// How many seeds of each.
        #[arg(long, default_value_t = 200)]
        seeds: u64,
        /// Where the compiled apps are.
        #[arg(long, default_value_os_t = default_apps_dir())]
        apps: PathBuf,
    },
    /// Runs a seed twice, or a corpus entry once, and checks that its trace is the same.
    #[cfg(madsim)]
    Replay(cli::replay::Args),
    /// Shrinks a failing seed's scenario to a smaller one that fails the same way.
    #[cfg(madsim)]
    Shrink(cli::shrink::Args),
    /// Records runs in the corpus (`add`) and replays them all (`check`).
    #[cfg(madsim)]
    Corpus(cli::corpus::Args),
}

/// The most `--jobs`.
const JOBS_MAX: i64 = exorun_sim::pool::JOBS_MAX as i64;

fn default_apps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crates/exorun/tests/fixtures")
}

fn main() -> ExitCode {
    die_on_broken_pipe();
    let cli = Cli::parse();
    cli::main(cli.command)
}

/// A reader that goes away (`exorun-sim run --trace | head`) ends the process by SIGPIPE, as it
/// ends other Unix tools, rather than making `println!` panic: Rust ignores SIGPIPE unless told.
fn die_on_broken_pipe() {
    #[expect(
        unsafe_code,
        reason = "setting a signal's disposition has no safe wrapper in std"
    )]
    // SAFETY: `signal` with `SIG_DFL` installs no handler of ours; it runs first in `main`,
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(madsim))]
mod cli {
    use std::process::ExitCode;

    pub fn main(_command: super::Command) -> ExitCode {
        eprintln!(
            "exorun-sim runs only in the simulated build: use scripts/sim.sh, which builds it \
             with RUSTFLAGS=\"--cfg madsim\""
        );
        ExitCode::from(2)
    }
}

#[cfg(madsim)]
mod cli;
