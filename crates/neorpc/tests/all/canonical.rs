//! One form on the wire: whatever frame, failure reason or schema decodes re-encodes to the
//! very bytes it came from. Inputs are built like the real thing but with list counts that may
//! lie, plus mutations of valid encodings.

use std::collections::BTreeMap;

use neopack::{Decoder, Encoder, Value};
use neorpc::frame::{self, Frame};
use neorpc::schema::{self, FuncSig, InterfaceSchema, Type};
use neorpc::{Error, FailureReason};
use proptest::prelude::*;

use crate::strategies::{any_type, failure_reason};

/// Writes `value` as neopack, except that each list's count is the next of `counts` when that
/// is `Some` (a list's count is drawn after its items').
fn write(value: &Value<'_>, counts: &mut impl Iterator<Item = Option<u32>>, out: &mut Vec<u8>) {
    match value {
        Value::List(items) => {
            let mut body = Vec::new();
            for item in items {
                write(item, counts, &mut body);
            }
            let count = counts.next().flatten().unwrap_or(items.len() as u32);
            out.push(0x20);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&body);
        }
        Value::Variant(discriminant, payload) => {
            let mut header = encode(&Value::Variant(*discriminant, Box::new(Value::Unit)));
            header.pop(); // the unit payload
            out.extend_from_slice(&header);
            write(payload, counts, out);
        }
        leaf => out.extend_from_slice(&encode(leaf)),
    }
}

fn encode(value: &Value<'_>) -> Vec<u8> {
    let mut enc = Encoder::new();
    value.encode(&mut enc).unwrap();
    enc.into_bytes().unwrap()
}

/// `value` written with list counts from `counts` (mostly `None`: the true count).
fn with_counts(value: &Value<'_>, counts: &[Option<u32>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write(
        value,
        &mut counts.iter().copied().chain(std::iter::repeat(None)),
        &mut bytes,
    );
    bytes
}

fn counts() -> impl Strategy<Value = Vec<Option<u32>>> {
    proptest::collection::vec(proptest::option::weighted(0.3, 0u32..8), 0..8)
}

fn word() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "calc", "add", "a", "b", "exorun:apps/calc@0.1.0"])
}

/// A value shaped like a failure reason: `variant(tag)` around one of the payload shapes.
fn reason_like() -> impl Strategy<Value = Value<'static>> {
    let payload = prop_oneof![
        Just(Value::Unit),
        word().prop_map(Value::Str),
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| Value::List(vec![Value::U32(a), Value::U32(b)])),
        (any::<u32>(), word())
            .prop_map(|(code, message)| Value::List(vec![Value::U32(code), Value::Str(message)])),
        any::<u32>().prop_map(|a| Value::List(vec![Value::U32(a)])),
    ];
    (0u32..14, payload).prop_map(|(tag, payload)| Value::Variant(tag, Box::new(payload)))
}

/// A field of some frame kind, or something close to one.
fn frame_field() -> impl Strategy<Value = Value<'static>> {
    prop_oneof![
        any::<u64>().prop_map(Value::U64),
        any::<u32>().prop_map(Value::U32),
        word().prop_map(Value::Str),
        Just(Value::Variant(0, Box::new(Value::Unit))),
        any::<u64>().prop_map(|ms| Value::Variant(1, Box::new(Value::U64(ms)))),
        Just(Value::List(vec![])),
        any::<u32>().prop_map(|v| Value::List(vec![Value::U32(v)])),
        reason_like(),
    ]
}

/// A value shaped like a frame: `variant(kind)` around a list of fields.
fn frame_like() -> impl Strategy<Value = Value<'static>> {
    (0u32..6, proptest::collection::vec(frame_field(), 0..6))
        .prop_map(|(kind, fields)| Value::Variant(kind, Box::new(Value::List(fields))))
}

/// A value shaped like a schema type: `variant(tag)` around unit, a name, a type, or a list
/// of names, types and optional types.
fn type_like() -> impl Strategy<Value = Value<'static>> {
    let leaf = prop_oneof![
        (0u32..13).prop_map(|tag| Value::Variant(tag, Box::new(Value::Unit))),
        (21u32..23, word()).prop_map(|(tag, name)| Value::Variant(tag, Box::new(Value::Str(name)))),
        (17u32..21, proptest::collection::vec(word(), 0..3)).prop_map(|(tag, names)| {
            let names = names.into_iter().map(Value::Str).collect();
            Value::Variant(tag, Box::new(Value::List(names)))
        }),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let member = prop_oneof![
            word().prop_map(Value::Str),
            inner.clone(),
            Just(Value::Variant(0, Box::new(Value::Unit))),
            inner.clone().prop_map(|ty| Value::Variant(1, Box::new(ty))),
        ];
        prop_oneof![
            (13u32..14, inner.clone()).prop_map(|(tag, ty)| Value::Variant(tag, Box::new(ty))),
            (18u32..19, inner).prop_map(|(tag, ty)| Value::Variant(tag, Box::new(ty))),
            (13u32..20, proptest::collection::vec(member, 0..5))
                .prop_map(|(tag, members)| Value::Variant(tag, Box::new(Value::List(members)))),
        ]
    })
}

