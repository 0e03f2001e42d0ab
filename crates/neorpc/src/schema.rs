//! A description of WIT types and interfaces that needs no compiled component.
//!
//! The codec is driven by [`Type`]; the Ledger compares contracts with [`InterfaceSchema`]; the
//! `Hello` handshake carries schemas on the wire ([`encode_interfaces`], [`decode_interfaces`]).

use std::collections::BTreeMap;
use std::fmt;

use neopack::{Decoder, Encoder};

use crate::error::Error;

/// How deep a schema decoded from the wire may nest.
pub const NESTING_DEPTH_MAX: usize = 32;

/// A WIT value type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Bool,
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
    S64,
    U64,
    F32,
    F64,
    Char,
    String,
    List(Box<Type>),
    Record(Vec<Field>),
    Tuple(Vec<Type>),
    Variant(Vec<Case>),
    Enum(Vec<String>),
    Option(Box<Type>),
    Result {
        ok: Option<Box<Type>>,
        err: Option<Box<Type>>,
    },
    Flags(Vec<String>),
    /// An owned resource handle, by the resource's name. Never crosses a remote boundary.
    Own(String),
    /// A borrowed resource handle, by the resource's name. Never crosses a remote boundary.
    Borrow(String),
}

/// A record field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: Type,
}

/// A variant case, with or without a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub ty: Option<Type>,
}

impl Type {
    /// Whether a resource handle appears anywhere inside this type.
    pub fn contains_resource(&self) -> bool {
        self.resource_name().is_some()
    }

    /// The first resource handle inside this type, if any.
    pub fn resource_name(&self) -> Option<&str> {
        match self {
            Type::Own(name) | Type::Borrow(name) => Some(name),
            Type::List(t) | Type::Option(t) => t.resource_name(),
            Type::Record(fields) => fields.iter().find_map(|f| f.ty.resource_name()),
            Type::Tuple(types) => types.iter().find_map(Type::resource_name),
            Type::Variant(cases) => cases.iter().find_map(|c| c.ty.as_ref()?.resource_name()),
            Type::Result { ok, err } => {
                let ok = ok.as_ref().and_then(|t| t.resource_name());
                ok.or_else(|| err.as_ref().and_then(|t| t.resource_name()))
            }
            _ => None,
        }
    }

    /// Where `self` (what a caller expects) and `other` (what a callee offers) first differ,
    /// as a path below the value and the two types there; `None` if they are the same type.
    pub fn mismatch(&self, other: &Type) -> Option<Mismatch> {
        mismatch_at(self, other, String::new())
    }
}

/// Where two types differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The path below the compared value, e.g. `.name` or `[0].ok`; empty at the top.
    pub path: String,
    pub expected: String,
    pub found: String,
}

fn mismatch_at(a: &Type, b: &Type, path: String) -> Option<Mismatch> {
    let differ = |path: String| {
        Some(Mismatch {
            path,
            expected: a.to_string(),
            found: b.to_string(),
        })
    };
    match (a, b) {
        (Type::List(x), Type::List(y)) | (Type::Option(x), Type::Option(y)) => {
            mismatch_at(x, y, path)
        }
        (Type::Record(xs), Type::Record(ys)) => {
            if xs.len() != ys.len() || xs.iter().zip(ys).any(|(x, y)| x.name != y.name) {
                return differ(path);
            }
            xs.iter()
                .zip(ys)
                .find_map(|(x, y)| mismatch_at(&x.ty, &y.ty, format!("{path}.{}", x.name)))
        }
        (Type::Tuple(xs), Type::Tuple(ys)) => {
            if xs.len() != ys.len() {
                return differ(path);
            }
            let mut pairs = xs.iter().zip(ys).enumerate();
            pairs.find_map(|(i, (x, y))| mismatch_at(x, y, format!("{path}.{i}")))
        }
        (Type::Variant(xs), Type::Variant(ys)) => {
            if xs.len() != ys.len() || xs.iter().zip(ys).any(|(x, y)| x.name != y.name) {
                return differ(path);
            }
            let mut pairs = xs.iter().zip(ys);
            pairs.find_map(|(x, y)| {
                payload_mismatch(&x.ty, &y.ty, format!("{path}.{}", x.name), a, b)
            })
        }
        (Type::Result { ok: xo, err: xe }, Type::Result { ok: yo, err: ye }) => {
            let ok = payload_mismatch(
                &xo.as_deref().cloned(),
                &yo.as_deref().cloned(),
                format!("{path}.ok"),
                a,
                b,
            );
            ok.or_else(|| {
                payload_mismatch(
                    &xe.as_deref().cloned(),
                    &ye.as_deref().cloned(),
                    format!("{path}.err"),
                    a,
                    b,
                )
            })
        }
        _ if a == b => None,
        _ => differ(path),
    }
}

