//! The fault-injecting network between virtual nodes: an exorun [`Transport`] per connection
//! end, with every neorpc frame's fate decided from the scenario's seed.
//!
//! madsim supplies the executor, the clock and node crashes; its own network delivers streams
//! in order and never duplicates, so the frame-level faults live here:
//!
//! - **drop**: the frame is lost (the seed's loss draw, or a cut link);
//! - **duplicate**: the frame arrives twice, the copy after its own delay, possibly far apart;
//! - **delay**: the frame arrives after an extra delay, so frames sent later on the same
//!   connection overtake it (a reorder, counted when it happens);
//! - **cut / heal**: a link between two nodes drops every frame one way or both ways;
//! - **crash**: every connection of the node closes; its listener is gone until it restarts.
//!
//! `Hello` frames are never lost or duplicated: the handshake stands for connection setup,
//! which a cut link refuses instead. Every decision is a trace event, so a run can be read
//! frame by frame. Delivery tasks run on the network's own node, so a frame in flight
//! outlives a crash of its sender (and is then dropped as `closed` if its connection went).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exorun::ledger;
use exorun::server::Offer;
use exorun::transport::{self, Transport};
use madsim::runtime::NodeHandle;
use neopack::Encoder;
use neorpc::FailureReason;
use neorpc::frame::{self, Frame};
use neorpc::schema::InterfaceSchema;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use tokio::sync::mpsc;

use crate::recorder::Recorder;
use crate::scenario::{Faults, Net};
use crate::trace::{Dir, DropCause, EventKind, Fate, FrameInfo};

/// Mixed into the scenario seed for the network's stream, so that it differs from the
/// scheduler's.
const NETWORK_STREAM: u64 = 0x6e65_7477_6f72_6b00;

/// How long a connection attempt takes before it is accepted or refused, in base latencies.
const CONNECT_ROUND_TRIPS: u64 = 2;

/// What a caller node requires of one target on a server node, to check each `Hello` offer.
#[derive(Debug, Clone)]
pub struct Requirement {
    pub target: String,
    pub interface: String,
    pub schema: InterfaceSchema,
}

/// The fault settings the network applies until the run heals.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    pub net: Net,
    pub faults: Faults,
    /// The planted bug `alter-domain-code`: a domain failure's code changes in transit.
    pub alter_domain_code: bool,
}

/// The simulated network of one run.
pub struct Network {
    settings: Settings,
    recorder: Arc<Recorder>,
    /// Where delivery tasks run: a node of their own, never crashed. `None` once the run is
    /// over ([`Network::close`]).
    home: Mutex<Option<NodeHandle>>,
    /// Required contracts by (caller node, server node).
    requirements: BTreeMap<(String, String), Vec<Requirement>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    rng: Option<ChaCha8Rng>,
    conns: BTreeMap<u64, Conn>,
    conn_next: u64,
    listeners: BTreeMap<String, mpsc::UnboundedSender<Arc<SimTransport>>>,
    /// Directed cuts: frames from `.0` to `.1` are dropped.
    cuts: BTreeSet<(String, String)>,
    healed: bool,
}

/// One connection: a caller node and a serving node, a queue towards each.
struct Conn {
    client: Arc<str>,
    server: Arc<str>,
    /// `None` once the connection is closed.
    up: Option<mpsc::UnboundedSender<Vec<u8>>>,
    down: Option<mpsc::UnboundedSender<Vec<u8>>>,
    sent: [u64; 2],
    /// The highest frame index delivered so far, per direction.
    delivered_max: [Option<u64>; 2],
}

impl Conn {
    fn is_open(&self) -> bool {
        self.up.is_some()
    }

    fn sender(&self, dir: Dir) -> Option<&mpsc::UnboundedSender<Vec<u8>>> {
        match dir {
            Dir::Up => self.up.as_ref(),
            Dir::Down => self.down.as_ref(),
        }
    }

