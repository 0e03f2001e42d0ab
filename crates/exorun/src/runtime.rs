//! The [`Runtime`]: a wasmtime [`Engine`] and registries of apps (compiled components with their
//! ledgers), peers (transports to other nodes) and instances.
//!
//! Compilation happens once per distinct component per process: compiled components are kept in
//! a process-wide cache keyed by the engine's configuration and the bytes' hash, and runtimes
//! with the same [`Config`] share one engine. Linking happens once per app and shape of links
//! (see [`crate::builder`]): the builder keeps the resulting `InstancePre` here, for the whole
//! engine when no system is linked, else in the runtime (see [`Runtime::stats`]).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use dashmap::DashMap;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::context::{ExorunCtx, Limits};
use crate::instance::InstanceHandle;
use crate::ledger::Ledger;
use crate::transport::Transport;

pub use crate::id::{AppId, InstanceId, PeerId};

/// The most `InstancePre`s a runtime (or an engine) keeps; past it the cache starts over.
pub const PRE_CACHE_MAX: usize = 1024;

/// What a lookup was looking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    App,
    Peer,
    Instance,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::App => f.write_str("app"),
            Kind::Peer => f.write_str("peer"),
            Kind::Instance => f.write_str("instance"),
        }
    }
}

/// What can go wrong in the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No such id is registered.
    #[error("{kind} {id} not found")]
    NotFound { kind: Kind, id: u64 },
    /// The engine could not be created from the configuration.
    #[error("cannot create the engine: {message}")]
    Engine { message: String },
    /// The bytes are not a valid component. `message` is wasmtime's, with its causes.
    #[error("cannot compile app `{app}`: {message}")]
    Compile { app: String, message: String },
    /// [`Runtime::register_compiled`] got an app compiled for an engine other than this
    /// runtime's (a runtime with another [`Config`]).
    #[error("app `{app}` was compiled for another engine than this runtime's")]
    ForeignEngine { app: String },
}

/// How the engine allocates instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pooling {
    /// The most component instances alive at once in the engine.
    pub component_instances_max: u32,
}

impl Default for Pooling {
    fn default() -> Self {
        Pooling {
            component_instances_max: 256,
        }
    }
}

/// How a runtime is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Limits for every instance, unless its builder sets its own.
    pub limits: Limits,
    /// The pooling allocator (fast instantiation) or, with `None`, allocation on demand.
    pub pooling: Option<Pooling>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            pooling: Some(Pooling::default()),
        }
    }
}

/// What makes two engines interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EngineKey {
    pooling: Option<u32>,
    memory_bytes_max: usize,
    table_elements_max: usize,
}

impl EngineKey {
    fn of(config: &Config) -> Self {
        EngineKey {
            pooling: config.pooling.map(|p| p.component_instances_max),
            memory_bytes_max: config.limits.memory_bytes_max,
            table_elements_max: config.limits.table_elements_max,
        }
    }
}

/// One engine per distinct configuration, the components compiled with it (with what
/// registering one reads from it), and its two WASI linkers, which every runtime on the engine
/// clones rather than builds.
struct SharedEngine {
    engine: Engine,
    compiled: Mutex<BTreeMap<(u64, usize), Compiled>>,
    base_linker: Linker<ExorunCtx>,
    sync_linker: Linker<ExorunCtx>,
    /// `InstancePre`s linked to no system: they depend on nothing but the app and the shape of
    /// its links, so every runtime on the engine shares them.
    pres: Mutex<BTreeMap<PreKey, Arc<CachedPre>>>,
}

/// A compiled component and what its registration needs from it, computed once.
#[derive(Clone)]
struct Compiled {
    component: Component,
    ledger: Arc<Ledger>,
    wasi_sync: bool,
}

static ENGINES: LazyLock<Mutex<BTreeMap<EngineKey, Arc<SharedEngine>>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

fn shared_engine(config: &Config) -> Result<Arc<SharedEngine>, Error> {
    let key = EngineKey::of(config);
    let mut engines = ENGINES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(shared) = engines.get(&key) {
        return Ok(shared.clone());
    }
    let engine = new_engine(config)?;
    let shared = Arc::new(SharedEngine {
        base_linker: wasi_linker(&engine, false)?,
        sync_linker: wasi_linker(&engine, true)?,
        engine,
        compiled: Mutex::new(BTreeMap::new()),
        pres: Mutex::new(BTreeMap::new()),
    });
    engines.insert(key, shared.clone());
    Ok(shared)
}