fn payload_mismatch(
    x: &Option<Type>,
    y: &Option<Type>,
    path: String,
    a: &Type,
    b: &Type,
) -> Option<Mismatch> {
    match (x, y) {
        (None, None) => None,
        (Some(x), Some(y)) => mismatch_at(x, y, path),
        _ => Some(Mismatch {
            path,
            expected: a.to_string(),
            found: b.to_string(),
        }),
    }
}

impl fmt::Display for Type {
    /// WIT syntax, with records, variants, enums and flags written out structurally.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::S8 => f.write_str("s8"),
            Type::U8 => f.write_str("u8"),
            Type::S16 => f.write_str("s16"),
            Type::U16 => f.write_str("u16"),
            Type::S32 => f.write_str("s32"),
            Type::U32 => f.write_str("u32"),
            Type::S64 => f.write_str("s64"),
            Type::U64 => f.write_str("u64"),
            Type::F32 => f.write_str("f32"),
            Type::F64 => f.write_str("f64"),
            Type::Char => f.write_str("char"),
            Type::String => f.write_str("string"),
            Type::List(t) => write!(f, "list<{t}>"),
            Type::Option(t) => write!(f, "option<{t}>"),
            Type::Record(fields) => fmt_record(f, fields),
            Type::Tuple(types) => fmt_tuple(f, types),
            Type::Variant(cases) => fmt_variant(f, cases),
            Type::Enum(names) => write!(f, "enum {{ {} }}", names.join(", ")),
            Type::Flags(names) => write!(f, "flags {{ {} }}", names.join(", ")),
            Type::Result { ok, err } => fmt_result(f, ok.as_deref(), err.as_deref()),
            Type::Own(name) => write!(f, "own<{name}>"),
            Type::Borrow(name) => write!(f, "borrow<{name}>"),
        }
    }
}

fn fmt_record(f: &mut fmt::Formatter<'_>, fields: &[Field]) -> fmt::Result {
    f.write_str("record { ")?;
    for (i, field) in fields.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        write!(f, "{sep}{}: {}", field.name, field.ty)?;
    }
    f.write_str(" }")
}

fn fmt_tuple(f: &mut fmt::Formatter<'_>, types: &[Type]) -> fmt::Result {
    f.write_str("tuple<")?;
    for (i, ty) in types.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        write!(f, "{sep}{ty}")?;
    }
    f.write_str(">")
}

fn fmt_variant(f: &mut fmt::Formatter<'_>, cases: &[Case]) -> fmt::Result {
    f.write_str("variant { ")?;
    for (i, case) in cases.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        match &case.ty {
            Some(ty) => write!(f, "{sep}{}({ty})", case.name)?,
            None => write!(f, "{sep}{}", case.name)?,
        }
    }
    f.write_str(" }")
}

fn fmt_result(f: &mut fmt::Formatter<'_>, ok: Option<&Type>, err: Option<&Type>) -> fmt::Result {
    match (ok, err) {
        (None, None) => f.write_str("result"),
        (Some(ok), None) => write!(f, "result<{ok}>"),
        (None, Some(err)) => write!(f, "result<_, {err}>"),
        (Some(ok), Some(err)) => write!(f, "result<{ok}, {err}>"),
    }
}

