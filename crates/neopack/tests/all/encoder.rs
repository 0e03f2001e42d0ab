//! Encoder misuse: every mistake is an error that leaves the encoder as it was.

use crate::support::encode;
use neopack::{
    Decoder, Encoder, Error, ErrorKind, LENGTH_MAX, NESTING_DEPTH_MAX, Scalar, Value, decode_value,
};

/// One call on an encoder.
type Step = dyn Fn(&mut Encoder) -> Result<(), Error>;

/// Runs `steps` on a fresh encoder; the last step must fail with `expected`, every earlier
/// step must succeed, and the failure must leave the bytes untouched.
fn check(steps: &[&Step], expected: ErrorKind) {
    let mut enc = Encoder::new();
    let (last, setup) = steps.split_last().expect("at least one step");
    for step in setup {
        step(&mut enc).expect("setup step");
    }
    let before = enc.as_bytes().to_vec();
    assert_eq!(last(&mut enc).map_err(|e| e.kind), Err(expected));
    assert_eq!(enc.as_bytes(), &before[..]);
}

#[test]
fn ends_must_match_begins() {
    check(&[&|e| e.list_end()], ErrorKind::EndWithoutBegin);
    check(&[&|e| e.variant_end()], ErrorKind::EndWithoutBegin);
    check(
        &[&|e| e.u8(1), &|e| e.array_end()],
        ErrorKind::EndWithoutBegin,
    );
    let mismatch = |open, close| ErrorKind::MismatchedEnd { open, close };
    check(
        &[&|e| e.list_begin(), &|e| e.map_end()],
        mismatch("list", "map"),
    );
    check(
        &[&|e| e.map_begin(), &|e| e.list_end()],
        mismatch("map", "list"),
    );
    check(
        &[&|e| e.variant_begin(3), &|e| e.array_end()],
        mismatch("variant", "array"),
    );
    check(
        &[&|e| e.array_begin(Scalar::U8, 0), &|e| e.variant_end()],
        mismatch("array", "variant"),
    );
    check(
        &[
            &|e| e.list_begin(),
            &|e| e.variant_begin(0),
            &|e| e.unit(),
            &|e| e.list_end(),
        ],
        mismatch("variant", "list"),
    );
}

#[test]
fn a_variant_holds_exactly_one_value() {
    check(
        &[&|e| e.variant_begin(1), &|e| e.variant_end()],
        ErrorKind::VariantPayload { values: 0 },
    );
    check(
        &[
            &|e| e.variant_begin(1),
            &|e| e.unit(),
            &|e| e.u32(5),
            &|e| e.variant_end(),
        ],
        ErrorKind::VariantPayload { values: 2 },
    );
}

#[test]
fn a_map_holds_whole_entries() {
    check(
        &[&|e| e.map_begin(), &|e| e.str("k"), &|e| e.map_end()],
        ErrorKind::ContainerMismatch {
            declared: 2,
            actual: 1,
        },
    );
}

#[test]
fn arrays_hold_their_kind_and_count() {
    let element = |expected, found| ErrorKind::ArrayElement { expected, found };
    let count = |declared, written| ErrorKind::ArrayCount { declared, written };
    let u32s = |e: &mut Encoder| e.array_begin(Scalar::U32, 2);
    check(&[&u32s, &|e| e.u16(1)], element("u32", "u16"));
    check(&[&u32s, &|e| e.bool(true)], element("u32", "bool"));
    check(&[&u32s, &|e| e.str("x")], element("u32", "str"));
    check(&[&u32s, &|e| e.bytes(b"x")], element("u32", "bytes"));
    check(&[&u32s, &|e| e.unit()], element("u32", "unit"));
    check(&[&u32s, &|e| e.list_begin()], element("u32", "list"));
    check(&[&u32s, &|e| e.map_begin()], element("u32", "map"));
    check(&[&u32s, &|e| e.variant_begin(0)], element("u32", "variant"));
    check(
        &[&u32s, &|e| e.array_begin(Scalar::U32, 0)],
        element("u32", "array"),
    );
    check(
        &[&u32s, &|e| e.raw_bytes(&[0x00])],
        element("u32", "raw bytes"),
    );
    check(&[&u32s, &|e| e.u32(1), &|e| e.array_end()], count(2, 1));
    check(
        &[&u32s, &|e| e.u32(1), &|e| e.u32(2), &|e| e.u32(3)],
        count(2, 3),
    );
    let value = Value::Array(Scalar::Bool, vec![Value::Bool(true), Value::U8(1)]);
    assert_eq!(
        value.encode(&mut Encoder::new()).map_err(|e| e.kind),
        Err(element("bool", "u8"))
    );
}

