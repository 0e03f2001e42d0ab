//! [`InstanceHandle`]: a store and its instance behind an async mutex, so that a host function
//! of one instance can call into another, and so that nothing touches a store concurrently.
//!
//! Every entry point takes the lock, runs, and releases it, whatever happens inside: a closure
//! that returns an error, or panics, leaves the handle usable (a panic is reported as
//! [`Error::Panicked`]).
//!
//! An instance is *synchronous* ([`InstanceHandle::is_sync`]) when nothing it imports can
//! wait: its WASI imports never block (`crate::wasi_io`), its systems are synchronous, it has no
//! remote links, and every instance it links to locally is synchronous too. Calls into it run
//! with `Func::call`, without a fiber. Its local links call their targets directly, and so an
//! entry into it first takes the locks of every instance it can reach through local links, in
//! creation order (a target is always older than its importer, so every entry locks in one
//! global order and none can deadlock another), then its own. The importer's host function
//! finds the target's lock among those it was handed (`ExorunCtx::held`) and passes the rest
//! down. A synchronous call never waits while it holds them.
//!
//! # Renewal
//!
//! A trap poisons an instance: after a call into it fails (out of fuel, out of memory, any other
//! trap, an error a host function raised through it), wasmtime refuses to enter it again. So
//! the next entry, by any path ([`InstanceHandle::call`], [`InstanceHandle::call_func_if`],
//! [`InstanceHandle::exec`], [`InstanceHandle::exec_async`], a local link from another
//! instance, awaiting or through held locks), first renews it under its lock: a new store and
//! instance from the same `InstancePre`, built by the recipe [`crate::builder::InstanceBuilder`]
//! left (its limits, its context steps replayed, its systems' configuration), then proceeds.
//! State is lost: linear memory is fresh, the resource table empty, user data as the context
//! steps insert it, limits as the builder set them (a later `ExorunCtx::set_limits` is gone).
//! What lives outside the store stays: a `KvSystem`'s map, a `LogSystem`'s lines, a
//! [`crate::context::Captured`] attached with `ContextBuilder::stdout`.
//!
//! Each renewal starts a new *generation* ([`InstanceHandle::renewals`] counts them). A `Func`
//! belongs to one store, so callers hold an [`ExportedFunc`] instead, which the instance resolves
//! by name once per generation. If the fresh instance cannot be built (a system refuses to
//! configure it, its start-up traps, the pooling allocator is full: the old instance is dropped
//! only once the new one exists), the entry fails with [`trap::Error::Renewal`], naming why, and
//! the next entry tries again. Every instance comes from an `InstanceBuilder` and can be
//! renewed. A trap caused through the raw store that `exec` hands out is not seen: the next
//! call fails with "cannot enter component instance", which poisons the instance in turn.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};
use wasmtime::Store;
use wasmtime::component::{Func, Instance, Val};

use crate::context::ExorunCtx;
use crate::id::{AppId, InstanceId};
use crate::ledger::Ledger;
use crate::trap;

/// What can go wrong using an instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The instance exports no such function.
    #[error("instance exports no function `{method}` in `{interface}`")]
    ExportNotFound { interface: String, method: String },
    /// The call carried the wrong number of arguments.
    #[error("`{method}` takes {expected} arguments, {found} given")]
    ArgumentCount {
        method: String,
        expected: usize,
        found: usize,
    },
    /// The call failed inside the guest or the host.
    #[error(transparent)]
    Call(#[from] trap::Error),
    /// A closure given to `exec` panicked; the lock was released.
    #[error("closure panicked: {message}")]
    Panicked { message: String },
    /// The function was resolved from another instance than the one asked to call it.
    #[error("`{method}` in `{interface}` was resolved from another instance")]
    ForeignFunc { interface: String, method: String },
}

impl Error {
    /// The failure a peer sees for this error: its reason, with a message meant for the peer
    /// (the host's own text is [`Error::detail`]).
    pub fn reason(&self) -> neorpc::FailureReason {
        match self {
            Error::ExportNotFound { method, .. } => {
                neorpc::FailureReason::MethodNotFound(method.clone())
            }
            Error::ArgumentCount {
                expected, found, ..
            } => neorpc::FailureReason::BadArgumentCount {
                expected: u32::try_from(*expected).unwrap_or(u32::MAX),
                found: u32::try_from(*found).unwrap_or(u32::MAX),
            },
            Error::Call(e) => e.reason(),
            Error::Panicked { .. } => neorpc::FailureReason::AppTrapped(HOST_PANICKED.to_owned()),
            Error::ForeignFunc { .. } => {
                neorpc::FailureReason::AppTrapped(trap::HOST_ERROR.to_owned())
            }
        }
    }