/// The engine configuration exorun runs with: fuel, deterministic floats and SIMD, no
/// concurrency support (it quadruples the cost of a call), no wasm backtraces (a trap is reported
/// by its kind alone, see [`crate::trap`], and capturing one walks the stack on every trap), and
/// no compiler threads in the simulation.
pub fn engine_config(config: &Config) -> wasmtime::Config {
    let mut wasm = wasmtime::Config::new();
    wasm.concurrency_support(false);
    wasm.wasm_backtrace_max_frames(None);
    wasm.consume_fuel(true);
    wasm.cranelift_nan_canonicalization(true);
    wasm.relaxed_simd_deterministic(true);
    #[cfg(madsim)]
    wasm.parallel_compilation(false);
    if let Some(pooling) = config.pooling {
        let pool = pooling_config(&pooling, &config.limits);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    wasm
}

fn pooling_config(pooling: &Pooling, limits: &Limits) -> PoolingAllocationConfig {
    let instances = pooling.component_instances_max;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances);
    pool.total_core_instances(instances.saturating_mul(8));
    pool.total_memories(instances.saturating_mul(2));
    pool.total_tables(instances.saturating_mul(8));
    pool.total_stacks(instances);
    pool.max_memory_size(limits.memory_bytes_max);
    pool.table_elements(limits.table_elements_max);
    #[cfg(madsim)]
    {
        pool.linear_memory_keep_resident(SIM_MEMORY_KEEP_RESIDENT_BYTES);
        pool.table_keep_resident(SIM_TABLE_KEEP_RESIDENT_BYTES);
        // Without it the pool resets the whole kept region (up to 16 MiB) of every memory it
        // gets back; with it, only the pages the instance wrote. Falls back by itself on a
        // kernel without `PAGEMAP_SCAN` (before Linux 6.7).
        pool.pagemap_scan(wasmtime::Enabled::Auto);
    }
    pool
}

/// In the simulation, how much of each linear memory the pool keeps resident when an instance
/// goes away, resetting it with `memset` rather than `madvise`. A simulator instantiates the
/// same apps thousands of times; with `madvise` every reuse of a slot faults each page of the
/// heap back in and the kernel zeroes it, and with several exploring threads in one process
/// those faults and unmaps contend on the kernel's per-process and LRU locks: two threads then
/// spent a quarter more CPU per seed than one, the extra in the kernel. One thread gains
/// nothing (the `memset` costs about what the faults did, a little more); a second thread
/// scales (BENCHMARKS.md, "Exploration on worker threads").
/// The cost: a pool slot that was used keeps up to this much memory. Left at wasmtime's
/// default (0) outside the simulation, where a node may run many more instances.
#[cfg(madsim)]
const SIM_MEMORY_KEEP_RESIDENT_BYTES: usize = 16 << 20;

/// In the simulation, how much of each table the pool keeps resident (see
/// [`SIM_MEMORY_KEEP_RESIDENT_BYTES`]).
#[cfg(madsim)]
const SIM_TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

fn new_engine(config: &Config) -> Result<Engine, Error> {
    Engine::new(&engine_config(config)).map_err(|e| Error::Engine {
        message: format!("{e:#}"),
    })
}

/// A registered app.
#[derive(Clone)]
pub struct App {
    pub name: String,
    pub component: Component,
    pub ledger: Arc<Ledger>,
    /// Whether the app's WASI imports never wait, so that its instances can run without a
    /// fiber ([`crate::wasi_io::may_run_sync`]).
    pub wasi_sync: bool,
}

/// A registered peer.
#[derive(Clone)]
pub struct Peer {
    pub name: String,
    pub transport: Arc<dyn Transport>,
}

/// Counters, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Components compiled by this runtime (not found in the process-wide cache).
    pub compilations: u64,
    /// Linkers set up by this runtime and turned into an `InstancePre`.
    pub linker_setups: u64,
    /// Instantiations in this runtime that reused a cached `InstancePre` (this runtime's, or one
    /// its engine shares).
    pub pre_cache_hits: u64,
}

/// A cached `InstancePre`.
pub(crate) struct CachedPre {
    pub(crate) pre: InstancePre<ExorunCtx>,
    /// What the key names by address (the app's ledger, the systems), kept alive (never read
    /// here) so that nothing else takes one of those addresses while the entry exists.
    pub(crate) _kept: Box<dyn Any + Send + Sync>,
    /// Whether every import is linked synchronously: WASI that never waits, synchronous
    /// systems, and local links that call their targets through held locks.
    pub(crate) sync: bool,
}

/// The cache key of an `InstancePre`: the compiled app and, per linked name, the shape of the
/// link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PreKey {
    /// The address of the app's ledger, made once per compiled component (apps registered from
    /// the same bytes or with [`Runtime::register_compiled`] share it).
    pub(crate) app: usize,
    pub(crate) links: Vec<(String, LinkShape)>,
}

