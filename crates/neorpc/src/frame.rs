//! neorpc frames. Wasmtime-free by design (an architecture invariant, checked by building
//! neorpc with `--no-default-features`): arguments and results travel as opaque, pre-encoded
//! neopack values.
//!
//! Every frame is one neopack value: `variant(kind)` around a `list` of its fields.
//!
//! | kind | fields |
//! | --- | --- |
//! | 0 `Hello` | `u32` version, `str` node name, one opaque value (the node's offer) |
//! | 1 `Call` | `u64` seq, `str` target, `str` method, `option<u64>` deadline (ms budget), args |
//! | 2 `Reply` | `u64` seq, results |
//! | 3 `Failure` | `u64` seq, reason |
//! | 4 `Cancel` | `u64` seq |
//!
//! `args` and `results` are one neopack value each (the codec writes a list), spliced in with
//! `raw_bytes` untouched and handed back as borrowed slices.

use neopack::{Decoder, Encoder};

use crate::error::{Error, FailureReason};

/// The protocol version carried by `Hello`. Both ends check the other's: a peer of another
/// version is refused ([`check_version`]).
pub const VERSION: u32 = 1;

/// Succeeds if `version`, from a peer's `Hello`, is ours ([`VERSION`]); else
/// [`Error::Version`].
pub fn check_version(version: u32) -> Result<(), Error> {
    if version != VERSION {
        return Err(Error::Version {
            peer: version,
            ours: VERSION,
        });
    }
    Ok(())
}

/// Frame kinds: the discriminant of a frame's outer variant. Stable: append only.
pub mod kind {
    pub const HELLO: u32 = 0;
    pub const CALL: u32 = 1;
    pub const REPLY: u32 = 2;
    pub const FAILURE: u32 = 3;
    pub const CANCEL: u32 = 4;
}

/// A decoded frame, borrowing its strings and payloads from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame<'a> {
    /// Opens a connection: who is speaking, and what it offers (an opaque neopack value).
    Hello {
        version: u32,
        node: &'a str,
        offer: &'a [u8],
    },
    /// Invoke `method` on the instance served as `target`. `deadline_ms` is the caller's
    /// remaining budget in milliseconds when the frame was sent (relative, so that the two
    /// clocks need not agree). `args` is one encoded value.
    Call {
        seq: u64,
        target: &'a str,
        method: &'a str,
        deadline_ms: Option<u64>,
        args: &'a [u8],
    },
    /// The call `seq` returned; `results` is one encoded value.
    Reply { seq: u64, results: &'a [u8] },
    /// The call `seq` failed.
    Failure { seq: u64, reason: FailureReason },
    /// The caller gave up on call `seq`.
    Cancel { seq: u64 },
}

impl Frame<'_> {
    /// The frame kind's name, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "Hello",
            Frame::Call { .. } => "Call",
            Frame::Reply { .. } => "Reply",
            Frame::Failure { .. } => "Failure",
            Frame::Cancel { .. } => "Cancel",
        }
    }

    /// The sequence number, for every kind but `Hello`.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Frame::Hello { .. } => None,
            Frame::Call { seq, .. }
            | Frame::Reply { seq, .. }
            | Frame::Failure { seq, .. }
            | Frame::Cancel { seq } => Some(*seq),
        }
    }

    /// Appends the frame to `enc`.
    pub fn encode(&self, enc: &mut Encoder) -> Result<(), Error> {
        match self {
            Frame::Hello {
                version,
                node,
                offer,
            } => encode_hello(enc, *version, node, offer)?,
            Frame::Call {
                seq,
                target,
                method,
                deadline_ms,
                args,
            } => {
                let call = CallEncoder {
                    seq: *seq,
                    target,
                    method,
                    deadline_ms: *deadline_ms,
                    args_payload: args,
                };
                call.encode(enc)?;
            }
            Frame::Reply { seq, results } => encode_reply(enc, *seq, results)?,
            Frame::Failure { seq, reason } => encode_failure(enc, *seq, reason)?,
            Frame::Cancel { seq } => encode_cancel(enc, *seq)?,
        }
        Ok(())
    }

    /// The frame as a fresh byte vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut enc = Encoder::new();
        self.encode(&mut enc)?;
        Ok(enc.into_bytes()?)
    }
}

/// Builds a `Call` frame around arguments that are already encoded.
#[derive(Debug, Clone, Copy)]
pub struct CallEncoder<'a> {
    pub seq: u64,
    pub target: &'a str,
    pub method: &'a str,
    /// Remaining budget in milliseconds; `None` for no deadline.
    pub deadline_ms: Option<u64>,
    /// The pre-encoded arguments: exactly one neopack value (the codec writes a list).
    pub args_payload: &'a [u8],
}

impl<'a> CallEncoder<'a> {
    /// A call with no deadline.
    pub fn new(seq: u64, target: &'a str, method: &'a str, args_payload: &'a [u8]) -> Self {
        CallEncoder {
            seq,
            target,
            method,
            deadline_ms: None,
            args_payload,
        }
    }

    /// The same call with a deadline `budget_ms` milliseconds from when it is sent.
    pub fn with_deadline(self, budget_ms: u64) -> Self {
        CallEncoder {
            deadline_ms: Some(budget_ms),
            ..self
        }
    }

    /// Appends the frame to `enc`; the args bytes are copied in untouched.
    pub fn encode(&self, enc: &mut Encoder) -> Result<(), Error> {
        enc.variant_begin(kind::CALL)?;
        enc.list_begin()?;
        enc.u64(self.seq)?;
        enc.str(self.target)?;
        enc.str(self.method)?;
        encode_deadline(enc, self.deadline_ms)?;
        enc.raw_bytes(self.args_payload)?;
        enc.list_end()?;
        enc.variant_end()?;
        Ok(())
    }

