//! [`InstanceBuilder`]: composes links into a running instance.
//!
//! ```text
//! InstanceBuilder::new(&runtime, app)
//!     .link("exorun:system/logging@0.1.0", Linkable::System(Arc::new(LogSystem::new())))
//!     .link("exorun:apps/calc@0.1.0", Linkable::Local(server))
//!     .instantiate()
//!     .await?
//! ```
//!
//! The linker (WASI, then each link) is set up once per app and shape of links and kept as an
//! `InstancePre`: the host functions of a local or remote link name no target, only a slot of
//! the calling store's context (see [`crate::bind`]), so the next instance linked the same way,
//! to the same targets or to others, skips straight to instantiation. Links to systems are part
//! of the shape by identity (a system's functions close over it), or by name for a system that
//! keeps its state in the store's context (`SystemComponent::links_by_name`, as `KvSystem`). An
//! `InstancePre` without systems linked by identity is kept for the whole engine, shared by
//! every runtime on it (a simulator boots the same apps on every node of every seed); one with
//! them, in its runtime. Each instance still gets its own context, configured by its systems,
//! with its own slots.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{Instance, Linker};
use wasmtime::{Engine, Store};

use crate::bind::{self, RemoteTarget};
use crate::context::{ContextBuilder, ExorunCtx, Limits};
use crate::instance::{self, ExecFuture, InstanceHandle, State};
use crate::ledger;
use crate::runtime::{self, AppId, CachedPre, LinkShape, PreKey, Runtime};
use crate::system::{self, SystemComponent};
use crate::trap;

/// What an import (or, for a system, a set of interfaces) is linked to.
#[derive(Clone)]
pub enum Linkable {
    /// Native code providing whole interfaces; installed once per linker.
    System(Arc<dyn SystemComponent>),
    /// The same-named export of another local instance.
    Local(InstanceHandle),
    /// The interface as a peer serves it over neorpc (see [`bind::bind_remote`]).
    Remote(RemoteTarget),
}

impl Linkable {
    /// A system, from any value implementing [`SystemComponent`].
    pub fn system(system: impl SystemComponent) -> Self {
        Linkable::System(Arc::new(system))
    }

    /// Whether an importer linked to this can still run without a fiber.
    fn is_sync(&self) -> bool {
        match self {
            Linkable::System(system) => system.synchronous(),
            Linkable::Local(target) => target.is_sync(),
            Linkable::Remote(_) => false,
        }
    }

    /// What the `InstancePre` linked for this depends on.
    fn shape(&self) -> LinkShape {
        match self {
            Linkable::System(system) if system.links_by_name() => {
                LinkShape::NamedSystem(system.name().to_owned())
            }
            Linkable::System(system) => LinkShape::System(address(system)),
            Linkable::Local(handle) => LinkShape::Local {
                sync: handle.is_sync(),
            },
            Linkable::Remote(_) => LinkShape::Remote,
        }
    }
}

/// What can go wrong building an instance. A message that includes a `cause` does not also
/// return it as `source()`: a chain printed with `{:#}` says each cause once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    #[error("linking `{interface}`: {cause}")]
    Bind {
        interface: String,
        cause: bind::Error,
    },
    #[error(transparent)]
    System(#[from] system::Error),
    /// The component imports something nothing was linked to (or the links do not fit the
    /// imports' types).
    #[error("cannot link app `{app}`: {message}")]
    Unlinked { app: String, message: String },
    /// The component's start-up code failed.
    #[error("instantiating app `{app}`: {cause}")]
    Instantiate { app: String, cause: trap::Error },
}

/// A step of context configuration, replayable: it runs on every context the instance gets.
pub(crate) type Configure = Arc<dyn Fn(&mut ContextBuilder) + Send + Sync>;

/// Builds one instance of an app.
pub struct InstanceBuilder<'r> {
    runtime: &'r Runtime,
    app: AppId,
    links: BTreeMap<String, Linkable>,
    context: Vec<Configure>,
    limits: Limits,
}

impl<'r> InstanceBuilder<'r> {
    pub fn new(runtime: &'r Runtime, app: AppId) -> Self {
        InstanceBuilder {
            runtime,
            app,
            links: BTreeMap::new(),
            context: Vec::new(),
            limits: runtime.config().limits,
        }
    }

    /// Links the import `interface` to `target`. For a system, `interface` names the link (the
    /// system installs every interface it provides); linking one system under several names
    /// installs it once.
    pub fn link(mut self, interface: impl Into<String>, target: Linkable) -> Self {
        self.links.insert(interface.into(), target);
        self
    }

    /// Adds a system under its own name.
    pub fn system(self, system: impl SystemComponent) -> Self {
        let name = format!("system:{}", system.name());
        self.link(name, Linkable::system(system))
    }

