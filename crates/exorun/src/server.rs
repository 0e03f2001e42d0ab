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
//! | the server's admitted calls at `admitted_node_bytes_max` | `Failure(Overloaded)` |
//! | a `Call` that does not decode, its seq readable | `Failure(Protocol)`, naming what is wrong |
//! | an outcome larger than the transport's frame limit | `Failure(Protocol)`, with both sizes |
//! | a reused seq, or a copy the dedup window can no longer answer (below) | `Failure(Protocol)` |
//!
//! A host failure reaches the peer as its reason with a message meant for the peer
//! (`AppTrapped("host error")`, `Unavailable("a peer of the callee could not be reached")`; see
//! [`crate::trap`]); the host's own text goes to [`Observe::failure_detail`], for the node's log.
//!
//! # At most once
//!
//! A `Call` is executed at most once per connection and `seq`. Seqs on a connection must
//! increase (a [`crate::client::Client`] numbers its calls 1, 2, 3, ...). The connection's
//! *dedup window* holds the calls running and the last `dedup_window_max` that finished, in the
//! order they finished. A copy of a `Call` (same seq, target, method and arguments):
//!
//! - while the original runs, is dropped;
//! - once the original has an outcome, gets the very same outcome frame again, if the window
//!   still keeps it: outcomes are kept within `dedup_window_bytes_max` per connection and
//!   `dedup_node_bytes_max` over the server, the oldest let go first; a copy whose outcome was
//!   let go is refused with `Failure(Protocol)`;
//! - of a call cancelled before it started, gets no answer, as the call got none;
//! - after the original left the window, is refused with `Failure(Protocol)`: the window's
//!   *floor* is the largest seq evicted so far, and a seq at or below it that the window does
//!   not hold is refused, never executed (so is a call overtaken by more than
//!   `dedup_window_max` later ones).
//!
//! A `Call` that reuses a seq with another target, method or arguments is refused with
//! `Failure(Protocol)` and does not run. A call cancelled before it started gets no answer:
//! its caller has already given up.
//!
//! # Limits
//!
//! What a peer can make the server hold is bounded, each by a field of [`Config`]:
//!
//! - `connections_max` connections at once; [`Server::serve`] refuses the next one
//!   ([`Error::ConnectionsFull`]).
//! - `calls_in_flight_max` calls per connection; at the limit the server stops reading the
//!   connection until one ends.
//! - `admitted_bytes_max` bytes of `Call` frames admitted on a connection and not started
//!   (waiting for their instance); at the limit the server stops reading the connection until
//!   one starts. `admitted_node_bytes_max` over every connection: a call beyond it fails with
//!   `Overloaded`. Arguments are decoded only once a call holds its instance's lock, so a
//!   waiting call holds its frame's bytes and nothing decoded.
//! - The dedup window (above): `dedup_window_max` calls, `dedup_window_bytes_max` and
//!   `dedup_node_bytes_max` outcome bytes.
//! - `send_timeout`: a frame the peer does not take within it (it does not read) ends the
//!   connection ([`Error::SendTimeout`]); its calls that have not started never do. No send
//!   holds up anything else: a connection's answers go out beside its reading and its calls,
//!   and a call waiting to send holds no instance lock.
//! - `idle_timeout`: a connection that received nothing and ran nothing for that long is
//!   closed ([`Error::Idle`]).
//!
//! A trap does not take a target down. The call that trapped fails (`OutOfFuel`, `OutOfMemory`,
//! `AppTrapped`); the trap poisons the instance, and the next call into it, from any peer or
//! from the host, first renews it: a new store and instance from the same `InstancePre`, with
//! fresh linear memory, so the state the guest kept is gone (see [`crate::instance`]). The
//! first call of this server that starts on the target after a renewal reports it, on its own
//! connection: [`Observe::renewed`] and [`ConnStats::renewals`]. If the instance cannot be
//! rebuilt, the call fails with `AppTrapped("cannot renew the trapped instance")` and the next
//! one tries again.
//!
//! Watching, without changing anything: [`Server::serve_observed`] reports a connection's calls
//! to an [`Observe`]r (started executing, answered, duplicated, refused, found its instance
//! renewed, failed with a detail for the log), and [`Server::load`] reads live gauges over all
//! connections.

mod dedup;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::stream::{FuturesUnordered, StreamExt};
use neopack::{Decoder, Encoder};
use neorpc::FailureReason;
use neorpc::codec;
use neorpc::frame::{self, Frame};
use neorpc::schema::{self, FuncSig, InterfaceSchema};
use tokio::sync::Notify;
use tokio::time::Instant;
use wasmtime::component::Val;

