//! Protocol errors and the failure taxonomy carried by `Failure` frames.

use std::fmt;

use neopack::{Decoder, Encoder};

/// What can go wrong encoding or decoding a neorpc frame or schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bytes are not valid neopack, or not the neopack a frame requires.
    Pack(neopack::Error),
    /// The frame's variant discriminant names no frame kind.
    UnknownFrame { kind: u32 },
    /// A `Failure` frame carries a reason tag this version does not know.
    UnknownFailure { tag: u32 },
    /// `decode_seq` was given a frame that carries no sequence number (`Hello`).
    NoSeq { kind: &'static str },
    /// A frame field has a value outside its domain.
    BadField {
        field: &'static str,
        reason: &'static str,
    },
    /// A schema on the wire nests deeper than `schema::NESTING_DEPTH_MAX`.
    SchemaTooDeep { max: usize },
    /// A list of fixed fields (a frame's, a failure reason's, a `result` schema's) declares
    /// another count than its kind has: the bytes would not be what encoding the value writes.
    FieldCount {
        what: &'static str,
        expected: u32,
        found: u32,
    },
    /// A list of groups (a record's name and type per field, a function's name, parameters
    /// and results) declares a count that is not a whole number of groups.
    GroupCount {
        what: &'static str,
        group: u32,
        found: u32,
    },
    /// A peer's `Hello` announces a protocol version other than ours.
    Version { peer: u32, ours: u32 },
    /// A peer sent a second `Hello` on one connection: a connection has one handshake.
    SecondHello,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Pack(e) => write!(f, "malformed frame: {e}"),
            Error::UnknownFrame { kind } => write!(f, "unknown frame kind {kind}"),
            Error::UnknownFailure { tag } => write!(f, "unknown failure reason tag {tag}"),
            Error::NoSeq { kind } => write!(f, "a {kind} frame carries no sequence number"),
            Error::BadField { field, reason } => write!(f, "frame field `{field}`: {reason}"),
            Error::SchemaTooDeep { max } => write!(f, "schema nests deeper than {max} levels"),
            Error::FieldCount {
                what,
                expected,
                found,
            } => write!(f, "{what} has {expected} fields, not {found}"),
            Error::GroupCount { what, group, found } => {
                write!(f, "{what} holds {found} values, not groups of {group}")
            }
            Error::Version { peer, ours } => {
                write!(f, "peer speaks neorpc version {peer}, we speak {ours}")
            }
            Error::SecondHello => write!(f, "the peer sent a second Hello"),
        }
    }
}

/// No `source()`: the message of [`Error::Pack`] includes the neopack error, so a chain printed
/// with `{:#}` says it once.
impl std::error::Error for Error {}

impl From<neopack::Error> for Error {
    fn from(e: neopack::Error) -> Self {
        Error::Pack(e)
    }
}

/// Why a call failed. Every variant has a stable wire tag ([`FailureReason::tag`]): tags are
/// never reused or renumbered; new reasons get new tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// The callee trapped (unreachable, bad memory access, ...). Carries the trap's kind, never
    /// a host path.
    AppTrapped(String),
    /// The callee ran out of its fuel budget.
    OutOfFuel,
    /// The callee hit its memory limit.
    OutOfMemory,
    /// No instance is served under the call's target name.
    InstanceNotFound(String),
    /// The target exposes no such method.
    MethodNotFound(String),
    /// The call carried the wrong number of arguments.
    BadArgumentCount { expected: u32, found: u32 },
    /// An argument did not have the parameter's type; the message names the path, for example
    /// `args[1].name: expected string, found u32`.
    BadArgumentType(String),
    /// A failure raised on purpose by a guest or a system component: a code and a message,
    /// delivered to the caller exactly as raised.
    DomainSpecific(u32, String),
    /// The call's deadline had passed before the callee could start it.
    DeadlineExceeded,
    /// The callee refused the call because it is at capacity.
    Overloaded,
    /// The callee could not make sense of the frame, or could not encode its results.
    Protocol(String),
    /// The callee could not reach a peer of its own (a call timed out, the connection closed,
    /// a reconnect was refused or found the contract broken). Carries which kind and the
    /// callee's target name, never a host path; crosses a chain of calls unchanged.
    Unavailable(String),
}

/// Wire tags of [`FailureReason`]. Stable: append only.
mod tag {
    pub const APP_TRAPPED: u32 = 1;
    pub const OUT_OF_FUEL: u32 = 2;
    pub const OUT_OF_MEMORY: u32 = 3;
    pub const INSTANCE_NOT_FOUND: u32 = 4;
    pub const METHOD_NOT_FOUND: u32 = 5;
    pub const BAD_ARGUMENT_COUNT: u32 = 6;
    pub const BAD_ARGUMENT_TYPE: u32 = 7;
    pub const DOMAIN_SPECIFIC: u32 = 8;
    pub const DEADLINE_EXCEEDED: u32 = 9;
    pub const OVERLOADED: u32 = 10;
    pub const PROTOCOL: u32 = 11;
    pub const UNAVAILABLE: u32 = 12;
}

