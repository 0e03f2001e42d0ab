//! neopack: a compact, self-describing binary encoding.
//!
//! A document is one value. Every value starts with a one-byte [`Tag`]; scalars follow with
//! LEB128 varints (zigzag for signed integers) or raw little-endian bytes, strings and byte
//! strings with a varint length, lists and maps with a fixed eight-byte header (body length and
//! count, so a reader can skip them in O(1)), variants with a discriminant and one payload, and
//! arrays with an element kind, a count and untagged elements. `FORMAT.md` in this crate is the
//! byte-level specification, with a worked example that the tests check against the encoder.
//!
//! - [`Encoder`] writes values into a growing buffer, backpatching container headers.
//! - [`Decoder`] reads them back, borrowing strings and byte strings from the input. It trusts
//!   no length from the wire: every length and count is checked against [`LENGTH_MAX`], the
//!   bytes that remain and the room of the container it is in before anything is allocated
//!   (so nested headers cannot each claim the whole input), nesting is bounded by
//!   [`NESTING_DEPTH_MAX`], and no input makes it panic. For the elements of an array,
//!   [`Decoder::elem_reader`] returns an [`ElemReader`] that keeps its place in a local: the
//!   same reads as the `elem_*` methods, at a fraction of the cost in a loop.
//! - [`Value`] is the generic tree, for tests, tooling and schema-less callers.
//!
//! neopack knows nothing of wasm; the type-directed codec lives in `neorpc`.

#![warn(missing_docs)]

mod decoder;
mod encoder;
mod error;
mod tag;
mod value;
mod varint;

pub use decoder::{Decoder, Elem, ElemReader, Seq};
pub use encoder::Encoder;
pub use error::{Error, ErrorKind};
pub use tag::{Scalar, Tag};
pub use value::{Value, decode_value};

/// The deepest nesting of containers (lists, maps), variants and arrays that the encoder writes
/// and that [`Decoder::value`] and [`Decoder::skip`] accept. A top-level list is at depth 1.
pub const NESTING_DEPTH_MAX: usize = 64;

/// The largest length the format allows: a str or bytes length, a list or map body length, and
/// any count (list items, map entries, array elements), in bytes or items.
pub const LENGTH_MAX: usize = 64 << 20;

// List and map headers store the body length and count as u32.
const _: () = assert!(LENGTH_MAX <= u32::MAX as usize);
// A document must be able to hold at least one container.
const _: () = assert!(NESTING_DEPTH_MAX >= 1);
