//! Running seeds on worker threads and handing their results back in seed order.
//!
//! Workers take the next seed from a shared counter and run it; the calling thread holds back
//! results that arrive early and merges them strictly in seed order. However many workers there
//! are and however the seeds' durations interleave, the merge sees the same sequence, so what is
//! computed from it (the summary, the failures printed, the report file) is the same.
//!
//! Stopping keeps that: the merge always sees a prefix of the seeds, with no gap. A stop asked by
//! the merge (the first failure) merges nothing after that seed; a stop asked while waiting (the
//! time limit) starts no new seed, and merges the seeds already running as long as they follow on
//! without a gap. Results left out are counted, never merged.
//!
//! The harness's threads are not simulated: each seed still runs on one thread, in a madsim
//! runtime of its own, whichever worker runs it.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The most worker threads.
pub const JOBS_MAX: usize = 256;

/// How many seeds past the oldest unmerged one a worker may start, per worker: bounds the
/// results held back for reordering when one seed runs long.
pub const AHEAD_PER_JOB_MAX: u64 = 8;

/// How often the merging thread wakes when no result arrives (progress, the time limit).
pub const TICK: Duration = Duration::from_millis(100);

/// Whether to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// What the merging thread does with results, in seed order.
pub trait Merge<R> {
    /// Takes the result of `seed`; every seed before it has been merged.
    fn merge(&mut self, seed: u64, result: R) -> Flow;
    /// Called after each result and at least every [`TICK`] while waiting.
    fn tick(&mut self) -> Flow;
}

/// What was merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The seeds merged: a prefix of the range.
    pub merged: Range<u64>,
    /// Results that completed after a stop without following on, left out.
    pub left_out: u64,
}