use crate::client;
use crate::domain;
use crate::instance::{ExportedFunc, InstanceHandle};
use crate::ledger;
use crate::transport::{self, Transport};

// What a server sends in `Hello`, and how a `Call` names its method: shared with callers.
pub use crate::offer::{Offer, method_name};

use dedup::{Admission, Refusal, Window};

/// Calls remembered per connection once finished, to answer a duplicated `Call` without
/// executing it (see the module documentation).
pub const DEDUP_WINDOW_MAX: usize = 4096;

/// Outcome bytes one connection's dedup window keeps: 8 MiB. Past it, the outcomes kept first
/// are let go (their calls stay in the window; a copy of one is refused).
pub const DEDUP_WINDOW_BYTES_MAX: usize = 8 << 20;

/// Outcome bytes the dedup windows of every connection keep together: 128 MiB.
pub const DEDUP_NODE_BYTES_MAX: usize = 128 << 20;

/// Calls executing at once per connection; the next `Call` waits (and so does the reading of
/// the stream: backpressure reaches the peer instead of memory growing).
pub const CALLS_IN_FLIGHT_MAX: usize = 1024;

/// Bytes of `Call` frames one connection may hold admitted and not started: 64 MiB. At the
/// limit the server stops reading the connection until a call starts.
pub const ADMITTED_BYTES_MAX: usize = 64 << 20;

/// Bytes of `Call` frames admitted and not started over every connection: 256 MiB. A call
/// beyond it fails with `Overloaded`.
pub const ADMITTED_NODE_BYTES_MAX: usize = 256 << 20;

/// Connections served at once. Each is a file descriptor: keep it below the process's limit.
pub const CONNECTIONS_MAX: usize = 512;

/// How long one frame may wait for the peer to take it before the connection is ended.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection may receive nothing and run nothing before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

const _: () = assert!(DEDUP_WINDOW_BYTES_MAX <= DEDUP_NODE_BYTES_MAX);
const _: () = assert!(ADMITTED_BYTES_MAX <= ADMITTED_NODE_BYTES_MAX);
// A frame of the largest default size fits a connection's admitted bytes.
const _: () = assert!(transport::FRAME_SIZE_MAX_DEFAULT <= ADMITTED_BYTES_MAX);

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
    /// The server serves `connections_max` connections already: this one was not served.
    #[error("{max} connections are served already (connections_max): connection refused")]
    ConnectionsFull { max: usize },
    /// The peer did not take a frame within `send_timeout`: it does not read. The connection
    /// was ended.
    #[error("the peer took no frame for {timeout:?} (send_timeout): connection ended")]
    SendTimeout { timeout: Duration },
    /// The connection received nothing and ran nothing for `idle_timeout`: it was closed.
    #[error("idle for {timeout:?} (idle_timeout): connection closed")]
    Idle { timeout: Duration },
    /// The peer broke the handshake (a `Hello` of another version, or a second `Hello`): the
    /// server stopped reading the connection.
    #[error("the peer's Hello: {0}")]
    Handshake(neorpc::Error),
}

/// Server settings: the node's name and the limits on what a peer can make it hold (see the
/// module documentation). Each limit's default is the constant of the same name.
#[derive(Debug, Clone)]
pub struct Config {
    /// This node's name, sent in `Hello`.
    pub node: String,
    /// See [`DEDUP_WINDOW_MAX`].
    pub dedup_window_max: usize,
    /// See [`DEDUP_WINDOW_BYTES_MAX`].
    pub dedup_window_bytes_max: usize,
    /// See [`DEDUP_NODE_BYTES_MAX`].
    pub dedup_node_bytes_max: usize,
    /// See [`CALLS_IN_FLIGHT_MAX`].
    pub calls_in_flight_max: usize,
    /// See [`ADMITTED_BYTES_MAX`].
    pub admitted_bytes_max: usize,
    /// See [`ADMITTED_NODE_BYTES_MAX`].
    pub admitted_node_bytes_max: usize,
    /// See [`CONNECTIONS_MAX`].
    pub connections_max: usize,
    /// See [`SEND_TIMEOUT`].
    pub send_timeout: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node: "exorun".to_owned(),
            dedup_window_max: DEDUP_WINDOW_MAX,
            dedup_window_bytes_max: DEDUP_WINDOW_BYTES_MAX,
            dedup_node_bytes_max: DEDUP_NODE_BYTES_MAX,
            calls_in_flight_max: CALLS_IN_FLIGHT_MAX,
            admitted_bytes_max: ADMITTED_BYTES_MAX,
            admitted_node_bytes_max: ADMITTED_NODE_BYTES_MAX,
            connections_max: CONNECTIONS_MAX,
            send_timeout: SEND_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
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
    /// Bytes of calls admitted and not started, over all connections (see [`Load`]).
    admitted_bytes: AtomicUsize,
    /// Outcome bytes the dedup windows keep, over all connections (see [`Load`]).
    dedup_bytes: AtomicUsize,
}

