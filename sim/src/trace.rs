//! The trace: what happened in one run, as ordered events with a virtual timestamp and a node.
//!
//! Every stage after the run reads only this: the checkers are pure functions of the events,
//! the report counts them, and the hash identifies the run. The text form is stable, one event
//! per line:
//!
//! ```text
//!     12.345678 front  call-start id=3 op=add(via=calc-client, a=7, b=-2) expected=ok(5)
//! ```
//!
//! (virtual seconds with microsecond precision, the node, the event's name, its fields). The
//! hash is 64-bit FNV-1a over exactly those lines, each followed by `\n`: specified, stable
//! across processes, builds and platforms (unlike std's `DefaultHasher`).

use std::fmt;
use std::sync::Arc;

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Virtual microseconds since the run started.
    pub t_us: u64,
    /// Where it happened: a node's name, or [`SIM`] for the simulator itself. Shared: a run
    /// has a handful of names and thousands of events.
    pub node: Arc<str>,
    pub kind: EventKind,
}

/// The node name of events the simulator itself records (fault plan, end of run).
pub const SIM: &str = "sim";

/// Which way a frame travels on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dir {
    /// From the connecting node (the caller) to the serving node.
    Up,
    /// From the serving node back to the caller.
    Down,
}

/// A neorpc frame as the network saw it: its kind and, where it has them, its `seq` and what
/// it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameInfo {
    Hello,
    Call {
        seq: u64,
        target: String,
        method: String,
    },
    Reply {
        seq: u64,
    },
    /// `reason` is the failure reason's display text.
    Failure {
        seq: u64,
        reason: String,
    },
    Cancel {
        seq: u64,
    },
    /// Bytes that do not decode as a frame.
    Malformed,
}

impl FrameInfo {
    /// The frame's `seq`, if its kind carries one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            FrameInfo::Call { seq, .. }
            | FrameInfo::Reply { seq }
            | FrameInfo::Failure { seq, .. }
            | FrameInfo::Cancel { seq } => Some(*seq),
            FrameInfo::Hello | FrameInfo::Malformed => None,
        }
    }

    /// The kind's name, as the text form writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            FrameInfo::Hello => "hello",
            FrameInfo::Call { .. } => "call",
            FrameInfo::Reply { .. } => "reply",
            FrameInfo::Failure { .. } => "failure",
            FrameInfo::Cancel { .. } => "cancel",
            FrameInfo::Malformed => "malformed",
        }
    }
}

/// Why the network did not deliver a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropCause {
    /// The seed's frame-loss draw.
    Fault,
    /// The link between the two nodes was cut (a partition).
    Cut,
    /// The connection had already closed (a crash, or an end that hung up).
    Closed,
}

/// What the network decided for one frame when it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Delivered once, after `delay_us` (base latency plus any injected delay).
    Deliver {
        delay_us: u64,
    },
    /// Delivered once per entry, each after its own delay (the first is the original).
    Duplicate {
        delays_us: Vec<u64>,
    },
    Drop(DropCause),
}

/// How a workload call ended, as its caller saw it; also what a call is expected to end with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Results, as WAVE text (`5`, `"token-alice"`, `[1, 2]`).
    Ok(String),
    /// A domain failure: `DomainSpecific(code, message)`.
    Domain {
        code: u32,
        message: String,
    },
    OutOfFuel,
    OutOfMemory,
    /// The callee trapped; the trap's kind.
    Trapped(String),
    /// Any other failure reason the callee raised (bad arguments, unknown method, ...), as text.
    Failed(String),
    /// A callee in the chain could not reach its own peer (`FailureReason::Unavailable`).
    Unavailable(String),
    /// The call's deadline passed before its callee could start it.
    DeadlineExceeded,
    /// No outcome within the call's timeout.
    Timeout,
    /// The connection ended before an outcome arrived.
    Disconnected,
    /// Refused before sending: the peer's interface no longer fulfils the contract.
    Contract(String),
}