    /// What [`Error::reason`] leaves out, for the node's log (see [`trap::Error::detail`]).
    pub fn detail(&self) -> Option<String> {
        match self {
            Error::Call(e) => e.detail(),
            Error::Panicked { .. } | Error::ForeignFunc { .. } => Some(self.to_string()),
            Error::ExportNotFound { .. } | Error::ArgumentCount { .. } => None,
        }
    }
}

/// What a peer reads for an [`Error::Panicked`]: the panic's message stays on the node.
pub const HOST_PANICKED: &str = "host panicked";

/// How to build an instance again after a trap (see the module documentation): a new store and
/// instance made as the first ones were. Its builder leaves one with each instance.
pub(crate) trait Rebuild: std::fmt::Debug + Send + Sync {
    /// The app's name, for errors.
    fn app(&self) -> &str;

    /// A fresh store and instance, or the trap (or host failure) that prevented them.
    fn rebuild(&self) -> ExecFuture<'_, Result<State, trap::Error>>;

    /// [`Rebuild::rebuild`] without awaiting, for a synchronous instance only.
    fn rebuild_sync(&self) -> Result<State, trap::Error>;
}

/// A store and the instance that lives in it.
pub struct State {
    pub store: Store<ExorunCtx>,
    pub instance: Instance,
    /// Whether the store runs without a fiber (see the module documentation).
    sync: bool,
    /// Which store and instance these are, counted from 0: a `Func` belongs to one generation.
    generation: u64,
    /// A call into the instance failed: wasmtime will not enter it again, and the next entry
    /// renews it.
    poisoned: bool,
    /// Functions resolved for [`ExportedFunc`]s, by slot, with the generation they belong to.
    resolved: Vec<Option<(u64, Func)>>,
}

impl State {
    pub(crate) fn new(store: Store<ExorunCtx>, instance: Instance, sync: bool) -> Self {
        State {
            store,
            instance,
            sync,
            generation: 0,
            poisoned: false,
            resolved: Vec::new(),
        }
    }

    /// Calls `func` (which must belong to this store) with fresh fuel, mapping a failure onto
    /// [`trap::Error`]. A synchronous instance completes without awaiting.
    pub async fn call(
        &mut self,
        func: Func,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), trap::Error> {
        if self.sync {
            return self.call_sync(func, params, results);
        }
        self.prepare_call()?;
        let called = func.call_async(&mut self.store, params, results).await;
        self.outcome(called)
    }

    /// [`State::call`] for a synchronous instance, from a synchronous host function.
    fn call_sync(
        &mut self,
        func: Func,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), trap::Error> {
        if !self.sync {
            let message = "a synchronous link cannot call an asynchronous instance".to_owned();
            return Err(trap::Error::Host { message });
        }
        self.prepare_call()?;
        let called = func.call(&mut self.store, params, results);
        self.outcome(called)
    }

    /// The call's result; a failure poisons the instance. wasmtime refuses to enter an
    /// instance again after any error inside it (a trap, or an error a host function raised
    /// through it), and the rare error raised before the guest ran (arguments of the wrong
    /// type) is not told apart: it renews the instance too.
    fn outcome(&mut self, called: wasmtime::Result<()>) -> Result<(), trap::Error> {
        let Err(err) = called else {
            return Ok(());
        };
        self.poisoned = true;
        let memory_refused = self.store.data().limiter.memory_refused();
        Err(trap::Error::classify(&err, memory_refused))
    }

    /// Refills fuel and forgets earlier memory refusals.
    pub(crate) fn prepare_call(&mut self) -> Result<(), trap::Error> {
        prepare_store(&mut self.store, self.sync)
    }

    /// Looks up an exported function: `interface` is the exported interface's name, or
    /// [`crate::ledger::ROOT`] for a function the world exports directly.
    pub fn func(&mut self, interface: &str, method: &str) -> Result<Func, Error> {
        let not_found = || Error::ExportNotFound {
            interface: interface.to_owned(),
            method: method.to_owned(),
        };
        let parent = match interface {
            crate::ledger::ROOT => None,
            name => {
                let index = self.instance.get_export_index(&mut self.store, None, name);
                Some(index.ok_or_else(not_found)?)
            }
        };
        let index = self
            .instance
            .get_export_index(&mut self.store, parent.as_ref(), method)
            .ok_or_else(not_found)?;
        self.instance
            .get_func(&mut self.store, index)
            .ok_or_else(not_found)
    }

