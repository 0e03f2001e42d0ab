//! Binding an import to what serves it.
//!
//! [`link_local_interface`] connects an imported interface to another local instance's
//! exports: each method becomes an async host function that locks the target and calls its
//! exported function with the caller's `Val`s, no serialization. The target's functions are
//! resolved once, here, so a call never looks a name up. The contract is checked first (the
//! Ledger), so a missing interface, a missing method or a signature mismatch fails at link time.
//!
//! A remote link (a peer over neorpc) goes through the same steps: check the contract against
//! the peer's schema, refuse resources (`ledger::Interface::check_remote`), and define each
//! method as an async host function, which encodes, sends and awaits the reply.
//!
//! Calls into a target serialize on its lock. A cycle of local links (A calls B which calls A)
//! deadlocks; exorun does not detect it.

use wasmtime::StoreContextMut;
use wasmtime::component::{Func, Linker, Val, types::ComponentFunc};

use crate::context::ExorunCtx;
use crate::instance::{self, InstanceHandle};
use crate::ledger::{self, Interface};

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
    /// The linker refused a definition.
    #[error("cannot define `{interface}`: {message}")]
    Linker { interface: String, message: String },
}

/// Defines every method of the imported `interface` (as the importer's ledger describes it,
/// `required`) as a call into `target`'s export of the same name.
pub async fn link_local_interface(
    linker: &mut Linker<ExorunCtx>,
    required: &Interface,
    target: &InstanceHandle,
) -> Result<(), Error> {
    let name = required.name().to_owned();
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
    define(linker, &name, funcs, target)
}

/// The target's function for each method the importer requires, looked up once.
async fn resolve(
    required: &Interface,
    target: &InstanceHandle,
) -> Result<Vec<(String, Func)>, Error> {
    let name = required.name().to_owned();
    let methods: Vec<String> = required.schema.funcs.keys().cloned().collect();
    let looked_up = target
        .exec_async(move |state| {
            Box::pin(async move {
                let mut funcs = Vec::with_capacity(methods.len());
                for method in methods {
                    let func = state.func(&name, &method)?;
                    funcs.push((method, func));
                }
                Ok::<_, instance::Error>(funcs)
            })
        })
        .await?;
    Ok(looked_up?)
}

fn define(
    linker: &mut Linker<ExorunCtx>,
    name: &str,
    funcs: Vec<(String, Func)>,
    target: &InstanceHandle,
) -> Result<(), Error> {
    let linker_error = |e: wasmtime::Error| Error::Linker {
        interface: name.to_owned(),
        message: e.to_string(),
    };
    let mut instance = linker.instance(name).map_err(linker_error)?;
    for (method, func) in funcs {
        let host = local_call(target.clone(), func);
        instance
            .func_new_async(&method, host)
            .map_err(linker_error)?;
    }
    Ok(())
}

/// What a dynamic async host function returns.
type HostFuture<'a> = Box<dyn Future<Output = wasmtime::Result<()>> + Send + 'a>;

/// The host function behind one locally linked method.
fn local_call(
    target: InstanceHandle,
    func: Func,
) -> impl for<'a> Fn(
    StoreContextMut<'a, ExorunCtx>,
    ComponentFunc,
    &'a [Val],
    &'a mut [Val],
) -> HostFuture<'a>
+ Send
+ Sync
+ 'static {
    move |_store, _ty, params, results| {
        let target = target.clone();
        Box::new(async move {
            let called = target.call_func(func, params, results).await;
            called.map_err(wasmtime::Error::new)
        })
    }
}