/// Live gauges over every connection of a [`Server`]. All are zero once every connection has
/// ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    /// Connections being served: a `serve` that has started and not yet returned.
    pub connections: u64,
    /// Calls admitted (not duplicates) whose outcome has not been handed to the transport yet
    /// (or that ended without one: cancelled before they started).
    pub calls_running: u64,
    /// Bytes of `Call` frames admitted and not started (at most `admitted_node_bytes_max`).
    pub admitted_bytes: u64,
    /// Outcome bytes the dedup windows keep (at most `dedup_node_bytes_max`).
    pub dedup_bytes: u64,
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
    /// `Reply`, false for a `Failure`. Once per call that gets an outcome of its own (also a
    /// call refused with `Overloaded`, and a malformed `Call` answered for its seq); not for a
    /// copy answered from the dedup window, nor a refusal (see [`Observe::refused`]).
    fn answered(&self, seq: u64, reply: bool);

    /// A `Call` frame repeated a `seq` this connection has seen: dropped while the original
    /// runs or after it was cancelled, or answered again from the dedup window (not reported
    /// as `answered`).
    fn duplicate(&self, seq: u64);

    /// A `Call` frame for `seq` was refused without executing, with a `Failure` of `reason`:
    /// a copy the dedup window can no longer answer, a seq below its floor, a reused seq.
    fn refused(&self, seq: u64, reason: &FailureReason) {
        let _ = (seq, reason);
    }

    /// The call `seq` failed for a reason whose host text the peer does not get: `detail` is
    /// that text (a system's error, a remote target's name, a transport error, a panic's
    /// message), for the node's log. Reported before `answered`.
    fn failure_detail(&self, seq: u64, detail: &str) {
        let _ = (seq, detail);
    }

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
    /// `Call` frames refused without executing (see [`Observe::refused`]).
    pub refused: u64,
    /// Calls refused with `Overloaded`: the server's admitted calls were at their limit.
    pub overloaded: u64,
    /// Outcomes larger than the transport's frame limit, answered with a `Failure` instead.
    pub too_large: u64,
}

