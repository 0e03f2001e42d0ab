//! A virtual node: an exorun `Runtime` with the scenario's instances and a `Server` exposing
//! what the topology says, booted by madsim on a node of its own.
//!
//! A node boots (and, after a crash, boots again) from the scenario: a fresh runtime, fresh
//! instances and a fresh key-value store, so whatever it held before is gone. Components were
//! compiled once per process ([`Catalog`]); booting only instantiates. Remote links go through
//! an exorun `Session` per peer node, which reconnects after the peer restarts and checks the
//! contract again before sending anything on the new connection.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exorun::bind::RemoteTarget;
use exorun::builder::{InstanceBuilder, Linkable};
use exorun::client;
use exorun::context::{Captured, Limits};
use exorun::instance::InstanceHandle;
use exorun::runtime::{App, Runtime};
use exorun::server::{self, Server};
use exorun::session::{self, Session};
use exorun::system::{KvSystem, LogSystem};
use exorun::transport::{self, Transport};
use neorpc::schema::InterfaceSchema;

use crate::network::{Network, SimTransport};
use crate::recorder::Recorder;
use crate::scenario::{Instance, LinkForm, Route, Scenario};
use crate::trace::{EventKind, RpcEnd};

/// The first wait before a booting node tries a peer again, doubling up to
/// [`BOOT_BACKOFF_MAX`].
const BOOT_BACKOFF_INITIAL: Duration = Duration::from_millis(20);
const BOOT_BACKOFF_MAX: Duration = Duration::from_millis(500);

/// What can go wrong preparing a run's apps.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "app `{app}`: cannot read {path}: {message} (build the apps with scripts/build_apps.sh)"
    )]
    Fixture {
        app: String,
        path: PathBuf,
        message: String,
    },
    #[error("app `{app}`: {message}")]
    App { app: String, message: String },
}

/// The guest components, read and compiled once per process, whatever the number of seeds and
/// nodes: a booting node registers them compiled, with their ledgers, and only instantiates.
pub struct Catalog {
    apps: BTreeMap<String, App>,
}

impl Catalog {
    /// Reads `<dir>/<app>.wasm` for every app in `apps` and compiles it in `runtime` (whose
    /// engine every node's runtime shares: they have the same configuration).
    pub fn load(dir: &Path, apps: &[&str], runtime: &Runtime) -> Result<Catalog, Error> {
        let mut loaded = BTreeMap::new();
        for app in apps {
            let path = dir.join(format!("{app}.wasm"));
            let bytes = std::fs::read(&path).map_err(|e| Error::Fixture {
                app: (*app).to_owned(),
                path: path.clone(),
                message: e.to_string(),
            })?;
            let failed = |e: exorun::runtime::Error| Error::App {
                app: (*app).to_owned(),
                message: e.to_string(),
            };
            let id = runtime.register_app(app, &bytes).map_err(failed)?;
            loaded.insert((*app).to_owned(), runtime.app(id).map_err(failed)?);
        }
        Ok(Catalog { apps: loaded })
    }

    /// The compiled app.
    pub fn app(&self, app: &str) -> Result<&App, Error> {
        self.apps.get(app).ok_or_else(|| Error::App {
            app: app.to_owned(),
            message: "not loaded".into(),
        })
    }
}

/// The qualified name of an `exorun:apps` interface from its short name.
pub fn qualified(short: &str) -> String {
    if short.contains(':') {
        return short.to_owned();
    }
    format!("exorun:apps/{short}@0.1.0")
}

/// A node as the run sees it across crashes.
#[derive(Default)]
pub struct Slot {
    /// Boots so far; the next boot's generation.
    generation: Mutex<u32>,
    /// Apps that replace the scenario's on the next boot (an upgrade), by instance.
    deploy: Mutex<BTreeMap<String, String>>,
    /// The running node, while it is up.
    live: Mutex<Option<Arc<Live>>>,
}

impl Slot {
    pub fn live(&self) -> Option<Arc<Live>> {
        lock(&self.live).clone()
    }

