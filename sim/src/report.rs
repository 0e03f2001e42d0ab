//! What a user reads: one run's outcome with the evidence and the command that replays it, and
//! the summary of an exploration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::check::{Tally, Violation, ViolationKind};
use crate::plant::Plant;
use crate::trace::Trace;

/// How many trace events a violation report shows before (and including) its proof.
pub const CONTEXT_EVENTS: usize = 12;

/// What one run produced.
#[derive(Debug)]
pub struct Report {
    pub seed: u64,
    pub trace: Trace,
    pub violations: Vec<Violation>,
    pub tally: Tally,
    /// The run itself broke (a panic, or the virtual time limit): the message.
    pub panicked: Option<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.panicked.is_none()
    }
}

/// How to run a seed again: the flags that, with the seed, reproduce the run.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub scenario_file: Option<String>,
    pub plant: Option<Plant>,
}

impl Replay {
    /// The one command that replays `seed`.
    pub fn command(&self, seed: u64) -> String {
        let mut command = format!("scripts/sim.sh run --seed {seed}");
        if let Some(file) = &self.scenario_file {
            let _ = write!(command, " --scenario {file}");
        }
        if let Some(plant) = self.plant {
            let _ = write!(command, " --plant {plant}");
        }
        command.push_str(" --trace");
        command
    }
}

/// A failed run, for a terminal: the seed, each violation with the events that led to it, and
/// the replay command.
pub fn failure(report: &Report, replay: &Replay) -> String {
    let mut out = String::new();
    let seed = report.seed;
    if let Some(message) = &report.panicked {
        let _ = writeln!(out, "seed {seed}: the run broke: {message}");
    }
    for violation in &report.violations {
        let _ = writeln!(out, "seed {seed}: VIOLATION {violation}");
        let end = (violation.event + 1).min(report.trace.events.len());
        let begin = end.saturating_sub(CONTEXT_EVENTS);
        for (i, event) in report.trace.events[begin..end].iter().enumerate() {
            let marker = if begin + i == violation.event {
                ">>"
            } else {
                "  "
            };
            let _ = writeln!(out, "  {marker} {:>6} {event}", begin + i);
        }
    }
    let _ = writeln!(out, "replay: {}", replay.command(seed));
    out
}

/// An exploration's running totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub seeds: u64,
    pub failed: u64,
    pub panicked: u64,
    pub tally: Tally,
    pub violations: BTreeMap<ViolationKind, u64>,
    /// The first failing seeds, in the order found.
    pub failing_seeds: Vec<u64>,
}

/// How many failing seeds a summary lists.
pub const FAILING_SEEDS_SHOWN: usize = 10;

impl Summary {
    pub fn add(&mut self, report: &Report) {
        self.seeds += 1;
        self.tally.add(&report.tally);
        for violation in &report.violations {
            *self.violations.entry(violation.kind).or_default() += 1;
        }
        if report.panicked.is_some() {
            self.panicked += 1;
        }
        if report.passed() {
            return;
        }
        self.failed += 1;
        if self.failing_seeds.len() < FAILING_SEEDS_SHOWN {
            self.failing_seeds.push(report.seed);
        }
    }

    /// The summary table. `wall` is the exploration's wall-clock time (left out when `None`,
    /// for output that must not vary between runs).
    pub fn render(&self, wall: Option<Duration>) -> String {
        let mut out = String::new();
        let t = &self.tally;
        let row = |out: &mut String, name: &str, value: String| {
            let _ = writeln!(out, "  {name:<22} {value}");
        };
        let _ = writeln!(out, "summary");
        row(&mut out, "seeds", self.seeds.to_string());
        row(&mut out, "passed", (self.seeds - self.failed).to_string());
        row(&mut out, "failed", self.failed.to_string());
        row(&mut out, "calls", t.calls.to_string());
        let outcomes: Vec<String> = t.outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        row(&mut out, "outcomes", outcomes.join(", "));
        row(&mut out, "frames", t.frames.to_string());
        let faults = format!(
            "drops {}, cut drops {}, duplicates {}, reorders {}, partitions {}, crashes {}, restarts {}",
            t.drops, t.cut_drops, t.duplicates, t.reorders, t.partitions, t.crashes, t.restarts
        );
        row(&mut out, "faults injected", faults);
        let kinds: Vec<String> = ViolationKind::ALL
            .iter()
            .map(|k| format!("{k} {}", self.violations.get(k).copied().unwrap_or(0)))
            .collect();
        row(&mut out, "violations", kinds.join(", "));
        if self.panicked > 0 {
            row(&mut out, "broken runs", self.panicked.to_string());
        }
        if !self.failing_seeds.is_empty() {
            let seeds: Vec<String> = self.failing_seeds.iter().map(u64::to_string).collect();
            row(&mut out, "failing seeds", seeds.join(", "));
        }
        let virtual_s = t.virtual_us as f64 / 1e6;
        row(&mut out, "simulated time", format!("{virtual_s:.1} s"));
        if let Some(wall) = wall {
            let secs = wall.as_secs_f64().max(1e-9);
            row(&mut out, "wall time", format!("{secs:.2} s"));
            row(
                &mut out,
                "seeds/s",
                format!("{:.1}", self.seeds as f64 / secs),
            );
            row(&mut out, "calls/s", format!("{:.0}", t.calls as f64 / secs));
            row(
                &mut out,
                "simulated/wall",
                format!("{:.1}x", virtual_s / secs),
            );
        }
        out
    }
}