    /// Adjusts the context before systems configure it (clocks, seed, user data, captured
    /// output). Steps run in the order given, on a fresh [`ContextBuilder`] for every context
    /// the instance gets: at instantiation, and again at each renewal (see [`crate::instance`]).
    /// To keep captured output across renewals, make the [`crate::context::Captured`] outside
    /// and attach it with [`ContextBuilder::stdout`] or [`ContextBuilder::stderr`].
    pub fn context(
        mut self,
        configure: impl Fn(&mut ContextBuilder) + Send + Sync + 'static,
    ) -> Self {
        self.context.push(Arc::new(configure));
        self
    }

    /// Limits for this instance instead of the runtime's.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Links (or finds linked already), instantiates and registers the instance. The instance
    /// keeps the recipe it was built by, to renew itself after a trap (see [`crate::instance`]).
    pub async fn instantiate(self) -> Result<InstanceHandle, Error> {
        let app = self.runtime.app(self.app)?;
        // The contracts first: a link that does not hold fails as such, before linking.
        let sync = app.wasi_sync && self.links.values().all(Linkable::is_sync);
        let links = bind_links(&app.ledger, &self.links, calls_for(sync)).await?;
        let pre = self.instance_pre(&app, sync)?;
        let direct = match pre.sync {
            true => local_targets(&self.links),
            false => Vec::new(),
        };
        let recipe = Recipe {
            app: app.name.clone(),
            engine: self.runtime.engine().clone(),
            // Yielding needs a fiber: an instance built to yield runs asynchronously.
            sync: pre.sync && self.limits.fuel_yield_interval.is_none(),
            pre,
            links,
            context: self.context,
            systems: systems(&self.links),
            limits: self.limits,
        };
        let state = recipe.build().await?;
        let id = self.runtime.next_instance_id();
        let handle = InstanceHandle::new(state, id, self.app, app.ledger.clone(), &direct, recipe);
        self.runtime.insert_instance(handle.clone());
        Ok(handle)
    }

    fn instance_pre(&self, app: &runtime::App, sync: bool) -> Result<Arc<CachedPre>, Error> {
        let key = PreKey {
            app: Arc::as_ptr(&app.ledger) as usize,
            links: self
                .links
                .iter()
                .map(|(name, link)| (name.clone(), link.shape()))
                .collect(),
        };
        if let Some(cached) = self.runtime.cached_pre(&key) {
            return Ok(cached);
        }
        let linker = self.setup_linker(app, sync)?;
        let pre = linker
            .instantiate_pre(&app.component)
            .map_err(|e| Error::Unlinked {
                app: app.name.clone(),
                message: e.to_string(),
            })?;
        // What the key names by address stays alive with the entry: the app's ledger and the
        // systems (whose functions the `InstancePre` holds anyway).
        let by_address = systems(&self.links)
            .into_iter()
            .filter(|s| !s.links_by_name());
        let kept = (Arc::clone(&app.ledger), by_address.collect::<Vec<_>>());
        let cached = Arc::new(CachedPre {
            pre,
            _kept: Box::new(kept),
            sync,
        });
        self.runtime.cache_pre(key, cached.clone());
        Ok(cached)
    }

    /// With `sync`, every import is linked synchronously (see [`crate::instance`]).
    fn setup_linker(&self, app: &runtime::App, sync: bool) -> Result<Linker<ExorunCtx>, Error> {
        let mut linker = self.runtime.linker(sync);
        for system in systems(&self.links) {
            system.install(&mut linker)?;
        }
        let calls = calls_for(sync);
        let mut first = 0;
        for (interface, link) in &self.links {
            if let Linkable::System(_) = link {
                continue;
            }
            let required = required(&app.ledger, interface)?;
            bind::define_slots(&mut linker, required, first, calls)
                .map_err(|cause| bind_error(interface, cause))?;
            first += required.schema.funcs.len();
        }
        Ok(linker)
    }
}

/// How the local links of an instance linked synchronously (`sync`) or not call their targets.
fn calls_for(sync: bool) -> bind::Calls {
    match sync {
        true => bind::Calls::Held,
        false => bind::Calls::Awaiting,
    }
}

fn bind_error(interface: &str, cause: bind::Error) -> Error {
    Error::Bind {
        interface: interface.to_owned(),
        cause,
    }
}

/// The import `interface` as the importer's ledger describes it.
fn required<'l>(
    importer: &'l ledger::Ledger,
    interface: &str,
) -> Result<&'l ledger::Interface, Error> {
    let required = importer.import(interface);
    required.map_err(|e| bind_error(interface, e.into()))
}

