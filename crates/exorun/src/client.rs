//! `Client`: calls on a peer over a [`Transport`], correlating each reply with its call by `seq`.
//!
//! One background task, the pump, owns the receiving side: it reads each frame's kind and
//! sequence number only (`neorpc::decode_seq`) and hands the frame to the waiting caller, who
//! decodes it fully. A pending call is a `oneshot` sender in a map keyed by `seq`.
//!
//! Every call ends with exactly one outcome: the results, a [`FailureReason`] raised by the peer
//! ([`Error::Failed`]), [`Error::Timeout`], or [`Error::Disconnected`]; or, before anything was
//! sent, an encoding or transport error. A pending entry never outlives its call: a guard
//! removes it when the call returns, times out, or its future is dropped; a call that gives up
//! while its request may be at the peer sends `Cancel{seq}` (best effort).
//!
//! When the stream ends or the transport fails, the pump fails every pending call at once, in
//! `seq` order, and later calls fail immediately with [`Error::Disconnected`].
//!
//! An [`Observe`]r, if configured, hears each `Call` frame the transport accepted
//! ([`Observe::sent`]) and, exactly once per such call, how it ended ([`Observe::ended`]). It
//! changes nothing about the calls.

use std::fmt;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use neorpc::FailureReason;
use neorpc::frame::{self, Frame};
use neorpc::schema::Type;
use tokio::sync::{Semaphore, SemaphorePermit, oneshot, watch};
use tokio::time::Instant;
use wasmtime::component::Val;

use crate::transport::{self, Transport};

/// How long a call waits for its outcome unless told otherwise.
pub const TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// How many calls may await their outcome at once unless configured otherwise; further callers
/// wait for a slot (within their own timeout).
pub const PENDING_CALLS_MAX_DEFAULT: usize = 4096;

/// The node name a client announces in its `Hello` unless configured otherwise.
pub const NODE_DEFAULT: &str = "exorun";

/// How long the `Cancel` of a call that gave up may take to leave, after which it is dropped.
const CANCEL_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// A timeout so long it means "never": what a deadline saturates to.
const DEADLINE_FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

const _: () = assert!(PENDING_CALLS_MAX_DEFAULT > 0);
const _: () = assert!(PENDING_CALLS_MAX_DEFAULT <= Semaphore::MAX_PERMITS);

/// What can go wrong with a call.
#[derive(Debug)]
pub enum Error {
    /// The transport refused the frame or failed while sending it.
    Transport(transport::Error),
    /// The peer answered with a failure, delivered exactly as raised.
    Failed(FailureReason),
    /// No outcome arrived within the call's timeout.
    Timeout,
    /// The connection ended (or was already gone) before an outcome arrived.
    Disconnected,
    /// The arguments did not match their types, or the results did not match theirs.
    Codec(neorpc::codec::Error),
    /// A frame could not be encoded, or the peer's answer could not be decoded.
    Protocol(neorpc::Error),
    /// After a reconnect, the peer no longer honours the contract the call relies on (its
    /// target no longer serves the interface, a signature changed, another protocol version):
    /// nothing was sent. The message names the interface and the difference.
    Contract(String),
    /// The connection was lost and could not be made again: `attempts` connects failed, the
    /// last with `cause`. Nothing was sent.
    Unreachable { attempts: u32, cause: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport(e) => write!(f, "call failed in transport: {e}"),
            Error::Failed(reason) => write!(f, "call failed: {reason}"),
            Error::Timeout => write!(f, "call timed out"),
            Error::Disconnected => write!(f, "connection to the peer is closed"),
            Error::Codec(e) => write!(f, "value codec: {e}"),
            Error::Protocol(e) => write!(f, "protocol: {e}"),
            Error::Contract(message) => write!(f, "the peer breaks the contract: {message}"),
            Error::Unreachable { attempts, cause } => write!(
                f,
                "peer unreachable: {attempts} connect attempts failed, the last with: {cause}"
            ),
        }
    }
}

/// No `source()`: every message that wraps another error includes it, so a chain printed with
/// `{:#}` says each cause once.
impl std::error::Error for Error {}

/// A transport that reports [`transport::Error::Closed`] has lost its peer: that is a
/// disconnect, like the end of the stream.
impl From<transport::Error> for Error {
    fn from(e: transport::Error) -> Self {
        match e {
            transport::Error::Closed => Error::Disconnected,
            e => Error::Transport(e),
        }
    }
}