impl FailureReason {
    /// The reason's stable wire tag.
    pub fn tag(&self) -> u32 {
        match self {
            FailureReason::AppTrapped(_) => tag::APP_TRAPPED,
            FailureReason::OutOfFuel => tag::OUT_OF_FUEL,
            FailureReason::OutOfMemory => tag::OUT_OF_MEMORY,
            FailureReason::InstanceNotFound(_) => tag::INSTANCE_NOT_FOUND,
            FailureReason::MethodNotFound(_) => tag::METHOD_NOT_FOUND,
            FailureReason::BadArgumentCount { .. } => tag::BAD_ARGUMENT_COUNT,
            FailureReason::BadArgumentType(_) => tag::BAD_ARGUMENT_TYPE,
            FailureReason::DomainSpecific(..) => tag::DOMAIN_SPECIFIC,
            FailureReason::DeadlineExceeded => tag::DEADLINE_EXCEEDED,
            FailureReason::Overloaded => tag::OVERLOADED,
            FailureReason::Protocol(_) => tag::PROTOCOL,
            FailureReason::Unavailable(_) => tag::UNAVAILABLE,
        }
    }

    /// Writes the reason as one neopack value: `variant(tag)` around its payload.
    pub fn encode(&self, enc: &mut Encoder) -> Result<(), neopack::Error> {
        enc.variant_begin(self.tag())?;
        match self {
            FailureReason::AppTrapped(s)
            | FailureReason::InstanceNotFound(s)
            | FailureReason::MethodNotFound(s)
            | FailureReason::BadArgumentType(s)
            | FailureReason::Protocol(s)
            | FailureReason::Unavailable(s) => enc.str(s)?,
            FailureReason::BadArgumentCount { expected, found } => {
                enc.list_begin()?;
                enc.u32(*expected)?;
                enc.u32(*found)?;
                enc.list_end()?;
            }
            FailureReason::DomainSpecific(code, message) => {
                enc.list_begin()?;
                enc.u32(*code)?;
                enc.str(message)?;
                enc.list_end()?;
            }
            FailureReason::OutOfFuel
            | FailureReason::OutOfMemory
            | FailureReason::DeadlineExceeded
            | FailureReason::Overloaded => enc.unit()?,
        }
        enc.variant_end()
    }

    /// Reads a reason written by [`FailureReason::encode`].
    pub fn decode(dec: &mut Decoder<'_>) -> Result<FailureReason, Error> {
        let tag = dec.variant()?;
        let reason = match tag {
            tag::APP_TRAPPED => FailureReason::AppTrapped(dec.str()?.to_owned()),
            tag::OUT_OF_FUEL => unit(dec, FailureReason::OutOfFuel)?,
            tag::OUT_OF_MEMORY => unit(dec, FailureReason::OutOfMemory)?,
            tag::INSTANCE_NOT_FOUND => FailureReason::InstanceNotFound(dec.str()?.to_owned()),
            tag::METHOD_NOT_FOUND => FailureReason::MethodNotFound(dec.str()?.to_owned()),
            tag::BAD_ARGUMENT_COUNT => {
                let seq = fields(dec, "failure reason BadArgumentCount", 2)?;
                let expected = dec.u32()?;
                let found = dec.u32()?;
                dec.end(seq)?;
                FailureReason::BadArgumentCount { expected, found }
            }
            tag::BAD_ARGUMENT_TYPE => FailureReason::BadArgumentType(dec.str()?.to_owned()),
            tag::DOMAIN_SPECIFIC => {
                let seq = fields(dec, "failure reason DomainSpecific", 2)?;
                let code = dec.u32()?;
                let message = dec.str()?.to_owned();
                dec.end(seq)?;
                FailureReason::DomainSpecific(code, message)
            }
            tag::DEADLINE_EXCEEDED => unit(dec, FailureReason::DeadlineExceeded)?,
            tag::OVERLOADED => unit(dec, FailureReason::Overloaded)?,
            tag::PROTOCOL => FailureReason::Protocol(dec.str()?.to_owned()),
            tag::UNAVAILABLE => FailureReason::Unavailable(dec.str()?.to_owned()),
            tag => return Err(Error::UnknownFailure { tag }),
        };
        Ok(reason)
    }
}

/// Reads the header of a list of `expected` fields, refusing another count.
pub(crate) fn fields(
    dec: &mut Decoder<'_>,
    what: &'static str,
    expected: u32,
) -> Result<neopack::Seq, Error> {
    let seq = dec.list()?;
    if seq.count != expected {
        let found = seq.count;
        return Err(Error::FieldCount {
            what,
            expected,
            found,
        });
    }
    Ok(seq)
}

fn unit(dec: &mut Decoder<'_>, reason: FailureReason) -> Result<FailureReason, Error> {
    dec.unit()?;
    Ok(reason)
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::AppTrapped(kind) => write!(f, "app trapped: {kind}"),
            FailureReason::OutOfFuel => write!(f, "out of fuel"),
            FailureReason::OutOfMemory => write!(f, "out of memory"),
            FailureReason::InstanceNotFound(t) => write!(f, "instance not found: {t}"),
            FailureReason::MethodNotFound(m) => write!(f, "method not found: {m}"),
            FailureReason::BadArgumentCount { expected, found } => {
                write!(f, "bad argument count: expected {expected}, found {found}")
            }
            FailureReason::BadArgumentType(msg) => write!(f, "bad argument type: {msg}"),
            FailureReason::DomainSpecific(code, msg) => write!(f, "domain error {code}: {msg}"),
            FailureReason::DeadlineExceeded => write!(f, "deadline exceeded before start"),
            FailureReason::Overloaded => write!(f, "callee overloaded"),
            FailureReason::Protocol(msg) => write!(f, "protocol error: {msg}"),
            FailureReason::Unavailable(msg) => write!(f, "unavailable: {msg}"),
        }
    }
}

impl std::error::Error for FailureReason {}