impl Server {
    pub fn new(config: Config) -> Server {
        Server {
            config,
            targets: BTreeMap::new(),
            connections: AtomicU64::new(0),
            calls_running: AtomicU64::new(0),
            admitted_bytes: AtomicUsize::new(0),
            dedup_bytes: AtomicUsize::new(0),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The live gauges over every connection.
    pub fn load(&self) -> Load {
        let bytes = |gauge: &AtomicUsize| gauge.load(Ordering::SeqCst) as u64;
        Load {
            connections: self.connections.load(Ordering::SeqCst),
            calls_running: self.calls_running.load(Ordering::SeqCst),
            admitted_bytes: bytes(&self.admitted_bytes),
            dedup_bytes: bytes(&self.dedup_bytes),
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
    ///
    /// Refuses the connection at once, with [`Error::ConnectionsFull`], when `connections_max`
    /// are served already; ends it with [`Error::SendTimeout`] or [`Error::Idle`] (see the
    /// module documentation).
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
        let max = self.config.connections_max;
        let Some(_connection) = Gauge::up_to(&self.connections, max as u64) else {
            return Err(Error::ConnectionsFull { max });
        };
        let conn = Conn::new(transport, self, observer);
        self.send_hello(&conn).await?;
        self.serve_frames(&conn).await?;
        Ok(conn.stats())
    }

    async fn send_hello(&self, conn: &Conn<'_>) -> Result<(), Error> {
        let offer = self.offer().encode().map_err(Error::Encode)?;
        let mut hello = Encoder::new();
        frame::encode_hello(&mut hello, frame::VERSION, &self.config.node, &offer)
            .map_err(Error::Encode)?;
        let sent = conn.send(hello.as_bytes()).await;
        sent.map_err(|e| conn.ended_by(e))
    }

    /// Reads frames and runs the calls they ask for, side by side, until the stream ends, the
    /// peer stops taking frames, or the connection idles out; then lets the calls finish.
    async fn serve_frames(&self, conn: &Conn<'_>) -> Result<(), Error> {
        let mut running = FuturesUnordered::new();
        let mut idle = pin!(tokio::time::sleep_until(conn.idle_deadline()));
        let ended = loop {
            tokio::select! {
                biased;
                Some(()) = running.next(), if !running.is_empty() => {
                    conn.touch();
                    if conn.is_stalled() {
                        break Err(conn.stall_error());
                    }
                }
                () = &mut idle, if running.is_empty() => {
                    let deadline = conn.idle_deadline();
                    if client::now() >= deadline {
                        break Err(Error::Idle { timeout: self.config.idle_timeout });
                    }
                    idle.as_mut().reset(deadline);
                }
                // A call started: its admitted bytes are free again.
                () = conn.started.notified(), if !conn.may_read(running.len()) => {}
                received = conn.transport.recv(), if conn.may_read(running.len()) => {
                    let bytes = match received {
                        Ok(Some(bytes)) => bytes,
                        Ok(None) => break Ok(()),
                        Err(e) => break Err(Error::Transport(e)),
                    };
                    conn.touch();
                    match self.dispatch(conn, &bytes) {
                        Next::Nothing => {}
                        Next::End(e) => break Err(e),
                        Next::Run(call) => {
                            let gauge = Gauge::up(&self.calls_running);
                            running.push(Either::Left(self.run(conn, call, gauge)));
                        }
                        Next::Answer(outcome) => {
                            if let Some(sending) = conn.answer(outcome).await {
                                running.push(Either::Right(sending));
                            }
                        }
                    }
                }
            }
        };
        // The stream has ended; the calls it started finish before the counters are final.
        while running.next().await.is_some() {}
        ended
    }

    /// Handles one frame: a `Call` to run, an answer to send, nothing, or the end of the
    /// connection (a broken handshake).
    fn dispatch<'c>(&'c self, conn: &'c Conn<'_>, bytes: &[u8]) -> Next<'c> {
        let frame = match frame::decode(bytes) {
            Ok(frame) => frame,
            Err(e) => return conn.malformed(bytes, &e),
        };
        match frame {
            Frame::Call {
                seq,
                target,
                method,
                deadline_ms,
                args,
            } => {
                let call = Received {
                    seq,
                    target,
                    method,
                    deadline_ms,
                    args,
                    size: bytes.len(),
                };
                self.admit(conn, call)
            }
            Frame::Cancel { seq } => {
                conn.cancel(seq);
                Next::Nothing
            }
            Frame::Hello { version, .. } => match conn.hello(version) {
                Ok(()) => Next::Nothing,
                Err(e) => Next::End(Error::Handshake(e)),
            },
            Frame::Reply { .. } | Frame::Failure { .. } => {
                conn.count(&conn.unexpected);
                Next::Nothing
            }
        }
    }

    /// The call to run, unless the dedup window or the server's admitted bytes say otherwise.
    fn admit<'c>(&'c self, conn: &'c Conn<'_>, call: Received<'_>) -> Next<'c> {
        let seq = call.seq;
        let fingerprint = dedup::fingerprint(call.target, call.method, call.args);
        let admission = conn.window().admit(seq, fingerprint);
        match admission {
            Admission::New => {}
            Admission::Running | Admission::Cancelled => {
                conn.duplicate(seq);
                return Next::Nothing;
            }
            Admission::Done(outcome) => {
                conn.duplicate(seq);
                return Next::Answer(outcome);
            }
            Admission::Refused(refusal) => return Next::Answer(conn.refuse(seq, refusal)),
        }
        let Some(admitted) = self.reserve(conn, call.size) else {
            conn.count(&conn.overloaded);
            return Next::Answer(conn.conclude(seq, Executed::Failed(FailureReason::Overloaded)));
        };
        let deadline = call
            .deadline_ms
            .map(|ms| client::now() + Duration::from_millis(ms));
        Next::Run(Call {
            seq,
            target: call.target.to_owned(),
            method: call.method.to_owned(),
            deadline,
            args: call.args.to_vec(),
            admitted,
        })
    }

    /// Counts `bytes` admitted on `conn` and on the server, unless the server's would go over
    /// `admitted_node_bytes_max`.
    fn reserve<'c>(&'c self, conn: &'c Conn<'_>, bytes: usize) -> Option<Admitted<'c>> {
        let max = self.config.admitted_node_bytes_max;
        let added = |held: usize| held.checked_add(bytes).filter(|total| *total <= max);
        let reserved = self
            .admitted_bytes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, added);
        reserved.ok()?;
        conn.admitted_bytes.fetch_add(bytes, Ordering::SeqCst);
        Some(Admitted {
            bytes,
            conn: &conn.admitted_bytes,
            node: &self.admitted_bytes,
            started: &conn.started,
        })
    }

    async fn run(&self, conn: &Conn<'_>, call: Call<'_>, _running: Gauge<'_>) {
        conn.count(&conn.calls);
        let seq = call.seq;
        let executed = self.execute(conn, call).await;
        if let Executed::NotStarted = executed {
            conn.window().cancel(seq);
            lock(&conn.cancelled_seqs).remove(&seq);
            return;
        }
        let outcome = conn.conclude(seq, executed);
        conn.send_outcome(seq, outcome).await;
    }

    async fn execute(&self, conn: &Conn<'_>, call: Call<'_>) -> Executed {
        let Call {
            seq,
            target: target_name,
            method: method_name,
            deadline,
            args,
            admitted,
        } = call;
        let Some(target) = self.targets.get(&target_name) else {
            return Executed::Failed(FailureReason::InstanceNotFound(target_name));
        };
        let Some(method) = target.methods.get(&method_name) else {
            return Executed::Failed(FailureReason::MethodNotFound(method_name));
        };
        let start = Start {
            conn,
            seq,
            target: &target_name,
            method: &method_name,
            deadline,
            instance: target,
        };
        let mut results = vec![Val::Bool(false); method.sig.results.len()];
        let called = target
            .handle
            .call_func_with(&method.func, &mut results, move || {
                // Started or refused: no longer waiting, whatever follows.
                drop(admitted);
                start.start(&args, &method.params)
            })
            .await;
        match called {
            Ok(Ok(())) => conn.outcome_of(seq, &results, &method.sig),
            Ok(Err(refusal)) => conn.refused_start(refusal),
            Err(e) => {
                if let Some(detail) = e.detail() {
                    conn.failure_detail(seq, &detail);
                }
                Executed::Failed(e.reason())
            }
        }
    }
}