/// A value shaped like a list of interfaces: name, then functions (name, params, results).
fn interfaces_like() -> impl Strategy<Value = Value<'static>> {
    let param = prop_oneof![word().prop_map(Value::Str), type_like()];
    let func = (
        word(),
        proptest::collection::vec(param, 0..4),
        proptest::collection::vec(type_like(), 0..2),
    )
        .prop_map(|(name, params, results)| {
            vec![Value::Str(name), Value::List(params), Value::List(results)]
        });
    let interface = (word(), proptest::collection::vec(func, 0..3)).prop_map(|(name, funcs)| {
        let funcs = funcs.into_iter().flatten().collect();
        vec![Value::Str(name), Value::List(funcs)]
    });
    proptest::collection::vec(interface, 0..3)
        .prop_map(|interfaces| Value::List(interfaces.into_iter().flatten().collect()))
}

/// If `bytes` decode as a frame, they are the frame's encoding.
fn check_frame(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(frame) = frame::decode(bytes) {
        prop_assert_eq!(frame.to_bytes().unwrap(), bytes, "{:?}", frame);
    }
    Ok(())
}

/// If `bytes` hold exactly one failure reason, they are its encoding.
fn check_reason(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut dec = Decoder::new(bytes);
    let Ok(reason) = FailureReason::decode(&mut dec) else {
        return Ok(());
    };
    if dec.finish().is_err() {
        return Ok(());
    }
    let mut enc = Encoder::new();
    reason.encode(&mut enc).unwrap();
    prop_assert_eq!(enc.into_bytes().unwrap(), bytes, "{:?}", reason);
    Ok(())
}

/// If `bytes` hold exactly one type, or decode as interfaces, they are its encoding.
fn check_schema(bytes: &[u8]) -> Result<(), TestCaseError> {
    let mut dec = Decoder::new(bytes);
    if let Ok(ty) = Type::decode(&mut dec)
        && dec.finish().is_ok()
    {
        let mut enc = Encoder::new();
        ty.encode(&mut enc).unwrap();
        prop_assert_eq!(enc.into_bytes().unwrap(), bytes, "{:?}", ty);
    }
    if let Ok(interfaces) = schema::decode_interfaces(bytes) {
        let mut enc = Encoder::new();
        schema::encode_interfaces(&mut enc, &interfaces).unwrap();
        prop_assert_eq!(enc.into_bytes().unwrap(), bytes, "{:?}", interfaces);
    }
    Ok(())
}

/// One byte of `bytes` set to `byte`, or removed, or inserted.
fn mutate(bytes: &mut Vec<u8>, at: prop::sample::Index, byte: u8, how: u8) {
    match how % 3 {
        0 if !bytes.is_empty() => {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        1 if !bytes.is_empty() => {
            bytes.remove(at.index(bytes.len()));
        }
        _ => bytes.insert(at.index(bytes.len() + 1), byte),
    }
}

fn mutations() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    proptest::collection::vec(
        (any::<prop::sample::Index>(), any::<u8>(), any::<u8>()),
        1..3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn every_accepted_frame_re_encodes_to_the_same_bytes(
        frame in frame_like(),
        counts in counts(),
        reason in failure_reason(),
        edits in mutations(),
    ) {
        check_frame(&with_counts(&frame, &counts))?;
        let mut valid = Frame::Failure { seq: 3, reason }.to_bytes().unwrap();
        for (at, byte, how) in edits {
            mutate(&mut valid, at, byte, how);
        }
        check_frame(&valid)?;
    }

    #[test]
    fn every_accepted_failure_reason_re_encodes_to_the_same_bytes(
        reason in reason_like(),
        counts in counts(),
        valid in failure_reason(),
        edits in mutations(),
    ) {
        check_reason(&with_counts(&reason, &counts))?;
        let mut enc = Encoder::new();
        valid.encode(&mut enc).unwrap();
        let mut bytes = enc.into_bytes().unwrap();
        for (at, byte, how) in edits {
            mutate(&mut bytes, at, byte, how);
        }
        check_reason(&bytes)?;
    }

    #[test]
    fn every_accepted_schema_re_encodes_to_the_same_bytes(
        ty in type_like(),
        interfaces in interfaces_like(),
        counts in counts(),
        valid in any_type(),
        edits in mutations(),
    ) {
        check_schema(&with_counts(&ty, &counts))?;
        check_schema(&with_counts(&interfaces, &counts))?;
        let mut enc = Encoder::new();
        valid.encode(&mut enc).unwrap();
        let mut bytes = enc.into_bytes().unwrap();
        for (at, byte, how) in edits {
            mutate(&mut bytes, at, byte, how);
        }
        check_schema(&bytes)?;
    }
}

/// `hex` with whitespace ignored.
fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let pair = |p: &[char]| u8::from_str_radix(&p.iter().collect::<String>(), 16).unwrap();
    digits.chunks(2).map(pair).collect()
}

