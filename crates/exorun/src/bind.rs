//! Binding an import to what serves it.
//!
//! [`bind_local`] connects an imported interface to another local instance's
//! exports: each method becomes a call of the target's exported function with
//! the caller's `Val`s, no serialization. How it reaches the target is the [`Calls`] given: an
//! async host function that awaits the target's lock, or, for a synchronous importer, a
//! synchronous one that uses the lock the importer's entry already took (see
//! [`crate::instance`]). The target's functions are looked up here, each kept as an
//! [`ExportedFunc`] that the target resolves once per generation of its store, so a call looks a
//! name up only after the target was renewed. The contract is checked first (the Ledger), so a
//! missing interface, a missing method or a signature mismatch fails at link time.
//!
//! A remote link (a peer over neorpc) goes through the same steps: check the contract against
//! the peer's schema, refuse resources (`ledger::Interface::check_remote`), and make each
//! method an awaiting call, which encodes, sends and awaits the reply. The peer is
//! reached through a [`Client`] (one connection) or a [`Session`] (which reconnects, and
//! re-checks the contract registered here against every new connection's offer).
//!
//! A remote call that cannot reach its peer (timeout, disconnect, refused reconnect, a contract
//! broken after a reconnect) traps the importer with [`trap::Error::Unavailable`]; a failure the
//! peer raised is raised again as it was raised there.
//!
//! Binding is split in two, so that one `InstancePre` serves every instance of an app linked the
//! same way, whatever it is linked to. [`define_slots`] puts host functions in the linker that
//! name no target: each reads its method's [`Slot`] from the calling store's context, by index.
//! [`bind_local`] and [`bind_remote`] check the contract and make the slots of one instance,
//! which the builder puts in each store it makes for that instance.
//!
//! Calls into a target serialize on its lock. Local links cannot form a cycle: a target exists
//! before anything links to it.

use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;

use neorpc::FailureReason;
use neorpc::codec;
use neorpc::schema::Type;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Val, types::ComponentFunc};

use crate::client::{self, Client};
use crate::context::ExorunCtx;
use crate::domain;
use crate::instance::{self, ExportedFunc, InstanceHandle};
use crate::ledger::{self, Interface};
use crate::offer::{self, Offer};
use crate::session::{self, Session};
use crate::trap;

/// What can go wrong linking an import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The contract does not hold (missing interface or method, signature mismatch, resources
    /// on a remote boundary).
    #[error(transparent)]
    Contract(#[from] ledger::Error),
    /// Resources cannot be passed between two local stores by value.
    #[error("interface `{interface}` uses resources, which a local link cannot pass")]
    ResourceUnsupported { interface: String },
    /// The target's instance lacks an export its ledger lists.
    #[error(transparent)]
    Target(#[from] instance::Error),
    /// The peer's offer does not serve the interface under the target name.
    #[error("peer target `{target}` does not serve `{interface}`")]
    NotOffered { interface: String, target: String },
    /// The handshake with the peer failed (no `Hello`, another protocol version, a bad offer).
    #[error("handshake with peer target `{target}`: {message}")]
    Handshake { target: String, message: String },
    /// The linker refused a definition.
    #[error("cannot define `{interface}`: {message}")]
    Linker { interface: String, message: String },
    /// [`Calls::Held`] needs a target that runs synchronously.
    #[error("`{interface}`: a synchronous link needs a synchronous target")]
    TargetNotSync { interface: String },
    /// The session refused the contract for another reason (too many contracts).
    #[error(transparent)]
    Session(session::Error),
}

/// How the host functions of a local link reach the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// Await the target's lock, then call it: from any importer, to any target.
    Awaiting,
    /// Call the target synchronously through the lock the importer's entry took: for a
    /// synchronous importer and a synchronous target, and no fiber on either side.
    Held,
}

/// What one linked method calls, kept in the context of each store of the importing instance;
/// the host function defined for the method finds it there by index (see [`define_slots`]).
#[derive(Clone)]
pub(crate) enum Slot {
    /// A call that awaits: a local target's lock ([`Calls::Awaiting`]), or a peer's reply.
    Awaiting(Arc<dyn DynHostCall>),
    /// A call into a synchronous local target through the lock the importer's entry took
    /// ([`Calls::Held`]).
    Held {
        target: InstanceHandle,
        func: ExportedFunc,
    },
}

