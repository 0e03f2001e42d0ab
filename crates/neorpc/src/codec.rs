//! Wasmtime component `Val`s to neopack bytes and back, type-directed.
//!
//! Decoding takes the expected [`Type`]s: input of the wrong shape is rejected with an error
//! that names the path (`args[1].name: expected string, found u32`) instead of becoming a wrong
//! value. Encoding checks each `Val` against its type as well, so a host bug cannot put a
//! value on the wire that the peer will misread.
//!
//! | WIT type | neopack form |
//! | --- | --- |
//! | bool, s8..u64, f32, f64, char, string | the scalar of that kind, `str` for string |
//! | `list<u8>` | `bytes` |
//! | `list<T>`, T another number, bool or char | `array(T)`: untagged elements |
//! | `list<T>`, any other T | `list` of T |
//! | record, tuple | `list` of the fields / members, in declaration order |
//! | variant, enum | `variant(case index)` around the payload, or `unit` |
//! | option | `variant(0, unit)` for none, `variant(1, value)` for some |
//! | result | `variant(0, ok or unit)`, `variant(1, err or unit)` |
//! | flags | `array(u32)` of ceil(n / 32) words, bit i set for flag i |
//! | own, borrow | refused: resources never cross a remote boundary |
//!
//! Decoding allocates in proportion to its input. A `Val` is 40 bytes whatever it holds
//! (wasmtime's representation), so `list<u8>`, one byte per element on the wire, decodes to
//! exactly 40 bytes per input byte. A list reserves at most one `Val` per byte of its body, and
//! each item is read within the room its later siblings leave it ([`neopack::Decoder::item`]),
//! so the reservations along any path of nested lists add up to one `Val` per input byte, not
//! one per byte per level. An array is checked element by element before anything is reserved
//! or written for it. Over any input of n bytes the peak is at most 128 n + 4096 bytes (the
//! crate's `alloc_bound` test), plus what the types bring: field, case and flag names are
//! copied into each value (a set flag is a `String` of its name, up to 32 per 5-byte word).

use std::fmt;

use neopack::{Decoder, Encoder, Scalar};
use wasmtime::component::{Val, types};

use crate::schema::{Case, Field, FuncSig, Type};

