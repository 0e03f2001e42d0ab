//! The decoder: typed, borrowing, bounds-checked reads of neopack values.

mod elem;
mod walk;

pub use elem::{Elem, ElemReader};

use crate::error::{Error, ErrorKind};
use crate::tag::{Scalar, Tag};
use crate::{LENGTH_MAX, varint};

/// The bytes of a list or map header after its tag: u32 body length, u32 count.
const SEQ_HEADER_SIZE: usize = 8;

/// Reads neopack values from a byte slice, front to back.
///
/// The typed readers (`u32()`, `str()`, `list()` ...) each read one tag and fail with
/// [`ErrorKind::UnexpectedTag`] when the input holds another kind; a failed tag check leaves
/// the position where it was. After any other error the position is unspecified. Strings and
/// byte strings borrow from the input. No input makes the decoder panic, and nothing is
/// allocated from a length before that length is checked against [`LENGTH_MAX`] and the bytes
/// that remain.
///
/// Inside a list or map, the room is the container's, not the input's: the length of a nested
/// list, map, array, str or bytes must fit within the body of the container it is in (or, after
/// [`Decoder::item`], within the part of that body its later siblings leave it). So nested
/// headers cannot each claim the whole input, and what a reader reserves for one level's
/// items is not claimed again by the levels inside it.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    input: &'a [u8],
    /// Invariant: `pos <= input.len()`.
    pos: usize,
    /// The offset by which the value being read must end: the end of the input, of the
    /// innermost open list or map, or of the room [`Decoder::item`] left. Invariant:
    /// `limit <= input.len()`.
    limit: usize,
}

/// An open list or map, as returned by [`Decoder::list`] and [`Decoder::map`]: read `count`
/// items (for a map, `count` key-value pairs), then call [`Decoder::end`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seq {
    /// The number of items, or of key-value entries for a map.
    pub count: u32,
    /// The offset just past the body.
    end: usize,
    /// The values in the body: `count`, or `2 * count` for a map.
    values: usize,
    /// The decoder's limit before the container was opened, restored by [`Decoder::end`].
    outer: usize,
}

