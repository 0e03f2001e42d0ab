//! One connection's dedup window: what the server knows of the `Call`s it has seen, so that a
//! duplicated frame is executed at most once.
//!
//! Each seq the window holds is running, done (its outcome frame kept, to answer a copy with the
//! very same bytes), done with its outcome let go (kept within the window's bytes: a copy is
//! refused), or cancelled before it started (a copy gets no answer, as the call got none).
//!
//! Bounds, all checked when a call finishes:
//! - at most `entries_max` finished calls: past it, the one that finished first is evicted
//!   (running calls are not counted and never evicted; they are bounded by the calls in
//!   flight);
//! - at most `bytes_max` outcome bytes in this window, and at most `node_bytes_max` over every
//!   window of the server: past either, the outcome kept first is let go (its entry stays);
//! - the *floor*: the largest seq evicted so far. Seqs on a connection increase, so a seq at or
//!   below the floor that the window does not hold was seen and evicted (or overtaken by more
//!   than `entries_max` later calls): it is refused, never executed.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The limits of one window.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub entries_max: usize,
    pub bytes_max: usize,
    pub node_bytes_max: usize,
}

/// What the window says about a `Call` it is shown.
#[derive(Debug)]
pub(super) enum Admission {
    /// Never seen: run it (it is now in the window, running).
    New,
    /// A copy of a call that is running: drop it.
    Running,
    /// A copy of a finished call: answer it with these bytes, the original's outcome.
    Done(Arc<[u8]>),
    /// A copy of a call cancelled before it started: drop it, unanswered.
    Cancelled,
    /// Refuse it without executing it.
    Refused(Refusal),
}

/// Why a `Call` is refused without being executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Not in the window and at or below its floor: a call evicted from the window.
    Evicted { floor: u64 },
    /// A copy of a finished call whose outcome the window let go.
    Forgotten,
    /// The seq belongs to another call (other target, method or arguments).
    Reused,
}

enum State {
    Running,
    Done(Arc<[u8]>),
    Forgotten,
    Cancelled,
}

struct Entry {
    fingerprint: u64,
    state: State,
}

pub(super) struct Window<'n> {
    entries: BTreeMap<u64, Entry>,
    /// Seqs in the order they finished: evicted from the front.
    finished: VecDeque<u64>,
    /// Seqs in the order their outcome was kept: let go from the front. May name seqs that
    /// were evicted or let go since; those are skipped.
    kept: VecDeque<u64>,
    floor: Option<u64>,
    /// Entries running.
    running: usize,
    /// Outcome bytes this window holds.
    bytes: usize,
    /// Outcome bytes every window of the server holds.
    node_bytes: &'n AtomicUsize,
    limits: Limits,
}