    /// The frame as a fresh byte vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut enc = Encoder::with_capacity(self.args_payload.len() + 64);
        self.encode(&mut enc)?;
        Ok(enc.into_bytes()?)
    }
}

fn encode_deadline(enc: &mut Encoder, deadline_ms: Option<u64>) -> Result<(), neopack::Error> {
    let Some(budget) = deadline_ms else {
        enc.variant_begin(0)?;
        enc.unit()?;
        return enc.variant_end();
    };
    enc.variant_begin(1)?;
    enc.u64(budget)?;
    enc.variant_end()
}

/// Appends a `Hello` frame.
pub fn encode_hello(
    enc: &mut Encoder,
    version: u32,
    node: &str,
    offer: &[u8],
) -> Result<(), Error> {
    enc.variant_begin(kind::HELLO)?;
    enc.list_begin()?;
    enc.u32(version)?;
    enc.str(node)?;
    enc.raw_bytes(offer)?;
    enc.list_end()?;
    enc.variant_end()?;
    Ok(())
}

/// Appends a `Reply` frame around results that are already encoded (one value).
pub fn encode_reply(enc: &mut Encoder, seq: u64, results_payload: &[u8]) -> Result<(), Error> {
    enc.variant_begin(kind::REPLY)?;
    enc.list_begin()?;
    enc.u64(seq)?;
    enc.raw_bytes(results_payload)?;
    enc.list_end()?;
    enc.variant_end()?;
    Ok(())
}

/// Appends a `Failure` frame.
pub fn encode_failure(enc: &mut Encoder, seq: u64, reason: &FailureReason) -> Result<(), Error> {
    enc.variant_begin(kind::FAILURE)?;
    enc.list_begin()?;
    enc.u64(seq)?;
    reason.encode(enc)?;
    enc.list_end()?;
    enc.variant_end()?;
    Ok(())
}

/// Appends a `Cancel` frame.
pub fn encode_cancel(enc: &mut Encoder, seq: u64) -> Result<(), Error> {
    enc.variant_begin(kind::CANCEL)?;
    enc.list_begin()?;
    enc.u64(seq)?;
    enc.list_end()?;
    enc.variant_end()?;
    Ok(())
}

/// Reads only the sequence number: the frame's kind, its field list header and the first
/// field. Cheap enough for a pump that routes replies before anyone decodes them fully.
pub fn decode_seq(bytes: &[u8]) -> Result<u64, Error> {
    let mut dec = Decoder::new(bytes);
    let kind = dec.variant()?;
    match kind {
        kind::HELLO => return Err(Error::NoSeq { kind: "Hello" }),
        kind::CALL | kind::REPLY | kind::FAILURE | kind::CANCEL => {}
        kind => return Err(Error::UnknownFrame { kind }),
    }
    dec.list()?;
    Ok(dec.u64()?)
}

/// The name of a frame kind and the number of fields it has.
fn layout(kind: u32) -> Result<(&'static str, u32), Error> {
    let layout = match kind {
        kind::HELLO => ("a Hello frame", 3),
        kind::CALL => ("a Call frame", 5),
        kind::REPLY => ("a Reply frame", 2),
        kind::FAILURE => ("a Failure frame", 2),
        kind::CANCEL => ("a Cancel frame", 1),
        kind => return Err(Error::UnknownFrame { kind }),
    };
    Ok(layout)
}

/// Decodes one whole frame; the input must hold exactly that frame, in the one form encoding
/// writes: a frame that decodes re-encodes to the same bytes.
pub fn decode(bytes: &[u8]) -> Result<Frame<'_>, Error> {
    let mut dec = Decoder::new(bytes);
    let kind = dec.variant()?;
    let (what, count) = layout(kind)?;
    let fields = crate::error::fields(&mut dec, what, count)?;
    let frame = match kind {
        kind::HELLO => decode_hello(&mut dec)?,
        kind::CALL => decode_call(&mut dec)?,
        kind::REPLY => Frame::Reply {
            seq: dec.u64()?,
            results: dec.skip()?,
        },
        kind::FAILURE => Frame::Failure {
            seq: dec.u64()?,
            reason: FailureReason::decode(&mut dec)?,
        },
        kind::CANCEL => Frame::Cancel { seq: dec.u64()? },
        kind => return Err(Error::UnknownFrame { kind }),
    };
    dec.end(fields)?;
    dec.finish()?;
    Ok(frame)
}

fn decode_hello<'a>(dec: &mut Decoder<'a>) -> Result<Frame<'a>, Error> {
    let version = dec.u32()?;
    let node = dec.str()?;
    let offer = dec.skip()?;
    Ok(Frame::Hello {
        version,
        node,
        offer,
    })
}

fn decode_call<'a>(dec: &mut Decoder<'a>) -> Result<Frame<'a>, Error> {
    let seq = dec.u64()?;
    let target = dec.str()?;
    let method = dec.str()?;
    let deadline_ms = decode_deadline(dec)?;
    let args = dec.skip()?;
    Ok(Frame::Call {
        seq,
        target,
        method,
        deadline_ms,
        args,
    })
}

fn decode_deadline(dec: &mut Decoder<'_>) -> Result<Option<u64>, Error> {
    match dec.variant()? {
        0 => {
            dec.unit()?;
            Ok(None)
        }
        1 => Ok(Some(dec.u64()?)),
        _ => Err(Error::BadField {
            field: "deadline",
            reason: "option case must be 0 or 1",
        }),
    }
}
