//! Generators and helpers shared by the test modules.

use neopack::{Encoder, Scalar, Value};
use proptest::prelude::*;

/// Encodes one value into a document.
pub fn encode(value: &Value<'_>) -> Vec<u8> {
    let mut enc = Encoder::new();
    value.encode(&mut enc).expect("encodable value");
    enc.into_bytes().expect("no open container")
}

/// Parses hex pairs separated by whitespace, ignoring `#` comments to the end of a line.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Every array element kind.
pub const SCALARS: [Scalar; 12] = [
    Scalar::Bool,
    Scalar::U8,
    Scalar::U16,
    Scalar::U32,
    Scalar::U64,
    Scalar::S8,
    Scalar::S16,
    Scalar::S32,
    Scalar::S64,
    Scalar::F32,
    Scalar::F64,
    Scalar::Char,
];

fn leak_str(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn leak_bytes(b: Vec<u8>) -> &'static [u8] {
    Box::leak(b.into_boxed_slice())
}

/// An array element kind.
pub fn scalar_kind() -> impl Strategy<Value = Scalar> {
    proptest::sample::select(SCALARS.to_vec())
}

/// f32s: ordinary values and arbitrary bit patterns (NaN payloads, subnormals, -0.0).
fn f32s() -> impl Strategy<Value = f32> {
    prop_oneof![any::<f32>(), any::<u32>().prop_map(f32::from_bits)]
}

/// f64s: ordinary values and arbitrary bit patterns (NaN payloads, subnormals, -0.0).
fn f64s() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), any::<u64>().prop_map(f64::from_bits)]
}

/// A scalar value of `kind`.
pub fn scalar(kind: Scalar) -> BoxedStrategy<Value<'static>> {
    match kind {
        Scalar::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Scalar::U8 => any::<u8>().prop_map(Value::U8).boxed(),
        Scalar::U16 => any::<u16>().prop_map(Value::U16).boxed(),
        Scalar::U32 => any::<u32>().prop_map(Value::U32).boxed(),
        Scalar::U64 => any::<u64>().prop_map(Value::U64).boxed(),
        Scalar::S8 => any::<i8>().prop_map(Value::S8).boxed(),
        Scalar::S16 => any::<i16>().prop_map(Value::S16).boxed(),
        Scalar::S32 => any::<i32>().prop_map(Value::S32).boxed(),
        Scalar::S64 => any::<i64>().prop_map(Value::S64).boxed(),
        Scalar::F32 => f32s().prop_map(Value::F32).boxed(),
        Scalar::F64 => f64s().prop_map(Value::F64).boxed(),
        Scalar::Char => any::<char>().prop_map(Value::Char).boxed(),
    }
}

/// An array of scalars of one kind.
pub fn array() -> impl Strategy<Value = Value<'static>> {
    scalar_kind().prop_flat_map(|kind| {
        proptest::collection::vec(scalar(kind), 0..16)
            .prop_map(move |items| Value::Array(kind, items))
    })
}

/// A value with no nesting: unit, scalar, str, bytes, or an array.
pub fn leaf() -> impl Strategy<Value = Value<'static>> {
    prop_oneof![
        1 => Just(Value::Unit),
        6 => scalar_kind().prop_flat_map(scalar),
        2 => any::<String>().prop_map(|s| Value::Str(leak_str(s))),
        1 => proptest::collection::vec(any::<u8>(), 0..32).prop_map(|b| Value::Bytes(leak_bytes(b))),
        1 => array(),
    ]
}

/// An arbitrary value: lists, maps (arbitrary keys) and variants nested a few levels deep.
pub fn value() -> impl Strategy<Value = Value<'static>> {
    leaf().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            proptest::collection::vec((inner.clone(), inner.clone()), 0..6).prop_map(Value::Map),
            (any::<u32>(), inner).prop_map(|(d, payload)| Value::Variant(d, Box::new(payload))),
        ]
    })
}