impl Outcome {
    /// Whether a fault (loss, delay, partition, crash, an incompatible restart) explains this
    /// outcome: allowed while faults are active, never in the liveness window.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Outcome::Unavailable(_)
                | Outcome::DeadlineExceeded
                | Outcome::Timeout
                | Outcome::Disconnected
                | Outcome::Contract(_)
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(value) => write!(f, "ok({value})"),
            Outcome::Domain { code, message } => write!(f, "domain({code}, {message:?})"),
            Outcome::OutOfFuel => f.write_str("out-of-fuel"),
            Outcome::OutOfMemory => f.write_str("out-of-memory"),
            Outcome::Trapped(kind) => write!(f, "trapped({kind:?})"),
            Outcome::Failed(reason) => write!(f, "failed({reason:?})"),
            Outcome::Unavailable(why) => write!(f, "unavailable({why:?})"),
            Outcome::DeadlineExceeded => f.write_str("deadline-exceeded"),
            Outcome::Timeout => f.write_str("timeout"),
            Outcome::Disconnected => f.write_str("disconnected"),
            Outcome::Contract(why) => write!(f, "contract({why:?})"),
        }
    }
}

/// What a call is expected to end with, known from its arguments before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Exactly(Outcome),
    /// Any successful result (a call whose value the oracle cannot know, e.g. random bytes).
    AnyOk,
    /// A `put` of `value` under `key` into `node`'s shared store: `ok()`, and a write that
    /// later reads there must see (checker `shared-state`).
    Write {
        node: String,
        key: String,
        value: String,
    },
    /// A `fetch` of `key` from `node`'s shared store: `ok(none)` or `ok(some(..))`, whose value
    /// the `shared-state` checker judges against the writes.
    Read {
        node: String,
        key: String,
    },
}

impl Expected {
    /// Whether `outcome` is what was expected (fault outcomes aside).
    pub fn admits(&self, outcome: &Outcome) -> bool {
        match self {
            Expected::Exactly(expected) => expected == outcome,
            Expected::AnyOk => matches!(outcome, Outcome::Ok(_)),
            Expected::Write { .. } => matches!(outcome, Outcome::Ok(unit) if unit.is_empty()),
            Expected::Read { .. } => {
                matches!(outcome, Outcome::Ok(read) if read == "none" || read.starts_with("some("))
            }
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Exactly(outcome) => outcome.fmt(f),
            Expected::AnyOk => f.write_str("ok(_)"),
            Expected::Write { node, key, value } => {
                write!(f, "ok() writing {key:?}={value:?} on {node}")
            }
            Expected::Read { node, key } => write!(f, "ok(read {key:?} on {node})"),
        }
    }
}

/// How a call the client sent (one `seq`) ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcEnd {
    Reply,
    /// The failure reason's display text.
    Failed(String),
    Timeout,
    Disconnected,
    /// The caller stopped waiting (its future was dropped).
    Dropped,
}

