//! End-to-end tests: the `exorun-sim` binary and `scripts/sim.sh` run as a user runs them, as
//! child processes, and judged by their exit status, their output and the files they write.
//!
//! The CLI exists only in the simulated build, so this binary is empty unless built with
//! `--cfg madsim` (README, "Where the tests are"). `support` builds `exorun-sim` once per
//! process with the same flags and profile as this test binary.
#![cfg(madsim)]

mod support;

// Fixed runs that several tests judge: an exploration of a small range with its report, that
// range split in shards, and the first seed that catches a planted bug.
mod fixtures;

// `run`: a passing seed prints its scenario, outcome and hash (a golden); a planted bug's seed
// exits 1 with the seed, the violation and the replay command (a golden of one in a scenario
// file); a bad scenario file exits 2 naming the field; `--html` writes the picture of the run.
mod run;

// `explore` on a small range: summary (a golden, wall time redacted), report, exit status; a
// plant stops it at the first failing seed; bad flags exit 2.
mod explore;

// `replay`: a seed's hash reproduces in another process; an entry whose trace changed shows
// the first event where it did.
mod replay;

// `shrink` on a planted bug: a smaller scenario that still fails the same way.
mod shrink;

// `corpus add` and `corpus check` in a scratch directory; the repository's corpus replays.
mod corpus;

// `--shard I/N`, a Kubernetes Indexed Job's and a Slurm array's variables: the shards' reports
// cover the range exactly once, with the lines of the unsharded run; bad variables exit 2.
mod shards;

// `summarize`: shard reports merge into the summary of one exploration of the whole range;
// gaps, repeats and conflicts are named; a bad line exits 2.
mod summarize;

// `bench`: the default scenario beside a raw madsim echo, the ratios and memory.
mod bench;

// A closed pipe on stdout ends exorun-sim by SIGPIPE, not a panic.
mod pipe;

// `scripts/sim.sh`: explores a few seeds, built in this test's profile.
mod sim_sh;
