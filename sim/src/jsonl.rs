//! The per-seed report: one JSON line per seed, in seed order (`explore --report FILE.jsonl`),
//! and the merge of such files (`summarize`) into one [`Summary`] with the seeds they cover.
//!
//! A line carries everything the summary counts, so that the summary of merged shard reports
//! is the summary of one exploration of all their seeds. A line looks like this (one line in
//! the file):
//!
//! ```text
//! {"seed":17,"outcome":"violation","violation":"at-most-once","violations":{"at-most-once":1},
//!  "broken":null,"trace_hash":"9f3c0d2a41b7e655","calls":142,"frames":610,"drops":12,
//!  "cut_drops":0,"duplicates":3,"reorders":5,"partitions":0,"crashes":1,"restarts":1,
//!  "execs":150,"rpcs":160,"outcomes":{"ok":130,"timeout":12},"virtual_us":19004000}
//! ```
//!
//! `outcome` is `pass`, `violation` (at least one checker failed; `violation` names the first
//! kind, `violations` counts them all) or `broken` (the run itself broke, `broken` says how,
//! and no checker failed).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::check::{self, Tally, ViolationKind};
use crate::report::{FAILING_SEEDS_SHOWN, Report, Summary};

/// How many duplicated seeds and conflicts a merge lists (it counts them all).
pub const LISTED_MAX: usize = 10;

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("not a seed line: {message}")]
    Json { message: String },
    #[error("trace_hash `{value}`: expected 16 hex digits")]
    TraceHash { value: String },
    #[error("outcomes: unknown kind `{name}`")]
    OutcomeKind { name: String },
    #[error("violations: unknown kind `{name}`")]
    ViolationKind { name: String },
}

/// How a seed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Violation,
    Broken,
}

impl Verdict {
    /// The name a line writes.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Violation => "violation",
            Verdict::Broken => "broken",
        }
    }
}

/// One seed's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedLine {
    pub seed: u64,
    pub outcome: Verdict,
    /// The first violation's kind ([`ViolationKind::name`]).
    pub violation: Option<String>,
    /// Every violation, counted by kind.
    pub violations: BTreeMap<String, u64>,
    /// How the run broke (a panic, the virtual time limit).
    pub broken: Option<String>,
    /// The trace's hash, as `run` prints it.
    pub trace_hash: String,
    pub calls: u64,
    pub frames: u64,
    pub drops: u64,
    pub cut_drops: u64,
    pub duplicates: u64,
    pub reorders: u64,
    pub partitions: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub execs: u64,
    pub rpcs: u64,
    /// Call outcomes by kind ([`check::outcome_kind`]).
    pub outcomes: BTreeMap<String, u64>,
    /// Virtual time of the run's last event.
    pub virtual_us: u64,
}

impl SeedLine {
    /// The line of one run.
    pub fn of(report: &Report) -> SeedLine {
        let mut violations = BTreeMap::new();
        for violation in &report.violations {
            *violations
                .entry(violation.kind.name().to_owned())
                .or_default() += 1;
        }
        let outcome = match (report.violations.is_empty(), &report.panicked) {
            (false, _) => Verdict::Violation,
            (true, Some(_)) => Verdict::Broken,
            (true, None) => Verdict::Pass,
        };
        let t = &report.tally;
        SeedLine {
            seed: report.seed,
            outcome,
            violation: report.violations.first().map(|v| v.kind.name().to_owned()),
            violations,
            broken: report.panicked.clone(),
            trace_hash: format!("{:016x}", report.trace.hash()),
            calls: t.calls,
            frames: t.frames,
            drops: t.drops,
            cut_drops: t.cut_drops,
            duplicates: t.duplicates,
            reorders: t.reorders,
            partitions: t.partitions,
            crashes: t.crashes,
            restarts: t.restarts,
            execs: t.execs,
            rpcs: t.rpcs,
            outcomes: t
                .outcomes
                .iter()
                .map(|(k, n)| ((*k).to_owned(), *n))
                .collect(),
            virtual_us: t.virtual_us,
        }
    }