/// The slots of every method of the imported `interface` (as the importer's ledger describes
/// it, `required`), each a call into `target`'s export of the same name, in the order of
/// `required.schema.funcs`. The contract is checked first.
pub(crate) async fn bind_local(
    required: &Interface,
    target: &InstanceHandle,
    calls: Calls,
) -> Result<Vec<Slot>, Error> {
    let name = required.name().to_owned();
    if calls == Calls::Held && !target.is_sync() {
        return Err(Error::TargetNotSync { interface: name });
    }
    let offered = target.ledger().export(&name)?;
    ledger::check_contract(&required.schema, &offered.schema)?;
    if let Some((method, reason)) = required.unsupported.iter().next() {
        let interface = name.clone();
        let (method, reason) = (method.clone(), reason.clone());
        return Err(ledger::Error::Unsupported {
            interface,
            method,
            reason,
        }
        .into());
    }
    if required.has_resources() {
        return Err(Error::ResourceUnsupported { interface: name });
    }
    let funcs = resolve(required, target).await?;
    let slots = funcs.into_iter().map(|func| match calls {
        Calls::Awaiting => {
            let target = target.clone();
            Slot::Awaiting(Arc::new(LocalMethod { target, func }))
        }
        Calls::Held => Slot::Held {
            target: target.clone(),
            func,
        },
    });
    Ok(slots.collect())
}

/// The target's function for each method the importer requires, looked up once.
async fn resolve(
    required: &Interface,
    target: &InstanceHandle,
) -> Result<Vec<ExportedFunc>, Error> {
    let name = required.name();
    let mut funcs = Vec::with_capacity(required.schema.funcs.len());
    for method in required.schema.funcs.keys() {
        funcs.push(target.func(name, method).await?);
    }
    Ok(funcs)
}

/// Defines every method of the imported `interface` (`required`, in the order of its schema's
/// functions) as a host function that calls the slot `first + i` of the calling store, `i` the
/// method's rank: [`Calls::Held`] synchronously, otherwise awaiting. The functions name no
/// target, so the `InstancePre` made from the linker serves any instance whose slots were bound
/// for the same interface and calls ([`bind_local`], [`bind_remote`]).
pub(crate) fn define_slots(
    linker: &mut Linker<ExorunCtx>,
    required: &Interface,
    first: usize,
    calls: Calls,
) -> Result<(), Error> {
    let name = required.name();
    let linker_error = |e: wasmtime::Error| Error::Linker {
        interface: name.to_owned(),
        message: e.to_string(),
    };
    let mut instance = linker.instance(name).map_err(linker_error)?;
    for (rank, method) in required.schema.funcs.keys().enumerate() {
        let slot = first + rank;
        let defined = match calls {
            Calls::Awaiting => instance.func_new_async(method, awaiting_fn(slot)),
            Calls::Held => instance.func_new(method, held_fn(slot)),
        };
        defined.map_err(linker_error)?;
    }
    Ok(())
}

/// Slot `slot` of a store's links (the slots [`bind_local`] and [`bind_remote`] made, as the
/// builder attached them).
fn slot_of(links: &(dyn Any + Send + Sync), slot: usize) -> Option<&Slot> {
    links.downcast_ref::<Vec<Slot>>()?.get(slot)
}

/// A slot the store does not have, or not of the kind its host function calls: a linking bug,
/// reported as a host error rather than a panic.
fn unbound(slot: usize) -> wasmtime::Error {
    wasmtime::Error::new(trap::Error::Host {
        message: format!("link slot {slot} is not bound in this store"),
    })
}

/// The synchronous host function of slot `slot`, a [`Calls::Held`] link.
fn held_fn(
    slot: usize,
) -> impl Fn(StoreContextMut<'_, ExorunCtx>, ComponentFunc, &[Val], &mut [Val]) -> wasmtime::Result<()>
+ Send
+ Sync
+ 'static {
    move |mut store, _ty, params, results| {
        let ctx = store.data_mut();
        let Some(Slot::Held { target, func }) = slot_of(&*ctx.links, slot) else {
            return Err(unbound(slot));
        };
        let called = target.call_held(&mut ctx.held, func, params, results);
        called.map_err(wasmtime::Error::new)
    }
}