impl PreKey {
    /// Whether an `InstancePre` with this key depends on nothing a runtime owns.
    fn engine_wide(&self) -> bool {
        let system = |(_, shape): &(String, LinkShape)| matches!(shape, LinkShape::System(_));
        !self.links.iter().any(system)
    }
}

/// What an `InstancePre` depends on, per link: a system by identity (its functions close over
/// it; the cache keeps it alive, so the address is not reused while the key exists), or by
/// name if it links by name (`SystemComponent::links_by_name`); a local or remote link only by
/// kind, since its functions find their target in the store's context.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum LinkShape {
    System(usize),
    NamedSystem(String),
    /// `sync`: the target runs synchronously, so a synchronous importer calls it held.
    Local {
        sync: bool,
    },
    Remote,
}

/// Apps, peers and instances, and the engine they run on.
pub struct Runtime {
    config: Config,
    shared: Arc<SharedEngine>,
    next_id: AtomicU64,
    apps: DashMap<AppId, App>,
    peers: DashMap<PeerId, Peer>,
    instances: DashMap<InstanceId, InstanceHandle>,
    /// `InstancePre`s linked to systems of this runtime's builders (the others are the
    /// engine's).
    pres: DashMap<PreKey, Arc<CachedPre>>,
    compilations: AtomicU64,
    linker_setups: AtomicU64,
    pre_cache_hits: AtomicU64,
}

impl Runtime {
    /// A runtime with the default [`Config`].
    pub fn new() -> Result<Runtime, Error> {
        Runtime::with_config(Config::default())
    }