    /// Reads a line, checking the names and the hash.
    pub fn parse(text: &str) -> Result<SeedLine, Error> {
        let line: SeedLine = serde_json::from_str(text).map_err(|e| Error::Json {
            message: e.to_string(),
        })?;
        let hex = line.trace_hash.bytes().all(|b| b.is_ascii_hexdigit());
        if line.trace_hash.len() != 16 || !hex {
            let value = line.trace_hash;
            return Err(Error::TraceHash { value });
        }
        if let Some(name) = line
            .outcomes
            .keys()
            .find(|k| check::outcome_kind_named(k).is_none())
        {
            let name = name.clone();
            return Err(Error::OutcomeKind { name });
        }
        let kinds = line.violations.keys().chain(&line.violation);
        if let Some(name) = kinds
            .into_iter()
            .find(|k| ViolationKind::from_name(k).is_none())
        {
            let name = name.clone();
            return Err(Error::ViolationKind { name });
        }
        Ok(line)
    }

    /// Writes the line and its newline.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self)?;
        out.write_all(b"\n")
    }

    pub fn passed(&self) -> bool {
        self.outcome == Verdict::Pass
    }

    /// What the run did, as the summary sums it.
    pub fn tally(&self) -> Tally {
        let outcomes = self
            .outcomes
            .iter()
            .filter_map(|(k, n)| Some((check::outcome_kind_named(k)?, *n)));
        Tally {
            calls: self.calls,
            outcomes: outcomes.collect(),
            frames: self.frames,
            drops: self.drops,
            cut_drops: self.cut_drops,
            duplicates: self.duplicates,
            reorders: self.reorders,
            partitions: self.partitions,
            crashes: self.crashes,
            restarts: self.restarts,
            execs: self.execs,
            rpcs: self.rpcs,
            virtual_us: self.virtual_us,
        }
    }
}

/// Adds one seed's line to `summary`, as [`Summary::add`] adds its report.
pub fn add(summary: &mut Summary, line: &SeedLine) {
    summary.seeds += 1;
    summary.tally.add(&line.tally());
    for (name, count) in &line.violations {
        let Some(kind) = ViolationKind::from_name(name) else {
            continue;
        };
        *summary.violations.entry(kind).or_default() += count;
    }
    if line.broken.is_some() {
        summary.panicked += 1;
    }
    if line.passed() {
        return;
    }
    summary.failed += 1;
    if summary.failing_seeds.len() < FAILING_SEEDS_SHOWN {
        summary.failing_seeds.push(line.seed);
    }
}

/// Where a line was read: file (by index in the caller's list) and line number from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub file: usize,
    pub line: u64,
}

/// A seed with two lines that disagree: the runs differ (another build, scenario or plant,
/// or a determinism bug).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub seed: u64,
    pub first: (Origin, String),
    pub second: (Origin, String),
}

/// What a merge remembers of a seed it has counted.
#[derive(Debug, Clone, Copy)]
struct Seen {
    hash: u64,
    outcome: Verdict,
    origin: Origin,
}

/// The merge of seed lines from many files, in any order: each seed counted once.
#[derive(Debug, Default)]
pub struct Merge {
    summary: Summary,
    seen: BTreeMap<u64, Seen>,
    failing: BTreeSet<u64>,
    lines: u64,
    duplicates: u64,
    duplicated: Vec<u64>,
    conflicts: u64,
    conflicting: Vec<Conflict>,
}

/// The merged summary and the seeds it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub summary: Summary,
    /// Lines read.
    pub lines: u64,
    /// The seeds covered, as maximal ranges, in order.
    pub covered: Vec<Range<u64>>,
    /// Lines of a seed already counted, with the same results (not counted again).
    pub duplicates: u64,
    /// The first [`LISTED_MAX`] seeds with duplicate lines.
    pub duplicated: Vec<u64>,
    /// Lines of a seed already counted, with other results (not counted again).
    pub conflicts: u64,
    /// The first [`LISTED_MAX`] conflicts.
    pub conflicting: Vec<Conflict>,
}

impl Merged {
    /// The seeds missing between the first and the last seed covered.
    pub fn gaps(&self) -> Vec<Range<u64>> {
        self.covered
            .windows(2)
            .map(|pair| pair[0].end..pair[1].start)
            .collect()
    }
}

