//! Planted bugs, for testing the simulator's checkers: each one breaks an invariant the runtime
//! otherwise keeps, so that a checker that cannot find it is shown to be blind.
//!
//! This module exists only under `--cfg madsim`, and so does every code path that asks
//! [`active`]: a normal build cannot reach a planted bug. The plant in force is per thread; a
//! simulated seed runs on one thread, so setting it inside a seed affects that seed alone.

use std::cell::Cell;

/// One planted bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Plant {
    /// A call that times out leaves its pending entry behind (`Client::pending_len` stays
    /// above zero): "no pending entry outlives its call" breaks.
    ForgetPending,
    /// The server executes a duplicated `Call` again instead of dropping it or answering it
    /// from the dedup window: "a call executes at most once" breaks.
    DoubleExecute,
    /// The client's pump hands a `Reply` or `Failure` to the smallest other pending `seq`, if
    /// there is one: "every call gets its own outcome" breaks.
    MisrouteReply,
    /// A session's reconnect does not check the registered contracts against the new offer:
    /// "no call reaches a peer that breaks its contract" breaks.
    SkipContractCheck,
}

thread_local! {
    static ACTIVE: Cell<Option<Plant>> = const { Cell::new(None) };
}

/// Plants `plant` on this thread (the running seed), or, with `None`, removes any.
pub fn set(plant: Option<Plant>) {
    ACTIVE.with(|active| active.set(plant));
}

/// The plant in force on this thread.
pub fn get() -> Option<Plant> {
    ACTIVE.with(Cell::get)
}

/// Whether `plant` is in force on this thread.
pub(crate) fn active(plant: Plant) -> bool {
    get() == Some(plant)
}
