//! Tag bytes and array element kinds.

/// The first byte of every encoded value: what kind of value follows.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// No payload.
    Unit = 0x00,
    /// The boolean `false`, no payload.
    False = 0x01,
    /// The boolean `true`, no payload.
    True = 0x02,
    /// One raw byte.
    U8 = 0x03,
    /// LEB128 varint, at most 16 bits.
    U16 = 0x04,
    /// LEB128 varint, at most 32 bits.
    U32 = 0x05,
    /// LEB128 varint, at most 64 bits.
    U64 = 0x06,
    /// One raw byte, two's complement.
    S8 = 0x07,
    /// Zigzag, then LEB128 varint of at most 16 bits.
    S16 = 0x08,
    /// Zigzag, then LEB128 varint of at most 32 bits.
    S32 = 0x09,
    /// Zigzag, then LEB128 varint of at most 64 bits.
    S64 = 0x0A,
    /// Four bytes, little-endian IEEE 754 bits.
    F32 = 0x0B,
    /// Eight bytes, little-endian IEEE 754 bits.
    F64 = 0x0C,
    /// LEB128 varint of a Unicode scalar value.
    Char = 0x0D,
    /// LEB128 byte length, then that many bytes of UTF-8.
    Str = 0x10,
    /// LEB128 length, then that many bytes.
    Bytes = 0x11,
    /// u32 LE body length, u32 LE item count, then the items.
    List = 0x20,
    /// u32 LE body length, u32 LE entry count, then key, value, key, value, ...
    Map = 0x21,
    /// LEB128 u32 discriminant, then exactly one value.
    Variant = 0x22,
    /// One element-kind byte, LEB128 u32 count, then the untagged elements.
    Array = 0x23,
}

impl Tag {
    /// The tag a byte names, or `None` for a byte that is no tag.
    #[inline]
    pub fn from_u8(byte: u8) -> Option<Tag> {
        let tag = match byte {
            0x00 => Tag::Unit,
            0x01 => Tag::False,
            0x02 => Tag::True,
            0x03 => Tag::U8,
            0x04 => Tag::U16,
            0x05 => Tag::U32,
            0x06 => Tag::U64,
            0x07 => Tag::S8,
            0x08 => Tag::S16,
            0x09 => Tag::S32,
            0x0A => Tag::S64,
            0x0B => Tag::F32,
            0x0C => Tag::F64,
            0x0D => Tag::Char,
            0x10 => Tag::Str,
            0x11 => Tag::Bytes,
            0x20 => Tag::List,
            0x21 => Tag::Map,
            0x22 => Tag::Variant,
            0x23 => Tag::Array,
            _ => return None,
        };
        Some(tag)
    }

    /// The name of the value kind, as used in error messages: `"u32"`, `"str"`, `"list"`.
    /// Both [`Tag::False`] and [`Tag::True`] are `"bool"`.
    pub fn name(self) -> &'static str {
        match self {
            Tag::Unit => "unit",
            Tag::False | Tag::True => "bool",
            Tag::U8 => "u8",
            Tag::U16 => "u16",
            Tag::U32 => "u32",
            Tag::U64 => "u64",
            Tag::S8 => "s8",
            Tag::S16 => "s16",
            Tag::S32 => "s32",
            Tag::S64 => "s64",
            Tag::F32 => "f32",
            Tag::F64 => "f64",
            Tag::Char => "char",
            Tag::Str => "str",
            Tag::Bytes => "bytes",
            Tag::List => "list",
            Tag::Map => "map",
            Tag::Variant => "variant",
            Tag::Array => "array",
        }
    }
}

/// The element kind of an array: a scalar type. On the wire it is the tag byte of that scalar
/// (`0x01` for bool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// One byte, 0 or 1.
    Bool,
    /// One raw byte.
    U8,
    /// LEB128 varint.
    U16,
    /// LEB128 varint.
    U32,
    /// LEB128 varint.
    U64,
    /// One raw byte, two's complement.
    S8,
    /// Zigzag LEB128 varint.
    S16,
    /// Zigzag LEB128 varint.
    S32,
    /// Zigzag LEB128 varint.
    S64,
    /// Four bytes, little-endian.
    F32,
    /// Eight bytes, little-endian.
    F64,
    /// LEB128 varint of a Unicode scalar value.
    Char,
}

impl Scalar {
    /// The byte that names this kind in an array header: the scalar's tag byte, `0x01` for bool.
    #[inline]
    pub fn tag_byte(self) -> u8 {
        match self {
            Scalar::Bool => Tag::False as u8,
            Scalar::U8 => Tag::U8 as u8,
            Scalar::U16 => Tag::U16 as u8,
            Scalar::U32 => Tag::U32 as u8,
            Scalar::U64 => Tag::U64 as u8,
            Scalar::S8 => Tag::S8 as u8,
            Scalar::S16 => Tag::S16 as u8,
            Scalar::S32 => Tag::S32 as u8,
            Scalar::S64 => Tag::S64 as u8,
            Scalar::F32 => Tag::F32 as u8,
            Scalar::F64 => Tag::F64 as u8,
            Scalar::Char => Tag::Char as u8,
        }
    }

    /// The kind an array header byte names, or `None` (`0x02`, true, is not a kind).
    #[inline]
    pub fn from_byte(byte: u8) -> Option<Scalar> {
        let kind = match Tag::from_u8(byte)? {
            Tag::False => Scalar::Bool,
            Tag::U8 => Scalar::U8,
            Tag::U16 => Scalar::U16,
            Tag::U32 => Scalar::U32,
            Tag::U64 => Scalar::U64,
            Tag::S8 => Scalar::S8,
            Tag::S16 => Scalar::S16,
            Tag::S32 => Scalar::S32,
            Tag::S64 => Scalar::S64,
            Tag::F32 => Scalar::F32,
            Tag::F64 => Scalar::F64,
            Tag::Char => Scalar::Char,
            _ => return None,
        };
        Some(kind)
    }

    /// The name of the kind, as used in error messages: `"bool"`, `"u32"`, `"char"`.
    pub fn name(self) -> &'static str {
        match self {
            Scalar::Bool => "bool",
            Scalar::U8 => "u8",
            Scalar::U16 => "u16",
            Scalar::U32 => "u32",
            Scalar::U64 => "u64",
            Scalar::S8 => "s8",
            Scalar::S16 => "s16",
            Scalar::S32 => "s32",
            Scalar::S64 => "s64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
            Scalar::Char => "char",
        }
    }

    /// The fewest bytes one untagged element of this kind occupies.
    #[inline]
    pub(crate) fn width_min(self) -> usize {
        match self {
            Scalar::F32 => 4,
            Scalar::F64 => 8,
            _ => 1,
        }
    }

    /// The exact width of an element that is copied as raw bytes, or `None` for kinds whose
    /// elements must be read one by one (varints, bools, which are validated).
    #[inline]
    pub(crate) fn width_fixed(self) -> Option<usize> {
        match self {
            Scalar::U8 | Scalar::S8 => Some(1),
            Scalar::F32 => Some(4),
            Scalar::F64 => Some(8),
            _ => None,
        }
    }
}
