//! WIT values as text, in WAVE (the WebAssembly Value Encoding: `42`, `"hi"`, `[1, 2]`,
//! `{name: "ada", age: 36}`, `some(1)`, `ok("x")`, `done(42)`), for people at a command line.
//! Parsing is directed by a `neorpc::schema::Type`, so it needs no compiled component: the
//! types can come from a peer's `Hello`.

use std::borrow::Cow;
use std::fmt;

use neorpc::schema::Type;
use wasm_wave::value::{Type as WaveType, Value};
use wasm_wave::wasm::{WasmTypeKind, WasmValue};
use wasmtime::component::Val;

/// Text that is not a value of the expected type, or a type that has no text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The type cannot be written as WAVE (resources, or an invalid schema).
    Type { ty: String },
    /// The text does not parse as a value of the type.
    Parse {
        ty: String,
        text: String,
        message: String,
    },
    /// The value could not be written out.
    Print { message: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Type { ty } => write!(f, "values of type {ty} have no text form"),
            Error::Parse { ty, text, message } => {
                write!(f, "`{text}` is not a value of type {ty}: {message}")
            }
            Error::Print { message } => write!(f, "cannot print value: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses `text` as a value of `ty`.
pub fn parse(ty: &Type, text: &str) -> Result<Val, Error> {
    let wave_ty = wave_type(ty)?;
    let value: Value = wasm_wave::from_str(&wave_ty, text).map_err(|e| Error::Parse {
        ty: ty.to_string(),
        text: text.to_owned(),
        message: e.to_string(),
    })?;
    to_val(&value)
}

/// Writes `val`, a value of `ty`, as WAVE text.
pub fn print(val: &Val, ty: &Type) -> Result<String, Error> {
    let value = from_val(val, ty)?;
    wasm_wave::to_string(&value).map_err(|e| Error::Print {
        message: e.to_string(),
    })
}

/// Writes values (a function's results) separated by commas.
pub fn print_all(vals: &[Val], types: &[Type]) -> Result<String, Error> {
    let texts: Result<Vec<String>, Error> = vals
        .iter()
        .zip(types)
        .map(|(val, ty)| print(val, ty))
        .collect();
    Ok(texts?.join(", "))
}

fn from_val(val: &Val, ty: &Type) -> Result<Value, Error> {
    let made = |r: Result<Value, wasm_wave::wasm::WasmValueError>| {
        r.map_err(|e| Error::Print {
            message: e.to_string(),
        })
    };
    let value = match (val, ty) {
        (Val::Bool(v), Type::Bool) => Value::make_bool(*v),
        (Val::S8(v), Type::S8) => Value::make_s8(*v),
        (Val::S16(v), Type::S16) => Value::make_s16(*v),
        (Val::S32(v), Type::S32) => Value::make_s32(*v),
        (Val::S64(v), Type::S64) => Value::make_s64(*v),
        (Val::U8(v), Type::U8) => Value::make_u8(*v),
        (Val::U16(v), Type::U16) => Value::make_u16(*v),
        (Val::U32(v), Type::U32) => Value::make_u32(*v),
        (Val::U64(v), Type::U64) => Value::make_u64(*v),
        (Val::Float32(v), Type::F32) => Value::make_f32(*v),
        (Val::Float64(v), Type::F64) => Value::make_f64(*v),
        (Val::Char(v), Type::Char) => Value::make_char(*v),
        (Val::String(v), Type::String) => Value::make_string(Cow::Borrowed(v)),
        (Val::List(items), Type::List(elem)) => {
            let items: Result<Vec<_>, Error> = items.iter().map(|v| from_val(v, elem)).collect();
            made(Value::make_list(&wave_type(ty)?, items?))?
        }
        (Val::Record(fields), Type::Record(types)) => {
            let pairs = fields.iter().zip(types);
            let fields: Result<Vec<_>, Error> = pairs
                .map(|((name, v), f)| Ok((name.as_str(), from_val(v, &f.ty)?)))
                .collect();
            made(Value::make_record(&wave_type(ty)?, fields?))?
        }
        (Val::Tuple(items), Type::Tuple(types)) => {
            let items: Result<Vec<_>, Error> = items
                .iter()
                .zip(types)
                .map(|(v, t)| from_val(v, t))
                .collect();
            made(Value::make_tuple(&wave_type(ty)?, items?))?
        }
        _ => return compound_from_val(val, ty),
    };
    Ok(value)
}

fn compound_from_val(val: &Val, ty: &Type) -> Result<Value, Error> {
    let made = |r: Result<Value, wasm_wave::wasm::WasmValueError>| {
        r.map_err(|e| Error::Print {
            message: e.to_string(),
        })
    };
    let payload = |v: &Option<Box<Val>>, t: Option<&Type>| -> Result<Option<Value>, Error> {
        match (v, t) {
            (Some(v), Some(t)) => Ok(Some(from_val(v, t)?)),
            _ => Ok(None),
        }
    };
    let wave_ty = wave_type(ty)?;
    match (val, ty) {
        (Val::Variant(name, v), Type::Variant(cases)) => {
            let case_ty = cases
                .iter()
                .find(|c| c.name == *name)
                .and_then(|c| c.ty.as_ref());
            made(Value::make_variant(&wave_ty, name, payload(v, case_ty)?))
        }
        (Val::Enum(name), Type::Enum(_)) => made(Value::make_enum(&wave_ty, name)),
        (Val::Option(v), Type::Option(inner)) => {
            made(Value::make_option(&wave_ty, payload(v, Some(inner))?))
        }
        (Val::Result(Ok(v)), Type::Result { ok, .. }) => {
            made(Value::make_result(&wave_ty, Ok(payload(v, ok.as_deref())?)))
        }
        (Val::Result(Err(v)), Type::Result { err, .. }) => made(Value::make_result(
            &wave_ty,
            Err(payload(v, err.as_deref())?),
        )),
        (Val::Flags(names), Type::Flags(_)) => made(Value::make_flags(
            &wave_ty,
            names.iter().map(String::as_str),
        )),
        _ => Err(Error::Print {
            message: format!("value does not match type {ty}"),
        }),
    }
}

fn wave_type(ty: &Type) -> Result<WaveType, Error> {
    let invalid = || Error::Type { ty: ty.to_string() };
    let wave = match ty {
        Type::Bool => WaveType::BOOL,
        Type::S8 => WaveType::S8,
        Type::U8 => WaveType::U8,
        Type::S16 => WaveType::S16,
        Type::U16 => WaveType::U16,
        Type::S32 => WaveType::S32,
        Type::U32 => WaveType::U32,
        Type::S64 => WaveType::S64,
        Type::U64 => WaveType::U64,
        Type::F32 => WaveType::F32,
        Type::F64 => WaveType::F64,
        Type::Char => WaveType::CHAR,
        Type::String => WaveType::STRING,
        Type::List(elem) => WaveType::list(wave_type(elem)?),
        Type::Option(inner) => WaveType::option(wave_type(inner)?),
        Type::Record(fields) => {
            let fields: Result<Vec<_>, Error> = fields
                .iter()
                .map(|f| Ok((f.name.clone(), wave_type(&f.ty)?)))
                .collect();
            WaveType::record(fields?).ok_or_else(invalid)?
        }
        Type::Tuple(types) => {
            let types: Result<Vec<_>, Error> = types.iter().map(wave_type).collect();
            WaveType::tuple(types?).ok_or_else(invalid)?
        }
        Type::Variant(cases) => {
            let case = |c: &neorpc::schema::Case| -> Result<_, Error> {
                Ok((c.name.clone(), c.ty.as_ref().map(wave_type).transpose()?))
            };
            let cases: Result<Vec<_>, Error> = cases.iter().map(case).collect();
            WaveType::variant(cases?).ok_or_else(invalid)?
        }
        Type::Enum(names) => WaveType::enum_ty(names.clone()).ok_or_else(invalid)?,
        Type::Flags(names) => WaveType::flags(names.clone()).ok_or_else(invalid)?,
        Type::Result { ok, err } => {
            let ok = ok.as_deref().map(wave_type).transpose()?;
            let err = err.as_deref().map(wave_type).transpose()?;
            WaveType::result(ok, err)
        }
        Type::Own(_) | Type::Borrow(_) => return Err(invalid()),
    };
    Ok(wave)
}

fn boxed(value: Option<Cow<'_, Value>>) -> Result<Option<Box<Val>>, Error> {
    let Some(value) = value else { return Ok(None) };
    Ok(Some(Box::new(to_val(&value)?)))
}

fn to_val(value: &Value) -> Result<Val, Error> {
    let val = match value.kind() {
        WasmTypeKind::Bool => Val::Bool(value.unwrap_bool()),
        WasmTypeKind::S8 => Val::S8(value.unwrap_s8()),
        WasmTypeKind::S16 => Val::S16(value.unwrap_s16()),
        WasmTypeKind::S32 => Val::S32(value.unwrap_s32()),
        WasmTypeKind::S64 => Val::S64(value.unwrap_s64()),
        WasmTypeKind::U8 => Val::U8(value.unwrap_u8()),
        WasmTypeKind::U16 => Val::U16(value.unwrap_u16()),
        WasmTypeKind::U32 => Val::U32(value.unwrap_u32()),
        WasmTypeKind::U64 => Val::U64(value.unwrap_u64()),
        WasmTypeKind::F32 => Val::Float32(value.unwrap_f32()),
        WasmTypeKind::F64 => Val::Float64(value.unwrap_f64()),
        WasmTypeKind::Char => Val::Char(value.unwrap_char()),
        WasmTypeKind::String => Val::String(value.unwrap_string().into_owned()),
        _ => return compound_to_val(value),
    };
    Ok(val)
}

fn compound_to_val(value: &Value) -> Result<Val, Error> {
    let val = match value.kind() {
        WasmTypeKind::List => Val::List(
            value
                .unwrap_list()
                .map(|v| to_val(&v))
                .collect::<Result<_, _>>()?,
        ),
        WasmTypeKind::Record => {
            let field =
                |(name, v): (Cow<'_, str>, Cow<'_, Value>)| Ok((name.into_owned(), to_val(&v)?));
            Val::Record(
                value
                    .unwrap_record()
                    .map(field)
                    .collect::<Result<_, Error>>()?,
            )
        }
        WasmTypeKind::Tuple => Val::Tuple(
            value
                .unwrap_tuple()
                .map(|v| to_val(&v))
                .collect::<Result<_, _>>()?,
        ),
        WasmTypeKind::Variant => {
            let (name, payload) = value.unwrap_variant();
            Val::Variant(name.into_owned(), boxed(payload)?)
        }
        WasmTypeKind::Enum => Val::Enum(value.unwrap_enum().into_owned()),
        WasmTypeKind::Option => Val::Option(boxed(value.unwrap_option())?),
        WasmTypeKind::Result => match value.unwrap_result() {
            Ok(ok) => Val::Result(Ok(boxed(ok)?)),
            Err(err) => Val::Result(Err(boxed(err)?)),
        },
        WasmTypeKind::Flags => Val::Flags(value.unwrap_flags().map(Cow::into_owned).collect()),
        kind => {
            return Err(Error::Type {
                ty: format!("{kind:?}"),
            });
        }
    };
    Ok(val)
}

#[cfg(test)]
mod tests {
    use neorpc::schema::{Case, Field};

    use super::*;

    fn check(ty: Type, text: &str, expected: Val) {
        let parsed = parse(&ty, text).unwrap();
        assert_eq!(parsed, expected, "{text}");
        let printed = print(&parsed, &ty).unwrap();
        assert_eq!(parse(&ty, &printed).unwrap(), expected, "{printed}");
    }

    #[test]
    fn every_kind_parses_and_prints_back() {
        let person = Type::Record(vec![
            Field {
                name: "name".into(),
                ty: Type::String,
            },
            Field {
                name: "age".into(),
                ty: Type::U8,
            },
        ]);
        let person_val = Val::Record(vec![
            ("name".into(), Val::String("ada".into())),
            ("age".into(), Val::U8(36)),
        ]);
        check(person, r#"{name: "ada", age: 36}"#, person_val);
        check(Type::S32, "-7", Val::S32(-7));
        check(
            Type::List(Box::new(Type::U32)),
            "[1, 2]",
            Val::List(vec![Val::U32(1), Val::U32(2)]),
        );
        let status = Type::Variant(vec![
            Case {
                name: "pending".into(),
                ty: None,
            },
            Case {
                name: "done".into(),
                ty: Some(Type::U64),
            },
        ]);
        check(
            status,
            "done(42)",
            Val::Variant("done".into(), Some(Box::new(Val::U64(42)))),
        );
        let opt = Type::Option(Box::new(Type::Char));
        check(
            opt,
            "some('x')",
            Val::Option(Some(Box::new(Val::Char('x')))),
        );
        let res = Type::Result {
            ok: Some(Box::new(Type::String)),
            err: None,
        };
        check(
            res,
            r#"ok("t")"#,
            Val::Result(Ok(Some(Box::new(Val::String("t".into()))))),
        );
        let flags = Type::Flags(vec!["a".into(), "b".into()]);
        check(flags, "{b}", Val::Flags(vec!["b".into()]));
        let tuple = Type::Tuple(vec![Type::Bool, Type::F64]);
        check(
            tuple,
            "(true, 1.5)",
            Val::Tuple(vec![Val::Bool(true), Val::Float64(1.5)]),
        );
        check(
            Type::Enum(vec!["red".into()]),
            "red",
            Val::Enum("red".into()),
        );
    }

    #[test]
    fn wrong_text_names_the_type() {
        let err = parse(&Type::S32, "\"x\"").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`\"x\"` is not a value of type s32"),
            "{err}"
        );
        let err = parse(&Type::Own("counter".into()), "1").unwrap_err();
        assert_eq!(
            err,
            Error::Type {
                ty: "own<counter>".into()
            }
        );
    }
}
