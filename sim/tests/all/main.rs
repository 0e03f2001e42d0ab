//! exorun-sim's tests: one binary, one module per concern. The simulator runs only in the
//! simulated build (`--cfg madsim`); there the modules below run whole scenarios in this
//! process, through the library. The `exorun-sim` command line (run, explore, replay, shrink,
//! corpus, shards, summarize) is tested end to end in the `exorun-tests` crate (tests/e2e/).

#[cfg(madsim)]
mod support;

// Every planted bug is caught, as the right kind of violation, within a bounded number of
// seeds; the same seeds pass without the plant.
#[cfg(madsim)]
mod plants;

// Hundreds of seeds of the default scenario pass, with every fault kind injected.
#[cfg(madsim)]
mod explore;

// One seed, one trace: the same hash on every run, golden traces of the built-in scenarios,
// madsim's own check.
#[cfg(madsim)]
mod determinism;

// Guests read the simulated clock and seeded randomness, and their output is in the trace.
#[cfg(madsim)]
mod wasi;

// The hand-written scenarios under sim/scenarios/ run and pass.
#[cfg(madsim)]
mod scenarios;

// Every checker holds, as a proptest property over generated scenarios that shrinks.
#[cfg(madsim)]
mod property;

// Replay: two traces that differ are shown from the first event where they do.
#[cfg(madsim)]
mod replay;

// The picture of a run: a planted bug's page shows every lifeline, frame and the violation,
// and headless Chromium renders it (big traces too) without an error.
#[cfg(madsim)]
mod html;

// Explore on several worker threads gives what one worker gives: summary, per-seed lines, the
// first seeds after a stop; an explored seed has the trace it has alone.
#[cfg(madsim)]
mod parallel;

// Shards (by flag, Kubernetes or Slurm variables) cover a range once; report lines read back;
// merged shard reports give the unsharded summary.
#[cfg(madsim)]
mod shards;