/// A function's signature: named parameters and result types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncSig {
    pub params: Vec<(String, Type)>,
    pub results: Vec<Type>,
}

impl FuncSig {
    /// The parameter types, in order.
    pub fn param_types(&self) -> Vec<Type> {
        self.params.iter().map(|(_, t)| t.clone()).collect()
    }

    /// The first resource handle among parameters and results.
    pub fn resource_name(&self) -> Option<&str> {
        let params = self.params.iter().find_map(|(_, t)| t.resource_name());
        params.or_else(|| self.results.iter().find_map(Type::resource_name))
    }
}

impl fmt::Display for FuncSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("func(")?;
        for (i, (name, ty)) in self.params.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{name}: {ty}")?;
        }
        f.write_str(")")?;
        match self.results.as_slice() {
            [] => Ok(()),
            [one] => write!(f, " -> {one}"),
            many => write!(f, " -> {}", Type::Tuple(many.to_vec())),
        }
    }
}

/// An interface: its fully qualified name (`exorun:apps/calc@0.1.0`) and its functions, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceSchema {
    pub name: String,
    pub funcs: BTreeMap<String, FuncSig>,
}

/// How a callee's function differs from what the caller requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigMismatch {
    ParamCount {
        expected: usize,
        found: usize,
    },
    ResultCount {
        expected: usize,
        found: usize,
    },
    /// Parameter `name` (position `index`) differs at `at`.
    Param {
        index: usize,
        name: String,
        at: Mismatch,
    },
    /// Result `index` differs at `at`.
    Result {
        index: usize,
        at: Mismatch,
    },
}

impl fmt::Display for SigMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigMismatch::ParamCount { expected, found } => {
                write!(f, "expected {expected} parameters, found {found}")
            }
            SigMismatch::ResultCount { expected, found } => {
                write!(f, "expected {expected} results, found {found}")
            }
            SigMismatch::Param { index, name, at } => write!(
                f,
                "parameter {index} `{name}`{}: expected {}, found {}",
                at.path, at.expected, at.found
            ),
            SigMismatch::Result { index, at } => {
                write!(
                    f,
                    "result {index}{}: expected {}, found {}",
                    at.path, at.expected, at.found
                )
            }
        }
    }
}

impl FuncSig {
    /// How `offered` fails to satisfy `self` (the required signature), if it does.
    pub fn mismatch(&self, offered: &FuncSig) -> Option<SigMismatch> {
        if self.params.len() != offered.params.len() {
            let (expected, found) = (self.params.len(), offered.params.len());
            return Some(SigMismatch::ParamCount { expected, found });
        }
        if self.results.len() != offered.results.len() {
            let (expected, found) = (self.results.len(), offered.results.len());
            return Some(SigMismatch::ResultCount { expected, found });
        }
        let params = self.params.iter().zip(&offered.params).enumerate();
        for (index, ((name, want), (_, have))) in params {
            if let Some(at) = want.mismatch(have) {
                return Some(SigMismatch::Param {
                    index,
                    name: name.clone(),
                    at,
                });
            }
        }
        let mut results = self.results.iter().zip(&offered.results).enumerate();
        results.find_map(|(index, (want, have))| {
            want.mismatch(have)
                .map(|at| SigMismatch::Result { index, at })
        })
    }
}

// ---- wire form ------------------------------------------------------------------------------