    /// The function of `export` in this generation: cached, or looked up by name and cached.
    fn resolve(&mut self, export: &ExportedFunc) -> Result<Func, Error> {
        let cached = self.resolved.get(export.slot).copied().flatten();
        if let Some((generation, func)) = cached
            && generation == self.generation
        {
            return Ok(func);
        }
        let func = self.func(&export.interface, &export.method)?;
        self.remember(export, func);
        Ok(func)
    }

    /// Caches `func`, found in this generation, for `export`.
    fn remember(&mut self, export: &ExportedFunc, func: Func) {
        if self.resolved.len() <= export.slot {
            self.resolved.resize(export.slot + 1, None);
        }
        self.resolved[export.slot] = Some((self.generation, func));
    }
}

/// An exported function of one instance, named once and resolved to its `Func` by the
/// instance, once per generation of its store (a `Func` belongs to one store). Cheap to clone;
/// a call through it costs no name lookup.
#[derive(Debug, Clone)]
pub struct ExportedFunc {
    /// The rank of the instance it belongs to.
    owner: u64,
    /// Where the instance caches its `Func`.
    slot: usize,
    interface: Arc<str>,
    method: Arc<str>,
}

impl ExportedFunc {
    /// The exported interface's name, or [`crate::ledger::ROOT`].
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The function's name in its interface.
    pub fn method(&self) -> &str {
        &self.method
    }
}

/// Sets a store up for one call: fuel per its limits, no memory refusal remembered. A
/// synchronous store never yields: asking it to would make wasmtime require `call_async`.
pub(crate) fn prepare_store(store: &mut Store<ExorunCtx>, sync: bool) -> Result<(), trap::Error> {
    let limiter = &mut store.data_mut().limiter;
    limiter.reset();
    let limits = limiter.limits;
    let yield_changed = limiter.yield_interval_applied != limits.fuel_yield_interval;
    limiter.yield_interval_applied = limits.fuel_yield_interval;
    let host = |e: wasmtime::Error| trap::Error::Host {
        message: e.to_string(),
    };
    store.set_fuel(limits.fuel_per_call).map_err(host)?;
    if sync || !yield_changed {
        return Ok(());
    }
    store
        .fuel_async_yield_interval(limits.fuel_yield_interval)
        .map_err(host)
}

/// Who an instance is: fixed at creation, readable without the lock.
#[derive(Debug)]
struct Identity {
    id: InstanceId,
    app: AppId,
    ledger: Arc<Ledger>,
    /// The instance's place in the order every entry takes locks in: its creation order.
    rank: u64,
    /// Whether calls run without a fiber.
    sync: bool,
    /// For an instance whose local links call their targets directly: every instance it can
    /// reach through them, by rank. Empty otherwise.
    reach: Vec<InstanceHandle>,
    /// The functions named by [`ExportedFunc`]s, by slot; each name once, so it holds at most
    /// the functions the instance exports (names are checked against the exports first).
    slots: std::sync::Mutex<Vec<(Arc<str>, Arc<str>)>>,
    /// How to build the store and instance again.
    recipe: Box<dyn Rebuild>,
    /// Renewals so far: the current generation, readable without the lock.
    renewals: AtomicU64,
}

/// Ranks instances in creation order, across runtimes.
static RANK: AtomicU64 = AtomicU64::new(0);

/// The state under an entry's lock, with the locks of the instances it may call directly;
/// dropping it releases them all.
struct Entered<'h> {
    guard: MutexGuard<'h, State>,
}

impl std::ops::Deref for Entered<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for Entered<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.guard.store.data_mut().held.clear();
    }
}

/// A shared, cloneable handle on one instance.
#[derive(Clone)]
pub struct InstanceHandle {
    inner: Arc<Mutex<State>>,
    identity: Arc<Identity>,
}

impl std::fmt::Debug for InstanceHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceHandle")
            .field("id", &self.identity.id)
            .field("app", &self.identity.app)
            .finish_non_exhaustive()
    }
}

/// The future an [`InstanceHandle::exec_async`] closure returns.
pub type ExecFuture<'a, R> = Pin<Box<dyn Future<Output = R> + Send + 'a>>;