/// What the connection loop does with a frame.
enum Next<'c> {
    Nothing,
    /// End the connection with this error.
    End(Error),
    Run(Call<'c>),
    /// Send this outcome frame (a copy's answer, a refusal).
    Answer(Arc<[u8]>),
}

/// A decoded `Call` frame, borrowing from the frame's bytes.
struct Received<'b> {
    seq: u64,
    target: &'b str,
    method: &'b str,
    deadline_ms: Option<u64>,
    args: &'b [u8],
    /// The frame's size, counted against the admitted bytes.
    size: usize,
}

/// An admitted call, owned, with its deadline made absolute on receipt.
struct Call<'c> {
    seq: u64,
    target: String,
    method: String,
    deadline: Option<Instant>,
    args: Vec<u8>,
    admitted: Admitted<'c>,
}

/// A call's frame bytes, counted on its connection and on the server while it is admitted and
/// not started; dropped when it starts or ends.
struct Admitted<'c> {
    bytes: usize,
    conn: &'c AtomicUsize,
    node: &'c AtomicUsize,
    started: &'c Notify,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.conn.fetch_sub(self.bytes, Ordering::SeqCst);
        self.node.fetch_sub(self.bytes, Ordering::SeqCst);
        self.started.notify_one();
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

/// What a peer reads when the results could not be encoded (the detail goes to the log).
const RESULTS_UNENCODABLE: &str = "the callee could not encode its results";

/// An outcome as a frame addressed to `seq`. An outcome that cannot be encoded (a payload or
/// a message over neopack's `LENGTH_MAX`) becomes a `Failure` for `seq` that says so.
/// `NotStarted` has no frame: it is never sent.
fn encode_outcome(seq: u64, executed: &Executed) -> Vec<u8> {
    let mut enc = Encoder::new();
    let encoded = match executed {
        Executed::Results(payload) => frame::encode_reply(&mut enc, seq, payload),
        Executed::Failed(reason) => frame::encode_failure(&mut enc, seq, reason),
        Executed::NotStarted => Ok(()),
    };
    if let Err(e) = encoded {
        enc.clear();
        let reason = FailureReason::Protocol(format!("the outcome cannot be encoded: {e}"));
        let _ = frame::encode_failure(&mut enc, seq, &reason);
    }
    enc.into_bytes().unwrap_or_default()
}

/// The `Failure` for `seq` whose outcome frame of `size` bytes is over the transport's `max`.
fn too_large(seq: u64, size: usize, max: usize) -> Arc<[u8]> {
    let reason = FailureReason::Protocol(format!(
        "result too large: the outcome of call {seq} is {size} bytes, over the frame limit of \
         {max} bytes"
    ));
    Arc::from(encode_outcome(seq, &Executed::Failed(reason)))
}

