//! `--html FILE`: the picture of a run (see `exorun_sim::html`), written for a browser.

use std::path::Path;

use exorun_sim::html;
use exorun_sim::report::Report;

/// Writes the page of `report`'s trace, with its violations marked, to `path`. A run that broke
/// (a panic, the time limit) says so after `title`.
pub fn write(path: &Path, report: &Report, title: &str) -> std::io::Result<()> {
    let title = match &report.panicked {
        Some(message) => format!("{title} (the run broke: {message})"),
        None => title.to_owned(),
    };
    std::fs::write(
        path,
        html::render(&report.trace, &report.violations, &title),
    )
}