impl<'n> Window<'n> {
    pub fn new(limits: Limits, node_bytes: &'n AtomicUsize) -> Window<'n> {
        Window {
            entries: BTreeMap::new(),
            finished: VecDeque::new(),
            kept: VecDeque::new(),
            floor: None,
            running: 0,
            bytes: 0,
            node_bytes,
            limits,
        }
    }

    /// What to do with a `Call` for `seq` whose target, method and arguments hash to
    /// `fingerprint` (see [`fingerprint`]).
    pub fn admit(&mut self, seq: u64, fingerprint: u64) -> Admission {
        let Some(entry) = self.entries.get(&seq) else {
            if let Some(floor) = self.floor.filter(|floor| seq <= *floor) {
                return Admission::Refused(Refusal::Evicted { floor });
            }
            let state = State::Running;
            self.entries.insert(seq, Entry { fingerprint, state });
            self.running += 1;
            return Admission::New;
        };
        #[cfg(madsim)]
        if crate::plant::active(crate::plant::Plant::DoubleExecute) {
            self.run_again(seq);
            return Admission::New;
        }
        if entry.fingerprint != fingerprint {
            return Admission::Refused(Refusal::Reused);
        }
        match &entry.state {
            State::Running => Admission::Running,
            State::Done(outcome) => Admission::Done(Arc::clone(outcome)),
            State::Forgotten => Admission::Refused(Refusal::Forgotten),
            State::Cancelled => Admission::Cancelled,
        }
    }

    /// Whether `seq` is running: admitted and not finished.
    pub fn is_running(&self, seq: u64) -> bool {
        let entry = self.entries.get(&seq);
        entry.is_some_and(|entry| matches!(entry.state, State::Running))
    }

    /// The call `seq` finished with `outcome`: kept for its copies, within the limits.
    pub fn finish(&mut self, seq: u64, outcome: &Arc<[u8]>) {
        if !self.end(seq, State::Done(Arc::clone(outcome))) {
            return;
        }
        self.hold(outcome.len());
        self.kept.push_back(seq);
        self.let_go();
        self.evict();
    }

    /// The call `seq` was cancelled before it started: its copies get no answer either.
    pub fn cancel(&mut self, seq: u64) {
        if self.end(seq, State::Cancelled) {
            self.evict();
        }
    }

    /// The outcome kept for `seq` is replaced by `outcome` (it could not be sent).
    pub fn replace(&mut self, seq: u64, outcome: &Arc<[u8]>) {
        let Some(entry) = self.entries.get_mut(&seq) else {
            return;
        };
        let State::Done(kept) = &mut entry.state else {
            return;
        };
        let released = kept.len();
        *kept = Arc::clone(outcome);
        self.release(released);
        self.hold(outcome.len());
        self.let_go();
    }

    /// Moves the running entry `seq` to `state`, at the back of the eviction order; false if
    /// `seq` was not running.
    fn end(&mut self, seq: u64, state: State) -> bool {
        let Some(entry) = self.entries.get_mut(&seq) else {
            return false;
        };
        if !matches!(entry.state, State::Running) {
            return false;
        }
        entry.state = state;
        self.running -= 1;
        self.finished.push_back(seq);
        true
    }

    fn hold(&mut self, bytes: usize) {
        self.bytes += bytes;
        self.node_bytes.fetch_add(bytes, Ordering::SeqCst);
    }

    fn release(&mut self, bytes: usize) {
        self.bytes -= bytes;
        self.node_bytes.fetch_sub(bytes, Ordering::SeqCst);
    }

    fn over_bytes(&self) -> bool {
        let node = self.node_bytes.load(Ordering::SeqCst);
        self.bytes > self.limits.bytes_max || node > self.limits.node_bytes_max
    }

    /// Lets go of the outcomes kept first while this window, or the server's windows together,
    /// hold more bytes than allowed. Their entries stay: a copy is refused, not run again.
    fn let_go(&mut self) {
        while self.over_bytes() {
            let Some(seq) = self.kept.pop_front() else {
                return;
            };
            let Some(entry) = self.entries.get_mut(&seq) else {
                continue;
            };
            let State::Done(outcome) = &entry.state else {
                continue;
            };
            let released = outcome.len();
            entry.state = State::Forgotten;
            self.release(released);
        }
    }

    /// Evicts the entries that finished first while the window holds too many finished ones,
    /// raising the floor to each evicted seq.
    fn evict(&mut self) {
        while self.entries.len() - self.running > self.limits.entries_max {
            let Some(seq) = self.finished.pop_front() else {
                return;
            };
            let Some(entry) = self.entries.get(&seq) else {
                continue;
            };
            if matches!(entry.state, State::Running) {
                // Admitted again since (a planted bug): it finishes again later.
                continue;
            }
            if let Some(Entry {
                state: State::Done(outcome),
                ..
            }) = self.entries.remove(&seq)
            {
                self.release(outcome.len());
            }
            self.floor = Some(self.floor.map_or(seq, |floor| floor.max(seq)));
        }
    }

    /// Planted bug: `seq`, known, runs again.
    #[cfg(madsim)]
    fn run_again(&mut self, seq: u64) {
        let Some(entry) = self.entries.get_mut(&seq) else {
            return;
        };
        let previous = std::mem::replace(&mut entry.state, State::Running);
        match previous {
            State::Running => return,
            State::Done(outcome) => self.release(outcome.len()),
            State::Forgotten | State::Cancelled => {}
        }
        self.running += 1;
    }

    /// Outcome bytes this window holds.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Window<'_> {
    fn drop(&mut self) {
        self.node_bytes.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

/// What identifies a call beyond its seq: its target, method and arguments (not its deadline,
/// which a resent copy may carry anew). A fixed hasher: the same call hashes alike in every
/// process.
pub(super) fn fingerprint(target: &str, method: &str, args: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    (target, method, args).hash(&mut hasher);
    hasher.finish()
}

/// The fingerprint of a `Call` frame that does not decode: its bytes.
pub(super) fn fingerprint_bytes(frame: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    ("malformed", frame).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries_max: usize, bytes_max: usize, node_bytes_max: usize) -> Limits {
        Limits {
            entries_max,
            bytes_max,
            node_bytes_max,
        }
    }

    fn outcome(len: usize) -> Arc<[u8]> {
        Arc::from(vec![7; len])
    }

    /// Admits and finishes `seq` with an outcome of `len` bytes.
    fn run(window: &mut Window<'_>, seq: u64, len: usize) -> Arc<[u8]> {
        assert!(matches!(window.admit(seq, 0), Admission::New));
        let outcome = outcome(len);
        window.finish(seq, &outcome);
        outcome
    }

    #[test]
    fn bytes_stay_within_the_window_and_the_node() {
        let node = AtomicUsize::new(0);
        let mut one = Window::new(limits(100, 250, 400), &node);
        for seq in 0..10 {
            run(&mut one, seq, 100);
            assert!(one.bytes() <= 250, "{}", one.bytes());
        }
        assert_eq!(one.bytes(), 200);
        // The oldest outcomes were let go: their copies are refused, the newest answered.
        assert!(matches!(
            one.admit(0, 0),
            Admission::Refused(Refusal::Forgotten)
        ));
        assert!(matches!(one.admit(9, 0), Admission::Done(_)));
        let mut two = Window::new(limits(100, 250, 400), &node);
        for seq in 0..10 {
            run(&mut two, seq, 100);
            assert!(node.load(Ordering::SeqCst) <= 400);
        }
        assert_eq!(one.bytes() + two.bytes(), node.load(Ordering::SeqCst));
        drop(one);
        drop(two);
        assert_eq!(node.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_outcome_over_the_window_is_not_kept() {
        let node = AtomicUsize::new(0);
        let mut window = Window::new(limits(100, 50, 400), &node);
        run(&mut window, 1, 51);
        assert_eq!(window.bytes(), 0);
        assert!(matches!(
            window.admit(1, 0),
            Admission::Refused(Refusal::Forgotten)
        ));
    }

    #[test]
    fn eviction_follows_finishing_order_and_raises_the_floor() {
        let node = AtomicUsize::new(0);
        let mut window = Window::new(limits(2, 1000, 1000), &node);
        for seq in [10, 5, 7] {
            run(&mut window, seq, 1);
        }
        assert!(matches!(window.admit(5, 0), Admission::Done(_)));
        assert!(matches!(window.admit(7, 0), Admission::Done(_)));
        for seq in [10, 9, 0] {
            let admitted = window.admit(seq, 0);
            let Admission::Refused(Refusal::Evicted { floor: 10 }) = admitted else {
                panic!("{seq}: expected a refusal below the floor, got {admitted:?}");
            };
        }
        // A running call does not count: 5 and 7 stay.
        assert!(matches!(window.admit(11, 0), Admission::New));
        assert_eq!(window.bytes(), 2);
    }

    #[test]
    fn running_calls_are_never_evicted() {
        let node = AtomicUsize::new(0);
        let mut window = Window::new(limits(1, 1000, 1000), &node);
        assert!(matches!(window.admit(1, 0), Admission::New));
        run(&mut window, 2, 1);
        run(&mut window, 3, 1);
        assert!(matches!(window.admit(1, 0), Admission::Running));
        assert!(matches!(window.admit(3, 0), Admission::Done(_)));
        assert!(matches!(
            window.admit(2, 0),
            Admission::Refused(Refusal::Evicted { floor: 2 })
        ));
        // 1 is below the floor, and known: its copies are still dropped, its outcome kept.
        let outcome = outcome(4);
        window.finish(1, &outcome);
        assert!(matches!(window.admit(1, 0), Admission::Done(_)));
    }

    #[test]
    fn cancelled_calls_and_reused_seqs() {
        let node = AtomicUsize::new(0);
        let mut window = Window::new(limits(10, 1000, 1000), &node);
        assert!(matches!(window.admit(1, 0), Admission::New));
        window.cancel(1);
        assert!(matches!(window.admit(1, 0), Admission::Cancelled));
        run(&mut window, 2, 3);
        assert!(matches!(
            window.admit(2, 99),
            Admission::Refused(Refusal::Reused)
        ));
        let replacement = outcome(5);
        window.replace(2, &replacement);
        let Admission::Done(kept) = window.admit(2, 0) else {
            panic!("2 is done");
        };
        assert_eq!(kept, replacement);
        assert_eq!(window.bytes(), 5);
    }

    #[test]
    fn fingerprints_tell_calls_apart() {
        let call = fingerprint("kv", "bump", b"a");
        assert_eq!(call, fingerprint("kv", "bump", b"a"));
        assert_ne!(call, fingerprint("kv", "bump", b"b"));
        assert_ne!(call, fingerprint("kv", "bumpa", b""));
        assert_ne!(call, fingerprint("calc", "bump", b"a"));
    }

    #[test]
    fn an_outcome_filling_the_window_or_the_node_exactly_is_kept() {
        let node = AtomicUsize::new(0);
        let mut window = Window::new(limits(100, 50, 400), &node);
        run(&mut window, 1, 50);
        assert_eq!(window.bytes(), 50);
        assert!(matches!(window.admit(1, 0), Admission::Done(_)));
        let other = AtomicUsize::new(0);
        let mut window = Window::new(limits(100, 400, 50), &other);
        run(&mut window, 1, 50);
        assert_eq!(other.load(Ordering::SeqCst), 50);
        assert!(matches!(window.admit(1, 0), Admission::Done(_)));
    }

    /// Running: admitted, and neither finished nor cancelled. A seq never seen is not.
    #[test]
    fn only_admitted_calls_not_yet_ended_are_running() {
        let node = AtomicUsize::new(0);
        let mut window = Window::new(limits(10, 1000, 1000), &node);
        assert!(!window.is_running(1));
        assert!(matches!(window.admit(1, 0), Admission::New));
        assert!(window.is_running(1));
        window.finish(1, &outcome(1));
        assert!(!window.is_running(1));
        assert!(matches!(window.admit(2, 0), Admission::New));
        window.cancel(2);
        assert!(!window.is_running(2));
    }
}
