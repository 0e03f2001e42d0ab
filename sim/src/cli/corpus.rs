//! `exorun-sim corpus add` records a run as a corpus entry; `exorun-sim corpus check` replays
//! every entry and fails on any difference in outcome or trace hash.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use exorun_sim::corpus::{self, Entry, Expect, Mismatch, Source};
use exorun_sim::replay::{Difference, first_difference};
use exorun_sim::report::Report;
use exorun_sim::run::Simulator;

use super::pick::Pick;

/// `corpus add ...` or `corpus check [DIR]`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Runs a seed and records it: its outcome (pass or the first violation's kind) and its
    /// trace hash.
    Add(AddArgs),
    /// Replays every entry; fails on any difference in outcome or trace hash.
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct AddArgs {
    #[command(flatten)]
    pick: Pick,
    /// The entry's name (the file is DIR/NAME.toml). Default: PLANT-SEED, else the scenario
    /// file's stem and the seed, else default-SEED.
    #[arg(long)]
    name: Option<String>,
    /// Keeps the whole trace beside the entry (NAME.trace), so that a replay that differs
    /// shows the first event where it does.
    #[arg(long)]
    trace: bool,
    /// Replaces an entry of the same name.
    #[arg(long)]
    force: bool,
    /// The corpus directory.
    #[arg(long, default_value_os_t = default_corpus_dir())]
    dir: PathBuf,
    /// Where the compiled apps are.
    #[arg(long, default_value_os_t = crate::default_apps_dir())]
    apps: PathBuf,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The corpus directory.
    #[arg(default_value_os_t = default_corpus_dir())]
    dir: PathBuf,
    /// Where the compiled apps are.
    #[arg(long, default_value_os_t = crate::default_apps_dir())]
    apps: PathBuf,
}

/// `corpus/` at the repository's root.
fn default_corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

pub fn main(args: Args) -> ExitCode {
    match args.command {
        Command::Add(add_args) => add(&add_args),
        Command::Check(check_args) => check(&check_args),
    }
}

// ---- add ----

fn add(args: &AddArgs) -> ExitCode {
    let scenario = match args.pick.scenario() {
        Ok(scenario) => scenario,
        Err(code) => return code,
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| default_name(&args.pick, scenario.seed));
    if let Err(error) = corpus::check_entry_name(&name) {
        eprintln!("exorun-sim: --name: {error}");
        return ExitCode::from(2);
    }
    let path = corpus::entry_path(&args.dir, &name);
    if path.exists() && !args.force {
        eprintln!(
            "exorun-sim: {} exists; --force replaces it, --name picks another name",
            path.display()
        );
        return ExitCode::from(2);
    }
    let sim = match super::setup(&args.apps) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    println!("exorun-sim corpus add: {}", args.pick.describe(&scenario));
    // Twice: an entry that does not replay in this process would only ever fail CI.
    let report = sim.run(&scenario, args.pick.plant);
    let again = sim.run(&scenario, args.pick.plant);
    println!("outcome: {}", super::outcome(&report));
    let (text, text_again) = (report.trace.text(), again.trace.text());
    if let Some(difference) = first_difference(&text, &text_again) {
        eprintln!(
            "exorun-sim: corpus add: determinism broke: two runs of the seed differ, not recording it"
        );
        eprint!("{difference}");
        return ExitCode::from(1);
    }
    let source = match args.pick.scenario {
        Some(_) => Source::Scenario(Box::new(scenario.clone())),
        None => Source::Seed(scenario.seed),
    };
    let entry = Entry {
        name,
        expect: Expect::of(&report),
        plant: args.pick.plant,
        trace_hash: report.trace.hash(),
        trace_file: None,
        source,
    };
    let saved = std::fs::create_dir_all(&args.dir)
        .map_err(|cause| corpus::Error::Io {
            path: args.dir.clone(),
            cause,
        })
        .and_then(|()| {
            let dir = std::fs::canonicalize(&args.dir).unwrap_or_else(|_| args.dir.clone());
            corpus::save(&dir, &entry, args.trace.then_some(text.as_str()))
        });
    let path = match saved {
        Ok(path) => path,
        Err(error) => {
            eprintln!("exorun-sim: {error}");
            return ExitCode::from(2);
        }
    };
    let size = scenario.size();
    println!(
        "added {}: expect {}, trace-hash {:016x} (nodes {}, instances {}, calls {}, faults {}, {} events)",
        path.display(),
        entry.expect,
        entry.trace_hash,
        size.nodes,
        size.instances,
        size.calls,
        size.faults,
        report.trace.events.len()
    );
    ExitCode::SUCCESS
}

/// `PLANT-SEED`, else `STEM-SEED` of the scenario file, else `default-SEED`.
fn default_name(pick: &Pick, seed: u64) -> String {
    if let Some(plant) = pick.plant {
        return format!("{plant}-{seed}");
    }
    let stem = pick.scenario.as_ref().and_then(|file| file.file_stem());
    let stem = stem.map_or("default".into(), |stem| stem.to_string_lossy());
    format!("{stem}-{seed}")
}