impl From<neorpc::codec::Error> for Error {
    fn from(e: neorpc::codec::Error) -> Self {
        Error::Codec(e)
    }
}

impl From<neorpc::Error> for Error {
    fn from(e: neorpc::Error) -> Self {
        Error::Protocol(e)
    }
}

impl From<neopack::Error> for Error {
    fn from(e: neopack::Error) -> Self {
        Error::Protocol(neorpc::Error::Pack(e))
    }
}

/// How a [`Client`] behaves.
#[derive(Clone)]
pub struct Config {
    /// How long a call waits for a slot and its outcome, together ([`TIMEOUT_DEFAULT`]). The
    /// remaining budget travels in the `Call` frame as its deadline.
    pub timeout: Duration,
    /// How many calls may be pending at once ([`PENDING_CALLS_MAX_DEFAULT`]); more callers wait.
    pub pending_calls_max: usize,
    /// The name this client announces in its `Hello` ([`NODE_DEFAULT`]).
    pub node: String,
    /// Hears every call sent and how it ended (none by default).
    pub observer: Option<Arc<dyn Observe>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout: TIMEOUT_DEFAULT,
            pending_calls_max: PENDING_CALLS_MAX_DEFAULT,
            node: NODE_DEFAULT.to_owned(),
            observer: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("timeout", &self.timeout)
            .field("pending_calls_max", &self.pending_calls_max)
            .field("node", &self.node)
            .field("observer", &self.observer.as_ref().map(|_| "dyn Observe"))
            .finish()
    }
}

/// How a sent call ended, as an [`Observe`]r hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// A `Reply` arrived.
    Reply,
    /// A `Failure` arrived with this reason. An answer that could not be decoded is reported
    /// as `Failed(FailureReason::Protocol(..))` (the caller gets [`Error::Protocol`]).
    Failed(FailureReason),
    /// No outcome arrived within the call's timeout.
    Timeout,
    /// The connection ended before an outcome arrived.
    Disconnected,
    /// The caller's future was dropped before an outcome arrived.
    Dropped,
}

/// Hears what a client's calls do, for a trace; changes nothing about them. Called from the
/// calling task (or wherever its future is dropped), never while a lock is held: keep it cheap
/// and never block.
pub trait Observe: Send + Sync {
    /// The transport accepted the `Call` frame `seq` for `method` on `target`.
    fn sent(&self, seq: u64, target: &str, method: &str);

    /// The call `seq`, reported [`sent`](Observe::sent) before, ended: exactly once per call.
    fn ended(&self, seq: u64, end: &CallEnd);
}

/// Counters of frames the pump could not deliver to a caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `Reply` or `Failure` frames for no pending call: late (after a timeout or a dropped
    /// caller) or duplicated.
    pub unknown_replies: u64,
    /// Frames that could not be decoded.
    pub malformed_frames: u64,
    /// Well-formed frames a client never expects (`Call`, `Cancel`).
    pub unexpected_frames: u64,
    /// Calls that ended in [`Error::Timeout`].
    pub timeouts: u64,
}

/// The `Hello` the peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHello {
    /// The peer's protocol version (ours is [`neorpc::frame::VERSION`]).
    pub version: u32,
    /// The peer's node name.
    pub node: String,
    /// What the peer offers: one neopack value (for a server, its exposed interface schemas).
    pub offer: Vec<u8>,
}

/// What the pump hands a waiting caller.
#[derive(Debug)]
enum Outcome {
    /// A `Reply` or `Failure` frame for the call, still encoded.
    Answer(Vec<u8>),
    /// The stream ended first.
    Disconnected,
}

/// Pending calls by `seq`. A fixed hasher: nothing about the map's layout may depend on
/// per-process randomness (the pump still drains it in sorted order).
type PendingMap = DashMap<u64, oneshot::Sender<Outcome>, BuildHasherDefault<DefaultHasher>>;

/// The state the client shares with its pump.
#[derive(Debug)]
struct Shared {
    pending: PendingMap,
    /// Set by the pump when the stream ends; no call is registered after.
    disconnected: AtomicBool,
    /// Why the stream ended, if it broke rather than closed.
    disconnect_cause: std::sync::Mutex<Option<String>>,
    /// One permit per pending call; closed on disconnect.
    permits: Semaphore,
    unknown_replies: AtomicU64,
    malformed_frames: AtomicU64,
    unexpected_frames: AtomicU64,
    timeouts: AtomicU64,
}