/// What a dynamic async host function returns.
type HostFuture<'a> = Box<dyn Future<Output = wasmtime::Result<()>> + Send + 'a>;

/// What one linked method's call returns.
type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<(), trap::Error>> + Send + 'a>>;

/// One linked method: what its host function does when the guest calls it.
pub(crate) trait DynHostCall: Send + Sync + 'static {
    fn call<'a>(&'a self, params: &'a [Val], results: &'a mut [Val]) -> CallFuture<'a>;
}

/// The host function `func_new_async` wants, around the method in slot `slot`.
fn awaiting_fn(
    slot: usize,
) -> impl for<'a> Fn(
    StoreContextMut<'a, ExorunCtx>,
    ComponentFunc,
    &'a [Val],
    &'a mut [Val],
) -> HostFuture<'a>
+ Send
+ Sync
+ 'static {
    move |store, _ty, params, results| {
        let method = match slot_of(&*store.data().links, slot) {
            Some(Slot::Awaiting(method)) => Some(Arc::clone(method)),
            _ => None,
        };
        Box::new(async move {
            let Some(method) = method else {
                return Err(unbound(slot));
            };
            let called = method.call(params, results).await;
            called.map_err(wasmtime::Error::new)
        })
    }
}

/// A locally linked method: the target instance and its function, named at link time.
struct LocalMethod {
    target: InstanceHandle,
    func: ExportedFunc,
}

impl DynHostCall for LocalMethod {
    fn call<'a>(&'a self, params: &'a [Val], results: &'a mut [Val]) -> CallFuture<'a> {
        Box::pin(self.target.call_func(&self.func, params, results))
    }
}

/// How a remote target is reached.
#[derive(Clone)]
enum Peer {
    /// One connection; calls fail once it has ended.
    Client(Arc<Client>),
    /// A session, which reconnects.
    Session(Arc<Session>),
}

impl Peer {
    async fn call_raw(
        &self,
        target: &str,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, client::Error> {
        match self {
            Peer::Client(client) => client.call_raw(target, method, args).await,
            Peer::Session(session) => session.call_raw(target, method, args).await,
        }
    }
}

/// A target on a remote peer: how the peer is reached (a client or a session) and the name the
/// peer serves the interface under.
#[derive(Clone)]
pub struct RemoteTarget {
    peer: Peer,
    target: Arc<str>,
}

impl RemoteTarget {
    /// The target `target` behind the one connection of `client`: no reconnect.
    pub fn new(client: Arc<Client>, target: &str) -> Self {
        RemoteTarget {
            peer: Peer::Client(client),
            target: Arc::from(target),
        }
    }

    /// The target `target` behind `session`: calls reconnect when the peer restarted, and the
    /// link's contract is re-checked against each new connection.
    pub fn session(session: Arc<Session>, target: &str) -> Self {
        RemoteTarget {
            peer: Peer::Session(session),
            target: Arc::from(target),
        }
    }

    /// The client of the connection to the peer: for a session, its current one.
    pub fn client(&self) -> Arc<Client> {
        match &self.peer {
            Peer::Client(client) => Arc::clone(client),
            Peer::Session(session) => session.client(),
        }
    }