    /// The node crashed: forget the running node.
    pub fn crashed(&self) {
        lock(&self.live).take();
    }

    /// What the next boot deploys instead of the scenario's apps.
    pub fn set_deploy(&self, deploy: BTreeMap<String, String>) {
        *lock(&self.deploy) = deploy;
    }
}

/// Everything shared by the nodes of one run.
pub struct World {
    pub scenario: Scenario,
    pub recorder: Arc<Recorder>,
    pub net: Arc<Network>,
    pub catalog: Arc<Catalog>,
    pub slots: BTreeMap<String, Slot>,
    /// What each node's direct calls require of each peer: (caller, peer) to (target, schema).
    pub direct_contracts: BTreeMap<(String, String), Vec<(String, InterfaceSchema)>>,
    /// The planted bug `split-store`: every `kv` link gets a store of its own.
    pub split_store: bool,
}

impl World {
    pub fn slot(&self, node: &str) -> Option<&Slot> {
        self.slots.get(node)
    }

    pub fn live(&self, node: &str) -> Option<Arc<Live>> {
        self.slot(node)?.live()
    }
}

/// A booted node.
pub struct Live {
    pub name: String,
    pub generation: u32,
    /// Kept for as long as the node is up: it owns the apps its instances came from.
    pub runtime: Runtime,
    pub instances: BTreeMap<String, InstanceHandle>,
    /// Sessions to peer nodes, by peer name.
    pub sessions: BTreeMap<String, Arc<Session>>,
    pub server: Arc<Server>,
    pub kv: KvSystem,
    outputs: Mutex<BTreeMap<String, Output>>,
}

/// A guest's captured stdout and stderr, and how much of each is in the trace already.
struct Output {
    stdout: Captured,
    stderr: Captured,
    seen: [usize; 2],
}

impl Live {
    /// Moves what `instance` wrote since the last flush into the trace.
    pub fn flush_output(&self, recorder: &Recorder, instance: &str) {
        let mut outputs = lock(&self.outputs);
        let Some(output) = outputs.get_mut(instance) else {
            return;
        };
        for (i, stderr) in [false, true].into_iter().enumerate() {
            let captured = if stderr {
                &output.stderr
            } else {
                &output.stdout
            };
            let contents = captured.contents();
            let Some(new) = contents.get(output.seen[i]..) else {
                continue;
            };
            if new.is_empty() {
                continue;
            }
            output.seen[i] = contents.len();
            let text = String::from_utf8_lossy(new).into_owned();
            let kind = EventKind::Output {
                instance: instance.to_owned(),
                stderr,
                text,
            };
            recorder.record(&self.name, kind);
        }
    }

    /// Client entries still awaiting an outcome, over every session.
    pub fn pending(&self) -> u64 {
        let pending = self.sessions.values().map(|s| s.client().pending_len());
        pending.sum::<usize>() as u64
    }
}

