//! Hostile input: no panics, strict prefixes are Incomplete, limits hold, malformed encodings
//! are rejected with the right kind.

use crate::support::{encode, hex, value};
use neopack::{
    Decoder, Error, ErrorKind, LENGTH_MAX, NESTING_DEPTH_MAX, Scalar, Value, decode_value,
};
use proptest::prelude::*;

/// Decodes `input` both ways. Neither may panic; whatever decodes must re-encode to the same
/// bytes (the encoding is canonical), and `skip` must agree with `decode_value`.
fn decode_both(input: &[u8]) -> Result<(), TestCaseError> {
    let decoded = decode_value(input);
    let mut dec = Decoder::new(input);
    let skipped = dec.skip();
    if let Ok(skipped) = skipped {
        prop_assert_eq!(skipped, &input[..dec.position()]);
    }
    let Ok(value) = decoded else {
        return Ok(());
    };
    prop_assert_eq!(encode(&value), input);
    prop_assert_eq!(skipped, Ok(input));
    Ok(())
}

/// One edit to a valid encoding.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    if bytes.is_empty() {
        return;
    }
    match *edit {
        Edit::Set(i, b) => {
            let i = i % bytes.len();
            bytes[i] = b;
        }
        Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
        Edit::Remove(i) => {
            bytes.remove(i % bytes.len());
        }
    }
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Remove),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_both(&input)?;
    }

    #[test]
    fn mutated_encodings_never_panic(
        v in value(),
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let mut bytes = encode(&v);
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        decode_both(&bytes)?;
    }

    #[test]
    fn every_strict_prefix_is_incomplete(v in value()) {
        let bytes = encode(&v);
        for end in 0..bytes.len() {
            let prefix = &bytes[..end];
            let kind = decode_value(prefix).map_err(|e| e.kind);
            prop_assert_eq!(kind, Err(ErrorKind::Incomplete), "prefix of {} bytes", end);
            let kind = Decoder::new(prefix).skip().map_err(|e| e.kind);
            prop_assert_eq!(kind, Err(ErrorKind::Incomplete), "skip, prefix of {} bytes", end);
        }
    }
}

/// `input` (hex) fails to decode with `expected`.
fn check(input: &str, expected: ErrorKind) {
    let bytes = hex(input);
    let kind = decode_value(&bytes).map(|_| ()).map_err(|e| e.kind);
    assert_eq!(kind, Err(expected), "decode_value({input})");
}

/// `input` (hex) decodes to `expected`.
fn check_ok(input: &str, expected: Value<'_>) {
    let bytes = hex(input);
    assert_eq!(decode_value(&bytes), Ok(expected), "decode_value({input})");
}

#[test]
fn str_length_of_2_pow_32_is_too_large() {
    let input = hex("10 80 80 80 80 10 61 62 63 64");
    assert_eq!(input.len(), 10);
    let too_large = ErrorKind::LengthTooLarge {
        length: 1 << 32,
        max: LENGTH_MAX,
    };
    assert_eq!(decode_value(&input), Err(Error::new(1, too_large.clone())));
    assert_eq!(
        Decoder::new(&input).skip(),
        Err(Error::new(1, too_large.clone()))
    );
    assert_eq!(Decoder::new(&input).str(), Err(Error::new(1, too_large)));
}