/// The slots of one instance's local and remote links, in the order
/// [`InstanceBuilder::setup_linker`] numbered them: each checks its contract first.
async fn bind_links(
    importer: &ledger::Ledger,
    links: &BTreeMap<String, Linkable>,
    calls: bind::Calls,
) -> Result<Arc<Vec<bind::Slot>>, Error> {
    let mut slots = Vec::new();
    for (interface, link) in links {
        let bound = match link {
            Linkable::System(_) => continue,
            Linkable::Local(target) => {
                let required = required(importer, interface)?;
                bind::bind_local(required, target, calls).await
            }
            Linkable::Remote(remote) => {
                let required = required(importer, interface)?;
                bind::bind_remote(required, remote).await
            }
        };
        slots.extend(bound.map_err(|cause| bind_error(interface, cause))?);
    }
    Ok(Arc::new(slots))
}

/// How an instance was built, kept to build it again: a renewal (see [`crate::instance`]) gets
/// a new store and instance from the same `InstancePre`, with a context configured as the first
/// one was (the builder's steps replayed, then the systems) and the builder's limits.
struct Recipe {
    /// The app's name, for errors.
    app: String,
    engine: Engine,
    pre: Arc<CachedPre>,
    /// What the host functions of its local and remote links call, by slot.
    links: Arc<Vec<bind::Slot>>,
    /// Whether the instance runs without a fiber (see [`crate::instance`]).
    sync: bool,
    context: Vec<Configure>,
    systems: Vec<Arc<dyn SystemComponent>>,
    limits: Limits,
}

impl std::fmt::Debug for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipe")
            .field("app", &self.app)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

impl Recipe {
    /// Builds a store and instance; instantiates without awaiting if the instance is
    /// synchronous.
    async fn build(&self) -> Result<State, Error> {
        let mut store = self.store()?;
        let instantiated = match self.sync {
            true => self.pre.pre.instantiate(&mut store),
            false => self.pre.pre.instantiate_async(&mut store).await,
        };
        self.instantiated(store, instantiated)
    }

    /// [`Recipe::build`] from synchronous code, for a synchronous instance only.
    fn build_sync(&self) -> Result<State, Error> {
        if !self.sync {
            let message = "an asynchronous instance cannot be built synchronously".to_owned();
            return Err(self.instantiate_error(trap::Error::Host { message }));
        }
        let mut store = self.store()?;
        let instantiated = self.pre.pre.instantiate(&mut store);
        self.instantiated(store, instantiated)
    }

    /// A store with a fresh context: the builder's steps, then the systems', under the
    /// builder's limits.
    fn store(&self) -> Result<Store<ExorunCtx>, Error> {
        let mut context = ContextBuilder::new();
        for configure in &self.context {
            configure(&mut context);
        }
        for system in &self.systems {
            system.configure(&mut context)?;
        }
        let mut ctx = context.build(self.limits);
        ctx.links = self.links.clone();
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.limiter);
        instance::prepare_store(&mut store, self.sync).map_err(|e| self.instantiate_error(e))?;
        Ok(store)
    }

    fn instantiated(
        &self,
        store: Store<ExorunCtx>,
        instantiated: wasmtime::Result<Instance>,
    ) -> Result<State, Error> {
        let instance = instantiated.map_err(|e| {
            let memory_refused = store.data().limiter.memory_refused();
            self.instantiate_error(trap::Error::classify(&e, memory_refused))
        })?;
        Ok(State::new(store, instance, self.sync))
    }

    fn instantiate_error(&self, cause: trap::Error) -> Error {
        Error::Instantiate {
            app: self.app.clone(),
            cause,
        }
    }
}

impl instance::Rebuild for Recipe {
    fn app(&self) -> &str {
        &self.app
    }

    fn rebuild(&self) -> ExecFuture<'_, Result<State, trap::Error>> {
        Box::pin(async move { self.build().await.map_err(renewal_cause) })
    }

    fn rebuild_sync(&self) -> Result<State, trap::Error> {
        self.build_sync().map_err(renewal_cause)
    }
}

/// Why a renewal could not build the instance, as a trap: the start-up's own, or a host
/// failure that names the error.
fn renewal_cause(e: Error) -> trap::Error {
    match e {
        Error::Instantiate { cause, .. } => cause,
        other => trap::Error::Host {
            message: other.to_string(),
        },
    }
}

/// The local instances among the links.
fn local_targets(links: &BTreeMap<String, Linkable>) -> Vec<InstanceHandle> {
    let targets = links.values().filter_map(|link| match link {
        Linkable::Local(target) => Some(target.clone()),
        Linkable::System(_) | Linkable::Remote(_) => None,
    });
    targets.collect()
}

/// What tells a system value from another.
fn address(system: &Arc<dyn SystemComponent>) -> usize {
    Arc::as_ptr(system).cast::<()>() as usize
}

/// The distinct systems among the links, in link-name order.
fn systems(links: &BTreeMap<String, Linkable>) -> Vec<Arc<dyn SystemComponent>> {
    let mut seen: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    for link in links.values() {
        let Linkable::System(system) = link else {
            continue;
        };
        if seen.contains(&address(system)) {
            continue;
        }
        seen.push(address(system));
        out.push(system.clone());
    }
    out
}