/// Boots `name`: called by madsim when the node starts and after every restart. A node whose
/// peers are down, cut off or incompatible cannot link its instances: it records why and tries
/// again with backoff, serving nothing meanwhile, as a real node waiting for its dependencies.
pub async fn boot(world: Arc<World>, name: String) {
    let Some(slot) = world.slot(&name) else {
        return;
    };
    let generation = next_generation(slot);
    world.recorder.set_incarnation(&name, Some(generation));
    let deploy = std::mem::take(&mut *lock(&slot.deploy));
    let mut backoff = BOOT_BACKOFF_INITIAL;
    let live = loop {
        match build(&world, &name, generation, &deploy).await {
            Ok(live) => break Arc::new(live),
            Err(message) => {
                let kind = EventKind::Output {
                    instance: "boot".into(),
                    stderr: true,
                    text: message,
                };
                world.recorder.record(&name, kind);
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BOOT_BACKOFF_MAX);
    };
    let apps = deployed_apps(&world.scenario, &name, &deploy);
    let started = EventKind::NodeStart { generation, apps };
    world.recorder.record(&name, started);
    *lock(&slot.live) = Some(Arc::clone(&live));
    serve(&world, &live).await;
}

fn next_generation(slot: &Slot) -> u32 {
    let mut generation = lock(&slot.generation);
    let this = *generation;
    *generation += 1;
    this
}

/// `instance=app` for each instance the node runs this time.
fn deployed_apps(
    scenario: &Scenario,
    name: &str,
    deploy: &BTreeMap<String, String>,
) -> Vec<String> {
    let Some(node) = scenario.nodes.iter().find(|n| n.name == name) else {
        return Vec::new();
    };
    let apps = node.instances.iter().map(|i| {
        let app = deploy.get(&i.name).unwrap_or(&i.app);
        format!("{}={app}", i.name)
    });
    apps.collect()
}

/// Accepts connections until the node dies, serving each in a task of the node's.
async fn serve(world: &Arc<World>, live: &Arc<Live>) {
    let mut incoming = world.net.listen(&live.name);
    while let Some(transport) = incoming.recv().await {
        let observer = ServerObserver {
            recorder: Arc::clone(&world.recorder),
            node: live.name.clone(),
            generation: live.generation,
            conn: transport.conn(),
        };
        let server = Arc::clone(&live.server);
        let transport: Arc<dyn Transport> = transport;
        tokio::spawn(async move {
            // A connection that fails ends; the trace has its frames.
            let _ = server
                .serve_observed(transport, Some(Arc::new(observer)))
                .await;
        });
    }
}

async fn build(
    world: &Arc<World>,
    name: &str,
    generation: u32,
    deploy: &BTreeMap<String, String>,
) -> Result<Live, String> {
    let scenario = &world.scenario;
    let node = scenario
        .nodes
        .iter()
        .find(|n| n.name == name)
        .ok_or_else(|| format!("no node {name}"))?;
    let runtime = Runtime::new().map_err(|e| e.to_string())?;
    let sessions = connect_peers(world, name, generation).await;
    require_direct(world, name, &sessions)?;
    let kv = KvSystem::new();
    let mut instances = BTreeMap::new();
    let mut outputs = BTreeMap::new();
    let mut server = Server::new(server::Config {
        node: name.to_owned(),
        ..server::Config::default()
    });
    for instance in &node.instances {
        let app = deploy.get(&instance.name).unwrap_or(&instance.app);
        let seed = instance_seed(scenario.seed, name, &instance.name, generation);
        let parts = Parts {
            runtime: &runtime,
            instances: &instances,
            sessions: &sessions,
            kv: &kv,
            split_store: world.split_store,
        };
        let (handle, output) = instantiate(world, &parts, instance, app, seed).await?;
        if let Some(target) = &instance.expose {
            expose(&mut server, target, &handle)?;
        }
        outputs.insert(instance.name.clone(), output);
        instances.insert(instance.name.clone(), handle);
    }
    Ok(Live {
        name: name.to_owned(),
        generation,
        runtime,
        instances,
        sessions,
        server: Arc::new(server),
        kv,
        outputs: Mutex::new(outputs),
    })
}

/// What an instance can link to.
struct Parts<'a> {
    runtime: &'a Runtime,
    instances: &'a BTreeMap<String, InstanceHandle>,
    sessions: &'a BTreeMap<String, Arc<Session>>,
    kv: &'a KvSystem,
    split_store: bool,
}

async fn instantiate(
    world: &World,
    parts: &Parts<'_>,
    instance: &Instance,
    app: &str,
    seed: u64,
) -> Result<(InstanceHandle, Output), String> {
    let failed = |e: &dyn std::fmt::Display| format!("instance {} ({app}): {e}", instance.name);
    let compiled = world.catalog.app(app).map_err(|e| failed(&e))?;
    let app_id = parts
        .runtime
        .register_compiled(compiled)
        .map_err(|e| failed(&e))?;
    let limits = Limits {
        fuel_per_call: world.scenario.limits.fuel,
        memory_bytes_max: (world.scenario.limits.memory_mib as usize) << 20,
        ..Limits::default()
    };
    // Made here and attached to every context, so that output survives a renewal.
    let (stdout, stderr) = (Captured::new(), Captured::new());
    let attached = (stdout.clone(), stderr.clone());
    let mut builder = InstanceBuilder::new(parts.runtime, app_id)
        .limits(limits)
        .context(move |c| {
            c.seed(seed).stdout(&attached.0).stderr(&attached.1);
        });
    for (short, link) in &instance.links {
        let (name, linkable) = linkable(parts, short, link).map_err(|e| failed(&e))?;
        builder = builder.link(name, linkable);
    }
    let handle = builder.instantiate().await.map_err(|e| failed(&e))?;
    let output = Output {
        stdout,
        stderr,
        seen: [0; 2],
    };
    Ok((handle, output))
}

