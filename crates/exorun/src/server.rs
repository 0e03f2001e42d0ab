//! Serving `Call` frames from a transport to named instances.
//!
//! A node chooses what to expose: [`Server::expose`] makes one interface of one instance
//! callable under a target name, and nothing else is. On each connection the server first sends
//! `Hello` with its [`Offer`] (the exposed interfaces' schemas, so that a caller can check the
//! contract before its first call), then serves frames until the stream ends. A caller may send
//! a `Hello` of its own: at most one, of our protocol version; another version or a second
//! `Hello` ends the connection ([`Error::Handshake`]).
//!
//! Every `Call` ends in exactly one `Reply` or `Failure`:
//!
//! | outcome | frame |
//! | --- | --- |
//! | results | `Reply` |
//! | unknown target | `Failure(InstanceNotFound)` |
//! | unknown interface or function | `Failure(MethodNotFound)` |
//! | wrong number of arguments | `Failure(BadArgumentCount)` |
//! | an argument of the wrong shape | `Failure(BadArgumentType)`, naming the path |
//! | trap, fuel, memory | `Failure(AppTrapped / OutOfFuel / OutOfMemory)` |
//! | `err(domain-error)` returned (see [`crate::domain`]) | `Failure(DomainSpecific(code, message))` |
//! | deadline passed before the call could start | `Failure(DeadlineExceeded)` |
//!
//! The exceptions are deliberate: a duplicated `Call` (same connection, same `seq`) executes at
//! most once: while it runs, the copy is dropped; once it is done, the copy gets the very same
//! outcome frame again, from a window of the last `dedup_window_max` outcomes. A call cancelled
//! before it started gets no answer: its caller has already given up.
//!
//! A trap does not take a target down. The call that trapped fails (`OutOfFuel`, `OutOfMemory`,
//! `AppTrapped`); the trap poisons the instance, and the next call into it, from any peer or
//! from the host, first renews it: a new store and instance from the same `InstancePre`, with
//! fresh linear memory, so the state the guest kept is gone (see [`crate::instance`]). The
//! first call of this server that starts on the target after a renewal reports it, on its own
//! connection: [`Observe::renewed`] and [`ConnStats::renewals`]. If the instance cannot be
//! rebuilt, the call fails with `AppTrapped("cannot renew the trapped instance of ...")` and the
//! next one tries again.
//!
//! Watching, without changing anything: [`Server::serve_observed`] reports a connection's calls
//! to an [`Observe`]r (started executing, answered, duplicated, found its instance renewed), and
//! [`Server::load`] reads live gauges over all connections.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use neopack::{Decoder, Encoder};
use neorpc::FailureReason;
use neorpc::codec;
use neorpc::frame::{self, Frame};
use neorpc::schema::{self, FuncSig, InterfaceSchema};
use tokio::time::Instant;
use wasmtime::component::Val;

use crate::client;
use crate::domain;
use crate::instance::{ExportedFunc, InstanceHandle};
use crate::ledger;
use crate::transport::{self, Transport};

/// Outcomes remembered per connection, to answer a duplicated `Call` without executing it.
pub const DEDUP_WINDOW_MAX: usize = 4096;

/// Calls executing at once per connection; the next `Call` waits (and so does the reading of
/// the stream: backpressure reaches the peer instead of memory growing).
pub const CALLS_IN_FLIGHT_MAX: usize = 1024;

/// What can go wrong setting up or running a server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target name already serves that interface.
    #[error("target `{target}` already exposes `{interface}`")]
    AlreadyExposed { target: String, interface: String },
    /// The instance does not export the interface, or it cannot cross a remote boundary.
    #[error(transparent)]
    Contract(#[from] ledger::Error),
    /// The connection failed.
    #[error(transparent)]
    Transport(#[from] transport::Error),
    /// The offer could not be encoded.
    #[error("encoding the offer: {0}")]
    Encode(neorpc::Error),
    /// The peer broke the handshake (a `Hello` of another version, or a second `Hello`): the
    /// server stopped reading the connection.
    #[error("the peer's Hello: {0}")]
    Handshake(neorpc::Error),
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's name, sent in `Hello`.
    pub node: String,
    /// See [`DEDUP_WINDOW_MAX`].
    pub dedup_window_max: usize,
    /// See [`CALLS_IN_FLIGHT_MAX`].
    pub calls_in_flight_max: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node: "exorun".to_owned(),
            dedup_window_max: DEDUP_WINDOW_MAX,
            calls_in_flight_max: CALLS_IN_FLIGHT_MAX,
        }
    }
}