mod type_tag {
    pub const BOOL: u32 = 0;
    pub const S8: u32 = 1;
    pub const U8: u32 = 2;
    pub const S16: u32 = 3;
    pub const U16: u32 = 4;
    pub const S32: u32 = 5;
    pub const U32: u32 = 6;
    pub const S64: u32 = 7;
    pub const U64: u32 = 8;
    pub const F32: u32 = 9;
    pub const F64: u32 = 10;
    pub const CHAR: u32 = 11;
    pub const STRING: u32 = 12;
    pub const LIST: u32 = 13;
    pub const RECORD: u32 = 14;
    pub const TUPLE: u32 = 15;
    pub const VARIANT: u32 = 16;
    pub const ENUM: u32 = 17;
    pub const OPTION: u32 = 18;
    pub const RESULT: u32 = 19;
    pub const FLAGS: u32 = 20;
    pub const OWN: u32 = 21;
    pub const BORROW: u32 = 22;
}

impl Type {
    /// Writes the type as one neopack value: `variant(type tag)` around its body.
    pub fn encode(&self, enc: &mut Encoder) -> Result<(), neopack::Error> {
        enc.variant_begin(self.wire_tag())?;
        self.encode_body(enc)?;
        enc.variant_end()
    }

    fn wire_tag(&self) -> u32 {
        use type_tag as t;
        match self {
            Type::Bool => t::BOOL,
            Type::S8 => t::S8,
            Type::U8 => t::U8,
            Type::S16 => t::S16,
            Type::U16 => t::U16,
            Type::S32 => t::S32,
            Type::U32 => t::U32,
            Type::S64 => t::S64,
            Type::U64 => t::U64,
            Type::F32 => t::F32,
            Type::F64 => t::F64,
            Type::Char => t::CHAR,
            Type::String => t::STRING,
            Type::List(_) => t::LIST,
            Type::Record(_) => t::RECORD,
            Type::Tuple(_) => t::TUPLE,
            Type::Variant(_) => t::VARIANT,
            Type::Enum(_) => t::ENUM,
            Type::Option(_) => t::OPTION,
            Type::Result { .. } => t::RESULT,
            Type::Flags(_) => t::FLAGS,
            Type::Own(_) => t::OWN,
            Type::Borrow(_) => t::BORROW,
        }
    }

    fn encode_body(&self, enc: &mut Encoder) -> Result<(), neopack::Error> {
        match self {
            Type::List(inner) | Type::Option(inner) => inner.encode(enc),
            Type::Record(fields) => encode_fields(enc, fields),
            Type::Tuple(types) => encode_types(enc, types),
            Type::Variant(cases) => encode_cases(enc, cases),
            Type::Enum(names) | Type::Flags(names) => encode_names(enc, names),
            Type::Result { ok, err } => {
                enc.list_begin()?;
                encode_opt_type(enc, ok.as_deref())?;
                encode_opt_type(enc, err.as_deref())?;
                enc.list_end()
            }
            Type::Own(name) | Type::Borrow(name) => enc.str(name),
            _ => enc.unit(),
        }
    }

    /// Reads a type written by [`Type::encode`], refusing nesting deeper than
    /// [`NESTING_DEPTH_MAX`].
    pub fn decode(dec: &mut Decoder<'_>) -> Result<Type, Error> {
        decode_type(dec, 0)
    }
}

fn encode_opt_type(enc: &mut Encoder, ty: Option<&Type>) -> Result<(), neopack::Error> {
    let Some(ty) = ty else {
        enc.variant_begin(0)?;
        enc.unit()?;
        return enc.variant_end();
    };
    enc.variant_begin(1)?;
    ty.encode(enc)?;
    enc.variant_end()
}

fn encode_fields(enc: &mut Encoder, fields: &[Field]) -> Result<(), neopack::Error> {
    enc.list_begin()?;
    for field in fields {
        enc.str(&field.name)?;
        field.ty.encode(enc)?;
    }
    enc.list_end()
}

fn encode_cases(enc: &mut Encoder, cases: &[Case]) -> Result<(), neopack::Error> {
    enc.list_begin()?;
    for case in cases {
        enc.str(&case.name)?;
        encode_opt_type(enc, case.ty.as_ref())?;
    }
    enc.list_end()
}

