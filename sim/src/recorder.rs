//! Where every stage of a run writes its events: one [`Trace`], stamped with the virtual clock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::trace::{EventKind, Trace};

#[derive(Debug, Default)]
struct Inner {
    /// Set from inside the simulation, where the virtual clock exists.
    start: Option<Start>,
    trace: Trace,
    /// Every node name recorded so far, shared by its events (a run has a handful).
    names: Vec<Arc<str>>,
}

/// When the run started, and the clock to read: under madsim the simulation's own clock,
/// held rather than looked up per event (`Instant::now` goes through madsim's `clock_gettime`,
/// which finds the running simulation in thread-local storage every time: about 2% of a
/// seed's CPU when every trace event did it).
struct Start {
    at: Instant,
    #[cfg(madsim)]
    clock: madsim::time::TimeHandle,
}

impl std::fmt::Debug for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Start")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl Start {
    fn now() -> Start {
        Start {
            at: now(),
            #[cfg(madsim)]
            clock: madsim::time::TimeHandle::current(),
        }
    }

    #[cfg(madsim)]
    fn elapsed(&self) -> std::time::Duration {
        self.clock.now_instant().saturating_duration_since(self.at)
    }

    #[cfg(not(madsim))]
    fn elapsed(&self) -> std::time::Duration {
        now().saturating_duration_since(self.at)
    }
}

impl Inner {
    fn name(&mut self, node: &str) -> Arc<str> {
        if let Some(name) = self.names.iter().find(|name| ***name == *node) {
            return Arc::clone(name);
        }
        let name: Arc<str> = Arc::from(node);
        self.names.push(Arc::clone(&name));
        name
    }

    fn elapsed_us(&self) -> u64 {
        let Some(start) = &self.start else {
            return 0;
        };
        u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// The trace of the run in progress. Shared by the network, the nodes and the workload; the
/// simulation runs on one thread, so the order of events is the order of the calls here.
#[derive(Debug)]
pub struct Recorder {
    /// When the run started, and the events so far: one lock for both, taken once an event.
    inner: Mutex<Inner>,
    /// Set at the end of the run: what its teardown does is not part of the trace.
    closed: AtomicBool,
    /// Each node's running boot (its generation), `None` while it is down. What a dead boot's
    /// leftovers do as madsim drops them (a call's guard reporting it was dropped) is not
    /// something the node did: [`Recorder::record_from`] leaves it out.
    incarnations: Mutex<BTreeMap<String, Option<u32>>>,
}

impl Recorder {
    /// A recorder whose clock starts with [`Recorder::start`], with room for `events` (a
    /// guess: growing the trace copies every event recorded so far).
    pub fn new_unstarted(events: usize) -> Recorder {
        let mut inner = Inner::default();
        inner.trace.events.reserve(events);
        Recorder {
            inner: Mutex::new(inner),
            closed: AtomicBool::new(false),
            incarnations: Mutex::new(BTreeMap::new()),
        }
    }

    /// `node` now runs as boot `generation` (`None`: it is down).
    pub fn set_incarnation(&self, node: &str, generation: Option<u32>) {
        let mut incarnations = self
            .incarnations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        incarnations.insert(node.to_owned(), generation);
    }

    /// Appends an event that boot `generation` of `node` caused, unless that boot is over.
    pub fn record_from(&self, node: &str, generation: u32, kind: EventKind) {
        let current = self
            .incarnations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(node)
            .copied()
            .flatten();
        if current != Some(generation) {
            return;
        }
        self.record(node, kind);
    }

    /// Starts the clock: events are stamped relative to now.
    pub fn start(&self) {
        self.lock().start = Some(Start::now());
    }

    /// Virtual microseconds since the run started.
    pub fn elapsed_us(&self) -> u64 {
        self.lock().elapsed_us()
    }

    /// Appends an event that happened on `node` now (nothing once closed).
    pub fn record(&self, node: &str, kind: EventKind) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let mut inner = self.lock();
        let t_us = inner.elapsed_us();
        let name = inner.name(node);
        inner.trace.push_shared(t_us, name, kind);
    }

    /// Records nothing more: the run is over.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
    }

    /// Takes the trace recorded so far.
    pub fn take(&self) -> Trace {
        std::mem::take(&mut self.lock().trace)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere leaves a trace that is still a valid prefix: keep it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The virtual clock: madsim replaces `Instant::now` inside a simulation.
#[allow(
    clippy::disallowed_methods,
    reason = "under madsim Instant::now is the simulated clock"
)]
pub fn now() -> Instant {
    Instant::now()
}
