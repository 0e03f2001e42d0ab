//! The encoder: values appended to a buffer, container headers backpatched on close.

use crate::error::{Error, ErrorKind};
use crate::tag::{Scalar, Tag};
use crate::{LENGTH_MAX, NESTING_DEPTH_MAX, varint};

/// The bytes of a list or map header after its tag: u32 body length, u32 count.
const SEQ_HEADER_SIZE: usize = 8;

/// The kind of an open container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Map,
    Variant,
    Array(Scalar),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::List => "list",
            Kind::Map => "map",
            Kind::Variant => "variant",
            Kind::Array(_) => "array",
        }
    }
}

/// A container that has begun and not yet ended.
#[derive(Debug, Clone, Copy)]
struct Open {
    kind: Kind,
    /// Lists and maps: the offset of the header to backpatch (just after the tag).
    header: usize,
    /// Values written into it so far (for a map, keys and values both count).
    values: usize,
    /// Arrays: the element count given to `array_begin`.
    declared: u32,
}

/// Writes neopack values into a growing buffer.
///
/// Containers are written with `*_begin`, their contents, and the matching `*_end`; list and
/// map headers are backpatched by `*_end`. Inside an array, the scalar writers write untagged
/// elements, which must be of the array's kind. Every misuse is an [`Error`] (with the output
/// length as its offset) that leaves the encoder as it was. At the top level the encoder
/// accepts any number of values one after the other; a document is one of them.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    stack: Vec<Open>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty encoder whose buffer holds `n` bytes before it grows.
    pub fn with_capacity(n: usize) -> Self {
        Encoder {
            buf: Vec::with_capacity(n),
            stack: Vec::new(),
        }
    }

    /// The bytes written so far (headers of open containers are not yet patched).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets everything written and every open container, keeping the buffer's capacity.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.stack.clear();
    }

    /// The encoded bytes; [`ErrorKind::Unclosed`] (naming the innermost) if a container is open.
    pub fn into_bytes(self) -> Result<Vec<u8>, Error> {
        let Some(open) = self.stack.last() else {
            return Ok(self.buf);
        };
        Err(self.error(ErrorKind::Unclosed {
            open: open.kind.name(),
        }))
    }

    /// Writes a unit.
    pub fn unit(&mut self) -> Result<(), Error> {
        self.value_slot("unit")?;
        self.buf.push(Tag::Unit as u8);
        Ok(())
    }

    /// Writes a bool: tag 0x01 or 0x02, or the byte 0 or 1 inside an array.
    #[inline]
    pub fn bool(&mut self, v: bool) -> Result<(), Error> {
        let byte = match (self.scalar_slot(Scalar::Bool)?, v) {
            (true, v) => u8::from(v),
            (false, false) => Tag::False as u8,
            (false, true) => Tag::True as u8,
        };
        self.buf.push(byte);
        Ok(())
    }

    /// Writes a u8 (one raw byte).
    #[inline]
    pub fn u8(&mut self, v: u8) -> Result<(), Error> {
        self.raw_scalar(Scalar::U8, [v])
    }

    /// Writes a u16 (varint).
    #[inline]
    pub fn u16(&mut self, v: u16) -> Result<(), Error> {
        self.varint_scalar(Scalar::U16, u64::from(v))
    }

    /// Writes a u32 (varint).
    #[inline]
    pub fn u32(&mut self, v: u32) -> Result<(), Error> {
        self.varint_scalar(Scalar::U32, u64::from(v))
    }

    /// Writes a u64 (varint).
    #[inline]
    pub fn u64(&mut self, v: u64) -> Result<(), Error> {
        self.varint_scalar(Scalar::U64, v)
    }

    /// Writes an s8 (one raw byte, two's complement).
    #[inline]
    pub fn s8(&mut self, v: i8) -> Result<(), Error> {
        self.raw_scalar(Scalar::S8, v.to_le_bytes())
    }

    /// Writes an s16 (zigzag varint).
    #[inline]
    pub fn s16(&mut self, v: i16) -> Result<(), Error> {
        self.varint_scalar(Scalar::S16, varint::zigzag(i64::from(v)))
    }

    /// Writes an s32 (zigzag varint).
    #[inline]
    pub fn s32(&mut self, v: i32) -> Result<(), Error> {
        self.varint_scalar(Scalar::S32, varint::zigzag(i64::from(v)))
    }

    /// Writes an s64 (zigzag varint).
    #[inline]
    pub fn s64(&mut self, v: i64) -> Result<(), Error> {
        self.varint_scalar(Scalar::S64, varint::zigzag(v))
    }

    /// Writes an f32 (its IEEE bits, little-endian; NaN payloads kept).
    #[inline]
    pub fn f32(&mut self, v: f32) -> Result<(), Error> {
        self.raw_scalar(Scalar::F32, v.to_bits().to_le_bytes())
    }

    /// Writes an f64 (its IEEE bits, little-endian; NaN payloads kept).
    #[inline]
    pub fn f64(&mut self, v: f64) -> Result<(), Error> {
        self.raw_scalar(Scalar::F64, v.to_bits().to_le_bytes())
    }

    /// Writes a char (varint of its scalar value).
    #[inline]
    pub fn char(&mut self, v: char) -> Result<(), Error> {
        self.varint_scalar(Scalar::Char, u64::from(u32::from(v)))
    }

    /// Writes a str: varint byte length, then the UTF-8 bytes.
    pub fn str(&mut self, v: &str) -> Result<(), Error> {
        self.blob(Tag::Str, v.as_bytes())
    }

    /// Writes a byte string: varint length, then the bytes.
    pub fn bytes(&mut self, v: &[u8]) -> Result<(), Error> {
        self.blob(Tag::Bytes, v)
    }

    /// Begins a list; the values written until [`Encoder::list_end`] are its items.
    pub fn list_begin(&mut self) -> Result<(), Error> {
        self.seq_begin(Kind::List, Tag::List)
    }

    /// Ends the innermost container, which must be a list, and patches its header.
    pub fn list_end(&mut self) -> Result<(), Error> {
        self.seq_end(Kind::List)
    }

    /// Begins a map; the values written until [`Encoder::map_end`] are key, value, key, ...
    pub fn map_begin(&mut self) -> Result<(), Error> {
        self.seq_begin(Kind::Map, Tag::Map)
    }

    /// Ends the innermost container, which must be a map holding an even number of values,
    /// and patches its header.
    pub fn map_end(&mut self) -> Result<(), Error> {
        self.seq_end(Kind::Map)
    }

    /// Begins a variant; exactly one value (its payload, [`Encoder::unit`] for none) must be
    /// written before [`Encoder::variant_end`].
    pub fn variant_begin(&mut self, discriminant: u32) -> Result<(), Error> {
        self.open_slot("variant")?;
        self.buf.push(Tag::Variant as u8);
        varint::write(&mut self.buf, u64::from(discriminant));
        self.push(Kind::Variant, 0);
        Ok(())
    }

    /// Ends the innermost container, which must be a variant holding exactly one value.
    pub fn variant_end(&mut self) -> Result<(), Error> {
        let open = self.innermost(Kind::Variant)?;
        if open.values != 1 {
            return Err(self.error(ErrorKind::VariantPayload {
                values: open.values,
            }));
        }
        self.stack.pop();
        Ok(())
    }

    /// Begins an array of `count` elements of `kind`, to be written with the scalar writers.
    pub fn array_begin(&mut self, kind: Scalar, count: u32) -> Result<(), Error> {
        self.check_length(count as usize)?;
        self.open_slot("array")?;
        self.buf.push(Tag::Array as u8);
        self.buf.push(kind.tag_byte());
        varint::write(&mut self.buf, u64::from(count));
        self.push(Kind::Array(kind), count);
        Ok(())
    }

    /// Ends the innermost container, which must be an array holding its declared count.
    pub fn array_end(&mut self) -> Result<(), Error> {
        let open = self.innermost(Kind::Array(Scalar::Bool))?;
        if open.values != open.declared as usize {
            let written = u32::try_from(open.values).unwrap_or(u32::MAX);
            return Err(self.error(ErrorKind::ArrayCount {
                declared: open.declared,
                written,
            }));
        }
        self.stack.pop();
        Ok(())
    }

    /// Appends pre-encoded bytes untouched, with no tag and no length prefix; counts as ONE
    /// value of the enclosing container. The bytes are not checked: they must be exactly one
    /// encoded value. An empty slice is no value and is refused with [`ErrorKind::Incomplete`];
    /// inside an array, raw bytes are refused like any non-scalar.
    pub fn raw_bytes(&mut self, encoded: &[u8]) -> Result<(), Error> {
        if encoded.is_empty() {
            return Err(self.error(ErrorKind::Incomplete));
        }
        self.value_slot("raw bytes")?;
        self.buf.extend_from_slice(encoded);
        Ok(())
    }

    /// Writes a str or bytes value.
    fn blob(&mut self, tag: Tag, v: &[u8]) -> Result<(), Error> {
        self.check_length(v.len())?;
        self.value_slot(tag.name())?;
        self.buf.push(tag as u8);
        varint::write(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        Ok(())
    }

    /// Writes a scalar whose payload is a varint.
    #[inline]
    fn varint_scalar(&mut self, kind: Scalar, v: u64) -> Result<(), Error> {
        if !self.scalar_slot(kind)? {
            self.buf.push(kind.tag_byte());
        }
        varint::write(&mut self.buf, v);
        Ok(())
    }

    /// Writes a scalar whose payload is raw bytes.
    #[inline]
    fn raw_scalar<const N: usize>(&mut self, kind: Scalar, bytes: [u8; N]) -> Result<(), Error> {
        if !self.scalar_slot(kind)? {
            self.buf.push(kind.tag_byte());
        }
        self.buf.extend_from_slice(&bytes);
        Ok(())
    }

    /// Counts a scalar of `kind` into the innermost container. Returns whether it is an array
    /// element (written untagged).
    #[inline]
    fn scalar_slot(&mut self, kind: Scalar) -> Result<bool, Error> {
        let Some(open) = self.stack.last_mut() else {
            return Ok(false);
        };
        let Kind::Array(expected) = open.kind else {
            open.values += 1;
            return Ok(false);
        };
        if expected != kind || open.values >= open.declared as usize {
            let open = *open;
            return Err(self.array_refusal(open, expected, kind.name()));
        }
        open.values += 1;
        Ok(true)
    }

    /// Counts a non-scalar value into the innermost container; arrays refuse it.
    fn value_slot(&mut self, found: &'static str) -> Result<(), Error> {
        let Some(open) = self.stack.last_mut() else {
            return Ok(());
        };
        if let Kind::Array(expected) = open.kind {
            let open = *open;
            return Err(self.array_refusal(open, expected, found));
        }
        open.values += 1;
        Ok(())
    }

    /// Checks the nesting limit, then counts a new container into its parent.
    fn open_slot(&mut self, found: &'static str) -> Result<(), Error> {
        if self.stack.len() >= NESTING_DEPTH_MAX {
            return Err(self.error(ErrorKind::NestingTooDeep {
                max: NESTING_DEPTH_MAX,
            }));
        }
        self.value_slot(found)
    }

    /// Pushes a container that has just been begun.
    fn push(&mut self, kind: Kind, declared: u32) {
        let header = self.buf.len();
        self.stack.push(Open {
            kind,
            header,
            values: 0,
            declared,
        });
    }

    /// Begins a list or map: tag, then a header to patch at the end.
    fn seq_begin(&mut self, kind: Kind, tag: Tag) -> Result<(), Error> {
        self.open_slot(tag.name())?;
        self.buf.push(tag as u8);
        self.push(kind, 0);
        self.buf.extend_from_slice(&[0; SEQ_HEADER_SIZE]);
        Ok(())
    }

    /// Ends a list or map: checks it, patches its header and closes it.
    fn seq_end(&mut self, kind: Kind) -> Result<(), Error> {
        let open = self.innermost(kind)?;
        let values = open.values;
        if kind == Kind::Map && !values.is_multiple_of(2) {
            let mismatch = ErrorKind::ContainerMismatch {
                declared: values + 1,
                actual: values,
            };
            return Err(self.error(mismatch));
        }
        let count = if kind == Kind::Map {
            values / 2
        } else {
            values
        };
        let body_start = open.header + SEQ_HEADER_SIZE;
        let body = self.buf.len() - body_start;
        self.check_length(body)?;
        // Every value is at least one byte, so the count fits wherever the body does.
        assert!(count <= body);
        let header = &mut self.buf[open.header..body_start];
        header[..4].copy_from_slice(&(body as u32).to_le_bytes());
        header[4..].copy_from_slice(&(count as u32).to_le_bytes());
        self.stack.pop();
        Ok(())
    }

    /// The innermost open container, which an `*_end` of `kind` is about to close.
    fn innermost(&self, kind: Kind) -> Result<Open, Error> {
        let Some(&open) = self.stack.last() else {
            return Err(self.error(ErrorKind::EndWithoutBegin));
        };
        if open.kind.name() != kind.name() {
            let mismatch = ErrorKind::MismatchedEnd {
                open: open.kind.name(),
                close: kind.name(),
            };
            return Err(self.error(mismatch));
        }
        Ok(open)
    }

    /// The error for a value that `open`, an array of `expected`, refuses: another kind, or one
    /// element more than declared.
    #[cold]
    fn array_refusal(&self, open: Open, expected: Scalar, found: &'static str) -> Error {
        if expected.name() != found {
            return self.error(ErrorKind::ArrayElement {
                expected: expected.name(),
                found,
            });
        }
        let written = u32::try_from(open.values + 1).unwrap_or(u32::MAX);
        self.error(ErrorKind::ArrayCount {
            declared: open.declared,
            written,
        })
    }

    /// Refuses a length above [`LENGTH_MAX`].
    fn check_length(&self, length: usize) -> Result<(), Error> {
        if length > LENGTH_MAX {
            let kind = ErrorKind::LengthTooLarge {
                length: length as u64,
                max: LENGTH_MAX,
            };
            return Err(self.error(kind));
        }
        Ok(())
    }

    /// An error at the current output length.
    #[cold]
    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(self.buf.len(), kind)
    }
}