fn linkable(
    parts: &Parts<'_>,
    short: &str,
    link: &crate::scenario::Link,
) -> Result<(String, Linkable), String> {
    match link.form() {
        LinkForm::System { system } => {
            let linkable = match system {
                "kv" if parts.split_store => Linkable::system(KvSystem::new()),
                "kv" => Linkable::system(parts.kv.clone()),
                _ => Linkable::system(LogSystem::new()),
            };
            Ok((format!("exorun:system/{system}@0.1.0"), linkable))
        }
        LinkForm::Local { instance } => {
            let target = parts
                .instances
                .get(instance)
                .ok_or_else(|| format!("no local instance {instance}"))?;
            Ok((qualified(short), Linkable::Local(target.clone())))
        }
        LinkForm::Remote { node, target } => {
            let session = parts
                .sessions
                .get(node)
                .ok_or_else(|| format!("no session to {node}"))?;
            let remote = RemoteTarget::session(Arc::clone(session), target);
            Ok((qualified(short), Linkable::Remote(remote)))
        }
    }
}

/// Serves the app's `exorun:apps` export under `target`.
fn expose(server: &mut Server, target: &str, handle: &InstanceHandle) -> Result<(), String> {
    let exported = handle
        .ledger()
        .exports()
        .map(|i| i.name().to_owned())
        .find(|name| name.starts_with("exorun:apps/"));
    let Some(interface) = exported else {
        return Err(format!(
            "target {target}: the app exports no exorun:apps interface"
        ));
    };
    server
        .expose(target, handle, &interface)
        .map_err(|e| format!("target {target}: {e}"))
}

/// The seed of one instance's WASI randomness: the same on every replay, different per
/// instance and per boot.
fn instance_seed(seed: u64, node: &str, instance: &str, generation: u32) -> u64 {
    let text = format!("{seed}/{node}/{instance}/{generation}");
    crate::trace::fnv1a64(text.as_bytes())
}

// ---- sessions -------------------------------------------------------------------------------

/// The peer nodes `name` calls: through its instances' remote links and its workload.
pub fn peers_of(scenario: &Scenario, name: &str) -> Vec<String> {
    let mut peers = std::collections::BTreeSet::new();
    if let Some(node) = scenario.nodes.iter().find(|n| n.name == name) {
        for instance in &node.instances {
            for link in instance.links.values() {
                if let LinkForm::Remote { node, .. } = link.form() {
                    peers.insert(node.to_owned());
                }
            }
        }
    }
    for call in scenario.calls.iter().filter(|c| c.node == name) {
        if let Route::Direct { node: peer, .. } = call.op.route() {
            peers.insert(peer.to_owned());
        }
    }
    peers.into_iter().collect()
}

/// A session to every peer, each connected before the node serves anything; a peer that is
/// down or cut off is tried again, with backoff, until it answers.
async fn connect_peers(
    world: &Arc<World>,
    name: &str,
    generation: u32,
) -> BTreeMap<String, Arc<Session>> {
    let mut sessions = BTreeMap::new();
    for peer in peers_of(&world.scenario, name) {
        let session = connect_peer(world, name, generation, &peer).await;
        sessions.insert(peer, session);
    }
    sessions
}