/// The seq of a `Call` frame that does not decode, if it can be read.
fn call_seq(bytes: &[u8]) -> Option<u64> {
    let kind = Decoder::new(bytes).variant().ok()?;
    if kind != frame::kind::CALL {
        return None;
    }
    frame::decode_seq(bytes).ok()
}

enum Executed {
    Results(Vec<u8>),
    Failed(FailureReason),
    /// Cancelled before it started, or its connection stopped taking frames.
    NotStarted,
}

/// Why a call did not start, decided under its instance's lock.
enum NotStarted {
    Cancelled,
    /// The connection stopped taking frames (see [`Error::SendTimeout`]).
    Abandoned,
    DeadlineExceeded,
    BadArguments(codec::Error),
}

/// Decides, under the instance's lock, whether a call may still start, and decodes its
/// arguments if so.
struct Start<'a, 's> {
    conn: &'a Conn<'s>,
    seq: u64,
    target: &'a str,
    method: &'a str,
    deadline: Option<Instant>,
    instance: &'a Target,
}

impl Start<'_, '_> {
    /// The decoded arguments, if the call may start; if so, a renewal it found is reported,
    /// then it is reported executing.
    fn start(self, args: &[u8], params: &[schema::Type]) -> Result<Vec<Val>, NotStarted> {
        if self.conn.is_cancelled(self.seq) {
            return Err(NotStarted::Cancelled);
        }
        if self.conn.is_stalled() {
            return Err(NotStarted::Abandoned);
        }
        if self.deadline.is_some_and(|d| client::now() >= d) {
            return Err(NotStarted::DeadlineExceeded);
        }
        let args = codec::decode_args(args, params).map_err(NotStarted::BadArguments)?;
        self.notice_renewal();
        if let Some(observer) = &self.conn.observer {
            observer.executing(self.seq, self.target, self.method);
        }
        Ok(args)
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
}

/// Per-connection state: the transport, the dedup window, cancellations, admitted bytes, the
/// stall and idle clocks, counters.
struct Conn<'s> {
    transport: Arc<dyn Transport>,
    observer: Option<Arc<dyn Observe>>,
    window: std::sync::Mutex<Window<'s>>,
    cancelled_seqs: std::sync::Mutex<BTreeSet<u64>>,
    /// Bytes of this connection's calls admitted and not started.
    admitted_bytes: AtomicUsize,
    /// Notified when a call starts (its admitted bytes are freed).
    started: Notify,
    /// A send waited `send_timeout`: the peer does not read, the connection ends.
    stalled: AtomicBool,
    /// Wakes the sends still waiting once the connection stalled.
    stall: Notify,
    /// When a frame last came in or a call last ended.
    last_active: std::sync::Mutex<Instant>,
    config: &'s Config,
    /// Whether the peer sent its `Hello` (optional, at most one).
    hello_seen: AtomicBool,
    calls: AtomicU64,
    duplicates: AtomicU64,
    malformed: AtomicU64,
    unexpected: AtomicU64,
    cancelled: AtomicU64,
    deadline_exceeded: AtomicU64,
    renewals: AtomicU64,
    refused: AtomicU64,
    overloaded: AtomicU64,
    too_large: AtomicU64,
}