    /// A runtime with `config`.
    pub fn with_config(config: Config) -> Result<Runtime, Error> {
        let shared = shared_engine(&config)?;
        Ok(Runtime {
            config,
            shared,
            next_id: AtomicU64::new(1),
            apps: DashMap::new(),
            peers: DashMap::new(),
            instances: DashMap::new(),
            pres: DashMap::new(),
            compilations: AtomicU64::new(0),
            linker_setups: AtomicU64::new(0),
            pre_cache_hits: AtomicU64::new(0),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Compiles `bytes` (or finds them compiled already) and registers the app.
    pub fn register_app(&self, name: &str, bytes: &[u8]) -> Result<AppId, Error> {
        let compiled = self.compile(name, bytes)?;
        let app = App {
            name: name.to_owned(),
            component: compiled.component,
            ledger: compiled.ledger,
            wasi_sync: compiled.wasi_sync,
        };
        Ok(self.insert_app(app))
    }

    /// Registers `app`, taken from a runtime with the same [`Config`] (see [`Runtime::app`]),
    /// without reading its bytes again: what a simulator booting the same apps on every node
    /// of every seed wants. An app compiled for another engine is refused.
    pub fn register_compiled(&self, app: &App) -> Result<AppId, Error> {
        if !Engine::same(app.component.engine(), self.engine()) {
            return Err(Error::ForeignEngine {
                app: app.name.clone(),
            });
        }
        Ok(self.insert_app(app.clone()))
    }

    fn insert_app(&self, app: App) -> AppId {
        let id = AppId(self.next_id());
        self.apps.insert(id, app);
        id
    }

    fn compile(&self, name: &str, bytes: &[u8]) -> Result<Compiled, Error> {
        let mut hasher = std::hash::DefaultHasher::new();
        bytes.hash(&mut hasher);
        let key = (hasher.finish(), bytes.len());
        let cached = self.compiled_lock().get(&key).cloned();
        if let Some(component) = cached {
            return Ok(component);
        }
        // With its causes: wasmtime's outermost message alone ("failed to parse WebAssembly
        // module") does not say what is wrong.
        let component = Component::new(self.engine(), bytes).map_err(|e| Error::Compile {
            app: name.to_owned(),
            message: format!("{e:#}"),
        })?;
        self.compilations.fetch_add(1, Ordering::Relaxed);
        let compiled = Compiled {
            ledger: Arc::new(Ledger::from_component(self.engine(), &component)),
            wasi_sync: crate::wasi_io::may_run_sync(&component.component_type(), self.engine()),
            component,
        };
        // Another runtime may have compiled the same bytes meanwhile: the first one kept is the
        // one every runtime gets, so that an app's ledger (which keys its `InstancePre`s) is
        // one per component and engine.
        let kept = self.compiled_lock().entry(key).or_insert(compiled).clone();
        Ok(kept)
    }

    fn compiled_lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(u64, usize), Compiled>> {
        let compiled = self.shared.compiled.lock();
        compiled.unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The app registered as `id`.
    pub fn app(&self, id: AppId) -> Result<App, Error> {
        let app = self.apps.get(&id).ok_or(Error::NotFound {
            kind: Kind::App,
            id: id.0,
        })?;
        Ok(app.clone())
    }

    /// Registered apps, sorted by id.
    pub fn app_ids(&self) -> Vec<AppId> {
        let mut ids: Vec<AppId> = self.apps.iter().map(|e| *e.key()).collect();
        ids.sort();
        ids
    }

    /// Registers a transport to another node.
    pub fn add_peer(&self, name: &str, transport: Arc<dyn Transport>) -> PeerId {
        let id = PeerId(self.next_id());
        let name = name.to_owned();
        self.peers.insert(id, Peer { name, transport });
        id
    }

    /// The peer registered as `id`.
    pub fn peer(&self, id: PeerId) -> Result<Peer, Error> {
        let peer = self.peers.get(&id).ok_or(Error::NotFound {
            kind: Kind::Peer,
            id: id.0,
        })?;
        Ok(peer.clone())
    }

    /// Forgets the peer registered as `id`.
    pub fn remove_peer(&self, id: PeerId) -> Result<Peer, Error> {
        let (_, peer) = self.peers.remove(&id).ok_or(Error::NotFound {
            kind: Kind::Peer,
            id: id.0,
        })?;
        Ok(peer)
    }

    /// Registered peers, sorted by id.
    pub fn peer_ids(&self) -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = self.peers.iter().map(|e| *e.key()).collect();
        ids.sort();
        ids
    }

    /// The instance registered as `id`.
    pub fn instance(&self, id: InstanceId) -> Result<InstanceHandle, Error> {
        let handle = self.instances.get(&id).ok_or(Error::NotFound {
            kind: Kind::Instance,
            id: id.0,
        })?;
        Ok(handle.clone())
    }

    /// Forgets the instance registered as `id`; it lives on while handles on it do.
    pub fn remove_instance(&self, id: InstanceId) -> Result<InstanceHandle, Error> {
        let (_, handle) = self.instances.remove(&id).ok_or(Error::NotFound {
            kind: Kind::Instance,
            id: id.0,
        })?;
        Ok(handle)
    }

    /// Registered instances, sorted by id.
    pub fn instance_ids(&self) -> Vec<InstanceId> {
        let mut ids: Vec<InstanceId> = self.instances.iter().map(|e| *e.key()).collect();
        ids.sort();
        ids
    }

    pub fn stats(&self) -> Stats {
        Stats {
            compilations: self.compilations.load(Ordering::Relaxed),
            linker_setups: self.linker_setups.load(Ordering::Relaxed),
            pre_cache_hits: self.pre_cache_hits.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn next_instance_id(&self) -> InstanceId {
        InstanceId(self.next_id())
    }

    pub(crate) fn insert_instance(&self, handle: InstanceHandle) {
        self.instances.insert(handle.id(), handle);
    }

    /// A linker with WASI p2 (no ambient access: that comes from the context) and shadowing
    /// allowed, so that systems may replace WASI functions. With `sync`, every WASI function is
    /// synchronous ([`crate::wasi_io`]), for apps whose WASI imports never wait.
    pub(crate) fn linker(&self, sync: bool) -> Linker<ExorunCtx> {
        self.linker_setups.fetch_add(1, Ordering::Relaxed);
        match sync {
            true => self.shared.sync_linker.clone(),
            false => self.shared.base_linker.clone(),
        }
    }

    pub(crate) fn cached_pre(&self, key: &PreKey) -> Option<Arc<CachedPre>> {
        let cached = match key.engine_wide() {
            true => self.shared_pres().get(key).cloned(),
            false => self.pres.get(key).map(|cached| cached.clone()),
        }?;
        self.pre_cache_hits.fetch_add(1, Ordering::Relaxed);
        Some(cached)
    }

    pub(crate) fn cache_pre(&self, key: PreKey, cached: Arc<CachedPre>) {
        if key.engine_wide() {
            let mut pres = self.shared_pres();
            if pres.len() >= PRE_CACHE_MAX {
                pres.clear();
            }
            pres.insert(key, cached);
            return;
        }
        if self.pres.len() >= PRE_CACHE_MAX {
            self.pres.clear();
        }
        self.pres.insert(key, cached);
    }

    fn shared_pres(&self) -> std::sync::MutexGuard<'_, BTreeMap<PreKey, Arc<CachedPre>>> {
        let pres = self.shared.pres.lock();
        pres.unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn wasi_linker(engine: &Engine, sync: bool) -> Result<Linker<ExorunCtx>, Error> {
    let mut linker = Linker::new(engine);
    linker.allow_shadowing(true);
    let added = match sync {
        true => crate::wasi_io::add_to_linker(&mut linker),
        false => wasmtime_wasi::p2::add_to_linker_async(&mut linker),
    };
    added.map_err(|e| Error::Engine {
        message: format!("{e:#}"),
    })?;
    Ok(linker)
}