/// Registers, on each session, the contracts of the calls the node's workload makes directly,
/// so that a reconnect checks them too (a guest's remote link registers its own).
fn require_direct(
    world: &World,
    name: &str,
    sessions: &BTreeMap<String, Arc<Session>>,
) -> Result<(), String> {
    for ((caller, peer), required) in &world.direct_contracts {
        let (true, Some(session)) = (caller == name, sessions.get(peer)) else {
            continue;
        };
        for (target, schema) in required {
            session
                .require(target, schema)
                .map_err(|e| format!("contract with {peer}/{target}: {e}"))?;
        }
    }
    Ok(())
}

async fn connect_peer(world: &Arc<World>, name: &str, generation: u32, peer: &str) -> Arc<Session> {
    let mut backoff = BOOT_BACKOFF_INITIAL;
    loop {
        let connector = Arc::new(SimConnect {
            net: Arc::clone(&world.net),
            from: name.to_owned(),
            to: peer.to_owned(),
        });
        if let Ok(session) =
            Session::connect(connector, session_config(world, name, generation, peer)).await
        {
            return session;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BOOT_BACKOFF_MAX);
    }
}

fn session_config(world: &Arc<World>, name: &str, generation: u32, peer: &str) -> session::Config {
    let observer = ClientObserver {
        recorder: Arc::clone(&world.recorder),
        node: name.to_owned(),
        generation,
        peer: peer.to_owned(),
    };
    let client = client::Config {
        timeout: Duration::from_millis(world.scenario.limits.call_timeout_ms),
        node: name.to_owned(),
        observer: Some(Arc::new(observer)),
        ..client::Config::default()
    };
    session::Config {
        client,
        ..session::Config::default()
    }
}

/// Connects one node to another through the simulated network.
struct SimConnect {
    net: Arc<Network>,
    from: String,
    to: String,
}

#[async_trait::async_trait]
impl session::Connect for SimConnect {
    async fn connect(&self) -> Result<Arc<dyn Transport>, transport::Error> {
        let end: Arc<SimTransport> = self.net.connect(&self.from, &self.to).await?;
        Ok(end)
    }
}

// ---- observers ------------------------------------------------------------------------------

/// Writes a node's client calls into the trace.
struct ClientObserver {
    recorder: Arc<Recorder>,
    node: String,
    generation: u32,
    peer: String,
}

impl client::Observe for ClientObserver {
    fn sent(&self, seq: u64, target: &str, method: &str) {
        let kind = EventKind::RpcSent {
            peer: self.peer.clone(),
            seq,
            target: target.to_owned(),
            method: method.to_owned(),
        };
        self.recorder.record_from(&self.node, self.generation, kind);
    }

    fn ended(&self, seq: u64, end: &client::CallEnd) {
        let end = match end {
            client::CallEnd::Reply => RpcEnd::Reply,
            client::CallEnd::Failed(reason) => RpcEnd::Failed(reason.to_string()),
            client::CallEnd::Timeout => RpcEnd::Timeout,
            client::CallEnd::Disconnected => RpcEnd::Disconnected,
            client::CallEnd::Dropped => RpcEnd::Dropped,
        };
        let peer = self.peer.clone();
        let kind = EventKind::RpcEnd { peer, seq, end };
        self.recorder.record_from(&self.node, self.generation, kind);
    }
}

/// Writes what a server does on one connection into the trace.
struct ServerObserver {
    recorder: Arc<Recorder>,
    node: String,
    generation: u32,
    conn: u64,
}

impl server::Observe for ServerObserver {
    fn executing(&self, seq: u64, target: &str, method: &str) {
        let kind = EventKind::Exec {
            conn: self.conn,
            seq,
            target: target.to_owned(),
            method: method.to_owned(),
        };
        self.recorder.record_from(&self.node, self.generation, kind);
    }

    fn answered(&self, _seq: u64, _reply: bool) {}

    fn duplicate(&self, seq: u64) {
        let kind = EventKind::DupSuppressed {
            conn: self.conn,
            seq,
        };
        self.recorder.record_from(&self.node, self.generation, kind);
    }

    fn renewed(&self, target: &str, renewals: u64) {
        let target = target.to_owned();
        let kind = EventKind::Renewed { target, renewals };
        self.recorder.record_from(&self.node, self.generation, kind);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