#[test]
fn unclosed_containers_are_refused() {
    let unclosed = |open| Err(ErrorKind::Unclosed { open });
    let mut enc = Encoder::new();
    enc.list_begin().unwrap();
    enc.variant_begin(0).unwrap();
    assert_eq!(
        enc.clone().into_bytes().map_err(|e| e.kind),
        unclosed("variant")
    );
    enc.unit().unwrap();
    enc.variant_end().unwrap();
    assert_eq!(
        enc.clone().into_bytes().map_err(|e| e.kind),
        unclosed("list")
    );
    enc.list_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    let expected = Value::List(vec![Value::Variant(0, Box::new(Value::Unit))]);
    assert_eq!(decode_value(&bytes), Ok(expected));
}

#[test]
fn errors_leave_the_encoder_usable() {
    let mut enc = Encoder::new();
    enc.array_begin(Scalar::S8, 1).unwrap();
    assert!(enc.u8(1).is_err());
    assert!(enc.array_end().is_err());
    enc.s8(-1).unwrap();
    assert!(enc.s8(-2).is_err());
    enc.array_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    assert_eq!(
        decode_value(&bytes),
        Ok(Value::Array(Scalar::S8, vec![Value::S8(-1)]))
    );
}

#[test]
fn nesting_is_bounded() {
    let mut enc = Encoder::new();
    for _ in 0..NESTING_DEPTH_MAX {
        enc.list_begin().unwrap();
    }
    let too_deep = Err(ErrorKind::NestingTooDeep {
        max: NESTING_DEPTH_MAX,
    });
    assert_eq!(enc.list_begin().map_err(|e| e.kind), too_deep);
    assert_eq!(enc.variant_begin(0).map_err(|e| e.kind), too_deep);
    assert_eq!(enc.array_begin(Scalar::U8, 0).map_err(|e| e.kind), too_deep);
    for _ in 0..NESTING_DEPTH_MAX {
        enc.list_end().unwrap();
    }
    let bytes = enc.into_bytes().unwrap();
    assert_eq!(Decoder::new(&bytes).value().map(|_| ()), Ok(()));
}

#[test]
fn lengths_are_bounded() {
    let too_large = |length| {
        Err(ErrorKind::LengthTooLarge {
            length,
            max: LENGTH_MAX,
        })
    };
    let huge = vec![0u8; LENGTH_MAX + 1];
    let mut enc = Encoder::new();
    assert_eq!(
        enc.bytes(&huge).map_err(|e| e.kind),
        too_large(LENGTH_MAX as u64 + 1)
    );
    let huge_str = std::str::from_utf8(&huge).unwrap();
    assert_eq!(
        enc.str(huge_str).map_err(|e| e.kind),
        too_large(LENGTH_MAX as u64 + 1)
    );
    let count = LENGTH_MAX as u32 + 1;
    assert_eq!(
        enc.array_begin(Scalar::U8, count).map_err(|e| e.kind),
        too_large(u64::from(count))
    );
    assert!(enc.is_empty());
    // A body over the limit, from a str at the limit plus its tag and length.
    enc.list_begin().unwrap();
    enc.bytes(&huge[..LENGTH_MAX]).unwrap();
    let body = 1 + 4 + LENGTH_MAX as u64;
    assert_eq!(enc.list_end().map_err(|e| e.kind), too_large(body));
}