/// Runs `run(seed)` for the seeds of `seeds` on `jobs` worker threads and hands each result to
/// `merger` on this thread, in seed order. A [`Flow::Stop`] from [`Merge::merge`] or
/// [`Merge::tick`] stops the exploration as the module documentation says. Returns once every
/// worker has finished; a panic in `run` stops the others and is raised again here.
pub fn in_seed_order<R: Send>(
    seeds: Range<u64>,
    jobs: usize,
    run: impl Fn(u64) -> R + Sync,
    merger: &mut impl Merge<R>,
) -> Ended {
    assert!(jobs >= 1, "at least one worker");
    assert!(jobs <= JOBS_MAX, "at most {JOBS_MAX} workers");
    let jobs_u64 = u64::try_from(jobs).unwrap_or(u64::MAX);
    let gate = Gate {
        next: AtomicU64::new(seeds.start),
        end: seeds.end,
        window: AHEAD_PER_JOB_MAX.saturating_mul(jobs_u64),
        merged: Mutex::new(seeds.start),
        moved: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    std::thread::scope(|scope| {
        let (results, received) = mpsc::channel();
        for _ in 0..jobs {
            let results = results.clone();
            let (gate, run) = (&gate, &run);
            scope.spawn(move || work(gate, run, &results));
        }
        drop(results);
        // A panic while merging (stdout closed) must not leave workers waiting for it.
        let _stop_on_panic = StopOnPanic(&gate);
        merge_in_order(&gate, &received, seeds.start, merger)
    })
}

/// What the workers and the merging thread share.
struct Gate {
    /// The next seed to start.
    next: AtomicU64,
    end: u64,
    /// How far past `merged` a seed may start.
    window: u64,
    /// The next seed to merge.
    merged: Mutex<u64>,
    /// Signalled when `merged` moves or `stop` is set.
    moved: Condvar,
    stop: AtomicBool,
}

impl Gate {
    /// The next seed to run, once it is within the window; `None` when there is none left or
    /// the exploration stopped.
    fn claim(&self) -> Option<u64> {
        if self.stopped() {
            return None;
        }
        let end = self.end;
        let take = |next: u64| (next < end).then(|| next + 1);
        let seed = self
            .next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, take)
            .ok()?;
        let mut merged = self.lock();
        while seed >= merged.saturating_add(self.window) && !self.stopped() {
            merged = self
                .moved
                .wait(merged)
                .unwrap_or_else(PoisonError::into_inner);
        }
        (!self.stopped()).then_some(seed)
    }

    fn advance(&self, merged: u64) {
        *self.lock() = merged;
        self.moved.notify_all();
    }

    /// Starts no more seeds. Set under the lock, so that no worker misses the wakeup.
    fn stop(&self) {
        let _merged = self.lock();
        self.stop.store(true, Ordering::SeqCst);
        self.moved.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, u64> {
        self.merged.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A worker: claims seeds and sends their results until none is left.
fn work<R>(gate: &Gate, run: &impl Fn(u64) -> R, results: &mpsc::Sender<(u64, R)>) {
    let _stop_on_panic = StopOnPanic(gate);
    while let Some(seed) = gate.claim() {
        let result = run(seed);
        if results.send((seed, result)).is_err() {
            return;
        }
    }
}

/// Stops the workers when a worker or the merging thread panics, so that none waits for a seed
/// that will never be merged.
struct StopOnPanic<'g>(&'g Gate);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// The merging thread: puts results back in seed order until every worker has finished.
fn merge_in_order<R>(
    gate: &Gate,
    received: &mpsc::Receiver<(u64, R)>,
    start: u64,
    merger: &mut impl Merge<R>,
) -> Ended {
    let mut next = start;
    let mut held = BTreeMap::new();
    let mut merging = true;
    let mut left_out = 0;
    loop {
        match received.recv_timeout(TICK) {
            Ok((seed, result)) if merging => {
                held.insert(seed, result);
            }
            Ok(_) => left_out += 1,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while merging && let Some(result) = held.remove(&next) {
            let seed = next;
            next += 1;
            gate.advance(next);
            if merger.merge(seed, result) == Flow::Stop {
                merging = false;
                gate.stop();
            }
        }
        if !gate.stopped() && merger.tick() == Flow::Stop {
            gate.stop();
        }
    }
    left_out += u64::try_from(held.len()).unwrap_or(u64::MAX);
    Ended {
        merged: start..next,
        left_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work whose length varies from seed to seed, so that workers finish out of order.
    fn busy(seed: u64) -> u64 {
        let spins = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) * 16;
        let mut x = seed;
        for i in 0..spins {
            x = std::hint::black_box(x.rotate_left(5) ^ i);
        }
        std::hint::black_box(x);
        seed.wrapping_mul(10)
    }

    /// Records what it merges; stops at a seed, or after some ticks.
    #[derive(Default)]
    struct Recorder {
        seen: Vec<(u64, u64)>,
        stop_at: Option<u64>,
        ticks: u64,
        ticks_max: Option<u64>,
    }

    impl Merge<u64> for Recorder {
        fn merge(&mut self, seed: u64, result: u64) -> Flow {
            self.seen.push((seed, result));
            match Some(seed) == self.stop_at {
                true => Flow::Stop,
                false => Flow::Continue,
            }
        }

        fn tick(&mut self) -> Flow {
            self.ticks += 1;
            match self.ticks_max.is_some_and(|max| self.ticks >= max) {
                true => Flow::Stop,
                false => Flow::Continue,
            }
        }
    }

    /// The seeds and results merged, and the end.
    fn explore(
        seeds: Range<u64>,
        jobs: usize,
        stop_at: Option<u64>,
        ticks_max: Option<u64>,
    ) -> (Vec<(u64, u64)>, Ended) {
        let mut recorder = Recorder {
            stop_at,
            ticks_max,
            ..Recorder::default()
        };
        let ended = in_seed_order(seeds, jobs, busy, &mut recorder);
        (recorder.seen, ended)
    }

    #[test]
    fn results_arrive_in_seed_order_for_any_number_of_workers() {
        let expected: Vec<(u64, u64)> = (5..400).map(|s| (s, busy(s))).collect();
        for jobs in [1, 2, 3, 4, 8] {
            let (seen, ended) = explore(5..400, jobs, None, None);
            assert_eq!(seen, expected, "{jobs} workers");
            assert_eq!(ended.merged, 5..400);
            assert_eq!(ended.left_out, 0);
        }
    }

    #[test]
    fn a_stop_from_the_merge_merges_nothing_after_it() {
        for jobs in [1, 2, 4] {
            let (seen, ended) = explore(0..300, jobs, Some(77), None);
            let expected: Vec<(u64, u64)> = (0..78).map(|s| (s, busy(s))).collect();
            assert_eq!(seen, expected, "{jobs} workers");
            assert_eq!(ended.merged, 0..78);
        }
    }

    /// A stop while waiting (the time limit) leaves a prefix with no gap, whatever was running.
    #[test]
    fn a_stop_from_a_tick_leaves_a_prefix() {
        for jobs in [1, 2, 4] {
            for ticks in [1, 5, 50] {
                let (seen, ended) = explore(1_000..100_000, jobs, None, Some(ticks));
                let expected: Vec<u64> = ended.merged.clone().collect();
                let merged: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
                assert_eq!(merged, expected, "{jobs} workers, {ticks} ticks");
                assert!(ended.merged.end < 100_000, "{jobs} workers, {ticks} ticks");
            }
        }
    }

    #[test]
    fn an_empty_range_or_more_workers_than_seeds() {
        assert_eq!(explore(7..7, 4, None, None).1.merged, 7..7);
        let (seen, _) = explore(7..9, 16, None, None);
        assert_eq!(seen, [(7, 70), (8, 80)]);
        let (seen, _) = explore(u64::MAX - 2..u64::MAX, 2, None, None);
        assert_eq!(seen.len(), 2);
    }

    /// A panicking merge stops the workers instead of leaving them waiting for it, and the
    /// panic reaches the caller.
    #[test]
    fn a_panic_while_merging_reaches_the_caller() {
        struct Breaks;
        impl Merge<u64> for Breaks {
            fn merge(&mut self, seed: u64, _result: u64) -> Flow {
                assert!(seed != 2, "merging seed 2 breaks");
                Flow::Continue
            }
            fn tick(&mut self) -> Flow {
                Flow::Continue
            }
        }
        let caught = std::panic::catch_unwind(|| in_seed_order(0..1_000, 2, busy, &mut Breaks));
        assert!(caught.is_err());
    }

    /// A panicking seed stops the other workers instead of leaving them waiting for it, and
    /// the panic reaches the caller.
    #[test]
    fn a_panic_in_a_worker_reaches_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            let run = |seed: u64| {
                assert!(seed != 3, "seed 3 breaks");
                seed
            };
            in_seed_order(0..1_000, 2, run, &mut Recorder::default())
        });
        assert!(caught.is_err());
    }
}