#[test]
fn lengths_and_counts() {
    let max = LENGTH_MAX;
    let too_large = |length: u64| ErrorKind::LengthTooLarge { length, max };
    check("20 ff ff ff ff 01 00 00 00 00", too_large(0xffff_ffff));
    check("21 ff ff ff ff 01 00 00 00 00", too_large(0xffff_ffff));
    check("20 01 00 00 00 ff ff ff ff 00", too_large(0xffff_ffff));
    // Within the limit but longer than the input: the input is incomplete.
    check("20 00 00 00 04 01 00 00 00 00", ErrorKind::Incomplete);
    check("11 80 80 80 20 00", ErrorKind::Incomplete);
    check("11 81 80 80 20 00", too_large(LENGTH_MAX as u64 + 1));
    // A count the body cannot hold.
    check(
        "20 01 00 00 00 02 00 00 00 00",
        ErrorKind::ContainerMismatch {
            declared: 2,
            actual: 1,
        },
    );
    check(
        "21 02 00 00 00 02 00 00 00 00 00",
        ErrorKind::ContainerMismatch {
            declared: 4,
            actual: 2,
        },
    );
    // Array counts are checked against the limit and against the bytes each element needs.
    check("23 05 ff ff ff ff 0f", too_large(0xffff_ffff));
    check("23 05 0a 01 02", ErrorKind::Incomplete);
    check("23 0c 01 00 00 00 00 00 00 00", ErrorKind::Incomplete);
    check_ok("23 0b 00", Value::Array(Scalar::F32, vec![]));
}

#[test]
fn header_errors_name_the_offset_of_the_field_at_fault() {
    // Inside a variant, so that the header starts at offset 3 (its body length) and its count
    // at 7: a count over the limit, and a count the body cannot hold.
    let too_large = ErrorKind::LengthTooLarge {
        length: 0xffff_ffff,
        max: LENGTH_MAX,
    };
    let input = hex("22 00 20 01 00 00 00 ff ff ff ff 00");
    assert_eq!(decode_value(&input), Err(Error::new(7, too_large)));
    let input = hex("22 00 20 01 00 00 00 02 00 00 00 00");
    let mismatch = ErrorKind::ContainerMismatch {
        declared: 2,
        actual: 1,
    };
    assert_eq!(decode_value(&input), Err(Error::new(7, mismatch)));
    // A body over the limit, at offset 3.
    let input = hex("22 00 20 ff ff ff ff 00 00 00 00");
    let too_large = ErrorKind::LengthTooLarge {
        length: 0xffff_ffff,
        max: LENGTH_MAX,
    };
    assert_eq!(decode_value(&input), Err(Error::new(3, too_large)));
}

#[test]
fn float_array_counts_are_checked_at_the_count_by_their_width() {
    // Two f32s need 8 bytes, two f64s 16: with 7 and 15 after the count, the count itself is
    // what cannot be, at offset 2, before any element is read.
    for (kind, width) in [(0x0b, 4), (0x0c, 8)] {
        let mut input = vec![0x23, kind, 0x02];
        input.resize(3 + 2 * width - 1, 0x00);
        assert_eq!(
            decode_value(&input),
            Err(Error::new(2, ErrorKind::Incomplete)),
            "kind {kind:#x}"
        );
        assert_eq!(
            Decoder::new(&input).skip(),
            Err(Error::new(2, ErrorKind::Incomplete)),
            "kind {kind:#x}"
        );
    }
}

#[test]
fn is_empty_and_remaining_follow_the_reads() {
    let input = hex("05 01 00");
    let mut dec = Decoder::new(&input);
    assert!(!dec.is_empty());
    assert_eq!(dec.remaining(), 3);
    dec.u32().unwrap();
    assert!(!dec.is_empty());
    assert_eq!((dec.position(), dec.remaining()), (2, 1));
    dec.unit().unwrap();
    assert!(dec.is_empty());
    assert_eq!(dec.remaining(), 0);
}

#[test]
fn container_bodies_must_end_where_declared() {
    // Body of 2 bytes holding one 1-byte item.
    check(
        "20 02 00 00 00 01 00 00 00 00 00",
        ErrorKind::ContainerMismatch {
            declared: 11,
            actual: 10,
        },
    );
    // Body of 1 byte whose item runs on past it.
    check(
        "20 01 00 00 00 01 00 00 00 05 80 01",
        ErrorKind::ContainerMismatch {
            declared: 10,
            actual: 12,
        },
    );
    let input = hex("20 02 00 00 00 01 00 00 00 00 00");
    let mut dec = Decoder::new(&input);
    let seq = dec.list().unwrap();
    assert_eq!((seq.count, seq.end_offset()), (1, 11));
    dec.unit().unwrap();
    let mismatch = ErrorKind::ContainerMismatch {
        declared: 11,
        actual: 10,
    };
    assert_eq!(dec.end(seq), Err(Error::new(10, mismatch)));
}

