//! neorpc's integration tests: one binary, one module per concern.

mod alloc_bound; // decoders allocate at most a bound proportional to their input
mod canonical; // one form on the wire: what decodes re-encodes to the same bytes
mod codec; // Val <-> bytes: round trips over arbitrary WIT types, paths in errors, hostile bytes
mod failure; // every FailureReason survives the wire exactly
mod frame; // frame layout, isolation of args, prefixes, hostile bytes, wire snapshots
mod invariants; // architecture invariants: frame/error/schema never mention wasmtime
mod schema; // schema wire form, contract comparison, hostile schemas
mod strategies; // proptest generators shared by the modules above
