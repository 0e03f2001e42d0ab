//! The checkers: pure functions of a run's trace that judge what the run did.
//!
//! [`check`] reads only [`Trace`] and returns every [`Violation`] it proves, each pointing at
//! the event that proves it, sorted by event index then kind. No checker panics on a trace,
//! however malformed: a trace the simulator should never write is itself reported (a call that
//! ends without starting, an id started twice) rather than trusted.
//!
//! [`tally`] counts what a run did (calls, outcomes, faults injected) for the explore summary.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::trace::{Dir, DropCause, Event, EventKind, Expected, Fate, FrameInfo, Outcome, Trace};

/// The property a [`Violation`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViolationKind {
    /// A caller received the outcome that belongs to another call.
    Correlation,
    /// A call (or a client's RPC `seq`) ended other than exactly once.
    OneOutcome,
    /// A failure arrived with another reason, code or message than raised, or a result was
    /// altered.
    Fidelity,
    /// An effect happened, or a server executed one call, more than once.
    AtMostOnce,
    /// A node still held pending client entries or running server calls at quiescence.
    Leak,
    /// A call started in the liveness window did not succeed in time.
    Liveness,
    /// A call was sent across a link whose contract does not hold.
    Contract,
    /// A read through one instance missed a write made through another instance sharing its
    /// state (the diamond), read a value no write made, or read a value overwritten since.
    SharedState,
}

impl ViolationKind {
    /// Every kind, in order.
    pub const ALL: [ViolationKind; 8] = [
        ViolationKind::Correlation,
        ViolationKind::OneOutcome,
        ViolationKind::Fidelity,
        ViolationKind::AtMostOnce,
        ViolationKind::Leak,
        ViolationKind::Liveness,
        ViolationKind::Contract,
        ViolationKind::SharedState,
    ];

    /// The stable name, as reports and command lines write it.
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::Correlation => "correlation",
            ViolationKind::OneOutcome => "one-outcome",
            ViolationKind::Fidelity => "failure-fidelity",
            ViolationKind::AtMostOnce => "at-most-once",
            ViolationKind::Leak => "no-leak",
            ViolationKind::Liveness => "liveness",
            ViolationKind::Contract => "contract",
            ViolationKind::SharedState => "shared-state",
        }
    }

    /// The kind whose [`ViolationKind::name`] is `name`.
    pub fn from_name(name: &str) -> Option<ViolationKind> {
        ViolationKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken property, proven by one event of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The property broken.
    pub kind: ViolationKind,
    /// Index into `trace.events` of the event that proves it.
    pub event: usize,
    /// What was expected and what happened, naming the node and the call id, seq or conn.
    pub message: String,
}

impl Violation {
    fn new(kind: ViolationKind, event: usize, message: String) -> Violation {
        Violation {
            kind,
            event,
            message,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at event {}: {}", self.kind, self.event, self.message)
    }
}

/// The time limits the checkers judge by, from the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// How long after `Healed` calls may still suffer from past faults (retries, reconnects,
    /// timeouts running out): calls starting earlier are not judged for liveness.
    pub settle_us: u64,
    /// How long a call in the liveness window may take to end with a non-fault outcome.
    pub liveness_us: u64,
}

/// Every violation the trace proves, sorted by event index then kind.
pub fn check(trace: &Trace, params: &Params) -> Vec<Violation> {
    let calls = Calls::collect(trace);
    let mut violations = check_outcomes(&calls);
    violations.extend(check_one_outcome(trace, &calls));
    violations.extend(check_rpc_ends(trace));
    violations.extend(check_at_most_once(trace));
    violations.extend(check_leaks(trace));
    violations.extend(check_liveness(trace, &calls, params));
    violations.extend(check_contracts(trace));
    violations.extend(check_shared_state(trace, &calls));
    violations.sort_by_key(|violation| (violation.event, violation.kind));
    violations
}

/// The event violations about the end of the run point at: the last `RunEnd`, else the last
/// event.
fn final_event(trace: &Trace) -> usize {
    let last = trace.events.len().saturating_sub(1);
    let run_end = trace
        .events
        .iter()
        .rposition(|event| matches!(event.kind, EventKind::RunEnd));
    run_end.unwrap_or(last)
}

// ---- the workload's calls, indexed once for checkers 1, 2, 3 and 6 ----

/// One `CallEnd` of a call.
struct End<'t> {
    index: usize,
    t_us: u64,
    outcome: &'t Outcome,
}

/// One workload call: its `CallStart` and the `CallEnd`s that followed it.
struct Call<'t> {
    start: usize,
    t_us: u64,
    node: &'t str,
    op: &'t str,
    expected: &'t Expected,
    ends: Vec<End<'t>>,
}

/// A `CallStart` or `CallEnd` the simulator should never write: an end of an id not started
/// before it, or a start of an id already started.
struct Stray<'t> {
    index: usize,
    id: u64,
    node: &'t str,
    what: String,
}

/// The workload's calls, by id.
struct Calls<'t> {
    by_id: BTreeMap<u64, Call<'t>>,
    /// Each outcome some call expects exactly, and the ids of the calls expecting it.
    exact: BTreeMap<&'t Outcome, BTreeSet<u64>>,
    strays: Vec<Stray<'t>>,
}

impl<'t> Calls<'t> {
    fn collect(trace: &'t Trace) -> Calls<'t> {
        let mut calls = Calls {
            by_id: BTreeMap::new(),
            exact: BTreeMap::new(),
            strays: Vec::new(),
        };
        for (index, event) in trace.events.iter().enumerate() {
            match &event.kind {
                EventKind::CallStart { id, op, expected } => {
                    calls.record_start(index, event, *id, op, expected);
                }
                EventKind::CallEnd { id, outcome } => calls.record_end(index, event, *id, outcome),
                _ => {}
            }
        }
        calls
    }

    fn record_start(
        &mut self,
        index: usize,
        event: &'t Event,
        id: u64,
        op: &'t str,
        expected: &'t Expected,
    ) {
        if let Expected::Exactly(outcome) = expected {
            self.exact.entry(outcome).or_default().insert(id);
        }
        if let Some(first) = self.by_id.get(&id) {
            let what = format!(
                "started again (op {op}); its first start is event {}",
                first.start
            );
            self.strays.push(Stray {
                index,
                id,
                node: &event.node,
                what,
            });
            return;
        }
        let call = Call {
            start: index,
            t_us: event.t_us,
            node: &event.node,
            op,
            expected,
            ends: Vec::new(),
        };
        self.by_id.insert(id, call);
    }

    fn record_end(&mut self, index: usize, event: &'t Event, id: u64, outcome: &'t Outcome) {
        let Some(call) = self.by_id.get_mut(&id) else {
            self.strays.push(Stray {
                index,
                id,
                node: &event.node,
                what: format!("ended with {outcome} but never started"),
            });
            return;
        };
        call.ends.push(End {
            index,
            t_us: event.t_us,
            outcome,
        });
    }
}

// ---- 1 correlation and 3 failure fidelity ----

/// Checkers 1 and 3: every non-fault outcome a call did not expect is either another call's
/// (correlation) or an altered one (fidelity).
fn check_outcomes(calls: &Calls) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (id, call) in &calls.by_id {
        for end in &call.ends {
            violations.extend(judge_outcome(calls, *id, call, end));
        }
    }
    violations
}

