//! Errors of the encoder and the decoder.

use std::fmt;

/// What went wrong, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Decoding: the offset in the input of the item (tag, varint, length, header or element)
    /// that could not be read. Encoding: the length of the output when the misuse happened.
    pub offset: usize,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl Error {
    /// An error of `kind` at byte `offset`.
    pub fn new(offset: usize, kind: ErrorKind) -> Self {
        Error { offset, kind }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.kind)
    }
}

impl std::error::Error for Error {}

/// The kinds of [`Error`]: malformed input first, then misuse of the [`crate::Encoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input ended before the value did. Every strict prefix of a valid document fails
    /// with this kind, including a declared length that exceeds the bytes that remain.
    Incomplete,
    /// A byte where a tag (or an array element kind) belongs names none.
    UnknownTag(u8),
    /// A typed read found another kind of value, e.g. expected `"str"`, found `"u32"`.
    UnexpectedTag {
        /// The kind the caller asked for.
        expected: &'static str,
        /// The kind the input holds.
        found: &'static str,
    },
    /// A varint holds more bits than its type.
    VarintOverflow,
    /// A varint ends with a 0x00 byte after its first byte: it has a shorter encoding.
    VarintOverlong,
    /// A length or count exceeds [`crate::LENGTH_MAX`].
    LengthTooLarge {
        /// The length found (decoding) or asked for (encoding).
        length: u64,
        /// The limit, [`crate::LENGTH_MAX`].
        max: usize,
    },
    /// A str payload is not UTF-8.
    InvalidUtf8,
    /// A char payload is not a Unicode scalar value.
    InvalidChar(u32),
    /// A bool array element is neither 0 nor 1.
    InvalidBool(u8),
    /// Containers, variants and arrays nest deeper than [`crate::NESTING_DEPTH_MAX`].
    NestingTooDeep {
        /// The limit, [`crate::NESTING_DEPTH_MAX`].
        max: usize,
    },
    /// Input remains after the document.
    TrailingBytes {
        /// How many bytes remain.
        count: usize,
    },
    /// A list or map does not agree with its header. Decoding: the body did not end at the
    /// offset its length declared (`declared` and `actual` are offsets), the count cannot fit
    /// the body (`declared` is the count, `actual` the body length), or a list, map, array, str
    /// or bytes inside it claims more than the room the body leaves it (`declared` is the
    /// offset its length claims to end at, `actual` the offset it must end by). Encoding: a map
    /// was closed with an odd number of values (`actual`; `declared` is the next even number).
    ContainerMismatch {
        /// What the header (or the map's pairing) declares.
        declared: usize,
        /// What the input (or the encoder) holds.
        actual: usize,
    },
    /// Encoder: an `*_end` call with no container open.
    EndWithoutBegin,
    /// Encoder: an `*_end` call that does not match the innermost open container.
    MismatchedEnd {
        /// The kind of the innermost open container.
        open: &'static str,
        /// The kind the `*_end` call closes.
        close: &'static str,
    },
    /// Encoder: the bytes were taken while a container was still open.
    Unclosed {
        /// The kind of the innermost open container.
        open: &'static str,
    },
    /// Encoder: a variant was closed holding other than exactly one value.
    VariantPayload {
        /// How many values it holds.
        values: usize,
    },
    /// Encoder: an array received an element of another kind, or a non-scalar value.
    ArrayElement {
        /// The array's element kind.
        expected: &'static str,
        /// The kind written.
        found: &'static str,
    },
    /// Encoder: an array received more elements than declared, or was closed with fewer.
    ArrayCount {
        /// The count given to `array_begin`.
        declared: u32,
        /// The elements written (including the one refused, when there are too many).
        written: u32,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Incomplete => write!(f, "input ended early"),
            ErrorKind::UnknownTag(byte) => write!(f, "unknown tag 0x{byte:02x}"),
            ErrorKind::UnexpectedTag { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ErrorKind::VarintOverflow => write!(f, "varint overflows its type"),
            ErrorKind::VarintOverlong => write!(f, "varint has an overlong encoding"),
            ErrorKind::LengthTooLarge { length, max } => {
                write!(f, "length {length} exceeds the limit of {max}")
            }
            ErrorKind::InvalidUtf8 => write!(f, "str is not valid UTF-8"),
            ErrorKind::InvalidChar(v) => write!(f, "0x{v:x} is not a Unicode scalar value"),
            ErrorKind::InvalidBool(byte) => write!(f, "bool byte 0x{byte:02x} is neither 0 nor 1"),
            ErrorKind::NestingTooDeep { max } => write!(f, "values nest deeper than {max}"),
            ErrorKind::TrailingBytes { count } => {
                write!(f, "{count} trailing bytes after the value")
            }
            ErrorKind::ContainerMismatch { declared, actual } => {
                write!(
                    f,
                    "container does not match its header: declared {declared}, actual {actual}"
                )
            }
            ErrorKind::EndWithoutBegin => write!(f, "end without a matching begin"),
            ErrorKind::MismatchedEnd { open, close } => {
                write!(f, "{close} end while a {open} is open")
            }
            ErrorKind::Unclosed { open } => write!(f, "a {open} is still open"),
            ErrorKind::VariantPayload { values } => {
                write!(f, "a variant holds exactly one value, not {values}")
            }
            ErrorKind::ArrayElement { expected, found } => {
                write!(f, "an array of {expected} cannot hold a {found}")
            }
            ErrorKind::ArrayCount { declared, written } => {
                write!(f, "array declared {declared} elements, {written} written")
            }
        }
    }
}