impl Merge {
    pub fn add(&mut self, line: &SeedLine, origin: Origin) {
        self.lines += 1;
        // Checked when the line was parsed.
        let hash = u64::from_str_radix(&line.trace_hash, 16).unwrap_or(0);
        if let Some(seen) = self.seen.get(&line.seed) {
            self.repeated(*seen, line, hash, origin);
            return;
        }
        let outcome = line.outcome;
        let seen = Seen {
            hash,
            outcome,
            origin,
        };
        self.seen.insert(line.seed, seen);
        add(&mut self.summary, line);
        if !line.passed() {
            self.failing.insert(line.seed);
        }
    }

    fn repeated(&mut self, seen: Seen, line: &SeedLine, hash: u64, origin: Origin) {
        if seen.hash == hash && seen.outcome == line.outcome {
            self.duplicates += 1;
            if self.duplicated.len() < LISTED_MAX && !self.duplicated.contains(&line.seed) {
                self.duplicated.push(line.seed);
            }
            return;
        }
        self.conflicts += 1;
        if self.conflicting.len() < LISTED_MAX {
            let describe = |hash: u64, outcome: Verdict| format!("{} {hash:016x}", outcome.name());
            self.conflicting.push(Conflict {
                seed: line.seed,
                first: (seen.origin, describe(seen.hash, seen.outcome)),
                second: (origin, describe(hash, line.outcome)),
            });
        }
    }

    pub fn finish(self) -> Merged {
        let mut summary = self.summary;
        // Lines arrive in file order; the summary lists failing seeds in seed order, as one
        // exploration of them all would.
        summary.failing_seeds = self
            .failing
            .iter()
            .copied()
            .take(FAILING_SEEDS_SHOWN)
            .collect();
        Merged {
            summary,
            lines: self.lines,
            covered: ranges(self.seen.keys().copied()),
            duplicates: self.duplicates,
            duplicated: self.duplicated,
            conflicts: self.conflicts,
            conflicting: self.conflicting,
        }
    }
}