impl<'s> Conn<'s> {
    fn new(
        transport: Arc<dyn Transport>,
        server: &'s Server,
        observer: Option<Arc<dyn Observe>>,
    ) -> Conn<'s> {
        let config = &server.config;
        let limits = dedup::Limits {
            entries_max: config.dedup_window_max.max(1),
            bytes_max: config.dedup_window_bytes_max,
            node_bytes_max: config.dedup_node_bytes_max,
        };
        Conn {
            transport,
            observer,
            window: std::sync::Mutex::new(Window::new(limits, &server.dedup_bytes)),
            cancelled_seqs: std::sync::Mutex::new(BTreeSet::new()),
            admitted_bytes: AtomicUsize::new(0),
            started: Notify::new(),
            stalled: AtomicBool::new(false),
            stall: Notify::new(),
            last_active: std::sync::Mutex::new(client::now()),
            config,
            hello_seen: AtomicBool::new(false),
            calls: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            deadline_exceeded: AtomicU64::new(0),
            renewals: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            too_large: AtomicU64::new(0),
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

    fn window(&self) -> std::sync::MutexGuard<'_, Window<'s>> {
        lock(&self.window)
    }

    /// Whether the connection may read another frame: below its calls in flight and its
    /// admitted bytes (one frame may take it past the bytes).
    fn may_read(&self, running: usize) -> bool {
        let admitted = self.admitted_bytes.load(Ordering::SeqCst);
        running < self.config.calls_in_flight_max.max(1)
            && admitted < self.config.admitted_bytes_max.max(1)
    }

    fn duplicate(&self, seq: u64) {
        self.count(&self.duplicates);
        if let Some(observer) = &self.observer {
            observer.duplicate(seq);
        }
    }

    /// The `Failure` refusing a `Call` for `seq` without executing it.
    fn refuse(&self, seq: u64, refusal: Refusal) -> Arc<[u8]> {
        let message = match refusal {
            Refusal::Evicted { floor } => format!(
                "call {seq} refused, not executed: the dedup window no longer holds it (seqs at \
                 or below {floor} left the window)"
            ),
            Refusal::Forgotten => format!(
                "call {seq} refused, not executed: it is a copy of a finished call whose outcome \
                 the dedup window no longer keeps"
            ),
            Refusal::Reused => format!(
                "call refused: seq {seq} was used by another call on this connection (seqs must \
                 not be reused)"
            ),
        };
        let reason = FailureReason::Protocol(message);
        self.count(&self.refused);
        if let Some(observer) = &self.observer {
            observer.refused(seq, &reason);
        }
        Arc::from(encode_outcome(seq, &Executed::Failed(reason)))
    }

    /// Answers a `Call` that does not decode, if its seq can be read and is new.
    fn malformed<'c>(&self, bytes: &[u8], e: &neorpc::Error) -> Next<'c> {
        self.count(&self.malformed);
        let Some(seq) = call_seq(bytes) else {
            return Next::Nothing;
        };
        let admission = self.window().admit(seq, dedup::fingerprint_bytes(bytes));
        if !matches!(admission, Admission::New) {
            return Next::Nothing;
        }
        let reason = FailureReason::Protocol(format!("malformed Call {seq}: {e}"));
        Next::Answer(self.conclude(seq, Executed::Failed(reason)))
    }

    /// Marks `seq` cancelled if it is running; a later start is refused.
    fn cancel(&self, seq: u64) {
        if self.window().is_running(seq) {
            lock(&self.cancelled_seqs).insert(seq);
        }
    }

    fn is_cancelled(&self, seq: u64) -> bool {
        lock(&self.cancelled_seqs).contains(&seq)
    }

    fn refused_start(&self, not_started: NotStarted) -> Executed {
        match not_started {
            NotStarted::Cancelled => {
                self.count(&self.cancelled);
                Executed::NotStarted
            }
            NotStarted::Abandoned => Executed::NotStarted,
            NotStarted::DeadlineExceeded => {
                self.count(&self.deadline_exceeded);
                Executed::Failed(FailureReason::DeadlineExceeded)
            }
            NotStarted::BadArguments(e) => Executed::Failed(bad_argument(e)),
        }
    }

    /// Results to their outcome: a domain failure, or a `Reply` payload.
    fn outcome_of(&self, seq: u64, results: &[Val], sig: &FuncSig) -> Executed {
        let raised = domain::failure_of(results).filter(|_| domain::is_domain_result(&sig.results));
        if let Some(reason) = raised {
            return Executed::Failed(reason);
        }
        match codec::encode_results(results, &sig.results) {
            Ok(payload) => Executed::Results(payload),
            Err(e) => {
                self.failure_detail(seq, &format!("encoding results: {e}"));
                Executed::Failed(FailureReason::Protocol(RESULTS_UNENCODABLE.to_owned()))
            }
        }
    }

    fn failure_detail(&self, seq: u64, detail: &str) {
        if let Some(observer) = &self.observer {
            observer.failure_detail(seq, detail);
        }
    }

    /// The outcome frame of call `seq`, kept in the dedup window and reported answered: a
    /// `Failure` saying so if it is larger than the transport takes.
    fn conclude(&self, seq: u64, executed: Executed) -> Arc<[u8]> {
        let encoded = encode_outcome(seq, &executed);
        let max = self.transport.frame_size_max();
        let outcome = if encoded.len() > max {
            self.count(&self.too_large);
            too_large(seq, encoded.len(), max)
        } else {
            Arc::from(encoded)
        };
        self.window().finish(seq, &outcome);
        lock(&self.cancelled_seqs).remove(&seq);
        if let Some(observer) = &self.observer {
            observer.answered(seq, is_reply(&outcome));
        }
        outcome
    }

    /// Sends call `seq`'s outcome. A transport that refuses it as too large without saying so
    /// beforehand gets the `Failure` that says so instead, for this answer and its copies.
    async fn send_outcome(&self, seq: u64, outcome: Arc<[u8]>) {
        let Err(transport::Error::FrameTooLarge { size, max }) = self.send(&outcome).await else {
            return;
        };
        self.count(&self.too_large);
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let failure = too_large(seq, size, max);
        self.window().replace(seq, &failure);
        let _ = self.send(&failure).await;
    }

    /// Sends an answer from the reading loop: at once if the transport takes it at once,
    /// otherwise handed back, to finish beside the connection's calls rather than hold up the
    /// reading and the calls.
    async fn answer(&self, outcome: Arc<[u8]>) -> Option<Sending<'_>> {
        let mut sending: Sending<'_> = Box::pin(async move {
            let _ = self.send(&outcome).await;
        });
        match poll_once(sending.as_mut()).await {
            Poll::Ready(()) => None,
            Poll::Pending => Some(sending),
        }
    }

    /// Sends one frame, within `send_timeout`: a frame the peer does not take in time stalls
    /// the connection, which fails this send and every later one.
    async fn send(&self, frame: &[u8]) -> Result<(), transport::Error> {
        if self.is_stalled() {
            return Err(transport::Error::Closed);
        }
        let mut sending = self.transport.send(frame);
        if let Poll::Ready(sent) = poll_once(sending.as_mut()).await {
            return sent;
        }
        self.send_slowly(sending).await
    }

    /// The rest of a send the transport did not take at once: armed with the timeout only now,
    /// so a send that goes through at once costs no timer.
    async fn send_slowly(
        &self,
        sending: Pin<Box<dyn Future<Output = Result<(), transport::Error>> + Send + '_>>,
    ) -> Result<(), transport::Error> {
        let mut stalled = pin!(self.stall.notified());
        stalled.as_mut().enable();
        if self.is_stalled() {
            return Err(transport::Error::Closed);
        }
        let deadline = client::deadline_after(self.config.send_timeout);
        tokio::select! {
            biased;
            sent = sending => sent,
            () = stalled => Err(transport::Error::Closed),
            () = tokio::time::sleep_until(deadline) => {
                self.stalled.store(true, Ordering::SeqCst);
                self.stall.notify_waiters();
                Err(transport::Error::Closed)
            }
        }
    }

    fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::SeqCst)
    }

    fn stall_error(&self) -> Error {
        Error::SendTimeout {
            timeout: self.config.send_timeout,
        }
    }

    /// The error a failed send ends the connection with.
    fn ended_by(&self, e: transport::Error) -> Error {
        if self.is_stalled() {
            return self.stall_error();
        }
        Error::Transport(e)
    }

    fn touch(&self) {
        *lock(&self.last_active) = client::now();
    }

    /// When the connection idles out, if nothing happens before.
    fn idle_deadline(&self) -> Instant {
        let last_active = *lock(&self.last_active);
        let idle = self.config.idle_timeout;
        last_active
            .checked_add(idle)
            .unwrap_or_else(|| client::deadline_after(idle))
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
            refused: get(&self.refused),
            overloaded: get(&self.overloaded),
            too_large: get(&self.too_large),
        }
    }
}