    fn ends(&self, dir: Dir) -> (&Arc<str>, &Arc<str>) {
        match dir {
            Dir::Up => (&self.client, &self.server),
            Dir::Down => (&self.server, &self.client),
        }
    }
}

fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Up => 0,
        Dir::Down => 1,
    }
}

impl Network {
    pub fn new(
        settings: Settings,
        recorder: Arc<Recorder>,
        home: NodeHandle,
        requirements: BTreeMap<(String, String), Vec<Requirement>>,
    ) -> Arc<Network> {
        let rng = ChaCha8Rng::seed_from_u64(settings.seed ^ NETWORK_STREAM);
        let state = State {
            rng: Some(rng),
            conn_next: 1,
            ..State::default()
        };
        Arc::new(Network {
            settings,
            recorder,
            home: Mutex::new(Some(home)),
            requirements,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers `node`'s listener: connections to it arrive on the returned queue.
    pub fn listen(&self, node: &str) -> mpsc::UnboundedReceiver<Arc<SimTransport>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let replaced = self.lock().listeners.insert(node.to_owned(), tx);
        drop(replaced);
        rx
    }

    /// Connects `client` to `server`: after a connection round trip, the caller's end, or an
    /// error if the server is down or the link is cut either way.
    pub async fn connect(
        self: &Arc<Self>,
        client: &str,
        server: &str,
    ) -> Result<Arc<SimTransport>, transport::Error> {
        let setup = self.latency_us().saturating_mul(CONNECT_ROUND_TRIPS);
        tokio::time::sleep(Duration::from_micros(setup)).await;
        match self.open(client, server) {
            Ok(end) => Ok(end),
            Err(why) => {
                let server = server.to_owned();
                let kind = EventKind::ConnRefused {
                    server,
                    why: why.to_owned(),
                };
                self.recorder.record(client, kind);
                let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, why);
                Err(transport::Error::Io(refused))
            }
        }
    }

    fn open(self: &Arc<Self>, client: &str, server: &str) -> Result<Arc<SimTransport>, &str> {
        let mut state = self.lock();
        let cut = |a: &str, b: &str| state.cuts.contains(&(a.to_owned(), b.to_owned()));
        if cut(client, server) || cut(server, client) {
            return Err("link cut");
        }
        let Some(listener) = state.listeners.get(server).cloned() else {
            return Err("nothing listening");
        };
        let id = state.conn_next;
        state.conn_next += 1;
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let (down_tx, down_rx) = mpsc::unbounded_channel();
        state.conns.insert(
            id,
            Conn {
                client: Arc::from(client),
                server: Arc::from(server),
                up: Some(up_tx),
                down: Some(down_tx),
                sent: [0; 2],
                delivered_max: [None; 2],
            },
        );
        drop(state);
        let server_end = SimTransport::new(self, id, Dir::Down, server, down_tx_rx(up_rx));
        let client_end = SimTransport::new(self, id, Dir::Up, client, down_tx_rx(down_rx));
        if listener.send(server_end).is_err() {
            // The listener's node is gone; the server end was dropped and closed the conn.
            return Err("nothing listening");
        }
        let server = server.to_owned();
        self.recorder
            .record(client, EventKind::ConnOpen { conn: id, server });
        Ok(client_end)
    }

    /// Cuts the link `from → to` (and back, with `both`).
    pub fn cut(&self, from: &str, to: &str, both: bool) {
        let mut state = self.lock();
        state.cuts.insert((from.to_owned(), to.to_owned()));
        if both {
            state.cuts.insert((to.to_owned(), from.to_owned()));
        }
    }

    /// Heals what [`Network::cut`] cut.
    pub fn heal(&self, from: &str, to: &str, both: bool) {
        let mut state = self.lock();
        state.cuts.remove(&(from.to_owned(), to.to_owned()));
        if both {
            state.cuts.remove(&(to.to_owned(), from.to_owned()));
        }
    }

    /// No more injected faults: the liveness window starts.
    pub fn heal_all(&self) {
        let mut state = self.lock();
        state.cuts.clear();
        state.healed = true;
    }

    /// `node` crashed: its listener and every connection it was part of are gone.
    pub fn crash(&self, node: &str) {
        let mut state = self.lock();
        let listener = state.listeners.remove(node);
        let ids: Vec<u64> = state
            .conns
            .iter()
            .filter(|(_, c)| c.is_open() && (*c.client == *node || *c.server == *node))
            .map(|(id, _)| *id)
            .collect();
        let mut closed = Vec::new();
        for id in ids {
            closed.extend(close_locked(&mut state, id));
        }
        drop(state);
        // Queued ends close their connections when dropped: outside the lock.
        drop(listener);
        for (id, client) in closed {
            let why = format!("crash of {node}");
            self.recorder
                .record(&client, EventKind::ConnClose { conn: id, why });
        }
    }

    /// One end hung up (dropped its transport): the connection closes for both.
    fn hang_up(&self, conn: u64, node: &str) {
        let closed = close_locked(&mut self.lock(), conn);
        if let Some((id, client)) = closed {
            let why = format!("{node} hung up");
            self.recorder
                .record(&client, EventKind::ConnClose { conn: id, why });
        }
    }

    /// Open connections, for the end-of-run report.
    pub fn open_conns(&self) -> u64 {
        self.lock().conns.values().filter(|c| c.is_open()).count() as u64
    }

    // ---- frames ---------------------------------------------------------------------------

    /// Decides `bytes`' fate, records it and schedules its deliveries.
    fn send(self: &Arc<Self>, conn: u64, dir: Dir, bytes: &[u8]) -> Result<(), transport::Error> {
        let info = frame_info(bytes);
        let bytes = self.in_transit(&info, bytes);
        let mut state = self.lock();
        let Some(c) = state.conns.get_mut(&conn) else {
            return Err(transport::Error::Closed);
        };
        let (from, to) = c.ends(dir);
        let (from, to) = (Arc::clone(from), Arc::clone(to));
        let index = c.sent[dir_index(dir)];
        c.sent[dir_index(dir)] += 1;
        let open = c.is_open();
        let cut = is_cut(&state.cuts, &from, &to);
        let fate = match (open, cut) {
            (false, _) => Fate::Drop(DropCause::Closed),
            (true, true) => Fate::Drop(DropCause::Cut),
            (true, false) => self.draw_fate(&mut state, &info),
        };
        drop(state);
        if matches!(info, FrameInfo::Hello) && dir == Dir::Down {
            self.check_offer(conn, &to, &from, &bytes);
        }
        let size = bytes.len();
        // Scheduling only spawns the deliveries (none runs before this returns): the trace
        // still shows the send before any of them.
        match &fate {
            Fate::Deliver { delay_us } => self.schedule(conn, dir, index, bytes, &[*delay_us]),
            Fate::Duplicate { delays_us } => self.schedule(conn, dir, index, bytes, delays_us),
            Fate::Drop(_) => {}
        }
        self.recorder.record(
            &from,
            EventKind::Send {
                conn,
                dir,
                index,
                frame: info,
                bytes: size,
                fate,
            },
        );
        match open {
            true => Ok(()),
            false => Err(transport::Error::Closed),
        }
    }

    /// The bytes that travel: the sent ones, unless a planted bug alters them in transit.
    fn in_transit(&self, info: &FrameInfo, bytes: &[u8]) -> Vec<u8> {
        if !self.settings.alter_domain_code || !matches!(info, FrameInfo::Failure { .. }) {
            return bytes.to_vec();
        }
        let Ok(Frame::Failure {
            seq,
            reason: FailureReason::DomainSpecific(code, message),
        }) = frame::decode(bytes)
        else {
            return bytes.to_vec();
        };
        let altered = FailureReason::DomainSpecific(code.wrapping_add(1), message);
        let mut enc = Encoder::new();
        match frame::encode_failure(&mut enc, seq, &altered) {
            Ok(()) => enc.as_bytes().to_vec(),
            Err(_) => bytes.to_vec(),
        }
    }

    fn draw_fate(&self, state: &mut State, info: &FrameInfo) -> Fate {
        let faults = &self.settings.faults;
        let healed = state.healed;
        let Some(rng) = state.rng.as_mut() else {
            return Fate::Drop(DropCause::Closed);
        };
        let base = uniform(
            rng,
            self.settings.net.latency_min_us,
            self.settings.net.latency_max_us,
        );
        if healed || matches!(info, FrameInfo::Hello) {
            return Fate::Deliver { delay_us: base };
        }
        let extra_max = faults.delay_max_ms.saturating_mul(1000);
        if chance(rng, faults.drop) {
            return Fate::Drop(DropCause::Fault);
        }
        let delay_us = match chance(rng, faults.delay) {
            true => base + uniform(rng, 0, extra_max),
            false => base,
        };
        if !chance(rng, faults.duplicate) {
            return Fate::Deliver { delay_us };
        }
        // The copy comes after its own delay: soon, or long after the original.
        let spread = extra_max.max(self.settings.net.latency_max_us * 50);
        let copy = base + uniform(rng, 0, spread);
        Fate::Duplicate {
            delays_us: vec![delay_us, copy],
        }
    }

    fn latency_us(&self) -> u64 {
        let mut state = self.lock();
        let Some(rng) = state.rng.as_mut() else {
            return self.settings.net.latency_max_us;
        };
        uniform(
            rng,
            self.settings.net.latency_min_us,
            self.settings.net.latency_max_us,
        )
    }

    /// Ends the network with its run: every listener and connection closes (which wakes the
    /// tasks waiting on them) and the handle on the delivery node goes.
    pub fn close(&self) {
        let mut state = self.lock();
        let listeners = std::mem::take(&mut state.listeners);
        let conns = std::mem::take(&mut state.conns);
        drop(state);
        drop(listeners);
        drop(conns);
        let home = self
            .home
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(home);
    }

    /// Delivers `bytes` once per entry of `delays`, each after its delay.
    fn schedule(self: &Arc<Self>, conn: u64, dir: Dir, index: u64, bytes: Vec<u8>, delays: &[u64]) {
        let home = self
            .home
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(home) = home.as_ref() else {
            return;
        };
        let mut bytes = Some(bytes);
        for (copy, delay_us) in delays.iter().enumerate() {
            let net = Arc::clone(self);
            // The last delivery takes the bytes; earlier ones (duplicates) take a copy.
            let bytes = match copy + 1 == delays.len() {
                true => bytes.take().unwrap_or_default(),
                false => bytes.clone().unwrap_or_default(),
            };
            let delay = Duration::from_micros(*delay_us);
            let copy = u32::try_from(copy).unwrap_or(u32::MAX);
            home.spawn(async move {
                tokio::time::sleep(delay).await;
                net.deliver(conn, dir, index, copy, bytes);
            });
        }
    }

    fn deliver(&self, conn: u64, dir: Dir, index: u64, copy: u32, bytes: Vec<u8>) {
        let mut state = self.lock();
        let Some(c) = state.conns.get_mut(&conn) else {
            return;
        };
        let Some(sender) = c.sender(dir).cloned() else {
            return;
        };
        let slot = &mut c.delivered_max[dir_index(dir)];
        let reordered = slot.is_some_and(|max| max > index);
        if slot.is_none_or(|max| max < index) {
            *slot = Some(index);
        }
        let to = Arc::clone(c.ends(dir).1);
        drop(state);
        if sender.send(bytes).is_err() {
            return;
        }
        self.recorder.record(
            &to,
            EventKind::Deliver {
                conn,
                dir,
                index,
                copy,
                reordered,
            },
        );
    }

    /// The simulator's own contract check of a server's `Hello` on `conn`, against what the
    /// caller requires of that server.
    fn check_offer(&self, conn: u64, client: &str, server: &str, hello: &[u8]) {
        let key = (client.to_owned(), server.to_owned());
        let Some(required) = self.requirements.get(&key) else {
            return;
        };
        let offer = match frame::decode(hello) {
            Ok(Frame::Hello { offer, .. }) => Offer::decode(offer).ok(),
            _ => None,
        };
        for requirement in required {
            let offered = offer
                .as_ref()
                .and_then(|o| o.interface(&requirement.target, &requirement.interface));
            let holds = offered.is_some_and(|offered| {
                ledger::check_contract(&requirement.schema, offered).is_ok()
            });
            self.recorder.record(
                client,
                EventKind::Offer {
                    conn,
                    target: requirement.target.clone(),
                    interface: requirement.interface.clone(),
                    holds,
                },
            );
        }
    }
}

/// Whether frames from `from` to `to` are cut (a partition).
fn is_cut(cuts: &BTreeSet<(String, String)>, from: &str, to: &str) -> bool {
    // Usually no link is cut; when some are, they are few.
    cuts.iter().any(|(a, b)| a == from && b == to)
}

/// Closes `conn` if open; returns it with its caller node, for the trace.
fn close_locked(state: &mut State, conn: u64) -> Option<(u64, String)> {
    let c = state.conns.get_mut(&conn)?;
    if !c.is_open() {
        return None;
    }
    c.up = None;
    c.down = None;
    Some((conn, c.client.to_string()))
}

/// A draw in `min..=max`.
fn uniform(rng: &mut ChaCha8Rng, min: u64, max: u64) -> u64 {
    if max <= min {
        return min;
    }
    let span = max - min + 1;
    min + rng.next_u64() % span
}

/// `true` with probability `p`, from integer draws only (the same on every platform).
fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    if p <= 0.0 {
        return false;
    }
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    unit < p
}