impl Seq {
    /// The input offset at which the body ends, as its header declares.
    pub fn end_offset(&self) -> usize {
        self.end
    }
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Decoder {
            input,
            pos: 0,
            limit: input.len(),
        }
    }

    /// The offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The number of bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Succeeds if every byte has been read, else [`ErrorKind::TrailingBytes`].
    pub fn finish(&self) -> Result<(), Error> {
        let count = self.remaining();
        if count != 0 {
            return Err(self.error(ErrorKind::TrailingBytes { count }));
        }
        Ok(())
    }

    /// The tag of the next value, without reading it.
    pub fn peek_tag(&self) -> Result<Tag, Error> {
        let Some(&byte) = self.input.get(self.pos) else {
            return Err(self.error(ErrorKind::Incomplete));
        };
        let Some(tag) = Tag::from_u8(byte) else {
            return Err(self.error(ErrorKind::UnknownTag(byte)));
        };
        Ok(tag)
    }

    /// Reads a unit.
    pub fn unit(&mut self) -> Result<(), Error> {
        self.tag(Tag::Unit)
    }

    /// Reads a bool (tag 0x01 or 0x02).
    #[inline]
    pub fn bool(&mut self) -> Result<bool, Error> {
        let Some(&byte) = self.input.get(self.pos) else {
            return Err(self.error(ErrorKind::Incomplete));
        };
        let v = match byte {
            0x01 => false,
            0x02 => true,
            _ => return Err(self.unexpected("bool", byte)),
        };
        self.pos += 1;
        Ok(v)
    }

    /// Reads a u8.
    #[inline]
    pub fn u8(&mut self) -> Result<u8, Error> {
        self.tag(Tag::U8)?;
        self.elem_u8()
    }

    /// Reads a u16.
    #[inline]
    pub fn u16(&mut self) -> Result<u16, Error> {
        self.tag(Tag::U16)?;
        self.elem_u16()
    }

    /// Reads a u32.
    #[inline]
    pub fn u32(&mut self) -> Result<u32, Error> {
        self.tag(Tag::U32)?;
        self.elem_u32()
    }

    /// Reads a u64.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, Error> {
        self.tag(Tag::U64)?;
        self.elem_u64()
    }

    /// Reads an s8.
    #[inline]
    pub fn s8(&mut self) -> Result<i8, Error> {
        self.tag(Tag::S8)?;
        self.elem_s8()
    }

    /// Reads an s16.
    #[inline]
    pub fn s16(&mut self) -> Result<i16, Error> {
        self.tag(Tag::S16)?;
        self.elem_s16()
    }

    /// Reads an s32.
    #[inline]
    pub fn s32(&mut self) -> Result<i32, Error> {
        self.tag(Tag::S32)?;
        self.elem_s32()
    }

    /// Reads an s64.
    #[inline]
    pub fn s64(&mut self) -> Result<i64, Error> {
        self.tag(Tag::S64)?;
        self.elem_s64()
    }

    /// Reads an f32, NaN payload included.
    #[inline]
    pub fn f32(&mut self) -> Result<f32, Error> {
        self.tag(Tag::F32)?;
        self.elem_f32()
    }

    /// Reads an f64, NaN payload included.
    #[inline]
    pub fn f64(&mut self) -> Result<f64, Error> {
        self.tag(Tag::F64)?;
        self.elem_f64()
    }

    /// Reads a char.
    #[inline]
    pub fn char(&mut self) -> Result<char, Error> {
        self.tag(Tag::Char)?;
        self.elem_char()
    }

    /// Reads a str, borrowed from the input.
    pub fn str(&mut self) -> Result<&'a str, Error> {
        self.tag(Tag::Str)?;
        let bytes = self.blob()?;
        std::str::from_utf8(bytes).map_err(|e| {
            let at = self.pos - bytes.len() + e.valid_up_to();
            Error::new(at, ErrorKind::InvalidUtf8)
        })
    }

    /// Reads a byte string, borrowed from the input.
    pub fn bytes(&mut self) -> Result<&'a [u8], Error> {
        self.tag(Tag::Bytes)?;
        self.blob()
    }

    /// Reads a list header. Read `count` values, then call [`Decoder::end`]. Until then, what
    /// is nested inside must fit the list's body.
    pub fn list(&mut self) -> Result<Seq, Error> {
        self.open(Tag::List, 1)
    }

    /// Reads a map header. Read `count` key-value pairs, then call [`Decoder::end`]. Until
    /// then, what is nested inside must fit the map's body.
    pub fn map(&mut self) -> Result<Seq, Error> {
        self.open(Tag::Map, 2)
    }

    /// Bounds the next value to the room that value `index` of `seq` has: the body's end, less
    /// one byte for each value after it (every value takes at least one byte). A list, map,
    /// array, str or bytes read next whose length goes past that is
    /// [`ErrorKind::ContainerMismatch`]. For a map, `index` counts keys and values: entry `i`
    /// is values `2i` and `2i + 1`.
    ///
    /// Call it before each value when decoding into memory: then one level's reservation for
    /// its items and the bodies nested inside never count the same bytes twice, and a reader
    /// that reserves at most one item per byte of body allocates in proportion to the input.
    /// [`Decoder::value`] does.
    #[inline]
    pub fn item(&mut self, seq: &Seq, index: usize) {
        let after = seq.values.saturating_sub(index.saturating_add(1));
        self.limit = seq.end.saturating_sub(after);
    }

    /// Checks that the list or map `seq` ends here, else [`ErrorKind::ContainerMismatch`]
    /// (declared and actual end offsets). Then what follows must fit what held the container.
    pub fn end(&mut self, seq: Seq) -> Result<(), Error> {
        if self.pos != seq.end {
            let mismatch = ErrorKind::ContainerMismatch {
                declared: seq.end,
                actual: self.pos,
            };
            return Err(self.error(mismatch));
        }
        self.limit = seq.outer;
        Ok(())
    }

    /// Reads a variant's tag and discriminant; the payload, one value, follows.
    pub fn variant(&mut self) -> Result<u32, Error> {
        self.tag(Tag::Variant)?;
        self.elem_u32()
    }

    /// Reads an array header: the element kind and count. Read `count` elements with the
    /// `elem_*` reader of that kind. The count is checked against [`LENGTH_MAX`], against the
    /// bytes that remain and against the room of the container it is in (each element takes
    /// at least one byte, four for f32, eight for f64).
    pub fn array(&mut self) -> Result<(Scalar, u32), Error> {
        self.tag(Tag::Array)?;
        let kind_at = self.pos;
        let byte = self.byte()?;
        let Some(kind) = Scalar::from_byte(byte) else {
            return Err(Error::new(kind_at, ErrorKind::UnknownTag(byte)));
        };
        let count_at = self.pos;
        let count = self.elem_u32()?;
        check_length(count_at, count as usize)?;
        let needed = (count as usize).saturating_mul(kind.width_min());
        self.check_room(count_at, needed)?;
        Ok((kind, count))
    }

    /// Reads an untagged bool element: one byte, 0 or 1.
    #[inline]
    pub fn elem_bool(&mut self) -> Result<bool, Error> {
        let at = self.pos;
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            byte => Err(Error::new(at, ErrorKind::InvalidBool(byte))),
        }
    }

    /// Reads an untagged u8 element.
    #[inline]
    pub fn elem_u8(&mut self) -> Result<u8, Error> {
        self.byte()
    }

    /// Reads an untagged u16 element.
    #[inline]
    pub fn elem_u16(&mut self) -> Result<u16, Error> {
        // The varint reader bounds the value to 16 bits.
        Ok(self.varint(16)? as u16)
    }

    /// Reads an untagged u32 element.
    #[inline]
    pub fn elem_u32(&mut self) -> Result<u32, Error> {
        // The varint reader bounds the value to 32 bits.
        Ok(self.varint(32)? as u32)
    }

    /// Reads an untagged u64 element.
    #[inline]
    pub fn elem_u64(&mut self) -> Result<u64, Error> {
        self.varint(64)
    }

    /// Reads an untagged s8 element.
    #[inline]
    pub fn elem_s8(&mut self) -> Result<i8, Error> {
        Ok(i8::from_le_bytes([self.byte()?]))
    }

    /// Reads an untagged s16 element.
    #[inline]
    pub fn elem_s16(&mut self) -> Result<i16, Error> {
        // A zigzag value of at most 16 bits decodes into the i16 range.
        Ok(varint::unzigzag(self.varint(16)?) as i16)
    }

    /// Reads an untagged s32 element.
    #[inline]
    pub fn elem_s32(&mut self) -> Result<i32, Error> {
        // A zigzag value of at most 32 bits decodes into the i32 range.
        Ok(varint::unzigzag(self.varint(32)?) as i32)
    }

    /// Reads an untagged s64 element.
    #[inline]
    pub fn elem_s64(&mut self) -> Result<i64, Error> {
        Ok(varint::unzigzag(self.varint(64)?))
    }

    /// Reads an untagged f32 element.
    #[inline]
    pub fn elem_f32(&mut self) -> Result<f32, Error> {
        Ok(f32::from_bits(u32::from_le_bytes(self.chunk()?)))
    }

    /// Reads an untagged f64 element.
    #[inline]
    pub fn elem_f64(&mut self) -> Result<f64, Error> {
        Ok(f64::from_bits(u64::from_le_bytes(self.chunk()?)))
    }

    /// Reads an untagged char element.
    #[inline]
    pub fn elem_char(&mut self) -> Result<char, Error> {
        let at = self.pos;
        // The varint reader bounds the value to 32 bits.
        let v = self.varint(32)? as u32;
        char::from_u32(v).ok_or(Error::new(at, ErrorKind::InvalidChar(v)))
    }

    /// Reads a list or map header and makes its body the room for what is nested inside.
    fn open(&mut self, tag: Tag, values_per_entry: usize) -> Result<Seq, Error> {
        let seq = self.seq(tag, values_per_entry)?;
        self.limit = seq.end;
        Ok(seq)
    }

    /// Reads a list or map header whose entries hold `values_per_entry` values each.
    fn seq(&mut self, tag: Tag, values_per_entry: usize) -> Result<Seq, Error> {
        self.tag(tag)?;
        let at = self.pos;
        let header: [u8; SEQ_HEADER_SIZE] = self.chunk()?;
        let [b0, b1, b2, b3, c0, c1, c2, c3] = header;
        let body = u32::from_le_bytes([b0, b1, b2, b3]) as usize;
        let count = u32::from_le_bytes([c0, c1, c2, c3]);
        check_length(at, body)?;
        check_length(at + 4, count as usize)?;
        self.check_room(at, body)?;
        // Every value takes at least one byte.
        let values = (count as usize).saturating_mul(values_per_entry);
        if values > body {
            let mismatch = ErrorKind::ContainerMismatch {
                declared: values,
                actual: body,
            };
            return Err(Error::new(at + 4, mismatch));
        }
        Ok(Seq {
            count,
            end: self.pos + body,
            values,
            outer: self.limit,
        })
    }

    /// Reads a str or bytes payload: varint length, then that many bytes.
    fn blob(&mut self) -> Result<&'a [u8], Error> {
        let at = self.pos;
        let length = self.varint(64)?;
        if length > LENGTH_MAX as u64 {
            let kind = ErrorKind::LengthTooLarge {
                length,
                max: LENGTH_MAX,
            };
            return Err(Error::new(at, kind));
        }
        self.check_room(at, length as usize)?;
        self.take(length as usize)
    }

    /// Checks that `length` bytes from here, announced at offset `at`, are in the input
    /// ([`ErrorKind::Incomplete`] if not) and within the room of the enclosing container
    /// ([`ErrorKind::ContainerMismatch`], with the end claimed and the end allowed, if not).
    #[inline]
    fn check_room(&self, at: usize, length: usize) -> Result<(), Error> {
        if length > self.remaining() {
            return Err(Error::new(at, ErrorKind::Incomplete));
        }
        let room = self.limit.saturating_sub(self.pos);
        if length > room {
            let mismatch = ErrorKind::ContainerMismatch {
                declared: self.pos + length,
                actual: self.limit,
            };
            return Err(Error::new(at, mismatch));
        }
        Ok(())
    }

    /// The bytes the value being read may still take: up to the limit set by the enclosing
    /// container or [`Decoder::item`].
    #[inline]
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.pos)
    }

    /// Reads the tag `expected`; on a mismatch the position stays.
    #[inline]
    fn tag(&mut self, expected: Tag) -> Result<(), Error> {
        let Some(&byte) = self.input.get(self.pos) else {
            return Err(self.error(ErrorKind::Incomplete));
        };
        if byte != expected as u8 {
            return Err(self.unexpected(expected.name(), byte));
        }
        self.pos += 1;
        Ok(())
    }

    /// Reads a varint of at most `bits` bits.
    #[inline]
    fn varint(&mut self, bits: u32) -> Result<u64, Error> {
        let rest = self.rest();
        match varint::read(rest, bits) {
            Ok((value, tail)) => {
                self.pos += rest.len() - tail.len();
                Ok(value)
            }
            Err(kind) => Err(self.error(kind)),
        }
    }

    /// Reads one byte.
    #[inline]
    fn byte(&mut self) -> Result<u8, Error> {
        let Some(&byte) = self.input.get(self.pos) else {
            return Err(self.error(ErrorKind::Incomplete));
        };
        self.pos += 1;
        Ok(byte)
    }

    /// Reads `N` bytes.
    #[inline]
    fn chunk<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let Some((chunk, _)) = self.rest().split_first_chunk::<N>() else {
            return Err(self.error(ErrorKind::Incomplete));
        };
        self.pos += N;
        Ok(*chunk)
    }

    /// Reads `n` bytes, borrowed.
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let Some(bytes) = self.rest().get(..n) else {
            return Err(self.error(ErrorKind::Incomplete));
        };
        self.pos += n;
        Ok(bytes)
    }

    /// The bytes not yet read.
    #[inline]
    fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    /// The error for a tag byte other than the one expected.
    #[cold]
    fn unexpected(&self, expected: &'static str, byte: u8) -> Error {
        let kind = match Tag::from_u8(byte) {
            None => ErrorKind::UnknownTag(byte),
            Some(found) => ErrorKind::UnexpectedTag {
                expected,
                found: found.name(),
            },
        };
        self.error(kind)
    }

    /// An error at the current position.
    #[cold]
    fn error(&self, kind: ErrorKind) -> Error {
        Error::new(self.pos, kind)
    }
}

/// Refuses a length or count above [`LENGTH_MAX`], found at offset `at`.
#[inline]
fn check_length(at: usize, length: usize) -> Result<(), Error> {
    if length > LENGTH_MAX {
        let kind = ErrorKind::LengthTooLarge {
            length: length as u64,
            max: LENGTH_MAX,
        };
        return Err(Error::new(at, kind));
    }
    Ok(())
}