/// Calls on one peer over one transport. Calls may run concurrently from any number of tasks
/// (`&self`); share the client behind an `Arc`. Dropping it stops the pump.
pub struct Client {
    transport: Arc<dyn Transport>,
    shared: Arc<Shared>,
    seq_next: AtomicU64,
    config: Config,
    hello: watch::Receiver<Option<PeerHello>>,
    pump: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("pending", &self.shared.pending.len())
            .field("disconnected", &self.is_disconnected())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with the default [`Config`]. Spawns the pump: call inside a tokio (or madsim)
    /// runtime.
    pub fn new(transport: Arc<dyn Transport>) -> Client {
        Client::with_config(transport, Config::default())
    }

    /// A client with `config`. Spawns the pump: call inside a tokio (or madsim) runtime.
    ///
    /// # Panics
    /// If `config.pending_calls_max` is zero or above `Semaphore::MAX_PERMITS`.
    pub fn with_config(transport: Arc<dyn Transport>, config: Config) -> Client {
        assert!(
            config.pending_calls_max > 0,
            "pending_calls_max must be positive"
        );
        assert!(config.pending_calls_max <= Semaphore::MAX_PERMITS);
        let shared = Arc::new(Shared {
            pending: PendingMap::default(),
            disconnected: AtomicBool::new(false),
            disconnect_cause: std::sync::Mutex::new(None),
            permits: Semaphore::new(config.pending_calls_max),
            unknown_replies: AtomicU64::new(0),
            malformed_frames: AtomicU64::new(0),
            unexpected_frames: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
        });
        let (hello_tx, hello_rx) = watch::channel(None);
        let pump = tokio::spawn(pump(transport.clone(), shared.clone(), hello_tx));
        Client {
            transport,
            shared,
            seq_next: AtomicU64::new(1),
            config,
            hello: hello_rx,
            pump,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls `method` on `target` with `args` (of types `params`), within the configured
    /// timeout, and decodes the results as `results`.
    pub async fn call(
        &self,
        target: &str,
        method: &str,
        args: &[Val],
        params: &[Type],
        results: &[Type],
    ) -> Result<Vec<Val>, Error> {
        let timeout = self.config.timeout;
        self.call_with_timeout(target, method, args, params, results, timeout)
            .await
    }

    /// Like [`Client::call`], within `timeout`.
    pub async fn call_with_timeout(
        &self,
        target: &str,
        method: &str,
        args: &[Val],
        params: &[Type],
        results: &[Type],
        timeout: Duration,
    ) -> Result<Vec<Val>, Error> {
        let args_payload = neorpc::codec::encode_args(args, params)?;
        let results_payload = self
            .call_raw_with_timeout(target, method, &args_payload, timeout)
            .await?;
        Ok(neorpc::codec::decode_results(&results_payload, results)?)
    }

    /// Calls `method` on `target` with pre-encoded arguments (exactly one neopack value), within
    /// the configured timeout. Returns the results payload (one neopack value).
    pub async fn call_raw(
        &self,
        target: &str,
        method: &str,
        args_payload: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let timeout = self.config.timeout;
        self.call_raw_with_timeout(target, method, args_payload, timeout)
            .await
    }

    /// Like [`Client::call_raw`], within `timeout`: waiting for a slot, sending, and awaiting
    /// the outcome all count against it. The peer is told the remaining budget as the `Call`
    /// frame's deadline.
    pub async fn call_raw_with_timeout(
        &self,
        target: &str,
        method: &str,
        args_payload: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, Error> {
        let deadline = deadline_after(timeout);
        self.exchange(target, method, args_payload, deadline).await
    }

    /// Sends our `Hello`: protocol version, [`Config::node`], and `offer` (exactly one neopack
    /// value, sent untouched), within the configured timeout.
    pub async fn send_hello(&self, offer: &[u8]) -> Result<(), Error> {
        let mut enc = neopack::Encoder::with_capacity(offer.len() + 32);
        frame::encode_hello(&mut enc, frame::VERSION, &self.config.node, offer)?;
        let bytes = enc.into_bytes()?;
        let deadline = deadline_after(self.config.timeout);
        let Ok(sent) = within(deadline, self.transport.send(&bytes)).await else {
            return Err(Error::Timeout);
        };
        Ok(sent?)
    }

    /// The peer's `Hello`, waiting for it within the configured timeout.
    pub async fn peer_hello(&self) -> Result<PeerHello, Error> {
        self.peer_hello_with_timeout(self.config.timeout).await
    }

    /// The peer's `Hello`, waiting for it within `timeout`. [`Error::Disconnected`] if the
    /// stream ended without one. Its version is the caller's to check
    /// ([`neorpc::frame::check_version`]). A peer that sends a second `Hello` breaks the
    /// protocol: the client disconnects ([`Client::disconnect_cause`] says why), and this keeps
    /// returning the first.
    pub async fn peer_hello_with_timeout(&self, timeout: Duration) -> Result<PeerHello, Error> {
        let mut hello = self.hello.clone();
        let deadline = deadline_after(timeout);
        let Ok(waited) = within(deadline, hello.wait_for(Option::is_some)).await else {
            return Err(Error::Timeout);
        };
        let Ok(received) = waited else {
            return Err(Error::Disconnected);
        };
        received.clone().ok_or(Error::Disconnected)
    }

    /// How many calls await their outcome. Zero whenever no call is in flight.
    pub fn pending_len(&self) -> usize {
        self.shared.pending.len()
    }

    /// Whether the stream has ended; every call now fails with [`Error::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        self.shared.disconnected.load(Ordering::SeqCst)
    }

    /// Why the stream ended, if the transport failed or the peer broke the protocol (rather than
    /// the peer closing it).
    pub fn disconnect_cause(&self) -> Option<String> {
        lock(&self.shared.disconnect_cause).clone()
    }

    /// The pump's counters.
    pub fn stats(&self) -> Stats {
        let shared = &self.shared;
        Stats {
            unknown_replies: shared.unknown_replies.load(Ordering::Relaxed),
            malformed_frames: shared.malformed_frames.load(Ordering::Relaxed),
            unexpected_frames: shared.unexpected_frames.load(Ordering::Relaxed),
            timeouts: shared.timeouts.load(Ordering::Relaxed),
        }
    }

    /// Sends one call and awaits its answer frame, all before `deadline`.
    async fn exchange(
        &self,
        target: &str,
        method: &str,
        args_payload: &[u8],
        deadline: Instant,
    ) -> Result<Vec<u8>, Error> {
        if self.is_disconnected() {
            return Err(Error::Disconnected);
        }
        let _permit = self.acquire_permit(deadline).await?;
        let seq = self.seq_next.fetch_add(1, Ordering::Relaxed);
        let budget = deadline.saturating_duration_since(now());
        let budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX);
        let call =
            frame::CallEncoder::new(seq, target, method, args_payload).with_deadline(budget_ms);
        let bytes = call.to_bytes()?;
        let (tx, rx) = oneshot::channel();
        let mut guard = self.register(seq, tx)?;
        let sending = self.send_and_wait(&bytes, target, method, rx, &mut guard);
        let Ok(answer) = within(deadline, sending).await else {
            // The guard, dropped on return, removes the entry and sends the Cancel.
            self.shared.timeouts.fetch_add(1, Ordering::Relaxed);
            guard.report_end(&CallEnd::Timeout);
            #[cfg(madsim)]
            if crate::plant::active(crate::plant::Plant::ForgetPending) {
                guard.forget = true;
            }
            return Err(Error::Timeout);
        };
        let decoded = answer.and_then(|frame| self.decode_answer(&frame));
        guard.report_end(&end_of(&decoded));
        decoded
    }

    async fn acquire_permit(&self, deadline: Instant) -> Result<SemaphorePermit<'_>, Error> {
        let Ok(acquired) = within(deadline, self.shared.permits.acquire()).await else {
            self.shared.timeouts.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Timeout);
        };
        // The semaphore is closed only on disconnect.
        acquired.map_err(|_| Error::Disconnected)
    }

    /// Enters the call in the pending map, unless the stream has already ended.
    fn register(&self, seq: u64, tx: oneshot::Sender<Outcome>) -> Result<PendingGuard<'_>, Error> {
        let previous = self.shared.pending.insert(seq, tx);
        assert!(previous.is_none(), "seq {seq} was already pending");
        let mut guard = PendingGuard {
            client: self,
            seq,
            cancel_on_drop: true,
            reported: false,
            #[cfg(madsim)]
            forget: false,
        };
        // Pairs with the fence in `Shared::disconnect`: either the pump's drain sees this
        // entry, or this load sees the flag. Never neither.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.is_disconnected() {
            guard.cancel_on_drop = false;
            return Err(Error::Disconnected);
        }
        Ok(guard)
    }

    async fn send_and_wait(
        &self,
        bytes: &[u8],
        target: &str,
        method: &str,
        rx: oneshot::Receiver<Outcome>,
        guard: &mut PendingGuard<'_>,
    ) -> Result<Vec<u8>, Error> {
        if let Err(e) = self.transport.send(bytes).await {
            // Nothing (or, on a broken stream, nothing usable) reached the peer.
            guard.cancel_on_drop = false;
            return Err(e.into());
        }
        guard.report_sent(target, method);
        match rx.await {
            Ok(Outcome::Answer(frame)) => Ok(frame),
            // A dropped sender means the pump is gone.
            Ok(Outcome::Disconnected) | Err(_) => Err(Error::Disconnected),
        }
    }

    /// Decodes a `Reply` or `Failure` frame that the pump routed to this call.
    fn decode_answer(&self, answer: &[u8]) -> Result<Vec<u8>, Error> {
        let decoded = frame::decode(answer).inspect_err(|_| {
            self.shared.malformed_frames.fetch_add(1, Ordering::Relaxed);
        })?;
        match decoded {
            Frame::Reply { results, .. } => Ok(results.to_vec()),
            Frame::Failure { reason, .. } => Err(Error::Failed(reason)),
            // The pump routes only frames of those two kinds here.
            _ => Err(Error::Protocol(neorpc::Error::BadField {
                field: "kind",
                reason: "an answer must be a Reply or a Failure",
            })),
        }
    }

    /// Sends `Cancel{seq}` from a task of its own, so that a caller giving up (or being dropped)
    /// never waits on the transport.
    fn spawn_cancel(&self, seq: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut enc = neopack::Encoder::with_capacity(16);
        if frame::encode_cancel(&mut enc, seq).is_err() {
            return;
        }
        let Ok(bytes) = enc.into_bytes() else {
            return;
        };
        let transport = self.transport.clone();
        runtime.spawn(async move {
            let deadline = deadline_after(CANCEL_SEND_TIMEOUT);
            // Best effort: a Cancel that cannot leave is of no use later.
            let _ = within(deadline, transport.send(&bytes)).await;
        });
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

/// Removes its call's pending entry when the call ends, however it ends. If the entry was still
/// there (no outcome arrived: timeout, or the caller's future was dropped), tells the peer.
/// Reports the call to the observer: sent, then ended exactly once ([`CallEnd::Dropped`] if
/// nothing else was reported by the time it drops).
struct PendingGuard<'a> {
    client: &'a Client,
    seq: u64,
    cancel_on_drop: bool,
    /// Reported sent and not yet ended.
    reported: bool,
    /// Planted bug: leave the entry behind.
    #[cfg(madsim)]
    forget: bool,
}