/// A value that could not be encoded or decoded, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Where the problem is, e.g. `args[1].name`; empty at the top.
    pub path: String,
    pub kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The value (or its wire form) is not of the expected type.
    Mismatch { expected: String, found: String },
    /// A list of arguments or results, a record or a tuple has the wrong number of members.
    Count { expected: usize, found: usize },
    /// A variant, enum, option or result case index out of range.
    UnknownCase { index: u32, cases: usize },
    /// A case, enum or flag name that the type does not have.
    UnknownName { name: String },
    /// A resource handle: it cannot cross a remote boundary.
    Resource { name: String },
    /// A type this codec does not carry (futures, streams, error contexts, maps, fixed lists).
    Unsupported { what: String },
    /// The bytes are not valid neopack.
    Pack(neopack::Error),
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Error {
            path: String::new(),
            kind,
        }
    }

    fn mismatch(expected: &Type, found: impl Into<String>) -> Self {
        Error::new(ErrorKind::Mismatch {
            expected: expected.to_string(),
            found: found.into(),
        })
    }

    /// The same error, one path segment further out (`segment` is like `.name` or `[2]`).
    fn within(mut self, segment: impl fmt::Display) -> Self {
        self.path = format!("{segment}{}", self.path);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        match &self.kind {
            ErrorKind::Mismatch { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ErrorKind::Count { expected, found } => {
                write!(f, "expected {expected} values, found {found}")
            }
            ErrorKind::UnknownCase { index, cases } => {
                write!(
                    f,
                    "case index {index} out of range (the type has {cases} cases)"
                )
            }
            ErrorKind::UnknownName { name } => write!(f, "the type has no case or flag `{name}`"),
            ErrorKind::Resource { name } => {
                write!(f, "resource `{name}` cannot cross a remote boundary")
            }
            ErrorKind::Unsupported { what } => {
                write!(f, "{what} values are not supported by neorpc")
            }
            ErrorKind::Pack(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<neopack::Error> for Error {
    fn from(e: neopack::Error) -> Self {
        match e.kind {
            neopack::ErrorKind::UnexpectedTag { expected, found } => {
                Error::new(ErrorKind::Mismatch {
                    expected: wit_name(expected).to_owned(),
                    found: wit_name(found).to_owned(),
                })
            }
            _ => Error::new(ErrorKind::Pack(e)),
        }
    }
}

/// neopack's names for what it found, in WIT words.
fn wit_name(tag: &'static str) -> &'static str {
    match tag {
        "str" => "string",
        "bytes" => "list<u8>",
        "array" => "list",
        "list" => "list or record",
        other => other,
    }
}

// ---- schema from wasmtime types -------------------------------------------------------------

/// The schema of a wasmtime component type.
pub fn schema_type(ty: &types::Type) -> Result<Type, Error> {
    use types::Type as W;
    let unsupported = |what: &str| {
        Error::new(ErrorKind::Unsupported {
            what: what.to_owned(),
        })
    };
    let ty = match ty {
        W::Bool => Type::Bool,
        W::S8 => Type::S8,
        W::U8 => Type::U8,
        W::S16 => Type::S16,
        W::U16 => Type::U16,
        W::S32 => Type::S32,
        W::U32 => Type::U32,
        W::S64 => Type::S64,
        W::U64 => Type::U64,
        W::Float32 => Type::F32,
        W::Float64 => Type::F64,
        W::Char => Type::Char,
        W::String => Type::String,
        W::List(list) => Type::List(Box::new(schema_type(&list.ty())?)),
        W::Record(record) => Type::Record(schema_fields(record)?),
        W::Tuple(tuple) => Type::Tuple(
            tuple
                .types()
                .map(|t| schema_type(&t))
                .collect::<Result<_, _>>()?,
        ),
        W::Variant(variant) => Type::Variant(schema_cases(variant)?),
        W::Enum(e) => Type::Enum(e.names().map(str::to_owned).collect()),
        W::Option(option) => Type::Option(Box::new(schema_type(&option.ty())?)),
        W::Result(result) => Type::Result {
            ok: opt_schema(result.ok())?,
            err: opt_schema(result.err())?,
        },
        W::Flags(flags) => Type::Flags(flags.names().map(str::to_owned).collect()),
        W::Own(_) => Type::Own("resource".to_owned()),
        W::Borrow(_) => Type::Borrow("resource".to_owned()),
        W::Map(_) => return Err(unsupported("map")),
        W::Future(_) => return Err(unsupported("future")),
        W::Stream(_) => return Err(unsupported("stream")),
        W::ErrorContext => return Err(unsupported("error-context")),
        W::FixedLengthList(_) => return Err(unsupported("fixed-length list")),
    };
    Ok(ty)
}

fn opt_schema(ty: Option<types::Type>) -> Result<Option<Box<Type>>, Error> {
    let Some(ty) = ty else { return Ok(None) };
    Ok(Some(Box::new(schema_type(&ty)?)))
}

fn schema_fields(record: &types::Record) -> Result<Vec<Field>, Error> {
    let field = |f: types::Field<'_>| -> Result<Field, Error> {
        Ok(Field {
            name: f.name.to_owned(),
            ty: schema_type(&f.ty)?,
        })
    };
    record.fields().map(field).collect()
}

fn schema_cases(variant: &types::Variant) -> Result<Vec<Case>, Error> {
    let case = |c: types::Case<'_>| -> Result<Case, Error> {
        let ty = c.ty.as_ref().map(schema_type).transpose()?;
        Ok(Case {
            name: c.name.to_owned(),
            ty,
        })
    };
    variant.cases().map(case).collect()
}

/// The schema of a component function's signature.
pub fn func_sig(func: &types::ComponentFunc) -> Result<FuncSig, Error> {
    let mut params = Vec::with_capacity(func.params().len());
    for (name, ty) in func.params() {
        let ty = schema_type(&ty).map_err(|e| e.within(format_args!("param `{name}`")))?;
        params.push((name.to_owned(), ty));
    }
    let mut results = Vec::with_capacity(func.results().len());
    for (i, ty) in func.results().enumerate() {
        results.push(schema_type(&ty).map_err(|e| e.within(format_args!("result {i}")))?);
    }
    Ok(FuncSig { params, results })
}

// ---- encode ---------------------------------------------------------------------------------

/// Encodes call arguments as one neopack list; errors are rooted at `args`.
pub fn encode_args(vals: &[Val], types: &[Type]) -> Result<Vec<u8>, Error> {
    encode_values(vals, types, "args")
}

/// Encodes call results as one neopack list; errors are rooted at `results`.
pub fn encode_results(vals: &[Val], types: &[Type]) -> Result<Vec<u8>, Error> {
    encode_values(vals, types, "results")
}

/// Encodes `vals` (each of the type at the same position) as one neopack list.
pub fn encode_values(vals: &[Val], types: &[Type], root: &str) -> Result<Vec<u8>, Error> {
    let mut enc = Encoder::with_capacity(64);
    encode_values_into(&mut enc, vals, types, root)?;
    Ok(enc.into_bytes()?)
}

/// Like [`encode_values`], appending to `enc`.
pub fn encode_values_into(
    enc: &mut Encoder,
    vals: &[Val],
    types: &[Type],
    root: &str,
) -> Result<(), Error> {
    if vals.len() != types.len() {
        let count = ErrorKind::Count {
            expected: types.len(),
            found: vals.len(),
        };
        return Err(Error::new(count).within(root));
    }
    enc.list_begin()?;
    for (i, (val, ty)) in vals.iter().zip(types).enumerate() {
        encode_value(enc, val, ty).map_err(|e| e.within(format_args!("{root}[{i}]")))?;
    }
    enc.list_end()?;
    Ok(())
}

/// Encodes one value of type `ty`.
pub fn encode_value(enc: &mut Encoder, val: &Val, ty: &Type) -> Result<(), Error> {
    match (ty, val) {
        (Type::Bool, Val::Bool(v)) => enc.bool(*v)?,
        (Type::S8, Val::S8(v)) => enc.s8(*v)?,
        (Type::U8, Val::U8(v)) => enc.u8(*v)?,
        (Type::S16, Val::S16(v)) => enc.s16(*v)?,
        (Type::U16, Val::U16(v)) => enc.u16(*v)?,
        (Type::S32, Val::S32(v)) => enc.s32(*v)?,
        (Type::U32, Val::U32(v)) => enc.u32(*v)?,
        (Type::S64, Val::S64(v)) => enc.s64(*v)?,
        (Type::U64, Val::U64(v)) => enc.u64(*v)?,
        (Type::F32, Val::Float32(v)) => enc.f32(*v)?,
        (Type::F64, Val::Float64(v)) => enc.f64(*v)?,
        (Type::Char, Val::Char(v)) => enc.char(*v)?,
        (Type::String, Val::String(v)) => enc.str(v)?,
        (Type::List(elem), Val::List(items)) => encode_list(enc, elem, items)?,
        (Type::Record(fields), Val::Record(vals)) => encode_record(enc, fields, vals)?,
        (Type::Tuple(types), Val::Tuple(vals)) => encode_tuple(enc, types, vals)?,
        (Type::Variant(cases), Val::Variant(name, payload)) => {
            encode_variant(enc, cases, name, payload.as_deref())?
        }
        (Type::Enum(names), Val::Enum(name)) => encode_enum(enc, names, name)?,
        (Type::Option(inner), Val::Option(v)) => encode_option(enc, inner, v.as_deref())?,
        (Type::Result { ok, err }, Val::Result(v)) => encode_result(enc, ok, err, v)?,
        (Type::Flags(names), Val::Flags(set)) => encode_flags(enc, names, set)?,
        (Type::Own(name) | Type::Borrow(name), _) => {
            return Err(Error::new(ErrorKind::Resource { name: name.clone() }));
        }
        (ty, val) => return Err(Error::mismatch(ty, val_kind(val))),
    }
    Ok(())
}

fn encode_list(enc: &mut Encoder, elem: &Type, items: &[Val]) -> Result<(), Error> {
    if *elem == Type::U8 {
        return encode_bytes(enc, items);
    }
    if let Some(kind) = scalar_kind(elem) {
        return encode_array(enc, kind, elem, items);
    }
    enc.list_begin()?;
    for (i, item) in items.iter().enumerate() {
        encode_value(enc, item, elem).map_err(|e| e.within(format_args!("[{i}]")))?;
    }
    enc.list_end()?;
    Ok(())
}

fn encode_bytes(enc: &mut Encoder, items: &[Val]) -> Result<(), Error> {
    let mut bytes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Val::U8(b) = item else {
            return Err(Error::mismatch(&Type::U8, val_kind(item)).within(format_args!("[{i}]")));
        };
        bytes.push(*b);
    }
    enc.bytes(&bytes)?;
    Ok(())
}

fn encode_array(enc: &mut Encoder, kind: Scalar, elem: &Type, items: &[Val]) -> Result<(), Error> {
    let Ok(count) = u32::try_from(items.len()) else {
        return Err(Error::new(ErrorKind::Unsupported {
            what: "lists over 2^32 elements".into(),
        }));
    };
    enc.array_begin(kind, count)?;
    for (i, item) in items.iter().enumerate() {
        encode_value(enc, item, elem).map_err(|e| e.within(format_args!("[{i}]")))?;
    }
    enc.array_end()?;
    Ok(())
}

fn encode_record(enc: &mut Encoder, fields: &[Field], vals: &[(String, Val)]) -> Result<(), Error> {
    if fields.len() != vals.len() {
        return Err(Error::new(ErrorKind::Count {
            expected: fields.len(),
            found: vals.len(),
        }));
    }
    enc.list_begin()?;
    for (field, (name, val)) in fields.iter().zip(vals) {
        if field.name != *name {
            let found = format!("field `{name}`");
            return Err(Error::mismatch(&field.ty, found).within(format_args!(".{}", field.name)));
        }
        encode_value(enc, val, &field.ty).map_err(|e| e.within(format_args!(".{name}")))?;
    }
    enc.list_end()?;
    Ok(())
}

fn encode_tuple(enc: &mut Encoder, types: &[Type], vals: &[Val]) -> Result<(), Error> {
    if types.len() != vals.len() {
        return Err(Error::new(ErrorKind::Count {
            expected: types.len(),
            found: vals.len(),
        }));
    }
    enc.list_begin()?;
    for (i, (ty, val)) in types.iter().zip(vals).enumerate() {
        encode_value(enc, val, ty).map_err(|e| e.within(format_args!(".{i}")))?;
    }
    enc.list_end()?;
    Ok(())
}

fn encode_variant(
    enc: &mut Encoder,
    cases: &[Case],
    name: &str,
    payload: Option<&Val>,
) -> Result<(), Error> {
    let Some(index) = cases.iter().position(|c| c.name == name) else {
        return Err(Error::new(ErrorKind::UnknownName {
            name: name.to_owned(),
        }));
    };
    let case = &cases[index];
    enc.variant_begin(index as u32)?;
    match (&case.ty, payload) {
        (None, None) => enc.unit()?,
        (Some(ty), Some(val)) => {
            encode_value(enc, val, ty).map_err(|e| e.within(format_args!(".{name}")))?
        }
        (Some(ty), None) => {
            return Err(Error::mismatch(ty, "no payload").within(format_args!(".{name}")));
        }
        (None, Some(val)) => {
            let found = val_kind(val);
            let kind = ErrorKind::Mismatch {
                expected: "no payload".into(),
                found: found.into(),
            };
            return Err(Error::new(kind).within(format_args!(".{name}")));
        }
    }
    enc.variant_end()?;
    Ok(())
}

fn encode_enum(enc: &mut Encoder, names: &[String], name: &str) -> Result<(), Error> {
    let Some(index) = names.iter().position(|n| n == name) else {
        return Err(Error::new(ErrorKind::UnknownName {
            name: name.to_owned(),
        }));
    };
    enc.variant_begin(index as u32)?;
    enc.unit()?;
    enc.variant_end()?;
    Ok(())
}

fn encode_option(enc: &mut Encoder, inner: &Type, val: Option<&Val>) -> Result<(), Error> {
    let Some(val) = val else {
        enc.variant_begin(0)?;
        enc.unit()?;
        enc.variant_end()?;
        return Ok(());
    };
    enc.variant_begin(1)?;
    encode_value(enc, val, inner).map_err(|e| e.within(".some"))?;
    enc.variant_end()?;
    Ok(())
}

type ResultVal = Result<Option<Box<Val>>, Option<Box<Val>>>;

fn encode_result(
    enc: &mut Encoder,
    ok: &Option<Box<Type>>,
    err: &Option<Box<Type>>,
    val: &ResultVal,
) -> Result<(), Error> {
    let (index, ty, payload, segment) = match val {
        Ok(v) => (0, ok.as_deref(), v.as_deref(), ".ok"),
        Err(v) => (1, err.as_deref(), v.as_deref(), ".err"),
    };
    enc.variant_begin(index)?;
    match (ty, payload) {
        (None, None) => enc.unit()?,
        (Some(ty), Some(val)) => encode_value(enc, val, ty).map_err(|e| e.within(segment))?,
        (Some(ty), None) => return Err(Error::mismatch(ty, "no payload").within(segment)),
        (None, Some(val)) => {
            let kind = ErrorKind::Mismatch {
                expected: "no payload".into(),
                found: val_kind(val).into(),
            };
            return Err(Error::new(kind).within(segment));
        }
    }
    enc.variant_end()?;
    Ok(())
}

fn encode_flags(enc: &mut Encoder, names: &[String], set: &[String]) -> Result<(), Error> {
    let mut words = vec![0u32; names.len().div_ceil(32)];
    for flag in set {
        let Some(bit) = names.iter().position(|n| n == flag) else {
            return Err(Error::new(ErrorKind::UnknownName { name: flag.clone() }));
        };
        words[bit / 32] |= 1 << (bit % 32);
    }
    enc.array_begin(Scalar::U32, words.len() as u32)?;
    for word in words {
        enc.u32(word)?;
    }
    enc.array_end()?;
    Ok(())
}

/// The neopack array kind that carries a `list<T>` of this element type, if T is a scalar other
/// than u8 (a `list<u8>` is `bytes`, and its callers look for that first).
fn scalar_kind(ty: &Type) -> Option<Scalar> {
    let kind = match ty {
        Type::Bool => Scalar::Bool,
        Type::U16 => Scalar::U16,
        Type::U32 => Scalar::U32,
        Type::U64 => Scalar::U64,
        Type::S8 => Scalar::S8,
        Type::S16 => Scalar::S16,
        Type::S32 => Scalar::S32,
        Type::S64 => Scalar::S64,
        Type::F32 => Scalar::F32,
        Type::F64 => Scalar::F64,
        Type::Char => Scalar::Char,
        _ => return None,
    };
    Some(kind)
}

/// A `Val`'s kind, in WIT words, for messages.
pub fn val_kind(val: &Val) -> &'static str {
    match val {
        Val::Bool(_) => "bool",
        Val::S8(_) => "s8",
        Val::U8(_) => "u8",
        Val::S16(_) => "s16",
        Val::U16(_) => "u16",
        Val::S32(_) => "s32",
        Val::U32(_) => "u32",
        Val::S64(_) => "s64",
        Val::U64(_) => "u64",
        Val::Float32(_) => "f32",
        Val::Float64(_) => "f64",
        Val::Char(_) => "char",
        Val::String(_) => "string",
        Val::List(_) => "list",
        Val::Map(_) => "map",
        Val::Record(_) => "record",
        Val::Tuple(_) => "tuple",
        Val::Variant(..) => "variant",
        Val::Enum(_) => "enum",
        Val::Option(_) => "option",
        Val::Result(_) => "result",
        Val::Flags(_) => "flags",
        Val::Resource(_) => "resource",
        Val::Future(_) => "future",
        Val::Stream(_) => "stream",
        Val::ErrorContext(_) => "error-context",
        Val::FixedLengthList(_) => "fixed-length list",
    }
}

// ---- decode ---------------------------------------------------------------------------------

/// Decodes call arguments written by [`encode_args`]; errors are rooted at `args`.
pub fn decode_args(bytes: &[u8], types: &[Type]) -> Result<Vec<Val>, Error> {
    decode_values(bytes, types, "args")
}

/// Decodes call results written by [`encode_results`]; errors are rooted at `results`.
pub fn decode_results(bytes: &[u8], types: &[Type]) -> Result<Vec<Val>, Error> {
    decode_values(bytes, types, "results")
}

/// Decodes one neopack list holding one value of each of `types`; the input must hold exactly
/// that list.
pub fn decode_values(bytes: &[u8], types: &[Type], root: &str) -> Result<Vec<Val>, Error> {
    let mut dec = Decoder::new(bytes);
    let seq = dec.list().map_err(|e| Error::from(e).within(root))?;
    if seq.count as usize != types.len() {
        let count = ErrorKind::Count {
            expected: types.len(),
            found: seq.count as usize,
        };
        return Err(Error::new(count).within(root));
    }
    let mut vals = Vec::with_capacity(types.len());
    for (i, ty) in types.iter().enumerate() {
        dec.item(&seq, i);
        vals.push(decode_value(&mut dec, ty).map_err(|e| e.within(format_args!("{root}[{i}]")))?);
    }
    dec.end(seq).map_err(|e| Error::from(e).within(root))?;
    dec.finish().map_err(|e| Error::from(e).within(root))?;
    Ok(vals)
}

/// Decodes one value of type `ty`.
pub fn decode_value(dec: &mut Decoder<'_>, ty: &Type) -> Result<Val, Error> {
    let val = match ty {
        Type::Bool => Val::Bool(dec.bool()?),
        Type::S8 => Val::S8(dec.s8()?),
        Type::U8 => Val::U8(dec.u8()?),
        Type::S16 => Val::S16(dec.s16()?),
        Type::U16 => Val::U16(dec.u16()?),
        Type::S32 => Val::S32(dec.s32()?),
        Type::U32 => Val::U32(dec.u32()?),
        Type::S64 => Val::S64(dec.s64()?),
        Type::U64 => Val::U64(dec.u64()?),
        Type::F32 => Val::Float32(dec.f32()?),
        Type::F64 => Val::Float64(dec.f64()?),
        Type::Char => Val::Char(dec.char()?),
        Type::String => Val::String(dec.str()?.to_owned()),
        Type::List(elem) => Val::List(decode_list(dec, ty, elem)?),
        Type::Record(fields) => Val::Record(decode_record(dec, ty, fields)?),
        Type::Tuple(types) => Val::Tuple(decode_tuple(dec, ty, types)?),
        Type::Variant(cases) => decode_variant(dec, cases)?,
        Type::Enum(names) => decode_enum(dec, names)?,
        Type::Option(inner) => Val::Option(decode_option(dec, inner)?),
        Type::Result { ok, err } => Val::Result(decode_result(dec, ok.as_deref(), err.as_deref())?),
        Type::Flags(names) => Val::Flags(decode_flags(dec, ty, names)?),
        Type::Own(name) | Type::Borrow(name) => {
            return Err(Error::new(ErrorKind::Resource { name: name.clone() }));
        }
    };
    Ok(val)
}

/// Reads a container's tag without consuming it, failing with the expected type if it is not
/// one of `allowed`.
fn expect_tag(dec: &Decoder<'_>, ty: &Type, allowed: neopack::Tag) -> Result<(), Error> {
    let tag = dec.peek_tag()?;
    if tag != allowed {
        return Err(Error::mismatch(ty, wit_name(tag.name())));
    }
    Ok(())
}

fn decode_list(dec: &mut Decoder<'_>, ty: &Type, elem: &Type) -> Result<Vec<Val>, Error> {
    if *elem == Type::U8 {
        expect_tag(dec, ty, neopack::Tag::Bytes)?;
        return Ok(dec.bytes()?.iter().map(|b| Val::U8(*b)).collect());
    }
    if let Some(kind) = scalar_kind(elem) {
        return decode_array(dec, ty, kind);
    }
    expect_tag(dec, ty, neopack::Tag::List)?;
    let seq = dec.list()?;
    // At most one item per byte of the list's body, and each item is read within the room
    // its later siblings leave it: the reservations along any path of nested lists add up to
    // at most one `Val` per input byte (plus one per level), however the headers lie.
    let mut items = Vec::with_capacity(seq.count as usize);
    for i in 0..seq.count as usize {
        dec.item(&seq, i);
        items.push(decode_value(dec, elem).map_err(|e| e.within(format_args!("[{i}]")))?);
    }
    dec.end(seq)?;
    Ok(items)
}

fn decode_array(dec: &mut Decoder<'_>, ty: &Type, kind: Scalar) -> Result<Vec<Val>, Error> {
    expect_tag(dec, ty, neopack::Tag::Array)?;
    let (found, count) = dec.array()?;
    if found != kind {
        return Err(Error::mismatch(ty, format!("list<{}>", found.name())));
    }
    // Nothing is reserved or written for an array with a bad element.
    check_elems(dec, kind, count)?;
    // `array` checked the count against the room the array has.
    let mut items = Vec::with_capacity(count as usize);
    decode_elems(dec, kind, count, &mut items)?;
    Ok(items)
}

/// Reads `count` elements of `kind` on a copy of the decoder, writing nothing: the error of
/// the first bad one, if any. Kinds of a fixed width have no bad elements once `array` has
/// checked that their bytes are there.
fn check_elems(dec: &Decoder<'_>, kind: Scalar, count: u32) -> Result<(), neopack::Error> {
    match kind {
        Scalar::Bool => check_run::<bool>(dec, count),
        Scalar::U16 => check_run::<u16>(dec, count),
        Scalar::U32 => check_run::<u32>(dec, count),
        Scalar::U64 => check_run::<u64>(dec, count),
        Scalar::S16 => check_run::<i16>(dec, count),
        Scalar::S32 => check_run::<i32>(dec, count),
        Scalar::S64 => check_run::<i64>(dec, count),
        Scalar::Char => check_run::<char>(dec, count),
        Scalar::U8 | Scalar::S8 | Scalar::F32 | Scalar::F64 => Ok(()),
    }
}

fn check_run<T: neopack::Elem>(dec: &Decoder<'_>, count: u32) -> Result<(), neopack::Error> {
    let mut probe = dec.clone();
    let mut reader = probe.elem_reader::<T>();
    for _ in 0..count {
        reader.read()?;
    }
    Ok(())
}

/// Reads `count` untagged elements of `kind` onto `items`: one loop per kind, so the match on
/// the kind stays out of the loop.
fn decode_elems(
    dec: &mut Decoder<'_>,
    kind: Scalar,
    count: u32,
    items: &mut Vec<Val>,
) -> Result<(), neopack::Error> {
    match kind {
        Scalar::Bool => extend_elems(dec, count, items, Val::Bool),
        Scalar::U8 => extend_elems(dec, count, items, Val::U8),
        Scalar::U16 => extend_elems(dec, count, items, Val::U16),
        Scalar::U32 => extend_elems(dec, count, items, Val::U32),
        Scalar::U64 => extend_elems(dec, count, items, Val::U64),
        Scalar::S8 => extend_elems(dec, count, items, Val::S8),
        Scalar::S16 => extend_elems(dec, count, items, Val::S16),
        Scalar::S32 => extend_elems(dec, count, items, Val::S32),
        Scalar::S64 => extend_elems(dec, count, items, Val::S64),
        Scalar::F32 => extend_elems(dec, count, items, Val::Float32),
        Scalar::F64 => extend_elems(dec, count, items, Val::Float64),
        Scalar::Char => extend_elems(dec, count, items, Val::Char),
    }
}

/// Appends `count` elements of type `T` to `items`, each wrapped by `val`.
///
/// The loop is a `Vec::extend` over a range of known length, so the vector is grown once and
/// each `Val` is written in place, with no capacity check per element. The elements were
/// checked first ([`check_elems`]); should one still fail, the error is kept and the loop runs
/// out its count writing placeholders of the same kind; the caller drops `items`.
#[inline]
fn extend_elems<T: neopack::Elem>(
    dec: &mut Decoder<'_>,
    count: u32,
    items: &mut Vec<Val>,
    val: impl Fn(T) -> Val,
) -> Result<(), neopack::Error> {
    let mut result = Ok(());
    let failure = &mut result;
    let mut reader = dec.elem_reader::<T>();
    items.extend((0..count).map(move |_| match reader.read() {
        Ok(v) => val(v),
        Err(e) => {
            if failure.is_ok() {
                *failure = Err(e);
            }
            val(T::default())
        }
    }));
    result
}

fn decode_members(
    dec: &mut Decoder<'_>,
    ty: &Type,
    expected: usize,
) -> Result<neopack::Seq, Error> {
    expect_tag(dec, ty, neopack::Tag::List)?;
    let seq = dec.list()?;
    if seq.count as usize != expected {
        return Err(Error::new(ErrorKind::Count {
            expected,
            found: seq.count as usize,
        }));
    }
    Ok(seq)
}

fn decode_record(
    dec: &mut Decoder<'_>,
    ty: &Type,
    fields: &[Field],
) -> Result<Vec<(String, Val)>, Error> {
    let seq = decode_members(dec, ty, fields.len())?;
    let mut vals = Vec::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        dec.item(&seq, i);
        let val =
            decode_value(dec, &field.ty).map_err(|e| e.within(format_args!(".{}", field.name)))?;
        vals.push((field.name.clone(), val));
    }
    dec.end(seq)?;
    Ok(vals)
}