/// Ascending seeds as maximal ranges.
fn ranges(seeds: impl Iterator<Item = u64>) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for seed in seeds {
        match out.last_mut() {
            Some(last) if last.end == seed => last.end = seed + 1,
            _ => out.push(seed..seed + 1),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seed: u64, outcome: Verdict) -> SeedLine {
        let violation = (outcome == Verdict::Violation).then(|| "at-most-once".to_owned());
        let violations = violation.iter().map(|k| (k.clone(), 2)).collect();
        SeedLine {
            seed,
            outcome,
            violation,
            violations,
            broken: (outcome == Verdict::Broken).then(|| "time limit".to_owned()),
            trace_hash: format!("{:016x}", seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            calls: 10 + seed,
            frames: 40,
            drops: seed % 3,
            cut_drops: 1,
            duplicates: 2,
            reorders: 3,
            partitions: 1,
            crashes: seed % 2,
            restarts: seed % 2,
            execs: 11,
            rpcs: 12,
            outcomes: [("ok".to_owned(), 8), ("timeout".to_owned(), 2 + seed)].into(),
            virtual_us: 1_000_000 + seed,
        }
    }

    fn verdict(seed: u64) -> Verdict {
        match seed % 7 {
            3 => Verdict::Violation,
            5 => Verdict::Broken,
            _ => Verdict::Pass,
        }
    }

    fn text(line: &SeedLine) -> String {
        let mut out = Vec::new();
        line.write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_line_is_one_line_of_json_and_reads_back() {
        for outcome in [Verdict::Pass, Verdict::Violation, Verdict::Broken] {
            let original = line(17, outcome);
            let written = text(&original);
            assert!(written.ends_with('\n'));
            assert_eq!(written.matches('\n').count(), 1);
            assert_eq!(SeedLine::parse(written.trim_end()), Ok(original));
        }
    }

    #[test]
    fn a_line_has_the_documented_fields() {
        let written = text(&line(17, Verdict::Violation));
        let value: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(value["seed"], 17);
        assert_eq!(value["outcome"], "violation");
        assert_eq!(value["violation"], "at-most-once");
        assert_eq!(value["outcomes"]["ok"], 8);
        for field in [
            "calls",
            "drops",
            "duplicates",
            "reorders",
            "partitions",
            "crashes",
            "restarts",
            "virtual_us",
        ] {
            assert!(value[field].is_u64(), "{field}: {value}");
        }
        let pass: serde_json::Value = serde_json::from_str(&text(&line(1, Verdict::Pass))).unwrap();
        assert_eq!(pass["outcome"], "pass");
        assert!(pass["violation"].is_null());
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        let good = text(&line(3, Verdict::Pass));
        let check = |text: &str, expected: Error| assert_eq!(SeedLine::parse(text), Err(expected));
        check(
            &good.replace(&line(3, Verdict::Pass).trace_hash, "xyz"),
            Error::TraceHash {
                value: "xyz".into(),
            },
        );
        check(
            &good.replace("\"timeout\"", "\"lost\""),
            Error::OutcomeKind {
                name: "lost".into(),
            },
        );
        let violation = text(&line(3, Verdict::Violation)).replace("at-most-once", "sloppy");
        check(
            &violation,
            Error::ViolationKind {
                name: "sloppy".into(),
            },
        );
        assert!(matches!(
            SeedLine::parse("{\"seed\": 1}"),
            Err(Error::Json { .. })
        ));
        assert!(matches!(
            SeedLine::parse("not json"),
            Err(Error::Json { .. })
        ));
    }

    fn summary_of(seeds: impl Iterator<Item = u64>) -> Summary {
        let mut summary = Summary::default();
        for seed in seeds {
            add(&mut summary, &line(seed, verdict(seed)));
        }
        summary
    }

    #[test]
    fn the_summary_counts_what_the_lines_say() {
        let summary = summary_of(0..14);
        assert_eq!(summary.seeds, 14);
        assert_eq!(summary.failed, 4);
        assert_eq!(summary.panicked, 2);
        assert_eq!(summary.failing_seeds, [3, 5, 10, 12]);
        assert_eq!(summary.violations[&ViolationKind::AtMostOnce], 4);
        assert_eq!(summary.tally.calls, (0..14).map(|s| 10 + s).sum::<u64>());
        assert_eq!(summary.tally.outcomes["ok"], 8 * 14);
    }

    /// Shard reports, in any order and with a repeated file, merge into the summary of one
    /// exploration of all the seeds.
    #[test]
    fn merged_shards_give_the_unsharded_summary() {
        let mut merge = Merge::default();
        let files = [60..100, 0..25, 25..60, 25..60];
        for (file, seeds) in files.iter().enumerate() {
            for (n, seed) in seeds.clone().enumerate() {
                let origin = Origin {
                    file,
                    line: n as u64 + 1,
                };
                merge.add(&line(seed, verdict(seed)), origin);
            }
        }
        let merged = merge.finish();
        assert_eq!(merged.summary, summary_of(0..100));
        assert_eq!(merged.covered.len(), 1);
        assert_eq!(merged.covered[0], 0..100);
        assert!(merged.gaps().is_empty());
        assert_eq!(merged.lines, 135);
        assert_eq!(merged.duplicates, 35);
        assert_eq!(merged.duplicated, (25..35).collect::<Vec<_>>());
        assert_eq!(merged.conflicts, 0);
    }

    #[test]
    fn a_merge_reports_gaps_and_conflicts() {
        let mut merge = Merge::default();
        let at = |line| Origin { file: 0, line };
        for seed in (0..10).chain(20..30).chain([40]) {
            merge.add(&line(seed, Verdict::Pass), at(seed + 1));
        }
        let mut other = line(5, Verdict::Pass);
        other.trace_hash = "00000000000000ff".into();
        merge.add(&other, Origin { file: 1, line: 1 });
        let merged = merge.finish();
        assert_eq!(merged.covered, [0..10, 20..30, 40..41]);
        assert_eq!(merged.gaps(), [10..20, 30..40]);
        assert_eq!(merged.summary.seeds, 21);
        assert_eq!(merged.conflicts, 1);
        let conflict = &merged.conflicting[0];
        assert_eq!(conflict.seed, 5);
        assert_eq!(conflict.first.0, at(6));
        assert_eq!(conflict.second.1, "pass 00000000000000ff");
    }
}