#[test]
fn nested_lengths_must_fit_the_room_their_container_leaves() {
    let mismatch = |declared, actual| ErrorKind::ContainerMismatch { declared, actual };
    // A list of two items whose first, a list, claims the byte of the second (it must end by
    // offset 19, one byte before its parent's end at 20, and claims up to 20).
    let input = hex("20 0b 00 00 00 02 00 00 00  20 02 00 00 00 02 00 00 00 00 00  00");
    assert_eq!(decode_value(&input), Err(Error::new(10, mismatch(20, 19))));
    // A str, bytes and an array whose lengths run past the list holding them, though not
    // past the input.
    check(
        "20 02 00 00 00 01 00 00 00 10 05 61 62 63 64 65",
        mismatch(16, 11),
    );
    check(
        "20 02 00 00 00 01 00 00 00 11 05 61 62 63 64 65",
        mismatch(16, 11),
    );
    check(
        "20 03 00 00 00 01 00 00 00 23 03 04 01 02 03 04",
        mismatch(16, 12),
    );
    // A map whose first key claims the bytes of its value.
    check(
        "21 0b 00 00 00 01 00 00 00  20 02 00 00 00 02 00 00 00 00 00",
        mismatch(20, 19),
    );
    // Past the end of the input as well: that is incomplete, as for any prefix.
    check("20 02 00 00 00 01 00 00 00 10 05 61", ErrorKind::Incomplete);
}

#[test]
fn nested_headers_cannot_each_claim_the_whole_input() {
    // 64 lists, each claiming every byte after its header and one item per byte. The second
    // has one byte of room: the first list's other items need the rest.
    let size = 4096;
    let mut input = Vec::with_capacity(size);
    for _ in 0..NESTING_DEPTH_MAX {
        let body = (size - input.len() - 9) as u32;
        input.push(0x20);
        input.extend_from_slice(&body.to_le_bytes());
        input.extend_from_slice(&body.to_le_bytes());
    }
    input.resize(size, 0x00);
    let declared = size;
    let actual = 9 + 1;
    assert_eq!(
        decode_value(&input),
        Err(Error::new(
            10,
            ErrorKind::ContainerMismatch { declared, actual }
        ))
    );
}

#[test]
fn item_gives_each_value_the_room_its_later_siblings_leave() {
    // A list declaring three items in 12 bytes of body, the first a list of 11 bytes: with
    // `item`, the first may end by offset 19 (a byte each for the other two before 21).
    let input = hex("20 0c 00 00 00 03 00 00 00  20 02 00 00 00 02 00 00 00 00 00  00");
    let mut dec = Decoder::new(&input);
    let seq = dec.list().unwrap();
    dec.item(&seq, 0);
    let claim = ErrorKind::ContainerMismatch {
        declared: 20,
        actual: 19,
    };
    assert_eq!(dec.list(), Err(Error::new(10, claim)));
    // Without `item`, only the parent's end bounds it.
    let mut dec = Decoder::new(&input);
    let seq = dec.list().unwrap();
    let inner = dec.list().unwrap();
    assert_eq!((inner.count, inner.end_offset()), (2, 20));
    assert_eq!(seq.end_offset(), 21);

    // A list of three units read item by item; past the last index, the room is the body.
    let list = hex("20 03 00 00 00 03 00 00 00 00 00 00");
    let mut dec = Decoder::new(&list);
    let seq = dec.list().unwrap();
    for index in 0..3 {
        dec.item(&seq, index);
        dec.unit().unwrap();
    }
    dec.item(&seq, 7);
    dec.end(seq).unwrap();
    dec.finish().unwrap();

    // A map counts keys and values: entry 0's key (value 0) must leave a byte for its value.
    let map = hex("21 0b 00 00 00 01 00 00 00  20 02 00 00 00 01 00 00 00 00 00");
    let mut dec = Decoder::new(&map);
    let seq = dec.map().unwrap();
    dec.item(&seq, 0);
    let claim = ErrorKind::ContainerMismatch {
        declared: 20,
        actual: 19,
    };
    assert_eq!(dec.list(), Err(Error::new(10, claim)));
}