impl PendingGuard<'_> {
    fn report_sent(&mut self, target: &str, method: &str) {
        let Some(observer) = &self.client.config.observer else {
            return;
        };
        observer.sent(self.seq, target, method);
        self.reported = true;
    }

    fn report_end(&mut self, end: &CallEnd) {
        if !self.reported {
            return;
        }
        self.reported = false;
        let Some(observer) = &self.client.config.observer else {
            return;
        };
        observer.ended(self.seq, end);
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.report_end(&CallEnd::Dropped);
        #[cfg(madsim)]
        if self.forget {
            return;
        }
        let removed = self.client.shared.pending.remove(&self.seq);
        if removed.is_none() || !self.cancel_on_drop {
            return;
        }
        self.client.spawn_cancel(self.seq);
    }
}

/// How a call that was sent ended, from what its caller gets.
fn end_of(decoded: &Result<Vec<u8>, Error>) -> CallEnd {
    match decoded {
        Ok(_) => CallEnd::Reply,
        Err(Error::Failed(reason)) => CallEnd::Failed(reason.clone()),
        Err(Error::Timeout) => CallEnd::Timeout,
        Err(Error::Protocol(e)) => CallEnd::Failed(FailureReason::Protocol(e.to_string())),
        // Once the frame has left, only the pump going away fails a call otherwise.
        Err(_) => CallEnd::Disconnected,
    }
}

