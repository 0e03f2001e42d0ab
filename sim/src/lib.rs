//! exorun-sim: deterministic simulation of exorun nodes.
//!
//! The pipeline, one module per stage: a seed generates a [`scenario`] (plain data, also
//! written by hand as TOML); running it ([`run`]) boots virtual [`node`]s on madsim, connects
//! them through a fault-injecting [`network`] and drives the [`workload`], recording a
//! [`trace`]; the [`check`]ers judge the trace; the CLI reports, as text or as a picture of
//! the run ([`html`]). A [`plant`] switches on a known bug to prove that the checkers catch it.
//! [`explore`] runs many seeds on worker threads and sums them in seed order ([`pool`]), a
//! [`shard`] of a range at a time, with a per-seed report as JSON lines ([`jsonl`]).
//!
//! The stages that run wasm (`network`, `node`, `workload`, `run`, `explore`) exist only in the simulated
//! build (`--cfg madsim`); the rest is plain data and pure functions, built everywhere.

pub mod check;
pub mod corpus;
pub mod html;
pub mod jsonl;
pub mod plant;
pub mod pool;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod shard;
pub mod shrink;
pub mod strategy;
pub mod trace;

#[cfg(madsim)]
pub mod bench;
#[cfg(madsim)]
pub mod explore;
#[cfg(madsim)]
pub mod network;
#[cfg(madsim)]
pub mod node;
#[cfg(madsim)]
pub mod recorder;
#[cfg(madsim)]
pub mod run;
#[cfg(madsim)]
pub mod workload;