fn encode_types(enc: &mut Encoder, types: &[Type]) -> Result<(), neopack::Error> {
    enc.list_begin()?;
    for ty in types {
        ty.encode(enc)?;
    }
    enc.list_end()
}

fn encode_names(enc: &mut Encoder, names: &[String]) -> Result<(), neopack::Error> {
    enc.list_begin()?;
    for name in names {
        enc.str(name)?;
    }
    enc.list_end()
}

fn decode_type(dec: &mut Decoder<'_>, depth: usize) -> Result<Type, Error> {
    use type_tag as t;
    if depth > NESTING_DEPTH_MAX {
        return Err(Error::SchemaTooDeep {
            max: NESTING_DEPTH_MAX,
        });
    }
    let tag = dec.variant()?;
    let simple = match tag {
        t::BOOL => Some(Type::Bool),
        t::S8 => Some(Type::S8),
        t::U8 => Some(Type::U8),
        t::S16 => Some(Type::S16),
        t::U16 => Some(Type::U16),
        t::S32 => Some(Type::S32),
        t::U32 => Some(Type::U32),
        t::S64 => Some(Type::S64),
        t::U64 => Some(Type::U64),
        t::F32 => Some(Type::F32),
        t::F64 => Some(Type::F64),
        t::CHAR => Some(Type::Char),
        t::STRING => Some(Type::String),
        _ => None,
    };
    if let Some(ty) = simple {
        dec.unit()?;
        return Ok(ty);
    }
    decode_compound(dec, tag, depth + 1)
}

fn decode_compound(dec: &mut Decoder<'_>, tag: u32, depth: usize) -> Result<Type, Error> {
    use type_tag as t;
    let ty = match tag {
        t::LIST => Type::List(Box::new(decode_type(dec, depth)?)),
        t::OPTION => Type::Option(Box::new(decode_type(dec, depth)?)),
        t::RECORD => Type::Record(decode_fields(dec, depth)?),
        t::TUPLE => Type::Tuple(decode_types(dec, depth)?),
        t::VARIANT => Type::Variant(decode_cases(dec, depth)?),
        t::ENUM => Type::Enum(decode_names(dec)?),
        t::FLAGS => Type::Flags(decode_names(dec)?),
        t::RESULT => {
            let seq = crate::error::fields(dec, "a result schema", 2)?;
            let ok = decode_opt_type(dec, depth)?.map(Box::new);
            let err = decode_opt_type(dec, depth)?.map(Box::new);
            dec.end(seq)?;
            Type::Result { ok, err }
        }
        t::OWN => Type::Own(dec.str()?.to_owned()),
        t::BORROW => Type::Borrow(dec.str()?.to_owned()),
        _ => {
            return Err(Error::BadField {
                field: "schema type",
                reason: "unknown type tag",
            });
        }
    };
    Ok(ty)
}

fn decode_opt_type(dec: &mut Decoder<'_>, depth: usize) -> Result<Option<Type>, Error> {
    match dec.variant()? {
        0 => {
            dec.unit()?;
            Ok(None)
        }
        1 => Ok(Some(decode_type(dec, depth)?)),
        _ => Err(Error::BadField {
            field: "schema option",
            reason: "case must be 0 or 1",
        }),
    }
}

fn decode_fields(dec: &mut Decoder<'_>, depth: usize) -> Result<Vec<Field>, Error> {
    let seq = groups(dec, "a record schema", 2)?;
    let mut fields = Vec::new();
    for _ in 0..seq.count / 2 {
        let name = dec.str()?.to_owned();
        let ty = decode_type(dec, depth)?;
        fields.push(Field { name, ty });
    }
    dec.end(seq)?;
    Ok(fields)
}

fn decode_cases(dec: &mut Decoder<'_>, depth: usize) -> Result<Vec<Case>, Error> {
    let seq = groups(dec, "a variant schema", 2)?;
    let mut cases = Vec::new();
    for _ in 0..seq.count / 2 {
        let name = dec.str()?.to_owned();
        let ty = decode_opt_type(dec, depth)?;
        cases.push(Case { name, ty });
    }
    dec.end(seq)?;
    Ok(cases)
}