impl fmt::Display for RpcEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcEnd::Reply => f.write_str("reply"),
            RpcEnd::Failed(reason) => write!(f, "failed({reason:?})"),
            RpcEnd::Timeout => f.write_str("timeout"),
            RpcEnd::Disconnected => f.write_str("disconnected"),
            RpcEnd::Dropped => f.write_str("dropped"),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    // ---- the run and the fault plan (node: SIM unless said) ----
    /// The run starts: the scenario's name and run seed.
    RunStart { scenario: String, seed: u64 },
    /// A node booted (`generation` 0) or came back after a crash; `apps` lists
    /// `instance=app` pairs as deployed this time. Node: the node.
    NodeStart { generation: u32, apps: Vec<String> },
    /// The node was killed: its tasks, instances and connections are gone. Node: the node.
    NodeCrash,
    /// Frames from `from` to `to` (and back, if `both`) are dropped from now on.
    LinkCut {
        from: String,
        to: String,
        both: bool,
    },
    /// The cut between `from` and `to` is over.
    LinkHeal {
        from: String,
        to: String,
        both: bool,
    },
    /// From now on the network injects no faults (no loss, duplication or added delay), every
    /// link is whole and every node is up: the liveness window opens.
    Healed,

    // ---- connections (node: the connecting node) ----
    /// `conn` connects this node to `server`.
    ConnOpen { conn: u64, server: String },
    /// A connection attempt to `server` failed (node down, link cut).
    ConnRefused { server: String, why: String },
    /// `conn` ended (a crash on either side, or an end hung up).
    ConnClose { conn: u64, why: String },
    /// The simulator's own contract check of the server's `Hello` on `conn`: whether the
    /// interface the caller requires from `target` is fulfilled by what is offered.
    Offer {
        conn: u64,
        target: String,
        interface: String,
        holds: bool,
    },

    // ---- frames (Send: node is the sender; Deliver: node is the receiver) ----
    /// A frame was handed to the network; its fate was decided at once. `index` numbers the
    /// frames of one direction of one connection in send order.
    Send {
        conn: u64,
        dir: Dir,
        index: u64,
        frame: FrameInfo,
        bytes: usize,
        fate: Fate,
    },
    /// A copy of frame `index` arrived (`copy` 0 is the original, higher ones duplicates).
    /// `reordered`: a frame sent later in the same direction arrived before it.
    Deliver {
        conn: u64,
        dir: Dir,
        index: u64,
        copy: u32,
        reordered: bool,
    },

    // ---- the client (node: the calling node; `peer` names the session's server node) ----
    /// The client handed `Call{seq}` to the transport.
    RpcSent {
        peer: String,
        seq: u64,
        target: String,
        method: String,
    },
    /// How the client's call `seq` ended.
    RpcEnd { peer: String, seq: u64, end: RpcEnd },

    // ---- the server (node: the serving node) ----
    /// The server started executing `Call{seq}` of `conn` in the instance.
    Exec {
        conn: u64,
        seq: u64,
        target: String,
        method: String,
    },
    /// A duplicate of `Call{seq}` arrived on `conn` and was not executed.
    DupSuppressed { conn: u64, seq: u64 },
    /// An earlier call trapped the instance behind `target`; the server replaced it with a
    /// fresh one (its state is gone) before running the next call. `renewals` counts them.
    Renewed { target: String, renewals: u64 },

    // ---- the workload (node: the calling node) ----
    /// Workload call `id` starts: `op` is its text form, `expected` what its arguments say it
    /// must end with.
    CallStart {
        id: u64,
        op: String,
        expected: Expected,
    },
    /// Workload call `id` ended.
    CallEnd { id: u64, outcome: Outcome },

    // ---- guests ----
    /// Something a guest wrote to stdout (or stderr, with `stderr`). Node: its node.
    Output {
        instance: String,
        stderr: bool,
        text: String,
    },

    // ---- the end of the run ----
    /// How often the effect under `key` happened, read from the node's key-value store after
    /// the run (counts restart at zero when the node restarts).
    Effect { key: String, count: u64 },
    /// After every call ended: what the node still holds. `pending`: client entries awaiting an
    /// outcome; `calls_running`: server calls executing; `conns`: connections open.
    Quiesce {
        pending: u64,
        calls_running: u64,
        conns: u64,
    },
    /// The run ended at this virtual time.
    RunEnd,
}