impl InstanceHandle {
    pub(crate) fn new(
        state: State,
        id: InstanceId,
        app: AppId,
        ledger: Arc<Ledger>,
        direct: &[InstanceHandle],
        recipe: impl Rebuild + 'static,
    ) -> Self {
        // `direct`: the local targets the instance's host functions call directly.
        let mut reach: Vec<InstanceHandle> = Vec::new();
        for target in direct {
            let all = target.identity.reach.iter().chain(std::iter::once(target));
            for handle in all {
                if !reach.iter().any(|known| known.same(handle)) {
                    reach.push(handle.clone());
                }
            }
        }
        reach.sort_by_key(|handle| handle.identity.rank);
        let identity = Identity {
            id,
            app,
            ledger,
            rank: RANK.fetch_add(1, Ordering::Relaxed),
            sync: state.sync,
            reach,
            slots: std::sync::Mutex::new(Vec::new()),
            recipe: Box::new(recipe),
            renewals: AtomicU64::new(0),
        };
        InstanceHandle {
            inner: Arc::new(Mutex::new(state)),
            identity: Arc::new(identity),
        }
    }

    /// The instance's id in its runtime.
    pub fn id(&self) -> InstanceId {
        self.identity.id
    }

    /// The app the instance was created from.
    pub fn app(&self) -> AppId {
        self.identity.app
    }