fn judge_outcome(calls: &Calls, id: u64, call: &Call, end: &End) -> Option<Violation> {
    let outcome = end.outcome;
    if outcome.is_fault() || call.expected.admits(outcome) {
        return None;
    }
    let (node, expected) = (call.node, call.expected);
    let owner = calls
        .exact
        .get(outcome)
        .filter(|_| is_distinctive(outcome))
        .and_then(|ids| ids.iter().find(|other| **other != id));
    let Some(owner) = owner else {
        let message = format!(
            "call {id} on {node} (op {}) expected {expected} but ended with {outcome}",
            call.op
        );
        return Some(Violation::new(ViolationKind::Fidelity, end.index, message));
    };
    let message = format!(
        "call {id} on {node} (op {}) expected {expected} but ended with {outcome}, \
         the outcome call {owner} expects",
        call.op
    );
    Some(Violation::new(
        ViolationKind::Correlation,
        end.index,
        message,
    ))
}

/// Whether an outcome carries enough of its call to name the call it belongs to: results and
/// domain failures do; a bare `out-of-fuel` or a trap could have been raised by any call that
/// ran out of fuel or trapped, so receiving one is an altered outcome, not another call's.
fn is_distinctive(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Ok(_) | Outcome::Domain { .. })
}

// ---- 2 one outcome per call, one end per RPC ----

/// Checker 2 for workload calls: each `CallStart` has exactly one `CallEnd`. A call whose node
/// crashed after it started may lack its end (the caller is gone); it may never have two.
fn check_one_outcome(trace: &Trace, calls: &Calls) -> Vec<Violation> {
    let final_index = final_event(trace);
    let crashes = crash_indices(trace);
    let mut violations = Vec::new();
    for (id, call) in &calls.by_id {
        let (node, op) = (call.node, call.op);
        let (event, message) = match call.ends.as_slice() {
            [] if crashed_after(&crashes, node, call.start) => continue,
            [_] => continue,
            [] => {
                let message = format!(
                    "call {id} on {node} (op {op}, started at event {}) expected one outcome, \
                     got none",
                    call.start
                );
                (final_index, message)
            }
            [first, second, ..] => {
                let message = format!(
                    "call {id} on {node} (op {op}) expected one outcome, got {} then {}",
                    first.outcome, second.outcome
                );
                (second.index, message)
            }
        };
        violations.push(Violation::new(ViolationKind::OneOutcome, event, message));
    }
    violations.extend(calls.strays.iter().map(|stray| {
        let (id, node) = (stray.id, stray.node);
        let message = format!("call {id} on {node} {}", stray.what);
        Violation::new(ViolationKind::OneOutcome, stray.index, message)
    }));
    violations
}

/// The indices of each node's `NodeCrash` events, in order.
fn crash_indices(trace: &Trace) -> BTreeMap<&str, Vec<usize>> {
    let mut crashes: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, event) in trace.events.iter().enumerate() {
        if matches!(event.kind, EventKind::NodeCrash) {
            crashes.entry(&event.node).or_default().push(index);
        }
    }
    crashes
}

fn crashed_after(crashes: &BTreeMap<&str, Vec<usize>>, node: &str, index: usize) -> bool {
    crashes
        .get(node)
        .is_some_and(|indices| indices.iter().any(|crash| *crash > index))
}

/// A client's call: (calling node, peer, seq).
type RpcKey<'t> = (&'t str, &'t str, u64);

/// Checker 2 for the client's calls: per (node, peer, seq), `RpcEnd`s never outnumber the
/// `RpcSent`s so far and equal them at the end. A `seq` may be sent again after a reconnect,
/// so this counts; a crash of the node forgets its calls.
fn check_rpc_ends(trace: &Trace) -> Vec<Violation> {
    let mut open: BTreeMap<RpcKey, u64> = BTreeMap::new();
    let mut violations = Vec::new();
    for (index, event) in trace.events.iter().enumerate() {
        let node = &*event.node;
        match &event.kind {
            EventKind::RpcSent { peer, seq, .. } => {
                *open.entry((node, peer, *seq)).or_default() += 1;
            }
            EventKind::RpcEnd { peer, seq, end } => {
                if close_rpc(&mut open, (node, peer, *seq)) {
                    continue;
                }
                let message = format!(
                    "{node}'s call seq={seq} to {peer} ended ({end}) with no call of that seq \
                     awaiting an outcome; expected at most one end per send"
                );
                violations.push(Violation::new(ViolationKind::OneOutcome, index, message));
            }
            EventKind::NodeCrash => open.retain(|key, _| key.0 != node),
            _ => {}
        }
    }
    let final_index = final_event(trace);
    violations.extend(open.iter().map(|((node, peer, seq), count)| {
        let message =
            format!("{node}'s call seq={seq} to {peer}: {count} sent without an end; expected one");
        Violation::new(ViolationKind::OneOutcome, final_index, message)
    }));
    violations
}

/// Ends one open send of `key`; false if none was open.
fn close_rpc<'t>(open: &mut BTreeMap<RpcKey<'t>, u64>, key: RpcKey<'t>) -> bool {
    let Some(count) = open.get_mut(&key) else {
        return false;
    };
    *count = count.saturating_sub(1);
    if *count == 0 {
        open.remove(&key);
    }
    true
}

// ---- 4 at most once ----

/// A server's call: (serving node, conn, seq).
type ExecKey<'t> = (&'t str, u64, u64);

/// Checker 4: no effect counted more than once; no (node, conn, seq) executed twice since the
/// node last crashed.
fn check_at_most_once(trace: &Trace) -> Vec<Violation> {
    let mut executed: BTreeMap<ExecKey, usize> = BTreeMap::new();
    let mut violations = Vec::new();
    for (index, event) in trace.events.iter().enumerate() {
        let node = &*event.node;
        match &event.kind {
            EventKind::Effect { key, count } if *count > 1 => {
                let message = format!(
                    "effect {key:?} on {node} happened {count} times; expected at most once"
                );
                violations.push(Violation::new(ViolationKind::AtMostOnce, index, message));
            }
            EventKind::Exec { conn, seq, .. } => {
                let Some(first) = executed.get(&(node, *conn, *seq)) else {
                    executed.insert((node, *conn, *seq), index);
                    continue;
                };
                let message = format!(
                    "{node} executed conn={conn} seq={seq} again (first at event {first}); \
                     expected at most once"
                );
                violations.push(Violation::new(ViolationKind::AtMostOnce, index, message));
            }
            EventKind::NodeCrash => executed.retain(|key, _| key.0 != node),
            _ => {}
        }
    }
    violations
}

// ---- 5 no leak ----

/// Checker 5: at quiescence no node holds a pending client entry or a running server call.
fn check_leaks(trace: &Trace) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (index, event) in trace.events.iter().enumerate() {
        let EventKind::Quiesce {
            pending,
            calls_running,
            ..
        } = event.kind
        else {
            continue;
        };
        if pending == 0 && calls_running == 0 {
            continue;
        }
        let message = format!(
            "{} holds pending={pending} calls_running={calls_running} after every call ended; \
             expected 0 and 0",
            event.node
        );
        violations.push(Violation::new(ViolationKind::Leak, index, message));
    }
    violations
}