fn decode_types(dec: &mut Decoder<'_>, depth: usize) -> Result<Vec<Type>, Error> {
    let seq = dec.list()?;
    let mut types = Vec::new();
    for _ in 0..seq.count {
        types.push(decode_type(dec, depth)?);
    }
    dec.end(seq)?;
    Ok(types)
}

fn decode_names(dec: &mut Decoder<'_>) -> Result<Vec<String>, Error> {
    let seq = dec.list()?;
    let mut names = Vec::new();
    for _ in 0..seq.count {
        names.push(dec.str()?.to_owned());
    }
    dec.end(seq)?;
    Ok(names)
}

/// Reads the header of a list of groups of `group` values each, refusing a count that is not a
/// whole number of groups.
fn groups(dec: &mut Decoder<'_>, what: &'static str, group: u32) -> Result<neopack::Seq, Error> {
    let seq = dec.list()?;
    if !seq.count.is_multiple_of(group) {
        let found = seq.count;
        return Err(Error::GroupCount { what, group, found });
    }
    Ok(seq)
}

/// Writes a list of interface schemas as one neopack value.
pub fn encode_interfaces(
    enc: &mut Encoder,
    interfaces: &[InterfaceSchema],
) -> Result<(), neopack::Error> {
    enc.list_begin()?;
    for iface in interfaces {
        enc.str(&iface.name)?;
        enc.list_begin()?;
        for (name, sig) in &iface.funcs {
            enc.str(name)?;
            encode_sig(enc, sig)?;
        }
        enc.list_end()?;
    }
    enc.list_end()
}

fn encode_sig(enc: &mut Encoder, sig: &FuncSig) -> Result<(), neopack::Error> {
    enc.list_begin()?;
    for (name, ty) in &sig.params {
        enc.str(name)?;
        ty.encode(enc)?;
    }
    enc.list_end()?;
    encode_types(enc, &sig.results)
}

/// Reads interface schemas written by [`encode_interfaces`]; the input is hostile. Only the
/// form encoding writes is accepted: what decodes re-encodes to the same bytes.
pub fn decode_interfaces(bytes: &[u8]) -> Result<Vec<InterfaceSchema>, Error> {
    let mut dec = Decoder::new(bytes);
    let outer = groups(&mut dec, "an interface list", 2)?;
    let mut out = Vec::new();
    for _ in 0..outer.count / 2 {
        let name = dec.str()?.to_owned();
        let funcs = decode_funcs(&mut dec)?;
        out.push(InterfaceSchema { name, funcs });
    }
    dec.end(outer)?;
    dec.finish()?;
    Ok(out)
}

fn decode_funcs(dec: &mut Decoder<'_>) -> Result<BTreeMap<String, FuncSig>, Error> {
    let seq = groups(dec, "an interface's functions", 3)?;
    let mut funcs = BTreeMap::new();
    for _ in 0..seq.count / 3 {
        let name = dec.str()?.to_owned();
        // Written in the map's order: sorted, each name once.
        if funcs
            .last_key_value()
            .is_some_and(|(last, _)| *last >= name)
        {
            return Err(Error::BadField {
                field: "schema functions",
                reason: "names must be sorted and unique",
            });
        }
        let params = decode_params(dec)?;
        let results = decode_types(dec, 0)?;
        funcs.insert(name, FuncSig { params, results });
    }
    dec.end(seq)?;
    Ok(funcs)
}

fn decode_params(dec: &mut Decoder<'_>) -> Result<Vec<(String, Type)>, Error> {
    let seq = groups(dec, "a function's parameters", 2)?;
    let mut params = Vec::new();
    for _ in 0..seq.count / 2 {
        let name = dec.str()?.to_owned();
        params.push((name, decode_type(dec, 0)?));
    }
    dec.end(seq)?;
    Ok(params)
}
