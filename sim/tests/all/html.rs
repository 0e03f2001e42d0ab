//! The picture of a run: the page of a seed that catches a planted bug has every node's
//! lifeline, every frame and the violation marked, and a real browser (headless Chromium)
//! renders it without a script error, big traces included. (`run --html` writing it is an
//! end-to-end test, in tests/e2e/run.rs.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use exorun_sim::html;
use exorun_sim::plant::Plant;
use exorun_sim::report::Report;
use exorun_sim::trace::{EventKind, Fate, SIM, Trace};

use crate::support::{describe, run_seed};

/// The plant whose violation the page must mark.
const PLANT: Plant = Plant::MisrouteReply;

/// How many seeds (from 0) may be run to find one where the plant is caught.
const SEEDS_MAX: u64 = 200;

/// How many events the big page has at least.
const BIG_EVENTS_MIN: usize = 20_000;

/// The first seed where [`PLANT`] is caught, and its run (found once per process).
fn caught() -> &'static (u64, Report) {
    static CAUGHT: OnceLock<(u64, Report)> = OnceLock::new();
    CAUGHT.get_or_init(|| {
        for seed in 0..SEEDS_MAX {
            let report = run_seed(seed, Some(PLANT));
            if report
                .violations
                .iter()
                .any(|v| v.kind == PLANT.caught_as())
            {
                return (seed, report);
            }
        }
        panic!("{PLANT} was not caught within {SEEDS_MAX} seeds");
    })
}

/// The nodes of a trace (not the simulator), each once.
fn nodes(trace: &Trace) -> Vec<&str> {
    let mut nodes: Vec<&str> = Vec::new();
    for event in &trace.events {
        if *event.node != *SIM && !nodes.contains(&&*event.node) {
            nodes.push(&event.node);
        }
    }
    nodes
}

fn count(page: &str, needle: &str) -> usize {
    page.matches(needle).count()
}

#[test]
fn the_page_of_a_planted_bug_shows_the_run_and_marks_the_violation() {
    let (seed, report) = caught();
    let seed = *seed;
    let page = html::render(&report.trace, &report.violations, &format!("seed {seed}"));
    let events = &report.trace.events;
    for node in nodes(&report.trace) {
        let lifeline = format!("class=\"lifeline\" data-node=\"{}\"", html::escape(node));
        assert_eq!(count(&page, &lifeline), 1, "{node}'s lifeline");
    }
    let delivered = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Deliver { .. }))
        .count();
    let dropped = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Send {
                    fate: Fate::Drop(_),
                    ..
                }
            )
        })
        .count();
    assert!(delivered > 0);
    assert_eq!(
        count(&page, "class=\"arrow "),
        delivered,
        "an arrow per copy"
    );
    assert_eq!(
        count(&page, "<g class=\"drop\""),
        dropped,
        "a mark per drop"
    );
    let caught = report
        .violations
        .iter()
        .find(|v| v.kind == PLANT.caught_as());
    let Some(violation) = caught else {
        panic!("seed {seed}:\n{}", describe(report));
    };
    let at = violation.event;
    assert_eq!(count(&page, &format!("id=\"ev-{at}\"")), 1, "the callout");
    assert!(
        page.contains(&format!("href=\"#ev-{at}\"")),
        "the link to it"
    );
    assert!(page.contains(&html::escape(&violation.message)));
    let rows = report.violations.iter().map(|v| v.event);
    let distinct: std::collections::BTreeSet<usize> = rows.collect();
    assert_eq!(count(&page, "<rect class=\"viol\""), distinct.len());

    let dom = browse(&write("planted.html", &page));
    assert!(
        dom.contains("<div id=\"ready\""),
        "the script did not finish"
    );
    assert!(dom.contains(&format!("id=\"ev-{at}\"")));
}

#[test]
fn a_big_trace_stays_one_linear_page_that_renders() {
    let report = &caught().1;
    let mut big = Trace::new();
    let span_us = report.trace.events.last().map_or(0, |e| e.t_us) + 1_000_000;
    let mut round = 0;
    while big.events.len() < BIG_EVENTS_MIN {
        for event in &report.trace.events {
            big.push(
                event.t_us + round * span_us,
                &event.node,
                event.kind.clone(),
            );
        }
        round += 1;
    }
    let page = html::render(&big, &report.violations, "big");
    let small = html::render(&report.trace, &report.violations, "small");
    let per_round = small.len() as u64;
    assert!(
        (page.len() as u64) < per_round * round,
        "{} bytes for {round} copies of a {per_round}-byte page",
        page.len()
    );
    let dom = browse(&write("big.html", &page));
    assert!(
        dom.contains("<div id=\"ready\""),
        "the script did not finish"
    );
}

/// Where the pages are written.
fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("{}: {e}", dir.display());
    }
    dir
}

fn write(name: &str, page: &str) -> PathBuf {
    let path = scratch().join(name);
    if let Err(e) = std::fs::write(&path, page) {
        panic!("{}: {e}", path.display());
    }
    path
}

/// Chromium on `PATH`, or a failure that says how to get it.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "no chromium or chromium-browser on PATH: these tests open the page in a headless \
         browser. Install it (`apt-get install chromium` on Debian; scripts/test.sh does)."
    );
}

/// Loads `page` in headless Chromium and returns the DOM after its scripts ran. Fails if the
/// page wrote anything to the console (an uncaught error does) or Chromium failed.
fn browse(page: &Path) -> String {
    let profile = page.with_extension("profile");
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => panic!("cannot run chromium: {e}"),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let console: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(":CONSOLE") || line.contains("Uncaught"))
        .collect();
    assert!(
        console.is_empty(),
        "{} logged to the console:\n{}",
        page.display(),
        console.join("\n")
    );
    assert!(output.status.success(), "chromium failed:\n{stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