fn decode_tuple(dec: &mut Decoder<'_>, ty: &Type, types: &[Type]) -> Result<Vec<Val>, Error> {
    let seq = decode_members(dec, ty, types.len())?;
    let mut vals = Vec::with_capacity(types.len());
    for (i, member) in types.iter().enumerate() {
        dec.item(&seq, i);
        vals.push(decode_value(dec, member).map_err(|e| e.within(format_args!(".{i}")))?);
    }
    dec.end(seq)?;
    Ok(vals)
}

/// Reads a variant header and checks the case index against `cases` cases.
fn decode_case(dec: &mut Decoder<'_>, cases: usize) -> Result<usize, Error> {
    let index = dec.variant()?;
    if index as usize >= cases {
        return Err(Error::new(ErrorKind::UnknownCase { index, cases }));
    }
    Ok(index as usize)
}

/// Reads a case payload: a value of `ty`, or `unit` when the case has none. `segment` is
/// formatted only for an error.
fn decode_payload(
    dec: &mut Decoder<'_>,
    ty: Option<&Type>,
    segment: impl fmt::Display,
) -> Result<Option<Box<Val>>, Error> {
    let Some(ty) = ty else {
        dec.unit().map_err(|e| Error::from(e).within(segment))?;
        return Ok(None);
    };
    let val = decode_value(dec, ty).map_err(|e| e.within(segment))?;
    Ok(Some(Box::new(val)))
}

