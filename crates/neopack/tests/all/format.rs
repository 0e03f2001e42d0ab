//! Exact bytes: FORMAT.md's worked example is what the encoder writes, byte for byte.

use crate::support::{encode, hex};
use neopack::{Encoder, Scalar, Value, decode_value};

/// The specification, whose worked example must match the encoder.
const FORMAT_MD: &str = include_str!("../../FORMAT.md");

/// The worked example of FORMAT.md, written through the encoder's API.
fn worked_example() -> Vec<u8> {
    let mut enc = Encoder::new();
    enc.list_begin().unwrap();
    enc.str("hi").unwrap();
    enc.u32(300).unwrap();
    enc.s32(-3).unwrap();
    enc.variant_begin(1).unwrap();
    enc.bool(true).unwrap();
    enc.variant_end().unwrap();
    enc.array_begin(Scalar::U16, 2).unwrap();
    enc.u16(1).unwrap();
    enc.u16(200).unwrap();
    enc.array_end().unwrap();
    enc.map_begin().unwrap();
    enc.str("k").unwrap();
    enc.f32(1.5).unwrap();
    enc.map_end().unwrap();
    enc.list_end().unwrap();
    enc.into_bytes().unwrap()
}

/// The hex of the first fenced block tagged `hex` after the "## Worked example" heading.
fn documented_example() -> Vec<u8> {
    let (_, section) = FORMAT_MD
        .split_once("## Worked example")
        .expect("a worked example");
    let (_, block) = section.split_once("```hex\n").expect("a ```hex block");
    let (block, _) = block.split_once("```").expect("a closed ```hex block");
    hex(block)
}

/// Sixteen bytes per line, with offsets.
fn hex_dump(bytes: &[u8]) -> String {
    let lines = bytes.chunks(16).enumerate().map(|(i, chunk)| {
        let pairs: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        format!("{:04x}: {}", i * 16, pairs.join(" "))
    });
    lines.collect::<Vec<_>>().join("\n")
}

#[test]
fn format_md_example_is_what_the_encoder_writes() {
    let documented = documented_example();
    let written = worked_example();
    assert_eq!(
        hex_dump(&documented),
        hex_dump(&written),
        "FORMAT.md has drifted from the encoder"
    );
}

#[test]
fn format_md_example_decodes_to_its_description() {
    let bytes = documented_example();
    let expected = Value::List(vec![
        Value::Str("hi"),
        Value::U32(300),
        Value::S32(-3),
        Value::Variant(1, Box::new(Value::Bool(true))),
        Value::Array(Scalar::U16, vec![Value::U16(1), Value::U16(200)]),
        Value::Map(vec![(Value::Str("k"), Value::F32(1.5))]),
    ]);
    assert_eq!(decode_value(&bytes), Ok(expected));
}

#[test]
fn format_md_names_the_limits() {
    let length = format!("| {} bytes (64 MiB)", neopack::LENGTH_MAX);
    assert!(FORMAT_MD.contains(&length), "FORMAT.md lacks {length:?}");
    let depth = format!("| `NESTING_DEPTH_MAX` | {} ", neopack::NESTING_DEPTH_MAX);
    assert!(FORMAT_MD.contains(&depth), "FORMAT.md lacks {depth:?}");
}

#[test]
fn worked_example_snapshot() {
    insta::assert_snapshot!(hex_dump(&worked_example()));
}

/// `value` encodes to exactly `expected` (hex).
fn check(value: Value<'_>, expected: &str) {
    assert_eq!(
        hex_dump(&encode(&value)),
        hex_dump(&hex(expected)),
        "{value:?}"
    );
}

#[test]
fn scalar_encodings() {
    check(Value::Unit, "00");
    check(Value::Bool(false), "01");
    check(Value::Bool(true), "02");
    check(Value::U8(0xff), "03 ff");
    check(Value::U16(0xffff), "04 ff ff 03");
    check(Value::U32(u32::MAX), "05 ff ff ff ff 0f");
    check(Value::U64(u64::MAX), "06 ff ff ff ff ff ff ff ff ff 01");
    check(Value::S8(-1), "07 ff");
    check(Value::S16(-1), "08 01");
    check(Value::S32(1), "09 02");
    check(Value::S64(i64::MIN), "0a ff ff ff ff ff ff ff ff ff 01");
    check(Value::F32(-0.0), "0b 00 00 00 80");
    check(Value::F32(f32::from_bits(0x7fc0_0001)), "0b 01 00 c0 7f");
    check(Value::F64(1.0), "0c 00 00 00 00 00 00 f0 3f");
    check(Value::Char('é'), "0d e9 01");
    check(Value::Char(char::MAX), "0d ff ff 43");
    check(Value::Str("é"), "10 02 c3 a9");
    check(Value::Bytes(&[1, 2]), "11 02 01 02");
    check(Value::List(vec![]), "20 00 00 00 00 00 00 00 00");
    check(Value::Map(vec![]), "21 00 00 00 00 00 00 00 00");
    check(Value::Variant(300, Box::new(Value::Unit)), "22 ac 02 00");
    check(
        Value::Array(Scalar::Bool, vec![Value::Bool(true), Value::Bool(false)]),
        "23 01 02 01 00",
    );
    check(
        Value::Array(Scalar::S8, vec![Value::S8(-128)]),
        "23 07 01 80",
    );
    check(
        Value::Array(Scalar::F32, vec![Value::F32(1.5)]),
        "23 0b 01 00 00 c0 3f",
    );
    check(
        Value::Array(Scalar::Char, vec![Value::Char('a')]),
        "23 0d 01 61",
    );
}

#[test]
fn tags_and_kinds_round_trip_their_bytes() {
    for byte in 0..=u8::MAX {
        if let Some(tag) = neopack::Tag::from_u8(byte) {
            assert_eq!(tag as u8, byte);
            assert!(!tag.name().is_empty());
        }
        if let Some(kind) = Scalar::from_byte(byte) {
            assert_eq!(kind.tag_byte(), byte);
        }
    }
    let tags = (0..=u8::MAX).filter_map(neopack::Tag::from_u8).count();
    let kinds = (0..=u8::MAX).filter_map(Scalar::from_byte).count();
    assert_eq!((tags, kinds), (20, 12));
}