#[test]
fn a_frame_whose_field_count_lies_is_refused() {
    // Cancel{5}, its one field declared as none: the bytes `Cancel{5}` does not encode to.
    let lying = hex("22 04 20 02000000 00000000 06 05");
    let refused = Error::FieldCount {
        what: "a Cancel frame",
        expected: 1,
        found: 0,
    };
    assert_eq!(frame::decode(&lying), Err(refused));
    let honest = hex("22 04 20 02000000 01000000 06 05");
    assert_eq!(frame::decode(&honest), Ok(Frame::Cancel { seq: 5 }));
    assert_eq!(Frame::Cancel { seq: 5 }.to_bytes().unwrap(), honest);
}

#[test]
fn a_failure_reason_whose_field_count_lies_is_refused() {
    // DomainSpecific(7, "x") with its list declaring 1 field, then 3.
    for (count, found) in [("01", 1), ("03", 3)] {
        let lying = hex(&format!("22 08 20 05000000 {count}000000 05 07 10 01 78"));
        let err = FailureReason::decode(&mut Decoder::new(&lying)).unwrap_err();
        let expected = Error::FieldCount {
            what: "failure reason DomainSpecific",
            expected: 2,
            found,
        };
        assert_eq!(err, expected);
    }
    // BadArgumentCount { expected: 1, found: 2 }, declared as 1 field.
    let lying = hex("22 06 20 04000000 01000000 05 01 05 02");
    let err = FailureReason::decode(&mut Decoder::new(&lying)).unwrap_err();
    assert_eq!(
        err,
        Error::FieldCount {
            what: "failure reason BadArgumentCount",
            expected: 2,
            found: 1,
        }
    );
}

fn interfaces_bytes(interfaces: &[InterfaceSchema]) -> Vec<u8> {
    let mut enc = Encoder::new();
    schema::encode_interfaces(&mut enc, interfaces).unwrap();
    enc.into_bytes().unwrap()
}

#[test]
fn a_schema_whose_group_count_lies_is_refused() {
    // One interface with no functions, its list declaring 3 values instead of 2.
    let iface = InterfaceSchema {
        name: "i".into(),
        funcs: BTreeMap::new(),
    };
    let mut bytes = interfaces_bytes(std::slice::from_ref(&iface));
    assert_eq!(bytes[5..9], 2u32.to_le_bytes());
    bytes[5..9].copy_from_slice(&3u32.to_le_bytes());
    let expected = Error::GroupCount {
        what: "an interface list",
        group: 2,
        found: 3,
    };
    assert_eq!(schema::decode_interfaces(&bytes), Err(expected));
    // A result type whose list of ok and err declares 1 value.
    let result = Type::Result {
        ok: None,
        err: None,
    };
    let mut enc = Encoder::new();
    result.encode(&mut enc).unwrap();
    let mut bytes = enc.into_bytes().unwrap();
    assert_eq!(bytes[7..11], 2u32.to_le_bytes());
    bytes[7..11].copy_from_slice(&1u32.to_le_bytes());
    let expected = Error::FieldCount {
        what: "a result schema",
        expected: 2,
        found: 1,
    };
    assert_eq!(Type::decode(&mut Decoder::new(&bytes)), Err(expected));
}

#[test]
fn functions_out_of_order_or_twice_are_refused() {
    let sig = FuncSig {
        params: vec![],
        results: vec![],
    };
    let funcs = BTreeMap::from([("a".to_owned(), sig.clone()), ("b".to_owned(), sig)]);
    let iface = InterfaceSchema {
        name: "i".into(),
        funcs,
    };
    let bytes = interfaces_bytes(std::slice::from_ref(&iface));
    assert_eq!(schema::decode_interfaces(&bytes), Ok(vec![iface]));
    // The same bytes with the two names swapped ("a" and "b" are one byte each), then with
    // "b" renamed "a".
    let b_at = bytes.iter().rposition(|&b| b == b'b').unwrap();
    let a_at = bytes[..b_at].iter().rposition(|&b| b == b'a').unwrap();
    let refused = Error::BadField {
        field: "schema functions",
        reason: "names must be sorted and unique",
    };
    let mut swapped = bytes.clone();
    swapped.swap(a_at, b_at);
    assert_eq!(schema::decode_interfaces(&swapped), Err(refused.clone()));
    let mut twice = bytes;
    twice[b_at] = b'a';
    assert_eq!(schema::decode_interfaces(&twice), Err(refused));
}
