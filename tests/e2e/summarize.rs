//! `exorun-sim summarize`: the reports of the shards of a range merge, in any order, into the
//! summary one exploration of the whole range prints; it names the seeds covered, the gaps, the
//! repeats and the conflicts between reports; a file it cannot read exits 2.

use std::path::{Path, PathBuf};

use exorun_sim::jsonl::SeedLine;

use crate::fixtures::{SEEDS, by_flag, whole};
use crate::support::{Cli, arg, exorun_sim, scratch_dir, summary_table};

/// Writes `lines` as a report file `name` in `dir`.
fn write_report(dir: &Path, name: &str, lines: &[&SeedLine]) -> PathBuf {
    let mut text = Vec::new();
    for line in lines {
        if let Err(e) = line.write(&mut text) {
            panic!("seed {}: {e}", line.seed);
        }
    }
    let path = dir.join(name);
    if let Err(e) = std::fs::write(&path, text) {
        panic!("{}: {e}", path.display());
    }
    path
}

fn summarize(files: &[&Path]) -> Cli {
    let mut args = vec!["summarize".to_owned()];
    args.extend(files.iter().map(|file| arg(file)));
    exorun_sim(&args)
}

/// The whole exploration's lines for `seeds`.
fn lines_of(seeds: impl Fn(u64) -> bool) -> Vec<&'static SeedLine> {
    whole().lines.iter().filter(|l| seeds(l.seed)).collect()
}

/// The rows `summarize` prints about coverage.
fn coverage(cli: &Cli, row: &str) -> String {
    cli.stdout_value(&format!("{row:<24} "))
}

#[test]
fn shard_reports_merge_into_the_summary_of_the_whole_range() {
    let dir = scratch_dir("summarize-shards");
    let reports: Vec<PathBuf> = (0..)
        .zip(by_flag())
        .map(|(index, explored)| {
            let lines: Vec<&SeedLine> = explored.lines.iter().collect();
            write_report(&dir, &format!("shard-{index}.jsonl"), &lines)
        })
        .collect();
    // In any order: the last shard first.
    let mut files: Vec<&Path> = reports.iter().map(PathBuf::as_path).collect();
    files.rotate_right(1);
    let merged = summarize(&files);
    merged.assert_exit(0);
    let (start, end, count) = (SEEDS.start, SEEDS.end, SEEDS.end - SEEDS.start);
    merged.assert_stdout(&[&format!(
        "exorun-sim summarize: {} files, {count} lines\n",
        files.len()
    )]);
    assert_eq!(
        coverage(&merged, "seeds covered"),
        format!("{start}..{end} ({count} seeds)")
    );
    assert_eq!(coverage(&merged, "gaps"), "none");
    assert_eq!(coverage(&merged, "duplicates"), "none");
    let table = summary_table(&merged.stdout);
    assert!(table.contains("\n  seeds "), "{}", merged.output());
    assert_eq!(table, summary_table(&whole().cli.stdout));
}

#[test]
fn gaps_and_repeated_seeds_are_named() {
    let dir = scratch_dir("summarize-gaps");
    let (start, end) = (SEEDS.start, SEEDS.end);
    let first = write_report(&dir, "first.jsonl", &lines_of(|s| s < start + 2));
    let mut later = lines_of(|s| s >= start + 4);
    later.extend(lines_of(|s| s == start + 1));
    let later = write_report(&dir, "later.jsonl", &later);
    let merged = summarize(&[&later, &first]);
    merged.assert_exit(0);
    assert_eq!(
        coverage(&merged, "seeds covered"),
        format!("{start}..{}, {}..{end} (4 seeds)", start + 2, start + 4)
    );
    assert_eq!(
        coverage(&merged, "gaps"),
        format!("{}..{} (2 seeds missing)", start + 2, start + 4)
    );
    assert_eq!(
        coverage(&merged, "duplicates"),
        format!(
            "1 lines repeat a seed with the same results, counted once (seeds {})",
            start + 1
        )
    );
    merged.assert_stdout(&["\n  seeds                  4\n"]);
}

/// Two lines of one seed that disagree: another build, scenario or plant, or a determinism
/// bug. The first counts and the exit status is 1.
#[test]
fn a_conflicting_line_fails_the_merge() {
    let dir = scratch_dir("summarize-conflict");
    let seed = SEEDS.start;
    let original = lines_of(|s| s == seed);
    let mut changed = original[0].clone();
    changed.trace_hash = "0000000000000000".to_owned();
    let a = write_report(&dir, "a.jsonl", &original);
    let b = write_report(&dir, "b.jsonl", &[&changed]);
    let merged = summarize(&[&a, &b]);
    merged.assert_exit(1);
    merged.assert_stdout(&[&format!("\nCONFLICT seed {seed}: {}:1 says ", arg(&a))]);
    let outcome = original[0].outcome.name();
    merged.assert_stdout(&[&format!("{}:1 says {outcome} 0000000000000000", arg(&b))]);
}

/// A file that is not a report, or not there, exits 2 naming the file and the line.
#[test]
fn an_unreadable_report_exits_2_naming_the_file_and_line() {
    let dir = scratch_dir("summarize-bad");
    let good = write_report(&dir, "good.jsonl", &lines_of(|s| s == SEEDS.start));
    let bad = dir.join("bad.jsonl");
    let first_line = {
        let mut text = Vec::new();
        if let Err(e) = whole().lines[0].write(&mut text) {
            panic!("{e}");
        }
        String::from_utf8_lossy(&text).into_owned()
    };
    if let Err(e) = std::fs::write(&bad, format!("{first_line}{{\"seed\": \"two\"}}\n")) {
        panic!("{}: {e}", bad.display());
    }
    let cli = summarize(&[&good, &bad]);
    cli.assert_exit(2);
    cli.assert_stderr(&[&format!(
        "exorun-sim summarize: {}:2: not a seed line",
        arg(&bad)
    )]);
    let missing = dir.join("missing.jsonl");
    let cli = summarize(&[&good, &missing]);
    cli.assert_exit(2);
    cli.assert_stderr(&[&format!("exorun-sim summarize: {}: ", arg(&missing))]);
}