// ---- 6 liveness ----

/// Checker 6: once faults healed and `settle_us` passed, every call that starts ends within
/// `liveness_us` with a non-fault outcome. Skipped if the run never healed.
fn check_liveness(trace: &Trace, calls: &Calls, params: &Params) -> Vec<Violation> {
    let healed = trace
        .events
        .iter()
        .find(|event| matches!(event.kind, EventKind::Healed));
    let Some(healed) = healed else {
        return Vec::new();
    };
    let window_us = healed.t_us.saturating_add(params.settle_us);
    let final_index = final_event(trace);
    calls
        .by_id
        .iter()
        .filter(|(_, call)| call.t_us >= window_us)
        .filter_map(|(id, call)| judge_liveness(*id, call, params.liveness_us, final_index))
        .collect()
}

fn judge_liveness(id: u64, call: &Call, liveness_us: u64, final_index: usize) -> Option<Violation> {
    let (node, start_us) = (call.node, call.t_us);
    let bound_us = start_us.saturating_add(liveness_us);
    let expected = format!("expected a non-fault outcome by {bound_us}us");
    let head = format!(
        "call {id} on {node} (op {}) started at {start_us}us",
        call.op
    );
    let Some(end) = call.ends.first() else {
        let message = format!("{head}, {expected}, never ended");
        return Some(Violation::new(
            ViolationKind::Liveness,
            final_index,
            message,
        ));
    };
    let (outcome, end_us) = (end.outcome, end.t_us);
    if !outcome.is_fault() && end_us <= bound_us {
        return None;
    }
    let message = format!("{head}, {expected}, ended with {outcome} at {end_us}us");
    Some(Violation::new(ViolationKind::Liveness, end.index, message))
}

// ---- 7 contract ----

/// An offer a connection's `Hello` made: (conn, target, interface).
type OfferKey<'t> = (u64, &'t str, &'t str);

/// Checker 7: no call of an interface is sent to a target on a conn whose offer for that
/// interface did not hold; one violation per (conn, target, interface), at its first call.
fn check_contracts(trace: &Trace) -> Vec<Violation> {
    let mut holds: BTreeMap<OfferKey, bool> = BTreeMap::new();
    let mut reported: BTreeSet<OfferKey> = BTreeSet::new();
    let mut violations = Vec::new();
    for (index, event) in trace.events.iter().enumerate() {
        match &event.kind {
            EventKind::Offer {
                conn,
                target,
                interface,
                holds: offer_holds,
            } => {
                holds.insert((*conn, target, interface), *offer_holds);
            }
            EventKind::Send {
                conn,
                dir: Dir::Up,
                frame: FrameInfo::Call { target, method, .. },
                ..
            } => {
                let broken = broken_offers(&holds, *conn, target, method);
                for key in broken.into_iter().filter(|key| reported.insert(*key)) {
                    violations.push(contract_violation(index, event, key, method));
                }
            }
            _ => {}
        }
    }
    violations
}

/// The offers on `conn` for `target` that did not hold and whose interface `method` belongs
/// to (`method` is `"{interface}#{name}"`).
fn broken_offers<'t>(
    holds: &BTreeMap<OfferKey<'t>, bool>,
    conn: u64,
    target: &str,
    method: &str,
) -> Vec<OfferKey<'t>> {
    holds
        .iter()
        .filter(|((offer_conn, offer_target, _), holds)| {
            *offer_conn == conn && *offer_target == target && !**holds
        })
        .filter(|((_, _, interface), _)| {
            method
                .strip_prefix(interface)
                .is_some_and(|name| name.starts_with('#'))
        })
        .map(|(key, _)| *key)
        .collect()
}

fn contract_violation(index: usize, event: &Event, key: OfferKey, method: &str) -> Violation {
    let (conn, target, interface) = key;
    let message = format!(
        "{} sent a call of {target}.{method} on conn={conn}, whose offer of {interface} by \
         {target} does not hold; expected no call across it",
        event.node
    );
    Violation::new(ViolationKind::Contract, index, message)
}

// ---- 8 shared state (the diamond) ----

/// A `put` as the trace shows it.
struct Write<'c, 't> {
    id: u64,
    call: &'c Call<'t>,
    value: &'t str,
}

impl Write<'_, '_> {
    /// The index of its first `ok` end, if it had one.
    fn ok_end(&self) -> Option<usize> {
        let ok = |end: &&End| matches!(end.outcome, Outcome::Ok(_));
        self.call.ends.iter().find(ok).map(|end| end.index)
    }
}

/// Checker 8: a `fetch` from a node's shared store sees the `put`s made there through another
/// instance. Sound under every fault the simulator injects:
/// - a read of `none` is wrong when a write of the key ended `ok` before the read started and
///   the node did not crash between that write's start and the read's end;
/// - a read of `some(v)` is wrong when no write of `v` to the key started before the read
///   ended (the value was never written), or when every such write ended `ok` before another
///   write of the key started, that one ended `ok` before the read started, and the node did
///   not crash in between (the value was overwritten). A write that did not end `ok` may still
///   run late (a delayed frame), so it is never called overwritten.
fn check_shared_state(trace: &Trace, calls: &Calls) -> Vec<Violation> {
    let crashes = crash_indices(trace);
    let crashed_between = |node: &str, after: usize, before: usize| {
        crashes
            .get(node)
            .is_some_and(|indices| indices.iter().any(|i| *i > after && *i < before))
    };
    let mut writes: BTreeMap<(&str, &str), Vec<Write>> = BTreeMap::new();
    for (id, call) in &calls.by_id {
        if let Expected::Write { node, key, value } = call.expected {
            let write = Write {
                id: *id,
                call,
                value,
            };
            writes.entry((node, key)).or_default().push(write);
        }
    }
    let mut violations = Vec::new();
    for (id, call) in &calls.by_id {
        let Expected::Read { node, key } = call.expected else {
            continue;
        };
        let written = writes.get(&(node.as_str(), key.as_str()));
        let written = written.map(Vec::as_slice).unwrap_or_default();
        for end in &call.ends {
            let Outcome::Ok(read) = end.outcome else {
                continue;
            };
            let read_at = (call.start, end.index);
            let wrong = match read.as_str() {
                "none" => missed_write(written, read_at, &crashed_between),
                _ => wrong_value(written, read, read_at, &crashed_between),
            };
            if let Some(why) = wrong {
                let message = format!(
                    "call {id} on {} (op {}) read ok({read}) from {node}, but {why}",
                    call.node, call.op
                );
                violations.push(Violation::new(
                    ViolationKind::SharedState,
                    end.index,
                    message,
                ));
            }
        }
    }
    violations
}

/// A write the read of `none` (started at `read_at.0`, ended at `read_at.1`) must have seen.
fn missed_write(
    written: &[Write],
    (start, end): (usize, usize),
    crashed_between: &dyn Fn(&str, usize, usize) -> bool,
) -> Option<String> {
    written.iter().find_map(|write| {
        let ok = write.ok_end().filter(|ok| *ok < start)?;
        let node = write_node(write)?;
        if crashed_between(node, write.call.start, end) {
            return None;
        }
        Some(format!(
            "call {}'s write of {:?} ended ok at event {ok}, before the read started, and \
             {node} did not crash since; expected some({:?})",
            write.id, write.value, write.value
        ))
    })
}

