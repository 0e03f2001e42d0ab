//! `summarize`: the reports of `explore --report` (one per shard, say) merged into one summary,
//! with the seeds they cover, the gaps between them, and seeds reported twice.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;

use exorun_sim::jsonl::{self, Merge, Merged, Origin, SeedLine};

/// What one file held.
struct FileSeeds {
    lines: u64,
    /// The lowest and highest seed.
    span: Option<(u64, u64)>,
}

pub fn main(files: &[PathBuf]) -> ExitCode {
    let mut merge = Merge::default();
    let mut read = Vec::new();
    for (index, path) in files.iter().enumerate() {
        match read_file(path, index, &mut merge) {
            Ok(seeds) => read.push(seeds),
            Err(message) => {
                eprintln!("exorun-sim summarize: {message}");
                return ExitCode::from(2);
            }
        }
    }
    let merged = merge.finish();
    println!(
        "exorun-sim summarize: {} file{}, {} lines",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        merged.lines
    );
    for (path, seeds) in files.iter().zip(&read) {
        let span = match seeds.span {
            Some((low, high)) => format!("seeds {low}..{}", high + 1),
            None => "no seeds".to_owned(),
        };
        println!("  {}  {} lines, {span}", path.display(), seeds.lines);
    }
    print_coverage(&merged, files);
    print!("{}", merged.summary.render(None));
    let failed = merged.summary.failed > 0 || merged.conflicts > 0;
    ExitCode::from(if failed { 1 } else { 0 })
}

/// Adds every line of the file at `path` to `merge`.
fn read_file(path: &PathBuf, index: usize, merge: &mut Merge) -> Result<FileSeeds, String> {
    let name = path.display();
    let file = File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut seeds = FileSeeds {
        lines: 0,
        span: None,
    };
    for (n, text) in BufReader::new(file).lines().enumerate() {
        let number = n as u64 + 1;
        let text = text.map_err(|e| format!("{name}:{number}: {e}"))?;
        if text.trim().is_empty() {
            continue;
        }
        let line = SeedLine::parse(&text).map_err(|e| format!("{name}:{number}: {e}"))?;
        let origin = Origin {
            file: index,
            line: number,
        };
        merge.add(&line, origin);
        seeds.lines += 1;
        let seed = line.seed;
        seeds.span = Some(match seeds.span {
            Some((low, high)) => (low.min(seed), high.max(seed)),
            None => (seed, seed),
        });
    }
    Ok(seeds)
}

fn print_coverage(merged: &Merged, files: &[PathBuf]) {
    let row = |name: &str, value: String| println!("{name:<24} {value}");
    let count = |ranges: &[Range<u64>]| ranges.iter().map(|r| r.end - r.start).sum::<u64>();
    let covered = &merged.covered;
    row(
        "seeds covered",
        format!("{} ({} seeds)", ranges(covered), count(covered)),
    );
    let gaps = merged.gaps();
    let gaps_text = match gaps.is_empty() {
        true => "none".to_owned(),
        false => format!("{} ({} seeds missing)", ranges(&gaps), count(&gaps)),
    };
    row("gaps", gaps_text);
    let duplicates = match merged.duplicates {
        0 => "none".to_owned(),
        n => format!(
            "{n} lines repeat a seed with the same results, counted once (seeds {}{})",
            list(&merged.duplicated),
            if n > merged.duplicated.len() as u64 {
                ", ..."
            } else {
                ""
            }
        ),
    };
    row("duplicates", duplicates);
    for conflict in &merged.conflicting {
        let at = |origin: &Origin| {
            let file = files.get(origin.file).map(|f| f.display().to_string());
            format!("{}:{}", file.unwrap_or_default(), origin.line)
        };
        println!(
            "CONFLICT seed {}: {} says {}, {} says {}; the first counts (another build, scenario \
             or plant, or a determinism bug)",
            conflict.seed,
            at(&conflict.first.0),
            conflict.first.1,
            at(&conflict.second.0),
            conflict.second.1
        );
    }
    if merged.conflicts > merged.conflicting.len() as u64 {
        println!("CONFLICT ... {} conflicts in all", merged.conflicts);
    }
}

/// Ranges as `a..b, c..d`, the first [`jsonl::LISTED_MAX`] of them.
fn ranges(ranges: &[Range<u64>]) -> String {
    if ranges.is_empty() {
        return "none".to_owned();
    }
    let shown: Vec<String> = ranges
        .iter()
        .take(jsonl::LISTED_MAX)
        .map(|r| format!("{}..{}", r.start, r.end))
        .collect();
    let more = ranges.len().saturating_sub(jsonl::LISTED_MAX);
    match more {
        0 => shown.join(", "),
        n => format!("{}, and {n} more ranges", shown.join(", ")),
    }
}

fn list(seeds: &[u64]) -> String {
    let shown: Vec<String> = seeds.iter().map(u64::to_string).collect();
    shown.join(", ")
}
