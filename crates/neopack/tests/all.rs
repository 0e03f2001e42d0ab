//! neopack's integration tests: one binary, one module per concern, in `tests/all/`.

// Shared generators (arbitrary `Value`s) and helpers (hex, encode); no tests of its own.
#[path = "all/support.rs"]
mod support;

// Round trips: arbitrary values through encode, decode and skip; every scalar at its edges.
#[path = "all/roundtrip.rs"]
mod roundtrip;

// Hostile input: arbitrary and mutated bytes, strict prefixes, limits, malformed encodings.
#[path = "all/hostile.rs"]
mod hostile;

// Encoder misuse: unbalanced ends, variant payloads, array kinds and counts, limits.
#[path = "all/encoder.rs"]
mod encoder;

// Exact bytes: FORMAT.md's worked example, an insta snapshot, per-scalar encodings.
#[path = "all/format.rs"]
mod format;

// Allocation: one vector per container, reserved once; a bound per input byte.
#[path = "all/alloc.rs"]
mod alloc;
