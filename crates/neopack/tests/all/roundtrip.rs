//! Round trips: decode(encode(v)) == v, skip returns exactly the encoding, scalar edges.

use crate::support::{encode, value};
use neopack::{Decoder, Encoder, Scalar, Value, decode_value};
use proptest::prelude::*;

proptest! {
    #[test]
    fn decode_inverts_encode(v in value()) {
        let bytes = encode(&v);
        let mut dec = Decoder::new(&bytes);
        prop_assert_eq!(dec.value().unwrap(), v.clone());
        prop_assert!(dec.is_empty());
        prop_assert_eq!(decode_value(&bytes).unwrap(), v);
    }

    #[test]
    fn encoding_is_canonical(v in value()) {
        let bytes = encode(&v);
        let decoded = decode_value(&bytes).unwrap();
        prop_assert_eq!(encode(&decoded), bytes);
    }

    #[test]
    fn skip_returns_the_encoding(v in value()) {
        let bytes = encode(&v);
        let mut dec = Decoder::new(&bytes);
        prop_assert_eq!(dec.skip().unwrap(), &bytes[..]);
        prop_assert!(dec.is_empty());
    }

    #[test]
    fn skip_inside_a_list_stops_at_the_value(a in value(), b in value()) {
        let list = Value::List(vec![a.clone(), b.clone(), Value::U32(7)]);
        let bytes = encode(&list);
        let mut dec = Decoder::new(&bytes);
        let seq = dec.list().unwrap();
        prop_assert_eq!(seq.count, 3);
        prop_assert_eq!(dec.skip().unwrap(), &encode(&a)[..]);
        prop_assert_eq!(dec.skip().unwrap(), &encode(&b)[..]);
        prop_assert_eq!(dec.u32().unwrap(), 7);
        dec.end(seq).unwrap();
        dec.finish().unwrap();
    }

    #[test]
    fn raw_bytes_splices_one_value(a in value(), b in value()) {
        let mut enc = Encoder::new();
        enc.list_begin().unwrap();
        enc.raw_bytes(&encode(&a)).unwrap();
        enc.raw_bytes(&encode(&b)).unwrap();
        enc.list_end().unwrap();
        let bytes = enc.into_bytes().unwrap();
        prop_assert_eq!(decode_value(&bytes).unwrap(), Value::List(vec![a, b]));
    }
}

/// Every scalar at its edges, each tagged, and twice in an array of its kind.
fn edges() -> Vec<Value<'static>> {
    let mut values = vec![Value::Bool(false), Value::Bool(true)];
    values.extend([0, 1, u8::MAX].map(Value::U8));
    values.extend([0, 127, 128, 16_383, 16_384, u16::MAX].map(Value::U16));
    values.extend([0, 127, 128, u32::MAX - 1, u32::MAX].map(Value::U32));
    values.extend([0, 127, 128, 1 << 63, u64::MAX].map(Value::U64));
    values.extend([i8::MIN, -1, 0, 1, i8::MAX].map(Value::S8));
    values.extend([i16::MIN, -65, -64, -1, 0, 63, 64, i16::MAX].map(Value::S16));
    values.extend([i32::MIN, -1, 0, 1, i32::MAX].map(Value::S32));
    values.extend([i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX].map(Value::S64));
    values.extend(f32_edges().map(Value::F32));
    values.extend(f64_edges().map(Value::F64));
    let chars = [
        '\0',
        'a',
        '\u{7f}',
        '\u{80}',
        '\u{d7ff}',
        '\u{e000}',
        '\u{fffd}',
        char::MAX,
    ];
    values.extend(chars.map(Value::Char));
    values
}

fn f32_edges() -> [f32; 13] {
    [
        0.0,
        -0.0,
        1.0,
        f32::MIN,
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::from_bits(1), // smallest subnormal
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::from_bits(0x7fc0_0001), // quiet NaN with a payload
        f32::from_bits(0x7f80_0001), // signalling NaN
        f32::from_bits(0xffbf_ffff), // negative signalling NaN, full payload
    ]
}

fn f64_edges() -> [f64; 13] {
    [
        0.0,
        -0.0,
        1.0,
        f64::MIN,
        f64::MAX,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::from_bits(0x7ff8_0000_0000_0001),
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::from_bits(0xfff7_ffff_ffff_ffff),
    ]
}

/// The array kind of a scalar value.
fn kind_of(value: &Value<'_>) -> Scalar {
    match value {
        Value::Bool(_) => Scalar::Bool,
        Value::U8(_) => Scalar::U8,
        Value::U16(_) => Scalar::U16,
        Value::U32(_) => Scalar::U32,
        Value::U64(_) => Scalar::U64,
        Value::S8(_) => Scalar::S8,
        Value::S16(_) => Scalar::S16,
        Value::S32(_) => Scalar::S32,
        Value::S64(_) => Scalar::S64,
        Value::F32(_) => Scalar::F32,
        Value::F64(_) => Scalar::F64,
        Value::Char(_) => Scalar::Char,
        other => panic!("not a scalar: {other:?}"),
    }
}

