//! [`InstanceHandle`]: a store and its instance behind an async mutex, so that a host function
//! of one instance can call into another, and so that nothing touches a store concurrently.
//!
//! Every entry point takes the lock, runs, and releases it, whatever happens inside: a closure
//! that returns an error, or panics, leaves the handle usable (a panic is reported as
//! [`Error::Panicked`]).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Mutex;
use wasmtime::Store;
use wasmtime::component::{Func, Instance, Val};

use crate::context::ExorunCtx;
use crate::ledger::Ledger;
use crate::runtime::{AppId, InstanceId};
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
}

impl Error {
    /// The failure a peer sees for this error.
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
            Error::Panicked { message } => {
                neorpc::FailureReason::AppTrapped(format!("host panicked: {message}"))
            }
        }
    }
}

/// A store and the instance that lives in it.
pub struct State {
    pub store: Store<ExorunCtx>,
    pub instance: Instance,
}

impl State {
    /// Calls `func` (which must belong to this store) with fresh fuel, mapping a failure onto
    /// [`trap::Error`].
    pub async fn call(
        &mut self,
        func: Func,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), trap::Error> {
        self.prepare_call()?;
        let called = func.call_async(&mut self.store, params, results).await;
        let Err(err) = called else {
            return Ok(());
        };
        let memory_refused = self.store.data().limiter.memory_refused();
        Err(trap::Error::classify(&err, memory_refused))
    }

    /// Refills fuel and forgets earlier memory refusals.
    pub(crate) fn prepare_call(&mut self) -> Result<(), trap::Error> {
        prepare_store(&mut self.store)
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
}

/// Sets a store up for one call: fuel per its limits, no memory refusal remembered.
pub(crate) fn prepare_store(store: &mut Store<ExorunCtx>) -> Result<(), trap::Error> {
    let limiter = &mut store.data_mut().limiter;
    limiter.reset();
    let limits = limiter.limits;
    let yield_changed = limiter.yield_interval_applied != limits.fuel_yield_interval;
    limiter.yield_interval_applied = limits.fuel_yield_interval;
    let host = |e: wasmtime::Error| trap::Error::Host {
        message: e.to_string(),
    };
    store.set_fuel(limits.fuel_per_call).map_err(host)?;
    if !yield_changed {
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
    pub(crate) fn new(state: State, id: InstanceId, app: AppId, ledger: Arc<Ledger>) -> Self {
        InstanceHandle {
            inner: Arc::new(Mutex::new(state)),
            identity: Arc::new(Identity { id, app, ledger }),
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

    /// A number identifying the instance for as long as a handle on it lives.
    pub(crate) fn address(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// Runs `f` on the store and instance under the lock.
    pub async fn exec<F, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut Store<ExorunCtx>, &Instance) -> R,
    {
        let mut guard = self.inner.lock().await;
        let state = &mut *guard;
        let ran =
            std::panic::catch_unwind(AssertUnwindSafe(|| f(&mut state.store, &state.instance)));
        ran.map_err(|payload| Error::Panicked {
            message: panic_message(payload.as_ref()),
        })
    }

    /// Runs the future `f` returns on the state under the lock, until it completes; for work
    /// that awaits, such as `Func::call_async`.
    pub async fn exec_async<F, R>(&self, f: F) -> Result<R, Error>
    where
        F: for<'a> FnOnce(&'a mut State) -> ExecFuture<'a, R>,
    {
        let mut guard = self.inner.lock().await;
        let state = &mut *guard;
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
        let mut state = self.inner.lock().await;
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
    pub async fn func(&self, interface: &str, method: &str) -> Result<Func, Error> {
        self.inner.lock().await.func(interface, method)
    }

    /// Calls `func` (resolved from this instance) if `may_start`, asked under the lock right
    /// before the call would start, says yes; `Ok(false)` if it said no. `params` and
    /// `results` must fit the function's type (wasmtime checks, and fails the call if not).
    pub async fn call_func_if(
        &self,
        func: Func,
        params: &[Val],
        results: &mut [Val],
        may_start: impl FnOnce() -> bool,
    ) -> Result<bool, Error> {
        let mut state = self.inner.lock().await;
        if !may_start() {
            return Ok(false);
        }
        state.call(func, params, results).await?;
        Ok(true)
    }

    /// Calls `func`, resolved earlier from this instance, under the lock.
    pub(crate) async fn call_func(
        &self,
        func: Func,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), trap::Error> {
        let mut state = self.inner.lock().await;
        state.call(func, params, results).await
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