/// The method name a `Call` frame carries: `interface#function`.
pub fn method_name(interface: &str, function: &str) -> String {
    format!("{interface}#{function}")
}

/// What a server exposes, by target name: sent in `Hello`, so that a caller can check its
/// contract before the first call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offer {
    pub targets: BTreeMap<String, Vec<InterfaceSchema>>,
}

impl Offer {
    /// The offer as one neopack value: `list[target, interfaces, target, interfaces, ...]`.
    pub fn encode(&self) -> Result<Vec<u8>, neorpc::Error> {
        let mut enc = Encoder::new();
        enc.list_begin()?;
        for (target, interfaces) in &self.targets {
            enc.str(target)?;
            schema::encode_interfaces(&mut enc, interfaces)?;
        }
        enc.list_end()?;
        Ok(enc.into_bytes()?)
    }

    /// Reads an offer from a peer's `Hello`; the bytes are hostile.
    pub fn decode(bytes: &[u8]) -> Result<Offer, neorpc::Error> {
        let mut dec = Decoder::new(bytes);
        let seq = dec.list()?;
        let mut targets = BTreeMap::new();
        for _ in 0..seq.count / 2 {
            let target = dec.str()?.to_owned();
            let interfaces = schema::decode_interfaces(dec.skip()?)?;
            targets.insert(target, interfaces);
        }
        dec.end(seq)?;
        dec.finish()?;
        Ok(Offer { targets })
    }

    /// The schema of `interface` as served under `target`.
    pub fn interface(&self, target: &str, interface: &str) -> Option<&InterfaceSchema> {
        self.targets
            .get(target)?
            .iter()
            .find(|i| i.name == interface)
    }
}

/// One exposed target: an instance and the interfaces of it that may be called.
struct Target {
    handle: InstanceHandle,
    interfaces: BTreeMap<String, InterfaceSchema>,
    /// Every callable method by its wire name (`interface#function`).
    methods: BTreeMap<String, Method>,
    /// The instance's renewal count when a call of this server last started on it.
    renewals_seen: AtomicU64,
}

/// One callable method, with what a call needs computed once.
struct Method {
    sig: FuncSig,
    params: Vec<neorpc::schema::Type>,
    /// The instance's exported function, resolved by the instance on the first call.
    func: ExportedFunc,
}

/// Serves calls to exposed instances. Share it behind an `Arc` and call [`Server::serve`] once
/// per connection.
pub struct Server {
    config: Config,
    targets: BTreeMap<String, Target>,
    /// Connections being served (see [`Load`]).
    connections: AtomicU64,
    /// Calls admitted and not yet done, over all connections (see [`Load`]).
    calls_running: AtomicU64,
}

/// Live gauges over every connection of a [`Server`]. Both are zero once every connection has
/// ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Connections being served: a `serve` that has started and not yet returned.
    pub connections: u64,
    /// Calls admitted (not duplicates) whose outcome has not been handed to the transport yet
    /// (or that ended without one: cancelled before they started).
    pub calls_running: u64,
}

/// Hears what a connection's calls do, for a trace; changes nothing about them. Called from
/// the connection's task: keep it cheap, never block, and never call into the server's
/// instances (`executing` runs under the instance's lock).
pub trait Observe: Send + Sync {
    /// The call `seq` starts executing in its instance, right before the guest runs. Calls
    /// that fail before (unknown target or method, bad arguments, past their deadline,
    /// cancelled) are never reported executing.
    fn executing(&self, seq: u64, target: &str, method: &str);

    /// The outcome of call `seq` is being handed to the transport: `reply` is true for a
    /// `Reply`, false for a `Failure`. Once per admitted call that gets an outcome.
    fn answered(&self, seq: u64, reply: bool);

    /// A `Call` frame repeated a `seq` this connection has seen: dropped while the original
    /// runs, or answered again from the dedup window (not reported as `answered`).
    fn duplicate(&self, seq: u64);