// ---- check ----

fn check(args: &CheckArgs) -> ExitCode {
    let dir = std::fs::canonicalize(&args.dir).unwrap_or_else(|_| args.dir.clone());
    let paths = match corpus::entry_paths(&dir) {
        Ok(paths) => paths,
        Err(error) => {
            eprintln!("exorun-sim: {error}");
            return ExitCode::from(2);
        }
    };
    let sim = match super::setup(&args.apps) {
        Ok(sim) => sim,
        Err(code) => return code,
    };
    println!(
        "exorun-sim corpus check: {} entries in {}",
        paths.len(),
        dir.display()
    );
    let mut failed = 0;
    for path in &paths {
        if !check_one(&sim, path) {
            failed += 1;
        }
    }
    println!(
        "corpus: {} entries, {} passed, {failed} failed",
        paths.len(),
        paths.len() - failed
    );
    ExitCode::from(if failed == 0 { 0 } else { 1 })
}

/// Replays one entry and prints its verdict; whether it replayed as recorded.
fn check_one(sim: &Simulator, path: &Path) -> bool {
    let file = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let replayed = match replay_entry(sim, path) {
        Ok(replayed) => replayed,
        Err(error) => {
            println!("  FAIL  {file}: {error}");
            return false;
        }
    };
    let entry = &replayed.entry;
    if replayed.mismatches.is_empty() {
        println!(
            "  ok    {:<28} {:<18} trace-hash {:016x}",
            entry.name, entry.expect, entry.trace_hash
        );
        return true;
    }
    println!("  FAIL  {:<28} {}", entry.name, describe(entry));
    for line in explain(&replayed).lines() {
        println!("          {line}");
    }
    false
}

// ---- replaying an entry (also `replay --entry`) ----

/// An entry replayed: the run and how it differs from the record.
pub(super) struct Replayed {
    pub entry: Entry,
    pub report: Report,
    pub mismatches: Vec<Mismatch>,
    /// When the hash changed and the entry keeps no trace: how a second run here compares.
    pub rerun: Option<Rerun>,
}

/// A second run of an entry whose hash changed, compared with the first.
pub(super) enum Rerun {
    /// Both runs here agree: the run changed since it was recorded.
    Same,
    /// The runs here differ: the run is not deterministic in this process.
    Differs(Difference),
}

/// Loads the entry at `path`, runs it and judges the run against the record.
pub(super) fn replay_entry(sim: &Simulator, path: &Path) -> Result<Replayed, corpus::Error> {
    let entry = corpus::load(path)?;
    let recorded_trace = corpus::load_trace(path, &entry)?;
    let scenario = entry.scenario();
    let report = sim.run(&scenario, entry.plant);
    let mismatches = corpus::judge(&entry, &report, recorded_trace.as_deref());
    let hash_changed = mismatches
        .iter()
        .any(|m| matches!(m, Mismatch::Hash { .. }));
    let rerun = (hash_changed && recorded_trace.is_none()).then(|| {
        let again = sim.run(&scenario, entry.plant);
        match first_difference(&report.trace.text(), &again.trace.text()) {
            None => Rerun::Same,
            Some(difference) => Rerun::Differs(difference),
        }
    });
    Ok(Replayed {
        entry,
        report,
        mismatches,
        rerun,
    })
}

/// What differs, one mismatch after the other, and what a second run said.
pub(super) fn explain(replayed: &Replayed) -> String {
    let mut out = String::new();
    for mismatch in &replayed.mismatches {
        let _ = match mismatch {
            Mismatch::Trace(difference) => write!(out, "{difference}"),
            Mismatch::Hash { .. } => writeln!(out, "determinism broke: {mismatch}"),
            Mismatch::Outcome { .. } => writeln!(out, "{mismatch}"),
        };
    }
    match &replayed.rerun {
        None => {}
        Some(Rerun::Same) => {
            let _ = writeln!(
                out,
                "two runs here agree with each other: the code, the build or the platform changed \
                 what this entry does since it was recorded; it keeps no trace to show where \
                 (`corpus add --trace` keeps one)"
            );
        }
        Some(Rerun::Differs(difference)) => {
            let _ = writeln!(
                out,
                "and a second run here differs from the first, so the run is not deterministic:"
            );
            let _ = write!(out, "{difference}");
        }
    }
    out
}

/// `seed 17 of the default scenario, planted bug double-execute` or `seed 3 of scenario
/// "partition" (inline)`.
pub(super) fn describe(entry: &Entry) -> String {
    let mut text = match &entry.source {
        Source::Seed(seed) => format!("seed {seed} of the default scenario"),
        Source::Scenario(scenario) => {
            let size = scenario.size();
            format!(
                "seed {} of scenario {:?} (inline: nodes {}, instances {}, calls {}, faults {})",
                scenario.seed, scenario.name, size.nodes, size.instances, size.calls, size.faults
            )
        }
    };
    if let Some(plant) = entry.plant {
        text.push_str(&format!(", planted bug {plant}"));
    }
    text
}