impl EventKind {
    /// The event's name in the text form.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RunStart { .. } => "run-start",
            EventKind::NodeStart { .. } => "node-start",
            EventKind::NodeCrash => "node-crash",
            EventKind::LinkCut { .. } => "link-cut",
            EventKind::LinkHeal { .. } => "link-heal",
            EventKind::Healed => "healed",
            EventKind::ConnOpen { .. } => "conn-open",
            EventKind::ConnRefused { .. } => "conn-refused",
            EventKind::ConnClose { .. } => "conn-close",
            EventKind::Offer { .. } => "offer",
            EventKind::Send { .. } => "send",
            EventKind::Deliver { .. } => "deliver",
            EventKind::RpcSent { .. } => "rpc-sent",
            EventKind::RpcEnd { .. } => "rpc-end",
            EventKind::Exec { .. } => "exec",
            EventKind::DupSuppressed { .. } => "dup-suppressed",
            EventKind::Renewed { .. } => "renewed",
            EventKind::CallStart { .. } => "call-start",
            EventKind::CallEnd { .. } => "call-end",
            EventKind::Output { .. } => "output",
            EventKind::Effect { .. } => "effect",
            EventKind::Quiesce { .. } => "quiesce",
            EventKind::RunEnd => "run-end",
        }
    }
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::Up => "up",
            Dir::Down => "down",
        })
    }
}

impl fmt::Display for DropCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropCause::Fault => "fault",
            DropCause::Cut => "cut",
            DropCause::Closed => "closed",
        })
    }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fate::Deliver { delay_us } => write!(f, "deliver({delay_us}us)"),
            Fate::Duplicate { delays_us } => {
                f.write_str("duplicate(")?;
                for (i, delay) in delays_us.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{delay}us")?;
                }
                f.write_str(")")
            }
            Fate::Drop(cause) => write!(f, "drop({cause})"),
        }
    }
}

impl fmt::Display for FrameInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameInfo::Hello | FrameInfo::Malformed => f.write_str(self.kind()),
            FrameInfo::Call {
                seq,
                target,
                method,
            } => write!(f, "call(seq={seq}, {target}.{method})"),
            FrameInfo::Reply { seq } => write!(f, "reply(seq={seq})"),
            FrameInfo::Failure { seq, reason } => write!(f, "failure(seq={seq}, {reason:?})"),
            FrameInfo::Cancel { seq } => write!(f, "cancel(seq={seq})"),
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            EventKind::RunStart { scenario, seed } => {
                write!(f, " scenario={scenario:?} seed={seed}")
            }
            EventKind::NodeStart { generation, apps } => {
                write!(f, " generation={generation} apps=[{}]", apps.join(", "))
            }
            EventKind::NodeCrash | EventKind::Healed | EventKind::RunEnd => Ok(()),
            EventKind::LinkCut { from, to, both } | EventKind::LinkHeal { from, to, both } => {
                let arrow = if *both { "<->" } else { "->" };
                write!(f, " {from}{arrow}{to}")
            }
            EventKind::ConnOpen { conn, server } => write!(f, " conn={conn} server={server}"),
            EventKind::ConnRefused { server, why } => write!(f, " server={server} why={why:?}"),
            EventKind::ConnClose { conn, why } => write!(f, " conn={conn} why={why:?}"),
            EventKind::Offer {
                conn,
                target,
                interface,
                holds,
            } => write!(
                f,
                " conn={conn} target={target} interface={interface} holds={holds}"
            ),
            EventKind::Send {
                conn,
                dir,
                index,
                frame,
                bytes,
                fate,
            } => write!(
                f,
                " conn={conn} {dir} #{index} {frame} bytes={bytes} fate={fate}"
            ),
            EventKind::Deliver {
                conn,
                dir,
                index,
                copy,
                reordered,
            } => {
                write!(f, " conn={conn} {dir} #{index} copy={copy}")?;
                if *reordered {
                    f.write_str(" reordered")?;
                }
                Ok(())
            }
            EventKind::RpcSent {
                peer,
                seq,
                target,
                method,
            } => write!(f, " peer={peer} seq={seq} {target}.{method}"),
            EventKind::RpcEnd { peer, seq, end } => write!(f, " peer={peer} seq={seq} {end}"),
            EventKind::Exec {
                conn,
                seq,
                target,
                method,
            } => write!(f, " conn={conn} seq={seq} {target}.{method}"),
            EventKind::DupSuppressed { conn, seq } => write!(f, " conn={conn} seq={seq}"),
            EventKind::Renewed { target, renewals } => {
                write!(f, " target={target} renewals={renewals}")
            }
            EventKind::CallStart { id, op, expected } => {
                write!(f, " id={id} op={op} expected={expected}")
            }
            EventKind::CallEnd { id, outcome } => write!(f, " id={id} outcome={outcome}"),
            EventKind::Output {
                instance,
                stderr,
                text,
            } => {
                let stream = if *stderr { "stderr" } else { "stdout" };
                write!(f, " instance={instance} {stream}={text:?}")
            }
            EventKind::Effect { key, count } => write!(f, " key={key:?} count={count}"),
            EventKind::Quiesce {
                pending,
                calls_running,
                conns,
            } => write!(
                f,
                " pending={pending} calls_running={calls_running} conns={conns}"
            ),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.t_us / 1_000_000;
        let micros = self.t_us % 1_000_000;
        write!(f, "{secs:>5}.{micros:06} {:<6} {}", self.node, self.kind)
    }
}