    /// The instance exposed as `target` was renewed since a call of this server last started
    /// on it (see the module documentation): an earlier call trapped it, and its state is
    /// gone. `renewals` is the instance's count ([`InstanceHandle::renewals`]). Reported once,
    /// by the next call that starts on it, under its lock, right before `executing`.
    fn renewed(&self, target: &str, renewals: u64) {
        let _ = (target, renewals);
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("targets", &self.targets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What one connection saw, returned when it ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// `Call` frames executed.
    pub calls: u64,
    /// Duplicated `Call` frames: dropped while the original ran, answered from the window after.
    pub duplicates: u64,
    /// Frames that did not decode.
    pub malformed: u64,
    /// Frames a server never expects (`Reply`, `Failure`).
    pub unexpected: u64,
    /// Calls cancelled before they started.
    pub cancelled: u64,
    /// Calls not started because their deadline had passed.
    pub deadline_exceeded: u64,
    /// Calls that found their instance renewed before they started (see [`Observe::renewed`]).
    pub renewals: u64,
}

impl Server {
    pub fn new(config: Config) -> Server {
        Server {
            config,
            targets: BTreeMap::new(),
            connections: AtomicU64::new(0),
            calls_running: AtomicU64::new(0),
        }
    }

    /// The live gauges over every connection.
    pub fn load(&self) -> Load {
        Load {
            connections: self.connections.load(Ordering::SeqCst),
            calls_running: self.calls_running.load(Ordering::SeqCst),
        }
    }

    /// Makes `interface`, exported by `handle`, callable under `target`. The interface must be
    /// exported and able to cross a remote boundary (no resources).
    pub fn expose(
        &mut self,
        target: &str,
        handle: &InstanceHandle,
        interface: &str,
    ) -> Result<(), Error> {
        let exported = handle.ledger().export(interface)?;
        exported.check_remote()?;
        let entry = self
            .targets
            .entry(target.to_owned())
            .or_insert_with(|| Target {
                handle: handle.clone(),
                interfaces: BTreeMap::new(),
                methods: BTreeMap::new(),
                renewals_seen: AtomicU64::new(handle.renewals()),
            });
        if entry.interfaces.contains_key(interface) || !entry.handle.same(handle) {
            let (target, interface) = (target.to_owned(), interface.to_owned());
            return Err(Error::AlreadyExposed { target, interface });
        }
        for (function, sig) in &exported.schema.funcs {
            let method = Method {
                sig: sig.clone(),
                params: sig.param_types(),
                func: handle.export(interface, function),
            };
            entry
                .methods
                .insert(method_name(interface, function), method);
        }
        entry
            .interfaces
            .insert(interface.to_owned(), exported.schema.clone());
        Ok(())
    }

    /// What this server exposes.
    pub fn offer(&self) -> Offer {
        let targets = self
            .targets
            .iter()
            .map(|(name, target)| (name.clone(), target.interfaces.values().cloned().collect()));
        Offer {
            targets: targets.collect(),
        }
    }

    /// Serves one connection until the peer closes it and every call it made has ended: sends
    /// `Hello`, then answers frames. The connection's calls run concurrently inside this one
    /// task (at most `calls_in_flight_max`), interleaving wherever a call awaits (an instance
    /// lock, a remote call its guest makes, a fuel yield): no hop to another worker thread per
    /// call, which on a 2-core machine costs more than the call itself. Calls on one instance
    /// serialize on its lock; run one `serve` per connection to use more cores.
    pub async fn serve(
        self: &Arc<Self>,
        transport: Arc<dyn Transport>,
    ) -> Result<ConnStats, Error> {
        self.serve_observed(transport, None).await
    }

    /// Like [`Server::serve`], reporting this connection's calls to `observer`.
    pub async fn serve_observed(
        self: &Arc<Self>,
        transport: Arc<dyn Transport>,
        observer: Option<Arc<dyn Observe>>,
    ) -> Result<ConnStats, Error> {
        let _connection = Gauge::up(&self.connections);
        let offer = self.offer().encode().map_err(Error::Encode)?;
        let mut hello = Encoder::new();
        frame::encode_hello(&mut hello, frame::VERSION, &self.config.node, &offer)
            .map_err(Error::Encode)?;
        transport.send(hello.as_bytes()).await?;
        let conn = Conn::new(transport, &self.config, observer);
        let in_flight_max = self.config.calls_in_flight_max.max(1);
        let mut running = FuturesUnordered::new();
        let ended = loop {
            tokio::select! {
                biased;
                Some(()) = running.next(), if !running.is_empty() => continue,
                received = conn.transport.recv() => {
                    let bytes = match received {
                        Ok(Some(bytes)) => bytes,
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(Error::Transport(e)),
                    };
                    let call = match self.dispatch(&conn, &bytes).await {
                        Ok(Some(call)) => call,
                        Ok(None) => continue,
                        Err(e) => break Err(e),
                    };
                    // Backpressure: while the window is full, stop reading the stream.
                    while running.len() >= in_flight_max {
                        running.next().await;
                    }
                    let gauge = Gauge::up(&self.calls_running);
                    running.push(self.run(&conn, call, gauge));
                }
            }
        };
        // The stream has ended; the calls it started finish before the counters are final.
        while running.next().await.is_some() {}
        ended?;
        Ok(conn.stats())
    }

    /// Handles one frame; a `Call` to execute is handed back to the connection loop, a broken
    /// handshake ends the connection.
    async fn dispatch(&self, conn: &Conn, bytes: &[u8]) -> Result<Option<Call>, Error> {
        let Ok(frame) = frame::decode(bytes) else {
            conn.count(&conn.malformed);
            return Ok(None);
        };
        match frame {
            Frame::Call {
                seq,
                target,
                method,
                deadline_ms,
                args,
            } => {
                let deadline = deadline_ms.map(|ms| client::now() + Duration::from_millis(ms));
                let call = Call {
                    seq,
                    target: target.to_owned(),
                    method: method.to_owned(),
                    deadline,
                    args: args.to_vec(),
                };
                return Ok(admit(conn, call).await);
            }
            Frame::Cancel { seq } => conn.cancel(seq),
            Frame::Hello { version, .. } => conn.hello(version).map_err(Error::Handshake)?,
            Frame::Reply { .. } | Frame::Failure { .. } => conn.count(&conn.unexpected),
        }
        Ok(None)
    }

    async fn run(&self, conn: &Conn, call: Call, _running: Gauge<'_>) {
        conn.count(&conn.calls);
        let seq = call.seq;
        let outcome = match self.execute(conn, call).await {
            Executed::Results(payload) => {
                encode_frame(|enc| frame::encode_reply(enc, seq, &payload))
            }
            Executed::Failed(reason) => {
                encode_frame(|enc| frame::encode_failure(enc, seq, &reason))
            }
            Executed::NotStarted => {
                conn.forget(seq);
                return;
            }
        };
        conn.finish(seq, Arc::clone(&outcome));
        if let Some(observer) = &conn.observer {
            observer.answered(seq, is_reply(&outcome));
        }
        let _ = conn.transport.send(&outcome).await;
    }

    async fn execute(&self, conn: &Conn, call: Call) -> Executed {
        let Some(target) = self.targets.get(&call.target) else {
            return Executed::Failed(FailureReason::InstanceNotFound(call.target));
        };
        let Some(method) = target.methods.get(&call.method) else {
            return Executed::Failed(FailureReason::MethodNotFound(call.method));
        };
        let args = match codec::decode_args(&call.args, &method.params) {
            Ok(args) => args,
            Err(e) => return Executed::Failed(bad_argument(e)),
        };
        let started = Started {
            conn,
            seq: call.seq,
            target: &call.target,
            method: &call.method,
            deadline: call.deadline,
            instance: target,
        };
        let mut results = vec![Val::Bool(false); method.sig.results.len()];
        let called = target
            .handle
            .call_func_if(&method.func, &args, &mut results, || started.start())
            .await;
        match called {
            Ok(true) => outcome_of(&results, &method.sig),
            Ok(false) => started.refused(),
            Err(e) => Executed::Failed(e.reason()),
        }
    }
}

/// The call to execute, unless it duplicates one already seen: a running duplicate is dropped,
/// a finished one gets the remembered outcome again.
async fn admit(conn: &Conn, call: Call) -> Option<Call> {
    match conn.admit(call.seq) {
        Admission::New => Some(call),
        Admission::Running => {
            conn.duplicate(call.seq);
            None
        }
        Admission::Done(outcome) => {
            conn.duplicate(call.seq);
            let _ = conn.transport.send(&outcome).await;
            None
        }
    }
}

fn bad_argument(e: codec::Error) -> FailureReason {
    match e.kind {
        codec::ErrorKind::Count { expected, found } if e.path == "args" => {
            let (expected, found) = (saturate(expected), saturate(found));
            FailureReason::BadArgumentCount { expected, found }
        }
        _ => FailureReason::BadArgumentType(e.to_string()),
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Results to their outcome: a domain failure, or a `Reply` payload.
fn outcome_of(results: &[Val], sig: &FuncSig) -> Executed {
    let raised = domain::failure_of(results).filter(|_| domain::is_domain_result(&sig.results));
    if let Some(reason) = raised {
        return Executed::Failed(reason);
    }
    match codec::encode_results(results, &sig.results) {
        Ok(payload) => Executed::Results(payload),
        Err(e) => Executed::Failed(FailureReason::Protocol(format!("encoding results: {e}"))),
    }
}

fn encode_frame(write: impl FnOnce(&mut Encoder) -> Result<(), neorpc::Error>) -> Arc<[u8]> {
    let mut enc = Encoder::new();
    if let Err(e) = write(&mut enc) {
        // Only a reason string over neopack's LENGTH_MAX fails here; say so instead.
        enc.clear();
        let reason = FailureReason::Protocol(format!("outcome too large to encode: {e}"));
        let _ = frame::encode_failure(&mut enc, 0, &reason);
    }
    Arc::from(enc.as_bytes())
}

/// A `Call`, owned, with its deadline made absolute on receipt.
struct Call {
    seq: u64,
    target: String,
    method: String,
    deadline: Option<Instant>,
    args: Vec<u8>,
}

enum Executed {
    Results(Vec<u8>),
    Failed(FailureReason),
    /// Cancelled or past its deadline before it started.
    NotStarted,
}

/// Decides, under the instance's lock, whether a call may still start.
struct Started<'a> {
    conn: &'a Conn,
    seq: u64,
    target: &'a str,
    method: &'a str,
    deadline: Option<Instant>,
    instance: &'a Target,
}

impl Started<'_> {
    /// Whether the call may start; if so, a renewal it found is reported, then it is reported
    /// executing.
    fn start(&self) -> bool {
        if !self.may_start() {
            return false;
        }
        self.notice_renewal();
        if let Some(observer) = &self.conn.observer {
            observer.executing(self.seq, self.target, self.method);
        }
        true
    }

    /// Reports a renewal of the instance since a call last started on it. Under the instance's
    /// lock, which every renewal and every start take: exactly one start sees each change.
    fn notice_renewal(&self) {
        let renewals = self.instance.handle.renewals();
        let seen = self.instance.renewals_seen.swap(renewals, Ordering::SeqCst);
        if seen == renewals {
            return;
        }
        self.conn.count(&self.conn.renewals);
        if let Some(observer) = &self.conn.observer {
            observer.renewed(self.target, renewals);
        }
    }

    fn may_start(&self) -> bool {
        let expired = self.deadline.is_some_and(|d| client::now() >= d);
        !expired && !self.conn.is_cancelled(self.seq)
    }

    fn refused(&self) -> Executed {
        if self.conn.is_cancelled(self.seq) {
            self.conn.count(&self.conn.cancelled);
            return Executed::NotStarted;
        }
        self.conn.count(&self.conn.deadline_exceeded);
        Executed::Failed(FailureReason::DeadlineExceeded)
    }
}

enum Admission {
    New,
    Running,
    Done(Arc<[u8]>),
}

enum Seen {
    Running,
    Done(Arc<[u8]>),
}

/// Per-connection state: the dedup window, cancellations, the in-flight bound, counters.
struct Conn {
    transport: Arc<dyn Transport>,
    observer: Option<Arc<dyn Observe>>,
    seen: std::sync::Mutex<BTreeMap<u64, Seen>>,
    cancelled_seqs: std::sync::Mutex<BTreeSet<u64>>,
    dedup_window_max: usize,
    /// Whether the peer sent its `Hello` (optional, at most one).
    hello_seen: AtomicBool,
    calls: AtomicU64,
    duplicates: AtomicU64,
    malformed: AtomicU64,
    unexpected: AtomicU64,
    cancelled: AtomicU64,
    deadline_exceeded: AtomicU64,
    renewals: AtomicU64,
}

impl Conn {
    fn new(
        transport: Arc<dyn Transport>,
        config: &Config,
        observer: Option<Arc<dyn Observe>>,
    ) -> Conn {
        Conn {
            transport,
            observer,
            seen: std::sync::Mutex::new(BTreeMap::new()),
            cancelled_seqs: std::sync::Mutex::new(BTreeSet::new()),
            dedup_window_max: config.dedup_window_max.max(1),
            hello_seen: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            deadline_exceeded: AtomicU64::new(0),
            renewals: AtomicU64::new(0),
        }
    }

    /// The peer's `Hello`: it may send one, of our protocol version.
    fn hello(&self, version: u32) -> Result<(), neorpc::Error> {
        if self.hello_seen.swap(true, Ordering::SeqCst) {
            return Err(neorpc::Error::SecondHello);
        }
        frame::check_version(version)
    }

    fn count(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn duplicate(&self, seq: u64) {
        self.count(&self.duplicates);
        if let Some(observer) = &self.observer {
            observer.duplicate(seq);
        }
    }

    fn admit(&self, seq: u64) -> Admission {
        let mut seen = lock(&self.seen);
        #[cfg(madsim)]
        if crate::plant::active(crate::plant::Plant::DoubleExecute) && seen.contains_key(&seq) {
            return Admission::New;
        }
        match seen.get(&seq) {
            Some(Seen::Running) => return Admission::Running,
            Some(Seen::Done(outcome)) => return Admission::Done(Arc::clone(outcome)),
            None => {}
        }
        seen.insert(seq, Seen::Running);
        evict(&mut seen, self.dedup_window_max);
        Admission::New
    }

    fn finish(&self, seq: u64, outcome: Arc<[u8]>) {
        lock(&self.seen).insert(seq, Seen::Done(outcome));
        lock(&self.cancelled_seqs).remove(&seq);
    }

    fn forget(&self, seq: u64) {
        lock(&self.seen).remove(&seq);
        lock(&self.cancelled_seqs).remove(&seq);
    }

    /// Marks `seq` cancelled if it is known and not done; a later start is refused.
    fn cancel(&self, seq: u64) {
        let running = matches!(lock(&self.seen).get(&seq), Some(Seen::Running));
        if running {
            lock(&self.cancelled_seqs).insert(seq);
        }
    }

    fn is_cancelled(&self, seq: u64) -> bool {
        lock(&self.cancelled_seqs).contains(&seq)
    }

    fn stats(&self) -> ConnStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConnStats {
            calls: get(&self.calls),
            duplicates: get(&self.duplicates),
            malformed: get(&self.malformed),
            unexpected: get(&self.unexpected),
            cancelled: get(&self.cancelled),
            deadline_exceeded: get(&self.deadline_exceeded),
            renewals: get(&self.renewals),
        }
    }
}

/// Whether an encoded outcome is a `Reply` (else a `Failure`).
fn is_reply(outcome: &[u8]) -> bool {
    let kind = Decoder::new(outcome).variant();
    kind.is_ok_and(|kind| kind == frame::kind::REPLY)
}

/// Counts one more of something live until dropped: a connection, a running call.
struct Gauge<'a>(&'a AtomicU64);

impl<'a> Gauge<'a> {
    fn up(gauge: &'a AtomicU64) -> Gauge<'a> {
        gauge.fetch_add(1, Ordering::SeqCst);
        Gauge(gauge)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Drops the oldest finished outcomes beyond the window. Running calls are never dropped (they
/// are bounded by the in-flight limit).
fn evict(seen: &mut BTreeMap<u64, Seen>, window: usize) {
    while seen.len() > window {
        let oldest_done = seen
            .iter()
            .find(|(_, s)| matches!(s, Seen::Done(_)))
            .map(|(seq, _)| *seq);
        let Some(seq) = oldest_done else {
            return;
        };
        seen.remove(&seq);
    }
}

/// Locks a std mutex; a panic while holding one of these leaves plain data, so poisoning is
/// ignored.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
