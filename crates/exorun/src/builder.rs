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
//! The linker (WASI, then each link) is set up once per app and set of links and kept as an
//! `InstancePre` in the runtime; the next instance with the same links skips straight to
//! instantiation. Each instance still gets its own context, configured by its systems.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{Instance, Linker};
use wasmtime::{Engine, Store};

use crate::bind::{self, RemoteTarget};
use crate::context::{ContextBuilder, ExorunCtx, Limits};
use crate::instance::{self, ExecFuture, InstanceHandle, State};
use crate::ledger;
use crate::runtime::{self, AppId, CachedPre, LinkKey, PreKey, Runtime};
use crate::system::{self, SystemComponent};
use crate::trap;

/// What an import (or, for a system, a set of interfaces) is linked to.
#[derive(Clone)]
pub enum Linkable {
    /// Native code providing whole interfaces; installed once per linker.
    System(Arc<dyn SystemComponent>),
    /// The same-named export of another local instance.
    Local(InstanceHandle),
    /// The interface as a peer serves it over neorpc (see [`bind::link_remote_interface`]).
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

    fn key(&self) -> LinkKey {
        match self {
            Linkable::System(system) => LinkKey::System(Arc::as_ptr(system).cast::<()>() as usize),
            Linkable::Local(handle) => LinkKey::Local(handle.address()),
            Linkable::Remote(remote) => LinkKey::Remote(remote.address()),
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
        let pre = self.instance_pre(&app).await?;
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

    async fn instance_pre(&self, app: &runtime::App) -> Result<Arc<CachedPre>, Error> {
        let key: PreKey = (
            self.app,
            self.links
                .iter()
                .map(|(name, link)| (name.clone(), link.key()))
                .collect(),
        );
        if let Some(cached) = self.runtime.cached_pre(&key) {
            return Ok(cached);
        }
        let sync = app.wasi_sync && self.links.values().all(Linkable::is_sync);
        let linker = self.setup_linker(app, sync).await?;
        let pre = linker
            .instantiate_pre(&app.component)
            .map_err(|e| Error::Unlinked {
                app: app.name.clone(),
                message: e.to_string(),
            })?;
        let links: Vec<Linkable> = self.links.values().cloned().collect();
        let _links = Box::new(links);
        let cached = Arc::new(CachedPre { pre, _links, sync });
        self.runtime.cache_pre(key, cached.clone());
        Ok(cached)
    }

    /// With `sync`, every import is linked synchronously (see [`crate::instance`]).
    async fn setup_linker(
        &self,
        app: &runtime::App,
        sync: bool,
    ) -> Result<Linker<ExorunCtx>, Error> {
        let mut linker = self.runtime.linker(sync);
        for system in systems(&self.links) {
            system.install(&mut linker)?;
        }
        let calls = match sync {
            true => bind::Calls::Held,
            false => bind::Calls::Awaiting,
        };
        for (interface, link) in &self.links {
            link_import(&mut linker, &app.ledger, interface, link, calls).await?;
        }
        Ok(linker)
    }
}

/// How an instance was built, kept to build it again: a renewal (see [`crate::instance`]) gets
/// a new store and instance from the same `InstancePre`, with a context configured as the first
/// one was (the builder's steps replayed, then the systems) and the builder's limits.
struct Recipe {
    /// The app's name, for errors.
    app: String,
    engine: Engine,
    pre: Arc<CachedPre>,
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
        let mut store = Store::new(&self.engine, context.build(self.limits));
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

/// Links one import to a local instance or a remote peer (systems are installed whole).
async fn link_import(
    linker: &mut Linker<ExorunCtx>,
    importer: &ledger::Ledger,
    interface: &str,
    link: &Linkable,
    calls: bind::Calls,
) -> Result<(), Error> {
    let bind_error = |cause: bind::Error| Error::Bind {
        interface: interface.to_owned(),
        cause,
    };
    if let Linkable::System(_) = link {
        return Ok(());
    }
    let required = importer
        .import(interface)
        .map_err(|e| bind_error(e.into()))?;
    let bound = match link {
        Linkable::System(_) => Ok(()),
        Linkable::Local(target) => {
            bind::link_local_interface(linker, required, target, calls).await
        }
        Linkable::Remote(remote) => bind::link_remote_interface(linker, required, remote).await,
    };
    bound.map_err(bind_error)
}

/// The local instances among the links.
fn local_targets(links: &BTreeMap<String, Linkable>) -> Vec<InstanceHandle> {
    let targets = links.values().filter_map(|link| match link {
        Linkable::Local(target) => Some(target.clone()),
        Linkable::System(_) | Linkable::Remote(_) => None,
    });
    targets.collect()
}

/// The distinct systems among the links, in link-name order.
fn systems(links: &BTreeMap<String, Linkable>) -> Vec<Arc<dyn SystemComponent>> {
    let mut seen: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    for link in links.values() {
        let Linkable::System(system) = link else {
            continue;
        };
        let LinkKey::System(address) = link.key() else {
            continue;
        };
        if seen.contains(&address) {
            continue;
        }
        seen.push(address);
        out.push(system.clone());
    }
    out
}