fn decode_variant(dec: &mut Decoder<'_>, cases: &[Case]) -> Result<Val, Error> {
    let case = &cases[decode_case(dec, cases.len())?];
    let payload = decode_payload(dec, case.ty.as_ref(), format_args!(".{}", case.name))?;
    Ok(Val::Variant(case.name.clone(), payload))
}

fn decode_enum(dec: &mut Decoder<'_>, names: &[String]) -> Result<Val, Error> {
    let index = decode_case(dec, names.len())?;
    dec.unit()?;
    Ok(Val::Enum(names[index].clone()))
}

fn decode_option(dec: &mut Decoder<'_>, inner: &Type) -> Result<Option<Box<Val>>, Error> {
    match decode_case(dec, 2)? {
        0 => decode_payload(dec, None, ".none"),
        _ => decode_payload(dec, Some(inner), ".some"),
    }
}

fn decode_result(
    dec: &mut Decoder<'_>,
    ok: Option<&Type>,
    err: Option<&Type>,
) -> Result<ResultVal, Error> {
    match decode_case(dec, 2)? {
        0 => Ok(Ok(decode_payload(dec, ok, ".ok")?)),
        _ => Ok(Err(decode_payload(dec, err, ".err")?)),
    }
}

fn decode_flags(dec: &mut Decoder<'_>, ty: &Type, names: &[String]) -> Result<Vec<String>, Error> {
    expect_tag(dec, ty, neopack::Tag::Array)?;
    let (kind, count) = dec.array()?;
    let words = names.len().div_ceil(32);
    if kind != Scalar::U32 || count as usize != words {
        return Err(Error::mismatch(
            ty,
            format!("{count} words of {}", kind.name()),
        ));
    }
    let mut set = Vec::new();
    for word_index in 0..words {
        let word = dec.elem_u32()?;
        collect_flags(word, word_index, names, &mut set)
            .map_err(|found| Error::mismatch(ty, found))?;
    }
    Ok(set)
}

fn collect_flags(
    word: u32,
    word_index: usize,
    names: &[String],
    set: &mut Vec<String>,
) -> Result<(), String> {
    for bit in 0..32 {
        if word & (1 << bit) == 0 {
            continue;
        }
        let Some(name) = names.get(word_index * 32 + bit) else {
            return Err(format!("unknown flag bit {}", word_index * 32 + bit));
        };
        set.push(name.clone());
    }
    Ok(())
}