    /// The interfaces the instance imports and exports.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.identity.ledger
    }

    /// Whether two handles refer to the same instance.
    pub fn same(&self, other: &InstanceHandle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether calls into the instance run without a fiber: nothing it imports can wait (see
    /// the module documentation).
    pub fn is_sync(&self) -> bool {
        self.identity.sync
    }

    /// Takes the locks an entry needs: those of the instances this one calls directly, in
    /// rank order, then its own (the highest rank of them all); then renews the instance if its
    /// last call poisoned it. A failed renewal releases the locks and fails the entry.
    async fn enter(&self) -> Result<Entered<'_>, trap::Error> {
        let mut entered = self.lock_all().await;
        self.renew_if_poisoned(&mut entered).await?;
        Ok(entered)
    }

    async fn lock_all(&self) -> Entered<'_> {
        let reach = &self.identity.reach;
        if reach.is_empty() {
            let guard = self.inner.lock().await;
            return Entered { guard };
        }
        if let Some(entered) = self.try_enter() {
            return entered;
        }
        let mut held = Vec::with_capacity(reach.len());
        for target in reach {
            held.push(target.lock_to_hold().lock_owned().await);
        }
        let mut guard = self.inner.lock().await;
        guard.store.data_mut().held = held;
        Entered { guard }
    }

    /// [`InstanceHandle::lock_all`] when no lock is taken, without waiting (so in any order) and
    /// reusing the list kept in the store; `None`, having released what it took, if one is.
    fn try_enter(&self) -> Option<Entered<'_>> {
        let mut guard = self.inner.try_lock().ok()?;
        let mut held = std::mem::take(&mut guard.store.data_mut().held);
        for target in &self.identity.reach {
            match target.lock_to_hold().try_lock_owned() {
                Ok(taken) => held.push(taken),
                Err(_) => {
                    held.clear();
                    guard.store.data_mut().held = held;
                    return None;
                }
            }
        }
        guard.store.data_mut().held = held;
        Some(Entered { guard })
    }

    /// This instance's lock, as the context holds it (`ExorunCtx::held`): the context, below
    /// the instance, does not name its `State`.
    fn lock_to_hold(&self) -> Arc<Mutex<dyn Any + Send>> {
        self.inner.clone()
    }

    /// Calls `func`, an export of this instance, through its lock among `held`: the locks the
    /// entry into a synchronous importer took. The rest of `held` goes down with the call, for
    /// the instance's own local links, and comes back after.
    pub(crate) fn call_held(
        &self,
        held: &mut Vec<OwnedMutexGuard<dyn Any + Send>>,
        func: &ExportedFunc,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), trap::Error> {
        let not_taken = || trap::Error::Host {
            message: "exorun: a local target's lock was not taken at entry".to_owned(),
        };
        let mine = held.iter().position(|guard| {
            let mutex = Arc::as_ptr(OwnedMutexGuard::mutex(guard));
            std::ptr::addr_eq(mutex, Arc::as_ptr(&self.inner))
        });
        let Some(at) = mine else {
            return Err(not_taken());
        };
        let mut guard = held.swap_remove(at);
        // The lock is this instance's, so what it guards is a `State`.
        let Some(state) = guard.downcast_mut::<State>() else {
            held.push(guard);
            return Err(not_taken());
        };
        let func = match self.prepare_held(state, func) {
            Ok(func) => func,
            Err(e) => {
                held.push(guard);
                return Err(e);
            }
        };
        std::mem::swap(&mut state.store.data_mut().held, held);
        // A host function deeper down may panic; the locks come back before the panic goes on,
        // so that the entry releases them all.
        let called =
            std::panic::catch_unwind(AssertUnwindSafe(|| state.call_sync(func, params, results)));
        std::mem::swap(&mut state.store.data_mut().held, held);
        held.push(guard);
        called.unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    }

    /// Readies this instance's `state`, taken from among held locks, for a call of `func`:
    /// renewed if poisoned (without awaiting: the instance is synchronous), `func` resolved.
    fn prepare_held(&self, state: &mut State, func: &ExportedFunc) -> Result<Func, trap::Error> {
        if state.poisoned {
            let built = self.identity.recipe.rebuild_sync();
            self.install(state, built)?;
        }
        self.resolve(state, func).map_err(|e| host_error(&e))
    }

    /// Replaces a poisoned state with a fresh store and instance from the recipe (see the
    /// module documentation).
    async fn renew_if_poisoned(&self, state: &mut State) -> Result<(), trap::Error> {
        if !state.poisoned {
            return Ok(());
        }
        let built = self.identity.recipe.rebuild().await;
        self.install(state, built)
    }

    /// Puts the fresh state `built` in the place of `state`, one generation on: the locks an
    /// entry holds move from the old store to the new one, and the old store is dropped. If
    /// building failed, `state` stays poisoned, for the next entry to try again.
    fn install(
        &self,
        state: &mut State,
        built: Result<State, trap::Error>,
    ) -> Result<(), trap::Error> {
        let mut fresh = built.map_err(|cause| self.renewal_error(cause))?;
        let held = &mut state.store.data_mut().held;
        std::mem::swap(&mut fresh.store.data_mut().held, held);
        fresh.generation = state.generation + 1;
        // Stale by their generation; kept for the allocation.
        fresh.resolved = std::mem::take(&mut state.resolved);
        *state = fresh;
        self.identity
            .renewals
            .store(state.generation, Ordering::SeqCst);
        Ok(())
    }

    fn renewal_error(&self, cause: trap::Error) -> trap::Error {
        trap::Error::Renewal {
            app: self.identity.recipe.app().to_owned(),
            cause: Box::new(cause),
        }
    }

    /// How many times the instance was renewed: its store and instance replaced by fresh ones
    /// because a call trapped (see the module documentation).
    pub fn renewals(&self) -> u64 {
        self.identity.renewals.load(Ordering::SeqCst)
    }

    /// Runs `f` on the store and instance under the lock.
    pub async fn exec<F, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut Store<ExorunCtx>, &Instance) -> R,
    {
        let mut entered = self.enter().await?;
        let state = &mut *entered;
        let ran =
            std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut state.store, &state.instance)));
        ran.map_err(|payload| Error::Panicked {
            message: panic_message(payload.as_ref()),
        })
    }

    /// Runs the future `f` returns on the state under the lock, until it completes; for work
    /// that awaits, such as `Func::call_async`. On a synchronous instance whose local links
    /// call their targets directly, the future also holds those targets' locks: it must not
    /// await a call into one of them (which would wait for itself).
    pub async fn exec_async<F, R>(&self, f: F) -> Result<R, Error>
    where
        F: for<'a> FnOnce(&'a mut State) -> ExecFuture<'a, R>,
    {
        let mut entered = self.enter().await?;
        let state = &mut *entered;
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| f(state)));
        let future = started.map_err(|payload| Error::Panicked {
            message: panic_message(payload.as_ref()),
        })?;
        CatchUnwind { future }.await
    }

    /// Calls the exported function `method` of `interface` ([`crate::ledger::ROOT`] for a
    /// function the world exports directly) and returns its results.
    pub async fn call(
        &self,
        interface: &str,
        method: &str,
        args: &[Val],
    ) -> Result<Vec<Val>, Error> {
        let mut state = self.enter().await?;
        let func = state.func(interface, method)?;
        let ty = func.ty(&state.store);
        let expected = ty.params().len();
        if args.len() != expected {
            let method = method.to_owned();
            let found = args.len();
            return Err(Error::ArgumentCount {
                method,
                expected,
                found,
            });
        }
        let mut results = vec![Val::Bool(false); ty.results().len()];
        state.call(func, args, &mut results).await?;
        Ok(results)
    }

    /// Looks up an exported function under the lock, to call it later with
    /// [`InstanceHandle::call_func_if`] without looking its name up again.
    pub async fn func(&self, interface: &str, method: &str) -> Result<ExportedFunc, Error> {
        let mut state = self.inner.lock().await;
        let found = state.func(interface, method)?;
        let export = self.export(interface, method);
        state.remember(&export, found);
        Ok(export)
    }

    /// Names the exported function `method` of `interface` without checking that it exists: a
    /// call through it fails with [`Error::ExportNotFound`] if not. For names the instance's
    /// ledger lists.
    pub(crate) fn export(&self, interface: &str, method: &str) -> ExportedFunc {
        let mut slots = self
            .identity
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = slots
            .iter()
            .position(|(i, m)| &**i == interface && &**m == method);
        let slot = known.unwrap_or_else(|| {
            slots.push((Arc::from(interface), Arc::from(method)));
            slots.len() - 1
        });
        let (interface, method) = slots[slot].clone();
        ExportedFunc {
            owner: self.identity.rank,
            slot,
            interface,
            method,
        }
    }

    /// The `Func` of `export` in the current generation of `state`, this instance's state.
    fn resolve(&self, state: &mut State, export: &ExportedFunc) -> Result<Func, Error> {
        if export.owner != self.identity.rank {
            return Err(Error::ForeignFunc {
                interface: export.interface.to_string(),
                method: export.method.to_string(),
            });
        }
        state.resolve(export)
    }

    /// Calls `func` (an export of this instance) if `may_start`, asked under the lock right
    /// before the call would start, says yes; `Ok(false)` if it said no. `params` and
    /// `results` must fit the function's type (wasmtime checks, and fails the call if not).
    pub async fn call_func_if(
        &self,
        func: &ExportedFunc,
        params: &[Val],
        results: &mut [Val],
        may_start: impl FnOnce() -> bool,
    ) -> Result<bool, Error> {
        let mut state = self.enter().await?;
        let func = self.resolve(&mut state, func)?;
        if !may_start() {
            return Ok(false);
        }
        state.call(func, params, results).await?;
        Ok(true)
    }

    /// Calls `func` (an export of this instance) with the params `start` returns, asked under
    /// the lock right before the call would start; `Ok(Err(e))` if it refused with `e`. What
    /// `start` builds exists only while the call holds the lock: a server decodes a peer's
    /// arguments here, so a call waiting for the instance holds its encoded bytes only.
    pub async fn call_func_with<E>(
        &self,
        func: &ExportedFunc,
        results: &mut [Val],
        start: impl FnOnce() -> Result<Vec<Val>, E>,
    ) -> Result<Result<(), E>, Error> {
        let mut state = self.enter().await?;
        let func = self.resolve(&mut state, func)?;
        let params = match start() {
            Ok(params) => params,
            Err(refused) => return Ok(Err(refused)),
        };
        state.call(func, &params, results).await?;
        Ok(Ok(()))
    }

    /// Calls `func`, an export of this instance, under the lock.
    pub(crate) async fn call_func(
        &self,
        func: &ExportedFunc,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), trap::Error> {
        let mut state = self.enter().await?;
        let func = self.resolve(&mut state, func).map_err(|e| host_error(&e))?;
        state.call(func, params, results).await
    }
}

/// An instance error where only a [`trap::Error`] can go: a local link's host function.
fn host_error(e: &Error) -> trap::Error {
    match e {
        Error::Call(e) => e.clone(),
        other => trap::Error::Host {
            message: other.to_string(),
        },
    }
}

/// Polls a future, turning a panic into [`Error::Panicked`].
struct CatchUnwind<'a, R> {
    future: ExecFuture<'a, R>,
}

impl<R> Future for CatchUnwind<'_, R> {
    type Output = Result<R, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.future;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(Error::Panicked {
                message: panic_message(payload.as_ref()),
            })),
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        return (*message).to_owned();
    }
    if let Some(message) = payload.downcast_ref::<String>() {
        return message.clone();
    }
    "non-string panic payload".to_owned()
}