/// What the trace says about a frame.
pub fn frame_info(bytes: &[u8]) -> FrameInfo {
    let Ok(decoded) = frame::decode(bytes) else {
        return FrameInfo::Malformed;
    };
    match decoded {
        Frame::Hello { .. } => FrameInfo::Hello,
        Frame::Call {
            seq,
            target,
            method,
            ..
        } => FrameInfo::Call {
            seq,
            target: target.to_owned(),
            method: method.to_owned(),
        },
        Frame::Reply { seq, .. } => FrameInfo::Reply { seq },
        Frame::Failure { seq, reason } => FrameInfo::Failure {
            seq,
            reason: reason.to_string(),
        },
        Frame::Cancel { seq } => FrameInfo::Cancel { seq },
    }
}

fn down_tx_rx(
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
) -> tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>> {
    tokio::sync::Mutex::new(rx)
}

/// One end of a simulated connection: sends through the network's fault decisions, receives
/// what the network delivered. Dropping it hangs the connection up.
pub struct SimTransport {
    net: Arc<Network>,
    conn: u64,
    /// The direction this end sends in.
    dir: Dir,
    node: String,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>>,
    hung_up: AtomicBool,
}

impl SimTransport {
    fn new(
        net: &Arc<Network>,
        conn: u64,
        dir: Dir,
        node: &str,
        rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Vec<u8>>>,
    ) -> Arc<SimTransport> {
        Arc::new(SimTransport {
            net: Arc::clone(net),
            conn,
            dir,
            node: node.to_owned(),
            rx,
            hung_up: AtomicBool::new(false),
        })
    }

    /// The connection's id in the trace.
    pub fn conn(&self) -> u64 {
        self.conn
    }
}

impl Drop for SimTransport {
    fn drop(&mut self) {
        if !self.hung_up.swap(true, Ordering::Relaxed) {
            self.net.hang_up(self.conn, &self.node);
        }
    }
}

#[async_trait::async_trait]
impl Transport for SimTransport {
    async fn send(&self, frame: &[u8]) -> Result<(), transport::Error> {
        self.net.send(self.conn, self.dir, frame)
    }

    async fn recv(&self) -> Result<Option<Vec<u8>>, transport::Error> {
        Ok(self.rx.lock().await.recv().await)
    }
}