/// After a nested list ends, the room is its parent's again: a str after it may take the rest
/// of the parent's body, not just what the nested list had.
#[test]
fn end_restores_the_room_of_the_enclosing_container() {
    let input = hex("20 10 00 00 00 02 00 00 00  20 01 00 00 00 01 00 00 00 00  10 04 61 62 63 64");
    let mut dec = Decoder::new(&input);
    let outer = dec.list().unwrap();
    let inner = dec.list().unwrap();
    dec.unit().unwrap();
    dec.end(inner).unwrap();
    assert_eq!(dec.str(), Ok("abcd"));
    dec.end(outer).unwrap();
    dec.finish().unwrap();
}

/// `depth` variants around a unit.
fn nested_variants(depth: usize) -> Vec<u8> {
    let mut bytes = [0x22, 0x00].repeat(depth);
    bytes.push(0x00);
    bytes
}

/// `depth` lists, each holding the next, around a unit.
fn nested_lists(depth: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(depth * 9 + 1);
    for level in 0..depth {
        let body = (depth - 1 - level) * 9 + 1;
        bytes.push(0x20);
        bytes.extend_from_slice(&(body as u32).to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
    }
    bytes.push(0x00);
    bytes
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let too_deep = ErrorKind::NestingTooDeep {
        max: NESTING_DEPTH_MAX,
    };
    let variants = nested_variants(100_000);
    assert_eq!(
        decode_value(&variants).map_err(|e| e.kind),
        Err(too_deep.clone())
    );
    assert_eq!(
        Decoder::new(&variants).skip().map_err(|e| e.kind),
        Err(too_deep.clone())
    );
    let lists = nested_lists(100_000);
    assert_eq!(
        decode_value(&lists).map_err(|e| e.kind),
        Err(too_deep.clone())
    );
    // skip does not enter lists: it steps over the outermost body in one go.
    assert_eq!(
        Decoder::new(&lists).skip().map(<[u8]>::len),
        Ok(lists.len())
    );
}

#[test]
fn nesting_limit_is_exact() {
    let too_deep = ErrorKind::NestingTooDeep {
        max: NESTING_DEPTH_MAX,
    };
    assert!(decode_value(&nested_variants(NESTING_DEPTH_MAX)).is_ok());
    assert!(decode_value(&nested_lists(NESTING_DEPTH_MAX)).is_ok());
    let variants = nested_variants(NESTING_DEPTH_MAX + 1);
    assert_eq!(
        decode_value(&variants),
        Err(Error::new(2 * NESTING_DEPTH_MAX, too_deep.clone()))
    );
    let lists = nested_lists(NESTING_DEPTH_MAX + 1);
    assert_eq!(
        decode_value(&lists).map_err(|e| e.kind),
        Err(too_deep.clone())
    );
    // An array counts as one level.
    let mut array_inside = [0x22, 0x00].repeat(NESTING_DEPTH_MAX);
    array_inside.extend_from_slice(&[0x23, 0x03, 0x00]);
    assert_eq!(
        decode_value(&array_inside).map_err(|e| e.kind),
        Err(too_deep.clone())
    );
    assert_eq!(
        Decoder::new(&array_inside).skip().map_err(|e| e.kind),
        Err(too_deep)
    );
}

#[test]
fn varints_have_one_encoding() {
    check_ok("05 00", Value::U32(0));
    check_ok("05 ff ff ff ff 0f", Value::U32(u32::MAX));
    check_ok("04 ff ff 03", Value::U16(u16::MAX));
    check_ok("06 80 80 80 80 80 80 80 80 80 01", Value::U64(1 << 63));
    check("05 80 00", ErrorKind::VarintOverlong);
    check("05 ff 80 00", ErrorKind::VarintOverlong);
    check(
        "06 80 80 80 80 80 80 80 80 80 00",
        ErrorKind::VarintOverlong,
    );
    check("05 ff ff ff ff 1f", ErrorKind::VarintOverflow);
    check("05 ff ff ff ff 8f 01", ErrorKind::VarintOverflow);
    check("04 ff ff 04", ErrorKind::VarintOverflow);
    check(
        "06 80 80 80 80 80 80 80 80 80 02",
        ErrorKind::VarintOverflow,
    );
    check(
        "06 ff ff ff ff ff ff ff ff ff 81",
        ErrorKind::VarintOverflow,
    );
    check("08 80 80 04", ErrorKind::VarintOverflow);
    check("22 80 80 80 80 10 00", ErrorKind::VarintOverflow);
    check("0d 80 00", ErrorKind::VarintOverlong);
    check("10 80 00", ErrorKind::VarintOverlong);
    check("05 80", ErrorKind::Incomplete);
}

#[test]
fn invalid_payloads() {
    check("10 02 c3 28", ErrorKind::InvalidUtf8);
    check("10 01 ff", ErrorKind::InvalidUtf8);
    check("0d 80 b0 03", ErrorKind::InvalidChar(0xd800));
    check("0d 80 80 44", ErrorKind::InvalidChar(0x11_0000));
    check("0d ff ff ff ff 0f", ErrorKind::InvalidChar(u32::MAX));
    check("23 01 01 02", ErrorKind::InvalidBool(2));
    check("23 0d 01 80 b0 03", ErrorKind::InvalidChar(0xd800));
    check("0e", ErrorKind::UnknownTag(0x0e));
    check("ff", ErrorKind::UnknownTag(0xff));
    check("23 02 00", ErrorKind::UnknownTag(0x02));
    check("23 10 00", ErrorKind::UnknownTag(0x10));
    check("22 00 24", ErrorKind::UnknownTag(0x24));
    check("", ErrorKind::Incomplete);
    let bytes = hex("10 05 61 62 ff 63 64");
    assert_eq!(
        decode_value(&bytes),
        Err(Error::new(4, ErrorKind::InvalidUtf8))
    );
}

#[test]
fn trailing_bytes_are_refused() {
    check("00 00", ErrorKind::TrailingBytes { count: 1 });
    check("05 01 02 03", ErrorKind::TrailingBytes { count: 2 });
    let bytes = hex("05 01 02 03");
    let mut dec = Decoder::new(&bytes);
    assert_eq!(dec.u32(), Ok(1));
    assert_eq!(dec.remaining(), 2);
    assert_eq!(
        dec.finish(),
        Err(Error::new(2, ErrorKind::TrailingBytes { count: 2 }))
    );
}

#[test]
fn typed_reads_name_what_they_expected_and_found() {
    let bytes = hex("05 01");
    let mut dec = Decoder::new(&bytes);
    let unexpected = ErrorKind::UnexpectedTag {
        expected: "str",
        found: "u32",
    };
    assert_eq!(dec.str(), Err(Error::new(0, unexpected)));
    assert_eq!(dec.position(), 0);
    assert_eq!(
        dec.list().map_err(|e| e.to_string()),
        Err("at byte 0: expected list, found u32".into())
    );
    assert_eq!(
        dec.bool().map_err(|e| e.kind),
        Err(ErrorKind::UnexpectedTag {
            expected: "bool",
            found: "u32"
        })
    );
    assert_eq!(dec.peek_tag(), Ok(neopack::Tag::U32));
    assert_eq!(dec.u32(), Ok(1));
    assert_eq!(dec.u32(), Err(Error::new(2, ErrorKind::Incomplete)));
    assert_eq!(dec.peek_tag(), Err(Error::new(2, ErrorKind::Incomplete)));
    let bytes = hex("0e");
    assert_eq!(
        Decoder::new(&bytes).u8(),
        Err(Error::new(0, ErrorKind::UnknownTag(0x0e)))
    );
    assert_eq!(
        Decoder::new(&bytes).peek_tag(),
        Err(Error::new(0, ErrorKind::UnknownTag(0x0e)))
    );
}