/// Why a read of `some(..)` is wrong, if it is.
fn wrong_value(
    written: &[Write],
    read: &str,
    (start, end): (usize, usize),
    crashed_between: &dyn Fn(&str, usize, usize) -> bool,
) -> Option<String> {
    let same: Vec<&Write> = written
        .iter()
        .filter(|write| read == format!("some({:?})", write.value))
        .filter(|write| write.call.start < end)
        .collect();
    if same.is_empty() {
        return Some("no write of that value to the key started before the read ended".into());
    }
    let last_same_ok = same
        .iter()
        .map(|write| write.ok_end())
        .try_fold(0, |last, ok| ok.map(|ok| last.max(ok)))?;
    written.iter().find_map(|later| {
        if read == format!("some({:?})", later.value) {
            return None;
        }
        let ok = later.ok_end().filter(|ok| *ok < start)?;
        let node = write_node(later)?;
        let overwrote =
            later.call.start > last_same_ok && !crashed_between(node, later.call.start, end);
        overwrote.then(|| {
            format!(
                "call {} overwrote it with {:?} (started after every write of the value ended ok, \
                 ended ok at event {ok}, before the read started, no crash since)",
                later.id, later.value
            )
        })
    })
}

/// The node whose store a write went to.
fn write_node<'t>(write: &Write<'_, 't>) -> Option<&'t str> {
    match write.call.expected {
        Expected::Write { node, .. } => Some(node),
        _ => None,
    }
}

// ---- the tally ----

/// What a run did, for the explore summary; [`Tally::add`] sums it over many seeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Workload calls started (`CallStart`).
    pub calls: u64,
    /// Workload call ends by [`outcome_kind`].
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Frames handed to the network (`Send`).
    pub frames: u64,
    /// Frames lost to the seed's loss draw (`Drop(Fault)`).
    pub drops: u64,
    /// Frames lost to a cut link (`Drop(Cut)`).
    pub cut_drops: u64,
    /// Frames duplicated (`Duplicate`).
    pub duplicates: u64,
    /// Frame copies that arrived before a frame sent later (`Deliver` with `reordered`).
    pub reorders: u64,
    /// Links cut (`LinkCut`).
    pub partitions: u64,
    /// Nodes crashed (`NodeCrash`).
    pub crashes: u64,
    /// Nodes restarted (`NodeStart` with generation above 0).
    pub restarts: u64,
    /// Server calls executed (`Exec`).
    pub execs: u64,
    /// Client calls sent (`RpcSent`).
    pub rpcs: u64,
    /// Virtual time of the run's last event; summed by [`Tally::add`].
    pub virtual_us: u64,
}

impl Tally {
    /// Adds `other`'s counts (and virtual time) to these.
    pub fn add(&mut self, other: &Tally) {
        let sums = [
            (&mut self.calls, other.calls),
            (&mut self.frames, other.frames),
            (&mut self.drops, other.drops),
            (&mut self.cut_drops, other.cut_drops),
            (&mut self.duplicates, other.duplicates),
            (&mut self.reorders, other.reorders),
            (&mut self.partitions, other.partitions),
            (&mut self.crashes, other.crashes),
            (&mut self.restarts, other.restarts),
            (&mut self.execs, other.execs),
            (&mut self.rpcs, other.rpcs),
            (&mut self.virtual_us, other.virtual_us),
        ];
        for (sum, count) in sums {
            *sum = sum.saturating_add(count);
        }
        for (kind, count) in &other.outcomes {
            let sum = self.outcomes.entry(kind).or_default();
            *sum = sum.saturating_add(*count);
        }
    }

    fn count(&mut self, kind: &EventKind) {
        match kind {
            EventKind::CallStart { .. } => self.calls += 1,
            EventKind::CallEnd { outcome, .. } => {
                *self.outcomes.entry(outcome_kind(outcome)).or_default() += 1;
            }
            EventKind::Send { fate, .. } => {
                self.frames += 1;
                self.count_fate(fate);
            }
            EventKind::Deliver {
                reordered: true, ..
            } => self.reorders += 1,
            EventKind::LinkCut { .. } => self.partitions += 1,
            EventKind::NodeCrash => self.crashes += 1,
            EventKind::NodeStart { generation, .. } if *generation > 0 => self.restarts += 1,
            EventKind::Exec { .. } => self.execs += 1,
            EventKind::RpcSent { .. } => self.rpcs += 1,
            _ => {}
        }
    }

    fn count_fate(&mut self, fate: &Fate) {
        match fate {
            Fate::Drop(DropCause::Fault) => self.drops += 1,
            Fate::Drop(DropCause::Cut) => self.cut_drops += 1,
            Fate::Duplicate { .. } => self.duplicates += 1,
            Fate::Drop(DropCause::Closed) | Fate::Deliver { .. } => {}
        }
    }
}

/// Counts what one run did.
pub fn tally(trace: &Trace) -> Tally {
    let mut tally = Tally::default();
    for event in &trace.events {
        tally.count(&event.kind);
    }
    tally.virtual_us = trace.events.last().map_or(0, |event| event.t_us);
    tally
}

/// Every name [`outcome_kind`] gives, so that a name read back from a report file maps to the
/// same `&'static str` the tally keys outcomes by.
pub const OUTCOME_KINDS: [&str; 11] = [
    "ok",
    "domain",
    "out-of-fuel",
    "out-of-memory",
    "trapped",
    "failed",
    "unavailable",
    "deadline-exceeded",
    "timeout",
    "disconnected",
    "contract",
];

/// The [`OUTCOME_KINDS`] entry named `name`.
pub fn outcome_kind_named(name: &str) -> Option<&'static str> {
    OUTCOME_KINDS.into_iter().find(|kind| *kind == name)
}