#[test]
fn raw_bytes_count_as_one_value() {
    let mut enc = Encoder::new();
    enc.variant_begin(9).unwrap();
    enc.raw_bytes(&encode(&Value::Str("inner"))).unwrap();
    enc.variant_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    assert_eq!(
        decode_value(&bytes),
        Ok(Value::Variant(9, Box::new(Value::Str("inner"))))
    );
    let mut enc = Encoder::new();
    assert_eq!(
        enc.raw_bytes(&[]).map_err(|e| e.kind),
        Err(ErrorKind::Incomplete)
    );
}

#[test]
fn clear_forgets_everything() {
    let mut enc = Encoder::with_capacity(64);
    enc.list_begin().unwrap();
    enc.u32(1).unwrap();
    assert_eq!(enc.len(), 1 + 8 + 2);
    enc.clear();
    assert!(enc.is_empty());
    enc.u32(300).unwrap();
    assert_eq!(enc.into_bytes().unwrap(), vec![0x05, 0xac, 0x02]);
}

#[test]
fn as_bytes_shows_what_is_written_so_far() {
    let mut enc = Encoder::with_capacity(16);
    assert!(enc.is_empty());
    assert_eq!(enc.as_bytes(), b"");
    enc.u8(7).unwrap();
    assert!(!enc.is_empty());
    assert_eq!(enc.as_bytes(), [0x03, 0x07]);
    // An open list's header is not patched yet: zero length and count.
    enc.list_begin().unwrap();
    enc.unit().unwrap();
    assert_eq!(
        enc.as_bytes(),
        [0x03, 0x07, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]
    );
    enc.list_end().unwrap();
    assert_eq!(
        enc.into_bytes().unwrap(),
        [0x03, 0x07, 0x20, 1, 0, 0, 0, 1, 0, 0, 0, 0x00]
    );
}

#[test]
fn top_level_holds_a_sequence_of_values() {
    let mut enc = Encoder::default();
    enc.u8(1).unwrap();
    enc.str("a").unwrap();
    let bytes = enc.into_bytes().unwrap();
    let mut dec = Decoder::new(&bytes);
    assert_eq!(dec.u8(), Ok(1));
    assert_eq!(dec.str(), Ok("a"));
    dec.finish().unwrap();
    assert_eq!(
        decode_value(&bytes).map_err(|e| e.kind),
        Err(ErrorKind::TrailingBytes { count: 3 })
    );
}

#[test]
fn messages_are_clear() {
    let cases = [
        (ErrorKind::Incomplete, "input ended early"),
        (ErrorKind::UnknownTag(0x0e), "unknown tag 0x0e"),
        (
            ErrorKind::UnexpectedTag {
                expected: "str",
                found: "u32",
            },
            "expected str, found u32",
        ),
        (
            ErrorKind::LengthTooLarge { length: 5, max: 4 },
            "length 5 exceeds the limit of 4",
        ),
        (
            ErrorKind::MismatchedEnd {
                open: "list",
                close: "map",
            },
            "map end while a list is open",
        ),
        (
            ErrorKind::ArrayElement {
                expected: "u32",
                found: "str",
            },
            "an array of u32 cannot hold a str",
        ),
        (
            ErrorKind::InvalidChar(0xd800),
            "0xd800 is not a Unicode scalar value",
        ),
    ];
    for (kind, message) in cases {
        assert_eq!(kind.to_string(), message);
    }
    let error = Error::new(7, ErrorKind::VarintOverlong);
    assert_eq!(
        error.to_string(),
        "at byte 7: varint has an overlong encoding"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(error);
    assert!(boxed.to_string().starts_with("at byte 7"));
}