/// A run's events, in the order they happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub events: Vec<Event>,
}

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    pub fn push(&mut self, t_us: u64, node: &str, kind: EventKind) {
        self.push_shared(t_us, Arc::from(node), kind);
    }

    /// [`Trace::push`] with a name the caller already shares.
    pub fn push_shared(&mut self, t_us: u64, node: Arc<str>, kind: EventKind) {
        self.events.push(Event { t_us, node, kind });
    }

    /// The text form: one event per line, each ending in `\n`.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.events.len() * 80);
        for event in &self.events {
            use std::fmt::Write as _;
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{event}");
        }
        out
    }

    /// 64-bit FNV-1a of [`Trace::text`], hashed as it is written rather than from a copy.
    pub fn hash(&self) -> u64 {
        let mut hasher = Fnv1a64::new();
        for event in &self.events {
            use std::fmt::Write as _;
            // Writing to the hasher cannot fail.
            let _ = writeln!(hasher, "{event}");
        }
        hasher.finish()
    }
}

/// 64-bit FNV-1a over whatever is written to it.
struct Fnv1a64(u64);

impl Fnv1a64 {
    fn new() -> Fnv1a64 {
        Fnv1a64(FNV_OFFSET_BASIS)
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl fmt::Write for Fnv1a64 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = fnv1a64_from(self.0, s.as_bytes());
        Ok(())
    }
}

/// The 64-bit FNV-1a offset basis and prime (as specified by Fowler, Noll and Vo).
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a64_from(FNV_OFFSET_BASIS, bytes)
}

/// 64-bit FNV-1a continued from `hash` (the offset basis, or the hash of what came before).
fn fnv1a64_from(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn an_event_renders_as_one_stable_line() {
        let mut trace = Trace::new();
        trace.push(
            12_345_678,
            "front",
            EventKind::CallStart {
                id: 3,
                op: "add(via=calc-client, a=7, b=-2)".into(),
                expected: Expected::Exactly(Outcome::Ok("5".into())),
            },
        );
        trace.push(
            12_400_000,
            "front",
            EventKind::Send {
                conn: 1,
                dir: Dir::Up,
                index: 4,
                frame: FrameInfo::Call {
                    seq: 9,
                    target: "calc".into(),
                    method: "exorun:apps/calc@0.1.0#add".into(),
                },
                bytes: 51,
                fate: Fate::Duplicate {
                    delays_us: vec![1200, 90_000],
                },
            },
        );
        let expected = "   12.345678 front  call-start id=3 op=add(via=calc-client, a=7, b=-2) expected=ok(5)\n   12.400000 front  send conn=1 up #4 call(seq=9, calc.exorun:apps/calc@0.1.0#add) bytes=51 fate=duplicate(1200us, 90000us)\n";
        assert_eq!(trace.text(), expected);
        assert_eq!(trace.hash(), fnv1a64(expected.as_bytes()));
    }
}