/// The outcome's kind, as [`Tally::outcomes`] keys it: `"ok"`, `"domain"`, `"out-of-fuel"`,
/// `"out-of-memory"`, `"trapped"`, `"failed"`, `"unavailable"`, `"deadline-exceeded"`,
/// `"timeout"`, `"disconnected"` or `"contract"`.
pub fn outcome_kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Ok(_) => "ok",
        Outcome::Domain { .. } => "domain",
        Outcome::OutOfFuel => "out-of-fuel",
        Outcome::OutOfMemory => "out-of-memory",
        Outcome::Trapped(_) => "trapped",
        Outcome::Failed(_) => "failed",
        Outcome::Unavailable(_) => "unavailable",
        Outcome::DeadlineExceeded => "deadline-exceeded",
        Outcome::Timeout => "timeout",
        Outcome::Disconnected => "disconnected",
        Outcome::Contract(_) => "contract",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{RpcEnd, SIM};

    #[test]
    fn outcome_kinds_lists_every_kind() {
        let outcomes = [
            Outcome::Ok("1".into()),
            Outcome::Domain {
                code: 1,
                message: "m".into(),
            },
            Outcome::OutOfFuel,
            Outcome::OutOfMemory,
            Outcome::Trapped("t".into()),
            Outcome::Failed("f".into()),
            Outcome::Unavailable("u".into()),
            Outcome::DeadlineExceeded,
            Outcome::Timeout,
            Outcome::Disconnected,
            Outcome::Contract("c".into()),
        ];
        let kinds: Vec<&str> = outcomes.iter().map(outcome_kind).collect();
        assert_eq!(kinds, OUTCOME_KINDS);
        assert_eq!(outcome_kind_named("timeout"), Some("timeout"));
        assert_eq!(outcome_kind_named("lost"), None);
    }

    const PARAMS: Params = Params {
        settle_us: 1_000,
        liveness_us: 5_000,
    };

    /// The interface every test call belongs to.
    const CALC: &str = "exorun:apps/calc@0.1.0";

    /// The one helper every checker test goes through: the (kind, event) of each violation.
    fn check_case(events: Vec<Event>, expected: &[(ViolationKind, usize)]) {
        let violations = check(&Trace { events }, &PARAMS);
        let found: Vec<(ViolationKind, usize)> = violations
            .iter()
            .map(|violation| (violation.kind, violation.event))
            .collect();
        assert_eq!(found, expected, "violations: {violations:#?}");
    }

    fn at(t_us: u64, node: &str, kind: EventKind) -> Event {
        Event {
            t_us,
            node: node.into(),
            kind,
        }
    }

    fn ok(value: &str) -> Outcome {
        Outcome::Ok(value.to_owned())
    }

    fn domain(code: u32, message: &str) -> Outcome {
        Outcome::Domain {
            code,
            message: message.to_owned(),
        }
    }

    fn exactly(outcome: Outcome) -> Expected {
        Expected::Exactly(outcome)
    }

    fn call_start(t_us: u64, id: u64, expected: Expected) -> Event {
        let op = format!("op-{id}");
        at(t_us, "front", EventKind::CallStart { id, op, expected })
    }

    fn call_end(t_us: u64, id: u64, outcome: Outcome) -> Event {
        at(t_us, "front", EventKind::CallEnd { id, outcome })
    }

    fn run_end(t_us: u64) -> Event {
        at(t_us, SIM, EventKind::RunEnd)
    }

    fn healed(t_us: u64) -> Event {
        at(t_us, SIM, EventKind::Healed)
    }

    fn crash(t_us: u64, node: &str) -> Event {
        at(t_us, node, EventKind::NodeCrash)
    }

    fn node_start(t_us: u64, node: &str, generation: u32) -> Event {
        let apps = vec![format!("{node}={node}-app")];
        at(t_us, node, EventKind::NodeStart { generation, apps })
    }

    fn conn_open(t_us: u64, conn: u64) -> Event {
        let server = "calc".to_owned();
        at(t_us, "front", EventKind::ConnOpen { conn, server })
    }

    fn conn_close(t_us: u64, conn: u64) -> Event {
        let why = "hung up".to_owned();
        at(t_us, "front", EventKind::ConnClose { conn, why })
    }

    fn offer(t_us: u64, conn: u64, target: &str, interface: &str, holds: bool) -> Event {
        let (target, interface) = (target.to_owned(), interface.to_owned());
        let kind = EventKind::Offer {
            conn,
            target,
            interface,
            holds,
        };
        at(t_us, "front", kind)
    }

    fn send(t_us: u64, node: &str, conn: u64, dir: Dir, frame: FrameInfo, fate: Fate) -> Event {
        let index = frame.seq().unwrap_or(0);
        let kind = EventKind::Send {
            conn,
            dir,
            index,
            frame,
            bytes: 40,
            fate,
        };
        at(t_us, node, kind)
    }

    fn call_frame(seq: u64, target: &str, method: &str) -> FrameInfo {
        let (target, method) = (target.to_owned(), method.to_owned());
        FrameInfo::Call {
            seq,
            target,
            method,
        }
    }

    fn deliver_fate() -> Fate {
        Fate::Deliver { delay_us: 100 }
    }

    /// `front` sends `Call{seq}` of `calc`'s `add` up `conn`, delivered.
    fn send_call(t_us: u64, conn: u64, seq: u64) -> Event {
        let frame = call_frame(seq, "calc", &format!("{CALC}#add"));
        send(t_us, "front", conn, Dir::Up, frame, deliver_fate())
    }

    fn deliver(t_us: u64, node: &str, conn: u64, dir: Dir, reordered: bool) -> Event {
        let kind = EventKind::Deliver {
            conn,
            dir,
            index: 0,
            copy: 0,
            reordered,
        };
        at(t_us, node, kind)
    }

    fn rpc_sent(t_us: u64, seq: u64) -> Event {
        let (peer, target, method) = ("calc".to_owned(), "calc".to_owned(), "add".to_owned());
        let kind = EventKind::RpcSent {
            peer,
            seq,
            target,
            method,
        };
        at(t_us, "front", kind)
    }

    fn rpc_end(t_us: u64, seq: u64) -> Event {
        let peer = "calc".to_owned();
        let end = RpcEnd::Reply;
        at(t_us, "front", EventKind::RpcEnd { peer, seq, end })
    }

    fn exec(t_us: u64, node: &str, conn: u64, seq: u64) -> Event {
        let (target, method) = ("calc".to_owned(), format!("{CALC}#add"));
        let kind = EventKind::Exec {
            conn,
            seq,
            target,
            method,
        };
        at(t_us, node, kind)
    }

    fn effect(t_us: u64, count: u64) -> Event {
        let key = "charge/alice".to_owned();
        at(t_us, "calc", EventKind::Effect { key, count })
    }

    fn quiesce(t_us: u64, node: &str, pending: u64, calls_running: u64, conns: u64) -> Event {
        let kind = EventKind::Quiesce {
            pending,
            calls_running,
            conns,
        };
        at(t_us, node, kind)
    }

    /// A run with every kind of event and nothing wrong: a call before a partition, the
    /// partition healing, and a call in the liveness window.
    fn clean_run() -> Vec<Event> {
        let cut = EventKind::LinkCut {
            from: "front".into(),
            to: "calc".into(),
            both: true,
        };
        let heal = EventKind::LinkHeal {
            from: "front".into(),
            to: "calc".into(),
            both: true,
        };
        let reply = FrameInfo::Reply { seq: 1 };
        vec![
            at(
                0,
                SIM,
                EventKind::RunStart {
                    scenario: "calc".into(),
                    seed: 7,
                },
            ),
            node_start(0, "front", 0),
            node_start(0, "calc", 0),
            conn_open(10, 1),
            offer(20, 1, "calc", CALC, true),
            call_start(100, 1, exactly(ok("5"))),
            rpc_sent(100, 1),
            send_call(100, 1, 1),
            deliver(200, "calc", 1, Dir::Up, false),
            exec(200, "calc", 1, 1),
            send(210, "calc", 1, Dir::Down, reply, deliver_fate()),
            deliver(310, "front", 1, Dir::Down, false),
            rpc_end(310, 1),
            call_end(310, 1, ok("5")),
            at(1_000, SIM, cut),
            at(5_000, SIM, heal),
            healed(10_000),
            call_start(11_000, 2, Expected::AnyOk),
            rpc_sent(11_000, 2),
            send_call(11_000, 1, 2),
            exec(11_100, "calc", 1, 2),
            rpc_end(11_200, 2),
            call_end(12_000, 2, ok("\"token-alice\"")),
            effect(20_000, 1),
            quiesce(20_000, "front", 0, 0, 1),
            quiesce(20_000, "calc", 0, 0, 1),
            run_end(20_000),
        ]
    }

    #[test]
    fn a_clean_run_has_no_violations() {
        check_case(clean_run(), &[]);
    }

    // ---- correlation ----

    #[test]
    fn correlation_swapped_outcomes_are_reported_at_each_end() {
        let events = vec![
            call_start(0, 1, exactly(ok("5"))),
            call_start(0, 2, exactly(ok("9"))),
            call_end(10, 1, ok("9")),
            call_end(10, 2, ok("5")),
            run_end(20),
        ];
        let expected = [
            (ViolationKind::Correlation, 2),
            (ViolationKind::Correlation, 3),
        ];
        check_case(events, &expected);
    }

    #[test]
    fn correlation_an_any_ok_call_receiving_another_calls_failure() {
        let events = vec![
            call_start(0, 1, Expected::AnyOk),
            call_start(0, 2, exactly(domain(404, "no such key"))),
            call_end(10, 2, domain(404, "no such key")),
            call_end(10, 1, domain(404, "no such key")),
            run_end(20),
        ];
        check_case(events, &[(ViolationKind::Correlation, 3)]);
    }

    #[test]
    fn correlation_near_miss_two_calls_expecting_the_same_outcome() {
        let events = vec![
            call_start(0, 1, exactly(ok("5"))),
            call_start(0, 2, exactly(ok("5"))),
            call_end(10, 2, ok("5")),
            call_end(10, 1, ok("5")),
            run_end(20),
        ];
        check_case(events, &[]);
    }

    #[test]
    fn correlation_near_miss_a_generic_failure_is_an_altered_outcome() {
        let events = vec![
            call_start(0, 1, exactly(ok("8"))),
            call_start(0, 2, exactly(Outcome::OutOfFuel)),
            call_end(10, 1, Outcome::OutOfFuel),
            call_end(10, 2, Outcome::OutOfFuel),
            run_end(20),
        ];
        check_case(events, &[(ViolationKind::Fidelity, 2)]);
    }

    // ---- failure fidelity ----

    #[test]
    fn fidelity_a_failure_with_another_message() {
        let events = vec![
            call_start(0, 1, exactly(domain(404, "no such key"))),
            call_end(10, 1, domain(404, "internal error")),
            run_end(20),
        ];
        check_case(events, &[(ViolationKind::Fidelity, 1)]);
    }

    #[test]
    fn fidelity_a_failure_where_a_result_was_expected() {
        let events = vec![
            call_start(0, 1, exactly(ok("5"))),
            call_start(0, 2, Expected::AnyOk),
            call_end(10, 1, ok("6")),
            call_end(10, 2, Outcome::Failed("bad arguments".into())),
            run_end(20),
        ];
        let expected = [(ViolationKind::Fidelity, 2), (ViolationKind::Fidelity, 3)];
        check_case(events, &expected);
    }

    #[test]
    fn fidelity_near_miss_fault_outcomes_and_any_ok() {
        let events = vec![
            call_start(0, 1, exactly(ok("5"))),
            call_start(0, 2, exactly(Outcome::Trapped("unreachable".into()))),
            call_start(0, 3, Expected::AnyOk),
            call_start(0, 4, exactly(domain(1, "x"))),
            call_end(10, 1, Outcome::Timeout),
            call_end(10, 2, Outcome::Disconnected),
            call_end(10, 3, ok("[1, 2]")),
            call_end(10, 4, Outcome::Unavailable("calc unreachable".into())),
            run_end(20),
        ];
        check_case(events, &[]);
    }

    // ---- one outcome ----

    #[test]
    fn one_outcome_a_call_without_end_is_reported_at_run_end() {
        let events = vec![
            call_start(0, 1, exactly(ok("5"))),
            call_start(0, 2, exactly(ok("6"))),
            call_end(10, 2, ok("6")),
            run_end(20),
            quiesce(20, "front", 0, 0, 0),
        ];
        check_case(events, &[(ViolationKind::OneOutcome, 3)]);
    }

    #[test]
    fn one_outcome_without_run_end_is_reported_at_the_last_event() {
        let events = vec![call_start(0, 1, exactly(ok("5"))), effect(10, 1)];
        check_case(events, &[(ViolationKind::OneOutcome, 1)]);
    }

    #[test]
    fn one_outcome_a_second_end_is_reported_where_it_arrives() {
        let events = vec![
            call_start(0, 1, exactly(ok("5"))),
            call_end(10, 1, ok("5")),
            call_end(11, 1, ok("5")),
            call_end(12, 1, ok("5")),
            run_end(20),
        ];
        check_case(events, &[(ViolationKind::OneOutcome, 2)]);
    }

    #[test]
    fn one_outcome_an_end_without_start_or_a_reused_id() {
        let events = vec![
            call_end(5, 9, ok("5")),
            call_start(10, 1, exactly(ok("5"))),
            call_start(11, 1, exactly(ok("6"))),
            call_end(12, 1, ok("6")),
            run_end(20),
        ];
        // The end is judged against the first start: ok(6) is only call 1's own (second)
        // expectation, so it is an altered result, not another call's.
        let expected = [
            (ViolationKind::OneOutcome, 0),
            (ViolationKind::OneOutcome, 2),
            (ViolationKind::Fidelity, 3),
        ];
        check_case(events, &expected);
    }

    #[test]
    fn one_outcome_near_miss_a_crashed_callers_call_is_exempt() {
        let events = vec![
            call_start(0, 1, exactly(ok("5"))),
            crash(10, "front"),
            node_start(20, "front", 1),
            run_end(30),
        ];
        check_case(events, &[]);
    }

    #[test]
    fn one_outcome_a_crash_elsewhere_or_before_the_start_exempts_nothing() {
        let events = vec![
            crash(5, "front"),
            node_start(6, "front", 1),
            call_start(10, 1, exactly(ok("5"))),
            crash(20, "calc"),
            run_end(30),
        ];
        check_case(events, &[(ViolationKind::OneOutcome, 4)]);
    }

    #[test]
    fn one_outcome_an_rpc_ending_twice() {
        let events = vec![rpc_sent(0, 1), rpc_end(10, 1), rpc_end(11, 1), run_end(20)];
        check_case(events, &[(ViolationKind::OneOutcome, 2)]);
    }

    #[test]
    fn one_outcome_an_rpc_never_ending() {
        let events = vec![rpc_sent(0, 1), rpc_sent(0, 2), rpc_end(10, 2), run_end(20)];
        check_case(events, &[(ViolationKind::OneOutcome, 3)]);
    }

    #[test]
    fn one_outcome_near_miss_a_seq_sent_again_after_a_reconnect() {
        let events = vec![
            conn_open(0, 1),
            rpc_sent(1, 1),
            rpc_end(10, 1),
            conn_close(11, 1),
            conn_open(12, 2),
            rpc_sent(13, 1),
            rpc_end(20, 1),
            run_end(30),
        ];
        check_case(events, &[]);
    }

    #[test]
    fn one_outcome_a_crash_forgets_the_nodes_rpcs() {
        let forgotten = vec![rpc_sent(0, 1), crash(5, "front"), run_end(30)];
        check_case(forgotten, &[]);
        let ended_after_crash = vec![
            rpc_sent(0, 1),
            crash(5, "front"),
            rpc_end(6, 1),
            run_end(30),
        ];
        check_case(ended_after_crash, &[(ViolationKind::OneOutcome, 2)]);
    }

    // ---- at most once ----

    #[test]
    fn at_most_once_an_effect_counted_twice() {
        let events = vec![effect(10, 1), effect(10, 2), run_end(20)];
        check_case(events, &[(ViolationKind::AtMostOnce, 1)]);
    }

    #[test]
    fn at_most_once_a_call_executed_twice() {
        let events = vec![
            exec(10, "calc", 1, 1),
            exec(11, "calc", 1, 2),
            exec(12, "calc", 1, 1),
            run_end(20),
        ];
        check_case(events, &[(ViolationKind::AtMostOnce, 2)]);
    }

    #[test]
    fn at_most_once_near_miss_other_conn_other_node_after_crash_or_suppressed() {
        let dup = EventKind::DupSuppressed { conn: 1, seq: 1 };
        let events = vec![
            exec(10, "calc", 1, 1),
            at(11, "calc", dup),
            exec(12, "calc", 2, 1),
            exec(13, "calc2", 1, 1),
            crash(14, "calc"),
            node_start(15, "calc", 1),
            exec(16, "calc", 1, 1),
            effect(20, 1),
            effect(20, 0),
            run_end(20),
        ];
        check_case(events, &[]);
    }

    // ---- no leak ----

    #[test]
    fn leak_pending_entries_or_running_calls_at_quiescence() {
        let events = vec![
            quiesce(20, "front", 1, 0, 0),
            quiesce(20, "calc", 0, 2, 0),
            run_end(20),
        ];
        let expected = [(ViolationKind::Leak, 0), (ViolationKind::Leak, 1)];
        check_case(events, &expected);
    }

    #[test]
    fn leak_near_miss_open_connections() {
        let events = vec![quiesce(20, "front", 0, 0, 3), run_end(20)];
        check_case(events, &[]);
    }

    // ---- liveness (healed at 10_000: the window opens at 11_000, bound 5_000 per call) ----

    #[test]
    fn liveness_a_fault_outcome_in_the_window() {
        let events = vec![
            healed(10_000),
            call_start(11_000, 1, exactly(ok("5"))),
            call_end(12_000, 1, Outcome::Timeout),
            run_end(20_000),
        ];
        check_case(events, &[(ViolationKind::Liveness, 2)]);
    }

    #[test]
    fn liveness_a_late_success() {
        let events = vec![
            healed(10_000),
            call_start(11_000, 1, exactly(ok("5"))),
            call_end(16_001, 1, ok("5")),
            run_end(20_000),
        ];
        check_case(events, &[(ViolationKind::Liveness, 2)]);
    }

    #[test]
    fn liveness_no_end_is_reported_at_run_end_after_one_outcome() {
        let events = vec![
            healed(10_000),
            call_start(12_000, 1, exactly(ok("5"))),
            run_end(20_000),
        ];
        let expected = [(ViolationKind::OneOutcome, 2), (ViolationKind::Liveness, 2)];
        check_case(events, &expected);
    }

    #[test]
    fn liveness_near_miss_faults_before_the_window_and_success_at_the_bound() {
        let events = vec![
            call_start(9_000, 1, exactly(ok("5"))),
            healed(10_000),
            call_start(10_999, 2, exactly(ok("6"))),
            call_start(11_000, 3, exactly(ok("7"))),
            call_end(12_000, 1, Outcome::Timeout),
            call_end(13_000, 2, Outcome::DeadlineExceeded),
            call_end(16_000, 3, ok("7")),
            run_end(20_000),
        ];
        check_case(events, &[]);
    }

    #[test]
    fn liveness_near_miss_a_run_that_never_healed() {
        let events = vec![
            call_start(11_000, 1, exactly(ok("5"))),
            call_end(30_000, 1, Outcome::Disconnected),
            run_end(40_000),
        ];
        check_case(events, &[]);
    }

    #[test]
    fn liveness_leaves_a_wrong_non_fault_outcome_to_fidelity() {
        let events = vec![
            healed(10_000),
            call_start(11_000, 1, exactly(ok("5"))),
            call_end(12_000, 1, Outcome::OutOfFuel),
            run_end(20_000),
        ];
        check_case(events, &[(ViolationKind::Fidelity, 2)]);
    }

    // ---- contract ----

    #[test]
    fn contract_calls_across_a_failed_offer_once_per_interface() {
        let other = "exorun:apps/kv@0.2.0";
        let get = call_frame(3, "calc", &format!("{other}#get"));
        let events = vec![
            conn_open(0, 1),
            offer(1, 1, "calc", CALC, false),
            offer(1, 1, "calc", other, false),
            send_call(10, 1, 1),
            send_call(11, 1, 2),
            send(12, "front", 1, Dir::Up, get, deliver_fate()),
            run_end(20),
        ];
        let expected = [(ViolationKind::Contract, 3), (ViolationKind::Contract, 5)];
        check_case(events, &expected);
    }

    #[test]
    fn contract_near_miss_holding_offer_other_conn_target_or_interface() {
        let other_target = call_frame(2, "calc2", &format!("{CALC}#add"));
        let longer_name = call_frame(3, "calc", &format!("{CALC}-beta#add"));
        let events = vec![
            offer(1, 1, "calc", CALC, true),
            offer(1, 2, "calc", CALC, false),
            send_call(10, 1, 1),
            send(11, "front", 2, Dir::Up, other_target, deliver_fate()),
            send(12, "front", 2, Dir::Up, longer_name, deliver_fate()),
            send_call(13, 3, 1),
            run_end(20),
        ];
        check_case(events, &[]);
    }

    // ---- reports ----

    #[test]
    fn a_violation_renders_its_kind_event_and_proof() {
        let events = vec![
            call_start(0, 1, exactly(ok("5"))),
            call_start(0, 2, exactly(ok("9"))),
            call_end(10, 1, ok("9")),
        ];
        let violations = check(&Trace { events }, &PARAMS);
        let rendered: Vec<String> = violations.iter().map(ToString::to_string).collect();
        let expected = [
            "correlation at event 2: call 1 on front (op op-1) expected ok(5) but ended with \
             ok(9), the outcome call 2 expects",
            "one-outcome at event 2: call 2 on front (op op-2, started at event 1) expected one \
             outcome, got none",
        ];
        assert_eq!(rendered, expected);
    }

    #[test]
    fn violation_kind_names_round_trip() {
        let names: Vec<String> = ViolationKind::ALL.iter().map(ToString::to_string).collect();
        let expected = [
            "correlation",
            "one-outcome",
            "failure-fidelity",
            "at-most-once",
            "no-leak",
            "liveness",
            "contract",
            "shared-state",
        ];
        assert_eq!(names, expected);
        for kind in ViolationKind::ALL {
            assert_eq!(ViolationKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ViolationKind::from_name("fidelity"), None);
    }

    // ---- tally ----

    fn tally_run() -> Vec<Event> {
        let mut events = clean_run();
        let frame = call_frame(7, "calc", &format!("{CALC}#add"));
        events.extend([
            send(
                400,
                "front",
                1,
                Dir::Up,
                frame.clone(),
                Fate::Drop(DropCause::Fault),
            ),
            send(
                401,
                "front",
                1,
                Dir::Up,
                frame.clone(),
                Fate::Drop(DropCause::Cut),
            ),
            send(
                402,
                "front",
                1,
                Dir::Up,
                frame.clone(),
                Fate::Drop(DropCause::Closed),
            ),
            send(
                403,
                "front",
                1,
                Dir::Up,
                frame,
                Fate::Duplicate {
                    delays_us: vec![1, 2],
                },
            ),
            deliver(404, "calc", 1, Dir::Up, true),
            crash(405, "calc"),
            node_start(406, "calc", 1),
            call_start(407, 3, Expected::AnyOk),
            call_end(408, 3, Outcome::Timeout),
            run_end(25_000),
        ]);
        events
    }

    #[test]
    fn tally_counts_what_a_run_did() {
        let outcomes = BTreeMap::from([("ok", 2), ("timeout", 1)]);
        let expected = Tally {
            calls: 3,
            outcomes,
            frames: 7,
            drops: 1,
            cut_drops: 1,
            duplicates: 1,
            reorders: 1,
            partitions: 1,
            crashes: 1,
            restarts: 1,
            execs: 2,
            rpcs: 2,
            virtual_us: 25_000,
        };
        assert_eq!(
            tally(&Trace {
                events: tally_run()
            }),
            expected
        );
        assert_eq!(tally(&Trace::new()), Tally::default());
    }

    #[test]
    fn tally_add_sums_counts_and_outcomes() {
        let one = tally(&Trace {
            events: tally_run(),
        });
        let two = tally(&Trace {
            events: clean_run(),
        });
        let mut sum = Tally::default();
        sum.add(&one);
        sum.add(&two);
        let outcomes = BTreeMap::from([("ok", 4), ("timeout", 1)]);
        let expected = Tally {
            calls: 5,
            outcomes,
            frames: 10,
            drops: 1,
            cut_drops: 1,
            duplicates: 1,
            reorders: 1,
            partitions: 2,
            crashes: 1,
            restarts: 1,
            execs: 4,
            rpcs: 4,
            virtual_us: 45_000,
        };
        assert_eq!(sum, expected);
    }

    // ---- shared state (the diamond) ----

    fn write(key: &str, value: &str) -> Expected {
        Expected::Write {
            node: "back".into(),
            key: key.into(),
            value: value.into(),
        }
    }

    fn read(key: &str) -> Expected {
        Expected::Read {
            node: "back".into(),
            key: key.into(),
        }
    }

    fn shared(events: Vec<Event>, expected: &[usize]) {
        let mut events = events;
        events.push(run_end(100_000));
        let expected: Vec<(ViolationKind, usize)> = expected
            .iter()
            .map(|index| (ViolationKind::SharedState, *index))
            .collect();
        check_case(events, &expected);
    }

    #[test]
    fn shared_state_a_read_sees_a_finished_write() {
        let events = vec![
            call_start(0, 1, write("d1", "v1")),
            call_end(10, 1, ok("")),
            call_start(20, 2, read("d1")),
            call_end(30, 2, ok("some(\"v1\")")),
            call_start(40, 3, read("d2")),
            call_end(50, 3, ok("none")),
        ];
        shared(events, &[]);
    }

    #[test]
    fn shared_state_a_read_missing_a_finished_write() {
        let events = vec![
            call_start(0, 1, write("d1", "v1")),
            call_end(10, 1, ok("")),
            call_start(20, 2, read("d1")),
            call_end(30, 2, ok("none")),
        ];
        shared(events, &[3]);
    }

    #[test]
    fn shared_state_none_after_a_crash_there_an_unfinished_or_a_concurrent_write_but_not_elsewhere()
    {
        let events = vec![
            // Wiped by back's crash.
            call_start(0, 1, write("d1", "v1")),
            call_end(10, 1, ok("")),
            crash(15, "back"),
            call_start(20, 2, read("d1")),
            call_end(30, 2, ok("none")),
            // Timed out: it may never have run.
            call_start(40, 3, write("d2", "v2")),
            call_end(50, 3, Outcome::Timeout),
            call_start(60, 4, read("d2")),
            call_end(70, 4, ok("none")),
            // Ended after the read started: the two ran concurrently.
            call_start(80, 5, write("d3", "v3")),
            call_start(85, 6, read("d3")),
            call_end(90, 5, ok("")),
            call_end(95, 6, ok("none")),
            // A crash elsewhere does not wipe back's store.
            call_start(100, 7, write("d4", "v4")),
            call_end(110, 7, ok("")),
            crash(115, "front"),
            call_start(120, 8, read("d4")),
            call_end(130, 8, ok("none")),
        ];
        shared(events, &[17]);
    }

    #[test]
    fn shared_state_a_value_never_written_or_written_to_another_key() {
        let events = vec![
            call_start(0, 1, write("d1", "v1")),
            call_end(10, 1, ok("")),
            call_start(20, 2, read("d1")),
            call_end(30, 2, ok("some(\"v9\")")),
            call_start(40, 3, read("d2")),
            call_end(50, 3, ok("some(\"v1\")")),
        ];
        shared(events, &[3, 5]);
    }

    #[test]
    fn shared_state_a_value_written_after_the_read_ended() {
        let events = vec![
            call_start(0, 2, read("d1")),
            call_end(10, 2, ok("some(\"v1\")")),
            call_start(20, 1, write("d1", "v1")),
            call_end(30, 1, ok("")),
        ];
        shared(events, &[1]);
    }

    #[test]
    fn shared_state_an_overwritten_value_read_back() {
        let events = vec![
            call_start(0, 1, write("d1", "v1")),
            call_end(10, 1, ok("")),
            call_start(20, 2, write("d1", "v2")),
            call_end(30, 2, ok("")),
            call_start(40, 3, read("d1")),
            call_end(50, 3, ok("some(\"v1\")")),
        ];
        shared(events, &[5]);
    }

    #[test]
    fn shared_state_near_miss_an_old_value_that_may_have_run_late() {
        let events = vec![
            // v1's write timed out: its frame may run after v2's write.
            call_start(0, 1, write("d1", "v1")),
            call_end(10, 1, Outcome::Timeout),
            call_start(20, 2, write("d1", "v2")),
            call_end(30, 2, ok("")),
            call_start(40, 3, read("d1")),
            call_end(50, 3, ok("some(\"v1\")")),
            // v3 and v4 overlap: either may land last.
            call_start(60, 4, write("d2", "v3")),
            call_start(60, 5, write("d2", "v4")),
            call_end(70, 4, ok("")),
            call_end(70, 5, ok("")),
            call_start(80, 6, read("d2")),
            call_end(90, 6, ok("some(\"v3\")")),
        ];
        shared(events, &[]);
    }
}