    /// The name the peer serves the interface under.
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// The slots of every method of the imported `interface` (`required`, in the order of its
/// schema's functions), each a call to the peer. Before any call, and before linking succeeds:
/// resources are refused (the Ledger), then the peer's `Hello` offer must serve the interface
/// under `remote.target` with a matching contract. A session also registers the contract, to
/// check it again on every reconnect.
pub(crate) async fn bind_remote(
    required: &Interface,
    remote: &RemoteTarget,
) -> Result<Vec<Slot>, Error> {
    required.check_remote()?;
    let name = required.name().to_owned();
    match &remote.peer {
        Peer::Client(client) => check_offer(client, required, &remote.target).await?,
        Peer::Session(session) => session
            .require(&remote.target, &required.schema)
            .map_err(|e| session_error(e, &remote.target))?,
    }
    let slots = required.schema.funcs.iter().map(|(function, sig)| {
        Slot::Awaiting(Arc::new(RemoteMethod {
            peer: remote.peer.clone(),
            target: remote.target.to_string(),
            method: offer::method_name(&name, function),
            params: sig.param_types(),
            results: sig.results.clone(),
            domain: domain::is_domain_result(&sig.results),
        }))
    });
    Ok(slots.collect())
}

/// Checks the contract against the offer in the `Hello` of `client`'s peer.
async fn check_offer(client: &Client, required: &Interface, target: &str) -> Result<(), Error> {
    let offer = peer_offer(client, target).await?;
    let Some(offered) = offer.interface(target, required.name()) else {
        return Err(Error::NotOffered {
            interface: required.name().to_owned(),
            target: target.to_owned(),
        });
    };
    Ok(ledger::check_contract(&required.schema, offered)?)
}

/// The peer's offer, from its `Hello`.
async fn peer_offer(client: &Client, target: &str) -> Result<Offer, Error> {
    let handshake = |message: String| Error::Handshake {
        target: target.to_owned(),
        message,
    };
    let hello = client
        .peer_hello()
        .await
        .map_err(|e| handshake(e.to_string()))?;
    offer::offer_of(&hello).map_err(handshake)
}

/// A session's refusal as the link error a client's would be.
fn session_error(e: session::Error, target: &str) -> Error {
    match e {
        session::Error::Contract(e) => Error::Contract(e),
        session::Error::NotOffered { interface, target } => Error::NotOffered { interface, target },
        session::Error::Handshake { message } => Error::Handshake {
            target: target.to_owned(),
            message,
        },
        other => Error::Session(other),
    }
}

/// Everything a remotely linked method needs per call, computed once at link time.
struct RemoteMethod {
    peer: Peer,
    target: String,
    method: String,
    params: Vec<Type>,
    results: Vec<Type>,
    /// The method returns `result<_, domain-error>`: a domain failure becomes its `err`.
    domain: bool,
}

impl DynHostCall for RemoteMethod {
    fn call<'a>(&'a self, params: &'a [Val], results: &'a mut [Val]) -> CallFuture<'a> {
        Box::pin(self.call_remote(params, results))
    }
}

impl RemoteMethod {
    async fn call_remote(&self, params: &[Val], results: &mut [Val]) -> Result<(), trap::Error> {
        let args = codec::encode_args(params, &self.params).map_err(|e| self.host(e))?;
        let called = self.peer.call_raw(&self.target, &self.method, &args).await;
        let payload = match called {
            Ok(payload) => payload,
            Err(client::Error::Failed(FailureReason::DomainSpecific(code, message)))
                if self.domain =>
            {
                results[0] = domain::err_value(code, &message);
                return Ok(());
            }
            Err(client::Error::Failed(reason)) => return Err(raised(reason)),
            Err(
                e @ (client::Error::Timeout
                | client::Error::Disconnected
                | client::Error::Contract(_)
                | client::Error::Unreachable { .. }),
            ) => return Err(self.unavailable(&e)),
            Err(e) => return Err(self.host(e)),
        };
        let vals = codec::decode_results(&payload, &self.results).map_err(|e| self.host(e))?;
        if vals.len() != results.len() {
            return Err(self.host(format!(
                "expected {} results, got {}",
                results.len(),
                vals.len()
            )));
        }
        for (slot, val) in results.iter_mut().zip(vals) {
            *slot = val;
        }
        Ok(())
    }

    /// The peer could not be reached: which target, and which kind (the client error's text,
    /// which never names a host path).
    fn unavailable(&self, e: &client::Error) -> trap::Error {
        trap::Error::Unavailable {
            message: format!("{}: {e}", self.target),
        }
    }

    fn host(&self, e: impl std::fmt::Display) -> trap::Error {
        trap::Error::Host {
            message: format!("remote call {} on `{}`: {e}", self.method, self.target),
        }
    }
}

/// A callee's failure, raised again in the caller as it was raised there.
fn raised(reason: FailureReason) -> trap::Error {
    match reason {
        FailureReason::OutOfFuel => trap::Error::OutOfFuel,
        FailureReason::OutOfMemory => trap::Error::OutOfMemory,
        FailureReason::AppTrapped(kind) => trap::Error::AppTrapped { kind },
        FailureReason::DomainSpecific(code, message) => trap::Error::Domain { code, message },
        FailureReason::Unavailable(message) => trap::Error::Unavailable { message },
        other => trap::Error::Host {
            message: format!("remote call failed: {other}"),
        },
    }
}