/// An answer being sent beside the connection's calls.
type Sending<'c> = Pin<Box<dyn Future<Output = ()> + Send + 'c>>;

/// Polls `future` once: its output if it is ready, `Pending` (and a wake-up registered) if not.
async fn poll_once<F: Future + ?Sized>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
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

    /// One more, unless there are `max` already.
    fn up_to(gauge: &'a AtomicU64, max: u64) -> Option<Gauge<'a>> {
        let more = |live: u64| (live < max).then_some(live + 1);
        gauge
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, more)
            .ok()?;
        Some(Gauge(gauge))
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Locks a std mutex; a panic while holding one of these leaves plain data, so poisoning is
/// ignored.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outcome that cannot be encoded (here an empty results payload, which is no value)
    /// becomes a `Failure` addressed to its own call, not to seq 0.
    #[test]
    fn an_unencodable_outcome_fails_its_own_call() {
        let bytes = encode_outcome(7, &Executed::Results(Vec::new()));
        let decoded = frame::decode(&bytes);
        let Ok(Frame::Failure {
            seq: 7,
            reason: FailureReason::Protocol(message),
        }) = decoded
        else {
            panic!("expected a Protocol failure for 7, got {decoded:?}");
        };
        assert!(
            message.starts_with("the outcome cannot be encoded"),
            "{message}"
        );
    }
}
