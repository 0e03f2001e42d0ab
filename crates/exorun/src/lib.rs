//! exorun: host wasm components (wasm32-wasip2) on wasmtime and link each import to a native
//! system component, another local instance, or a remote peer over neorpc.
//!
//! Module map (see ARCHITECTURE.md, which also gives the layers: a module imports only from its
//! own layer or below, and no circle):
//! - [`context`]: `ContextBuilder` (staging) and `ExorunCtx` (the store's state, a `WasiView`).
//! - [`system`]: the `SystemComponent` trait and `WasiSystem`.
//! - [`instance`]: `InstanceHandle`, a store and instance behind an async mutex, renewed after
//!   a trap.
//! - [`runtime`]: the `Runtime` registry of apps, peers and instances.
//! - `id`: the ids the registry gives, public as `runtime::AppId` and so on.
//! - [`ledger`]: interface schemas read from component types; contract checks at link time.
//! - [`bind`]: linking an import to a local instance or a remote peer.
//! - [`builder`]: `InstanceBuilder`, composing links into an instance.
//! - [`trap`]: mapping wasmtime errors onto `neorpc::FailureReason`.
//! - [`transport`]: the async `Transport` trait; in-memory duplex and TCP implementations.
//! - [`client`]: `Client`, correlating replies with calls over a transport; its `Observe` hook.
//! - [`session`]: `Session`, a link to a peer that reconnects and re-checks contracts.
//! - `offer`: the `Offer` a server sends in `Hello`, and method naming (`interface#function`);
//!   public through [`server`].
//! - [`server`]: serving `Call` frames to named instances; its `Observe` hook and `Load` gauges.
//! - [`domain`]: how a domain failure meets WIT (`result<T, domain-error>`).
//! - [`wasi_io`]: synchronous `wasi:io`, so that guests that never wait run without a fiber.
//! - [`wave`]: WIT values as text, for the node binary.
//! - `plant` (only under `--cfg madsim`): planted bugs, for testing the simulator's checkers.

pub mod bind;
pub mod builder;
pub mod client;
pub mod context;
pub mod domain;
mod id;
pub mod instance;
pub mod ledger;
mod offer;
#[cfg(madsim)]
pub mod plant;
pub mod runtime;
pub mod server;
pub mod session;
pub mod system;
pub mod transport;
pub mod trap;
pub mod wasi_io;
pub mod wave;

/// The README's examples, compiled as doctests so that the README cannot drift from the API.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