/// `value` round trips tagged, as array elements, and through skip.
fn check(value: Value<'static>) {
    let tagged = encode(&value);
    assert_eq!(decode_value(&tagged).unwrap(), value, "tagged {value:?}");
    assert_eq!(Decoder::new(&tagged).skip().unwrap(), &tagged[..]);
    let array = Value::Array(kind_of(&value), vec![value.clone(), value.clone()]);
    let untagged = encode(&array);
    assert_eq!(
        decode_value(&untagged).unwrap(),
        array,
        "array of {value:?}"
    );
    assert_eq!(Decoder::new(&untagged).skip().unwrap(), &untagged[..]);
    // An element is its tagged payload without the tag; a bool is one byte either way.
    let width = if let Value::Bool(_) = value {
        1
    } else {
        tagged.len() - 1
    };
    assert_eq!(
        untagged.len() - 3,
        2 * width,
        "untagged elements of {value:?}"
    );
}

#[test]
fn scalar_edges_round_trip() {
    let values = edges();
    assert!(values.len() > 70);
    for value in values {
        check(value);
    }
}

#[test]
fn typed_readers_return_the_edges() {
    let mut enc = Encoder::new();
    enc.u64(u64::MAX).unwrap();
    enc.s64(i64::MIN).unwrap();
    enc.s16(i16::MIN).unwrap();
    enc.f32(f32::from_bits(0x7f80_0001)).unwrap();
    enc.f64(-0.0).unwrap();
    enc.char(char::MAX).unwrap();
    enc.str("").unwrap();
    enc.bytes(&[]).unwrap();
    let bytes = enc.into_bytes().unwrap();
    let mut dec = Decoder::new(&bytes);
    assert_eq!(dec.u64().unwrap(), u64::MAX);
    assert_eq!(dec.s64().unwrap(), i64::MIN);
    assert_eq!(dec.s16().unwrap(), i16::MIN);
    assert_eq!(dec.f32().unwrap().to_bits(), 0x7f80_0001);
    assert_eq!(dec.f64().unwrap().to_bits(), (-0.0f64).to_bits());
    assert_eq!(dec.char().unwrap(), char::MAX);
    assert_eq!(dec.str().unwrap(), "");
    assert_eq!(dec.bytes().unwrap(), b"");
    dec.finish().unwrap();
}

#[test]
fn typed_array_readers_return_the_elements() {
    let mut enc = Encoder::new();
    enc.array_begin(Scalar::S32, 3).unwrap();
    for v in [i32::MIN, 0, i32::MAX] {
        enc.s32(v).unwrap();
    }
    enc.array_end().unwrap();
    enc.array_begin(Scalar::Bool, 2).unwrap();
    enc.bool(true).unwrap();
    enc.bool(false).unwrap();
    enc.array_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    let mut dec = Decoder::new(&bytes);
    assert_eq!(dec.array().unwrap(), (Scalar::S32, 3));
    let s32s = [
        dec.elem_s32().unwrap(),
        dec.elem_s32().unwrap(),
        dec.elem_s32().unwrap(),
    ];
    assert_eq!(s32s, [i32::MIN, 0, i32::MAX]);
    assert_eq!(dec.array().unwrap(), (Scalar::Bool, 2));
    assert_eq!(
        [dec.elem_bool().unwrap(), dec.elem_bool().unwrap()],
        [true, false]
    );
    dec.finish().unwrap();
}

#[test]
fn floats_compare_by_bits() {
    assert_eq!(Value::F32(f32::NAN), Value::F32(f32::NAN));
    assert_ne!(Value::F32(0.0), Value::F32(-0.0));
    assert_ne!(
        Value::F64(f64::NAN),
        Value::F64(f64::from_bits(0x7ff8_0000_0000_0001))
    );
    assert_ne!(Value::U32(1), Value::U64(1));
}

#[test]
fn variants_and_arrays_are_equal_only_when_every_part_is() {
    let variant = |d, payload| Value::Variant(d, Box::new(payload));
    assert_eq!(variant(1, Value::Unit), variant(1, Value::Unit));
    assert_ne!(variant(1, Value::Unit), variant(2, Value::Unit));
    assert_ne!(variant(1, Value::Unit), variant(1, Value::U8(0)));
    let array = |kind, items| Value::Array(kind, items);
    let empty = || Vec::new();
    assert_eq!(array(Scalar::U8, empty()), array(Scalar::U8, empty()));
    assert_ne!(array(Scalar::U8, empty()), array(Scalar::S8, empty()));
    assert_ne!(
        array(Scalar::U8, vec![Value::U8(1)]),
        array(Scalar::U8, vec![Value::U8(2)])
    );
}

#[test]
fn nesting_up_to_the_limit_round_trips() {
    let mut value = Value::Unit;
    for depth in 0..neopack::NESTING_DEPTH_MAX {
        value = match depth % 3 {
            0 => Value::List(vec![value]),
            1 => Value::Map(vec![(Value::Unit, value)]),
            _ => Value::Variant(depth as u32, Box::new(value)),
        };
    }
    let bytes = encode(&value);
    assert_eq!(decode_value(&bytes).unwrap(), value);
    assert_eq!(Decoder::new(&bytes).skip().unwrap(), &bytes[..]);
}
