//! neorpc: the exorun wire protocol.
//!
//! - [`frame`]: the envelopes (`Hello`, `Call`, `Reply`, `Failure`, `Cancel`). Arguments and
//!   results are opaque, pre-encoded neopack bytes here; `frame` never depends on wasmtime.
//! - [`error`]: [`Error`] (what can go wrong decoding a frame) and [`FailureReason`] (how a call
//!   failed, as carried by a `Failure` frame, each with a stable wire tag).
//! - [`schema`]: a description of WIT types and interfaces that needs no compiled component. The
//!   codec is driven by it, the Ledger compares contracts with it, the `Hello` handshake carries it.
//! - [`codec`] (feature `codec`, on by default): wasmtime `Val`s to bytes and back, type-directed.

pub mod error;
pub mod frame;
pub mod schema;

#[cfg(feature = "codec")]
pub mod codec;

pub use error::{Error, FailureReason};
pub use frame::{CallEncoder, Frame, decode_seq};
