use neorpc::codec::{self, ErrorKind};
use neorpc::schema::{Case, Field, Type};
use proptest::prelude::*;
use wasmtime::component::Val;

use crate::strategies::{any_type, typed_values};

fn person() -> Type {
    Type::Record(vec![
        Field {
            name: "name".into(),
            ty: Type::String,
        },
        Field {
            name: "age".into(),
            ty: Type::U8,
        },
    ])
}

fn check_round_trip(types: &[Type], vals: &[Val]) {
    let bytes = codec::encode_args(vals, types).unwrap();
    let back = codec::decode_args(&bytes, types).unwrap();
    assert_eq!(back, vals);
    // Val's equality treats every NaN alike: the bytes prove payloads survive too.
    assert_eq!(codec::encode_args(&back, types).unwrap(), bytes);
}

#[test]
fn every_wit_type_round_trips() {
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
    let types = vec![
        Type::Bool,
        Type::S8,
        Type::U64,
        Type::F32,
        Type::F64,
        Type::Char,
        Type::String,
        Type::List(Box::new(Type::U8)),
        Type::List(Box::new(Type::S64)),
        Type::List(Box::new(person())),
        Type::Tuple(vec![Type::U16, Type::String]),
        status,
        Type::Enum(vec!["red".into(), "green".into()]),
        Type::Option(Box::new(Type::String)),
        Type::Result {
            ok: None,
            err: Some(Box::new(Type::String)),
        },
        Type::Flags((0..40).map(|i| format!("f{i}")).collect()),
    ];
    let vals = vec![
        Val::Bool(true),
        Val::S8(i8::MIN),
        Val::U64(u64::MAX),
        Val::Float32(f32::from_bits(0x7fc0_1234)),
        Val::Float64(f64::NEG_INFINITY),
        Val::Char('🦀'),
        Val::String("héllo".into()),
        Val::List(vec![Val::U8(0), Val::U8(255)]),
        Val::List(vec![Val::S64(i64::MIN), Val::S64(-1), Val::S64(i64::MAX)]),
        Val::List(vec![Val::Record(vec![
            ("name".into(), Val::String("ada".into())),
            ("age".into(), Val::U8(36)),
        ])]),
        Val::Tuple(vec![Val::U16(9), Val::String(String::new())]),
        Val::Variant("done".into(), Some(Box::new(Val::U64(42)))),
        Val::Enum("green".into()),
        Val::Option(None),
        Val::Result(Err(Some(Box::new(Val::String("nope".into()))))),
        Val::Flags(vec!["f0".into(), "f31".into(), "f32".into(), "f39".into()]),
    ];
    check_round_trip(&types, &vals);
}

#[test]
fn a_wrong_shape_names_its_path() {
    let wrong = Type::Record(vec![
        Field {
            name: "name".into(),
            ty: Type::U32,
        },
        Field {
            name: "age".into(),
            ty: Type::U8,
        },
    ]);
    let sent = [
        Val::U32(1),
        Val::Record(vec![
            ("name".into(), Val::U32(5)),
            ("age".into(), Val::U8(1)),
        ]),
    ];
    let bytes = codec::encode_args(&sent, &[Type::U32, wrong]).unwrap();
    let err = codec::decode_args(&bytes, &[Type::U32, person()]).unwrap_err();
    assert_eq!(err.to_string(), "args[1].name: expected string, found u32");
    assert_eq!(err.path, "args[1].name");
}

#[test]
fn wrong_counts_are_reported_as_counts() {
    let bytes = codec::encode_args(&[Val::U32(1)], &[Type::U32]).unwrap();
    let err = codec::decode_args(&bytes, &[Type::U32, Type::U32]).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Count {
            expected: 2,
            found: 1
        }
    );
    let err = codec::encode_args(&[Val::U32(1)], &[]).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Count {
            expected: 0,
            found: 1
        }
    );
}

#[test]
fn values_that_do_not_match_their_type_are_refused_at_encode() {
    let err = codec::encode_args(&[Val::String("x".into())], &[Type::U32]).unwrap_err();
    assert_eq!(err.to_string(), "args[0]: expected u32, found string");
    let list = Type::List(Box::new(Type::U32));
    let err =
        codec::encode_args(&[Val::List(vec![Val::U32(1), Val::S32(2)])], &[list]).unwrap_err();
    assert_eq!(err.to_string(), "args[0][1]: expected u32, found s32");
    let e = Type::Enum(vec!["a".into()]);
    let err = codec::encode_args(&[Val::Enum("b".into())], &[e]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownName { name: "b".into() });
}

#[test]
fn resources_never_cross() {
    let own = Type::Own("counter".into());
    let err = codec::encode_args(&[Val::U32(0)], std::slice::from_ref(&own)).unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Resource {
            name: "counter".into()
        }
    );
    let bytes = codec::encode_args(&[Val::U32(0)], &[Type::U32]).unwrap();
    let err = codec::decode_args(&bytes, &[Type::Option(Box::new(own))]).unwrap_err();
    assert!(
        matches!(
            err.kind,
            ErrorKind::Resource { .. } | ErrorKind::Mismatch { .. }
        ),
        "{err}"
    );
}

#[test]
fn out_of_range_cases_and_flag_bits_are_rejected() {
    let two = Type::Enum(vec!["a".into(), "b".into()]);
    let three = Type::Enum(vec!["a".into(), "b".into(), "c".into()]);
    let bytes = codec::encode_args(&[Val::Enum("c".into())], &[three]).unwrap();
    let err = codec::decode_args(&bytes, &[two]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::UnknownCase { index: 2, cases: 2 });

    let wide = Type::Flags(vec!["a".into(), "b".into(), "c".into()]);
    let narrow = Type::Flags(vec!["a".into(), "b".into()]);
    let bytes = codec::encode_args(&[Val::Flags(vec!["c".into()])], &[wide]).unwrap();
    let err = codec::decode_args(&bytes, &[narrow]).unwrap_err();
    assert!(err.to_string().contains("unknown flag bit 2"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_values_of_arbitrary_types_round_trip((types, vals) in typed_values()) {
        let bytes = codec::encode_args(&vals, &types).unwrap();
        let back = codec::decode_args(&bytes, &types).unwrap();
        prop_assert_eq!(&back, &vals);
        prop_assert_eq!(codec::encode_args(&back, &types).unwrap(), bytes.clone());
        for cut in 0..bytes.len() {
            prop_assert!(codec::decode_args(&bytes[..cut], &types).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_codec(
        types in proptest::collection::vec(any_type(), 0..3),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = codec::decode_args(&bytes, &types);
    }

    #[test]
    fn values_decoded_as_another_type_fail_or_reencode_identically(
        (types, vals) in typed_values(),
        other in proptest::collection::vec(any_type(), 0..4),
    ) {
        let bytes = codec::encode_args(&vals, &types).unwrap();
        if let Ok(back) = codec::decode_args(&bytes, &other) {
            // A different type may accept the bytes only if it reads them back identically.
            prop_assert_eq!(codec::encode_args(&back, &other).unwrap(), bytes);
        }
    }
}
