//! The generic value tree.

use crate::LENGTH_MAX;
use crate::decoder::Decoder;
use crate::encoder::Encoder;
use crate::error::{Error, ErrorKind};
use crate::tag::Scalar;

/// Any neopack value, borrowing strings and byte strings from the input it was decoded from.
///
/// Equality compares floats by their bits, so a NaN equals itself (payload included) and `0.0`
/// differs from `-0.0`: two values are equal exactly when they encode to the same bytes.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    /// Unit.
    Unit,
    /// A bool.
    Bool(bool),
    /// A u8.
    U8(u8),
    /// A u16.
    U16(u16),
    /// A u32.
    U32(u32),
    /// A u64.
    U64(u64),
    /// An s8.
    S8(i8),
    /// An s16.
    S16(i16),
    /// An s32.
    S32(i32),
    /// An s64.
    S64(i64),
    /// An f32.
    F32(f32),
    /// An f64.
    F64(f64),
    /// A char.
    Char(char),
    /// A str.
    Str(&'a str),
    /// A byte string.
    Bytes(&'a [u8]),
    /// A list of values.
    List(Vec<Value<'a>>),
    /// A map, as its entries in order (keys need be neither sorted nor unique).
    Map(Vec<(Value<'a>, Value<'a>)>),
    /// A variant: discriminant and payload.
    Variant(u32, Box<Value<'a>>),
    /// An array of the element kind; every element is a scalar value of that kind.
    Array(Scalar, Vec<Value<'a>>),
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::F32(a), Value::F32(b)) => a.to_bits() == b.to_bits(),
            (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
            (Value::Unit, Value::Unit) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::U8(a), Value::U8(b)) => a == b,
            (Value::U16(a), Value::U16(b)) => a == b,
            (Value::U32(a), Value::U32(b)) => a == b,
            (Value::U64(a), Value::U64(b)) => a == b,
            (Value::S8(a), Value::S8(b)) => a == b,
            (Value::S16(a), Value::S16(b)) => a == b,
            (Value::S32(a), Value::S32(b)) => a == b,
            (Value::S64(a), Value::S64(b)) => a == b,
            (Value::Char(a), Value::Char(b)) => a == b,
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            (Value::Variant(d, p), Value::Variant(e, q)) => d == e && p == q,
            (Value::Array(k, a), Value::Array(l, b)) => k == l && a == b,
            _ => false,
        }
    }
}

// Bitwise float equality is reflexive.
impl Eq for Value<'_> {}

impl Value<'_> {
    /// Writes the value. An [`Value::Array`] element of another kind than the array's is
    /// [`ErrorKind::ArrayElement`]; nesting deeper than
    /// [`NESTING_DEPTH_MAX`](crate::NESTING_DEPTH_MAX) is [`ErrorKind::NestingTooDeep`].
    pub fn encode(&self, enc: &mut Encoder) -> Result<(), Error> {
        match self {
            Value::Unit => enc.unit(),
            Value::Bool(v) => enc.bool(*v),
            Value::U8(v) => enc.u8(*v),
            Value::U16(v) => enc.u16(*v),
            Value::U32(v) => enc.u32(*v),
            Value::U64(v) => enc.u64(*v),
            Value::S8(v) => enc.s8(*v),
            Value::S16(v) => enc.s16(*v),
            Value::S32(v) => enc.s32(*v),
            Value::S64(v) => enc.s64(*v),
            Value::F32(v) => enc.f32(*v),
            Value::F64(v) => enc.f64(*v),
            Value::Char(v) => enc.char(*v),
            Value::Str(v) => enc.str(v),
            Value::Bytes(v) => enc.bytes(v),
            Value::List(items) => encode_list(items, enc),
            Value::Map(entries) => encode_map(entries, enc),
            Value::Variant(discriminant, payload) => {
                enc.variant_begin(*discriminant)?;
                payload.encode(enc)?;
                enc.variant_end()
            }
            Value::Array(kind, items) => encode_array(*kind, items, enc),
        }
    }
}

/// Decodes a document: exactly one value and nothing after it.
pub fn decode_value(bytes: &[u8]) -> Result<Value<'_>, Error> {
    let mut dec = Decoder::new(bytes);
    let value = dec.value()?;
    dec.finish()?;
    Ok(value)
}

fn encode_list(items: &[Value<'_>], enc: &mut Encoder) -> Result<(), Error> {
    enc.list_begin()?;
    for item in items {
        item.encode(enc)?;
    }
    enc.list_end()
}

fn encode_map(entries: &[(Value<'_>, Value<'_>)], enc: &mut Encoder) -> Result<(), Error> {
    enc.map_begin()?;
    for (key, value) in entries {
        key.encode(enc)?;
        value.encode(enc)?;
    }
    enc.map_end()
}

fn encode_array(kind: Scalar, items: &[Value<'_>], enc: &mut Encoder) -> Result<(), Error> {
    let Ok(count) = u32::try_from(items.len()) else {
        let too_large = ErrorKind::LengthTooLarge {
            length: items.len() as u64,
            max: LENGTH_MAX,
        };
        return Err(Error::new(enc.len(), too_large));
    };
    enc.array_begin(kind, count)?;
    for item in items {
        item.encode(enc)?;
    }
    enc.array_end()
}
