//! exorun's integration tests: one binary, one module per layer, bottom-up.
//!
//! The guest components come from `scripts/build_apps.sh`, which writes them to
//! `crates/exorun/tests/fixtures/<world>.wasm`. The same tests run under `--cfg madsim`
//! (`#[tokio::test]` is madsim's test macro there, through madsim-tokio).

// Fixtures, runtimes, value helpers and a mock transport, shared by the modules below.
mod support;

// The module graph: each module of src imports only from its own layer or below, and no two
// import each other in a circle (ARCHITECTURE.md).
mod layers;

// Context and WASI: a mounted file is readable; outside the mount and missing files give
// specific WASI error codes and no host path; user data and mount failures.
mod context;

// InstanceHandle: mutual exclusion, and survival of failing and panicking closures.
mod instance_handle;

// The registry: concurrent registration gives unique, retrievable ids; unknown ids are NotFound;
// a component the engine cannot take is refused with wasmtime's reason, causes included.
mod registry;

// Errors: every variant of every error type prints each cause once, chain included.
mod errors;

// The Ledger: interface schemas, and contract violations rejected at link time.
mod ledger;

// Limits: fuel, memory and other traps as typed errors; the host stays healthy after them.
mod limits;

// Renewal: a trap poisons an instance; the next call, through any path, runs on a fresh one.
mod renew;

// Synchronous instances: which run without a fiber; chains and shared targets of synchronous
// local links under concurrent callers, next to asynchronous importers; stdio without waiting.
mod sync;

// The seed's integration suite, ported: runtime, apps, peers, logging, local linking, KV,
// the diamond dependency.
mod integration_suite;

// Transports: the in-memory duplex pair and TCP framing (limits, truncation, clean EOF).
mod transport;

// The RPC client: correlation, failure fidelity, timeouts, disconnects, pushback, handshake.
mod client;

// Remote linking end to end, over the duplex channel and TCP: calc across two runtimes, domain
// failures, fuel, memory and traps as raised, the server's failure mapping, and link-time
// refusals (resources, contract mismatches, nothing offered, a failed handshake), and a peer
// that cannot be reached, which traps the importer as `Unavailable` down a chain of nodes.
mod remote;

// The server against a misbehaving peer, frame by frame: duplicated calls execute once, also at
// the dedup window's edges (evicted, cancelled, a reused seq); a call past its deadline or
// cancelled while it waits for its instance does not start; garbage and oversized frames
// disturb no other call; a malformed call and a reply over the frame limit are answered; a peer
// that reads no answers freezes no instance; a host failure reaches the peer without the
// host's text.
mod server_faults;

// The server's limits: outcomes kept for duplicates (per connection and node, in bytes), calls
// admitted and not started (per connection and node), connections, a peer that does not read,
// an idle connection.
mod server_limits;

// Observation hooks: a client's sent and ended calls, a server's executions, answers and
// duplicates, exactly as they happened; the server's load gauges return to zero.
mod observe;

// Sessions: calls go on after the peer restarts; a call in flight at the break fails and is
// never sent again; a peer back with a broken contract gets no call; a peer that stays down
// makes calls give up within their timeout.
mod session;

// Planted bugs: each changes behaviour as documented, and nothing changes without one. Only
// under madsim, where the plants exist.
#[cfg(madsim)]
mod plant;

// The node binary: `exorun serve` on a loopback port, `exorun call` against it (results, domain
// failures, bad input, nothing listening). Not under madsim: it runs child processes, and the
// binary does not run in a madsim build.
#[cfg(not(madsim))]
mod node;