// ---- the pump -------------------------------------------------------------------------------

async fn pump(
    transport: Arc<dyn Transport>,
    shared: Arc<Shared>,
    hello: watch::Sender<Option<PeerHello>>,
) {
    let cause = loop {
        let routed = match transport.recv().await {
            Ok(Some(frame)) => shared.route(frame, &hello),
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        };
        if let Err(e) = routed {
            break Some(format!("protocol: {e}"));
        }
    };
    shared.disconnect(cause);
}

impl Shared {
    /// Hands a frame on; a breach of the protocol that ends the connection is an error.
    fn route(
        &self,
        frame: Vec<u8>,
        hello: &watch::Sender<Option<PeerHello>>,
    ) -> Result<(), neorpc::Error> {
        let Ok(kind) = neopack::Decoder::new(&frame).variant() else {
            self.malformed_frames.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        match kind {
            frame::kind::REPLY | frame::kind::FAILURE => self.route_answer(frame),
            frame::kind::HELLO => return self.route_hello(&frame, hello),
            frame::kind::CALL | frame::kind::CANCEL => {
                self.unexpected_frames.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.malformed_frames.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn route_answer(&self, frame: Vec<u8>) {
        let Ok(seq) = neorpc::decode_seq(&frame) else {
            self.malformed_frames.fetch_add(1, Ordering::Relaxed);
            return;
        };
        #[cfg(madsim)]
        let seq = self.misrouted(seq);
        let Some((_, tx)) = self.pending.remove(&seq) else {
            self.unknown_replies.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if tx.send(Outcome::Answer(frame)).is_err() {
            // The caller gave up between our remove and this send: a late reply.
            self.unknown_replies.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Planted bug: the smallest other pending `seq`, if there is one, instead of `seq`.
    #[cfg(madsim)]
    fn misrouted(&self, seq: u64) -> u64 {
        if !crate::plant::active(crate::plant::Plant::MisrouteReply) {
            return seq;
        }
        let others = self.pending.iter().map(|entry| *entry.key());
        others.filter(|other| *other != seq).min().unwrap_or(seq)
    }

    /// Keeps the peer's `Hello` for [`Client::peer_hello`]; a second one is
    /// [`neorpc::Error::SecondHello`].
    fn route_hello(
        &self,
        frame: &[u8],
        hello: &watch::Sender<Option<PeerHello>>,
    ) -> Result<(), neorpc::Error> {
        let Ok(Frame::Hello {
            version,
            node,
            offer,
        }) = frame::decode(frame)
        else {
            self.malformed_frames.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        if hello.borrow().is_some() {
            return Err(neorpc::Error::SecondHello);
        }
        hello.send_replace(Some(PeerHello {
            version,
            node: node.to_owned(),
            offer: offer.to_vec(),
        }));
        Ok(())
    }

    /// Fails every pending call with `Disconnected`, in `seq` order, and every later one.
    /// `cause` says why, if the stream did not simply end.
    fn disconnect(&self, cause: Option<String>) {
        *lock(&self.disconnect_cause) = cause;
        self.disconnected.store(true, Ordering::SeqCst);
        // Pairs with the fence in `Client::register`.
        std::sync::atomic::fence(Ordering::SeqCst);
        self.permits.close();
        let mut seqs: Vec<u64> = self.pending.iter().map(|entry| *entry.key()).collect();
        seqs.sort_unstable();
        for seq in seqs {
            let Some((_, tx)) = self.pending.remove(&seq) else {
                continue;
            };
            // The caller may be gone already; nothing to tell then.
            let _ = tx.send(Outcome::Disconnected);
        }
    }
}

// ---- time -----------------------------------------------------------------------------------

/// The current instant on the runtime's clock (simulated under madsim, where `Instant::now` is
/// the virtual clock). Every reading of the clock in exorun goes through here.
#[cfg_attr(
    madsim,
    allow(clippy::disallowed_methods, reason = "madsim virtualizes Instant::now")
)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = now();
    now.checked_add(timeout).unwrap_or(now + DEADLINE_FAR)
}

/// The deadline passed first.
pub(crate) struct Elapsed;

/// Runs `future` until `deadline`. Polls the future first, so an outcome that is already there
/// wins over a deadline that has also passed. (madsim has no `timeout_at`, and its `timeout`
/// future is not `Send`.)
pub(crate) async fn within<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    tokio::select! {
        biased;
        output = future => Ok(output),
        () = tokio::time::sleep_until(deadline) => Err(Elapsed),
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values hold no invariant a panic could break.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
