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

/// The error of decoding `sent` (values of `sent_types`) as `expected`, as text.
fn misread(sent_types: &[Type], sent: &[Val], expected: &[Type]) -> String {
    let bytes = codec::encode_args(sent, sent_types).unwrap();
    codec::decode_args(&bytes, expected)
        .unwrap_err()
        .to_string()
}

#[test]
fn a_container_of_the_wrong_kind_names_the_expected_type() {
    let list_of = |t: Type| Type::List(Box::new(t));
    let cases: Vec<(Type, Val, Type, &str)> = vec![
        // A str where a list of strings (a neopack list) belongs.
        (
            Type::String,
            Val::String("x".into()),
            list_of(Type::String),
            "args[0]: expected list<string>, found string",
        ),
        // An array where bytes belong, and bytes where an array belongs.
        (
            list_of(Type::U16),
            Val::List(vec![Val::U16(1)]),
            list_of(Type::U8),
            "args[0]: expected list<u8>, found list",
        ),
        (
            list_of(Type::U8),
            Val::List(vec![Val::U8(1)]),
            list_of(Type::U16),
            "args[0]: expected list<u16>, found list<u8>",
        ),
        // An array of another element kind.
        (
            list_of(Type::U32),
            Val::List(vec![Val::U32(1)]),
            list_of(Type::S32),
            "args[0]: expected list<s32>, found list<u32>",
        ),
        // A u32 where a record or a tuple belongs.
        (
            Type::U32,
            Val::U32(1),
            person(),
            "args[0]: expected record { name: string, age: u8 }, found u32",
        ),
        (
            Type::U32,
            Val::U32(1),
            Type::Tuple(vec![Type::U8]),
            "args[0]: expected tuple<u8>, found u32",
        ),
        // A list where flags belong.
        (
            list_of(Type::String),
            Val::List(vec![]),
            Type::Flags(vec!["a".into()]),
            "args[0]: expected flags { a }, found list or record",
        ),
    ];
    for (sent_type, sent, expected, text) in cases {
        let got = misread(&[sent_type], &[sent], std::slice::from_ref(&expected));
        assert_eq!(got, text, "decoding as {expected}");
    }
}

#[test]
fn flags_need_both_the_word_kind_and_the_word_count() {
    let flags = Type::Flags(vec!["a".into(), "b".into()]);
    // One word, of another kind: an array of one u16.
    let u16s = Type::List(Box::new(Type::U16));
    let got = misread(
        &[u16s],
        &[Val::List(vec![Val::U16(1)])],
        std::slice::from_ref(&flags),
    );
    assert_eq!(
        got,
        "args[0]: expected flags { a, b }, found 1 words of u16"
    );
    // Words of the right kind, one too many.
    let u32s = Type::List(Box::new(Type::U32));
    let two = Val::List(vec![Val::U32(1), Val::U32(0)]);
    let got = misread(&[u32s], &[two], std::slice::from_ref(&flags));
    assert_eq!(
        got,
        "args[0]: expected flags { a, b }, found 2 words of u32"
    );
    // Forty flags take two words: bits in the second word name flags 32 and up.
    let forty = Type::Flags((0..40).map(|i| format!("f{i}")).collect());
    let set = Val::Flags(vec!["f1".into(), "f33".into()]);
    let bytes =
        codec::encode_args(std::slice::from_ref(&set), std::slice::from_ref(&forty)).unwrap();
    assert_eq!(codec::decode_args(&bytes, &[forty]).unwrap(), vec![set]);
}

#[test]
fn results_round_trip_and_name_their_root() {
    let types = [Type::String, Type::U64];
    let vals = [Val::String("hi".into()), Val::U64(7)];
    let bytes = codec::encode_results(&vals, &types).unwrap();
    assert_eq!(bytes, codec::encode_args(&vals, &types).unwrap());
    assert_eq!(codec::decode_results(&bytes, &types).unwrap(), vals);
    let err = codec::decode_results(&bytes, &[Type::U32, Type::U64]).unwrap_err();
    assert_eq!(err.to_string(), "results[0]: expected u32, found string");
    let err = codec::encode_results(&vals, &[Type::String, Type::U8]).unwrap_err();
    assert_eq!(err.to_string(), "results[1]: expected u8, found u64");
    let err = codec::decode_results(&bytes, &[Type::String]).unwrap_err();
    assert_eq!(err.to_string(), "results: expected 1 values, found 2");
}

#[test]
fn every_codec_error_displays_its_path_and_kind() {
    let pack = neopack::Decoder::new(&[]).u32().unwrap_err();
    let cases = [
        (
            ErrorKind::Mismatch {
                expected: "u8".into(),
                found: "string".into(),
            },
            "expected u8, found string",
        ),
        (
            ErrorKind::Count {
                expected: 2,
                found: 3,
            },
            "expected 2 values, found 3",
        ),
        (
            ErrorKind::UnknownCase { index: 4, cases: 2 },
            "case index 4 out of range (the type has 2 cases)",
        ),
        (
            ErrorKind::UnknownName { name: "x".into() },
            "the type has no case or flag `x`",
        ),
        (
            ErrorKind::Resource {
                name: "counter".into(),
            },
            "resource `counter` cannot cross a remote boundary",
        ),
        (
            ErrorKind::Unsupported {
                what: "stream".into(),
            },
            "stream values are not supported by neorpc",
        ),
        (ErrorKind::Pack(pack), "at byte 0: input ended early"),
    ];
    for (kind, text) in cases {
        let at_top = codec::Error {
            path: String::new(),
            kind: kind.clone(),
        };
        assert_eq!(at_top.to_string(), text);
        let inside = codec::Error {
            path: "args[1].name".into(),
            kind,
        };
        assert_eq!(inside.to_string(), format!("args[1].name: {text}"));
    }
}

#[test]
fn values_of_the_wrong_kind_are_named_at_encode() {
    let vals = [
        (Val::Bool(true), "bool"),
        (Val::S8(0), "s8"),
        (Val::U8(0), "u8"),
        (Val::S16(0), "s16"),
        (Val::U16(0), "u16"),
        (Val::S32(0), "s32"),
        (Val::U32(0), "u32"),
        (Val::S64(0), "s64"),
        (Val::U64(0), "u64"),
        (Val::Float32(0.0), "f32"),
        (Val::Float64(0.0), "f64"),
        (Val::Char('x'), "char"),
        (Val::String(String::new()), "string"),
        (Val::List(vec![]), "list"),
        (Val::Record(vec![]), "record"),
        (Val::Tuple(vec![]), "tuple"),
        (Val::Variant("a".into(), None), "variant"),
        (Val::Enum("a".into()), "enum"),
        (Val::Option(None), "option"),
        (Val::Result(Ok(None)), "result"),
        (Val::Flags(vec![]), "flags"),
    ];
    for (val, kind) in vals {
        assert_eq!(codec::val_kind(&val), kind);
        // A value of another kind than expected (a char where u32 belongs, else a u32 where
        // a char belongs) is named by its kind.
        let expected = if kind == "u32" { Type::Char } else { Type::U32 };
        let err = codec::encode_args(std::slice::from_ref(&val), std::slice::from_ref(&expected))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("args[0]: expected {expected}, found {kind}")
        );
    }
}

#[test]
fn lists_travel_as_bytes_arrays_or_lists_by_element_type() {
    // (element type, one element, the tag of the list's encoding and, for an array, its kind)
    let cases: Vec<(Type, Val, &[u8])> = vec![
        (Type::U8, Val::U8(1), &[0x11]),
        (Type::Bool, Val::Bool(true), &[0x23, 0x01]),
        (Type::U16, Val::U16(1), &[0x23, 0x04]),
        (Type::U32, Val::U32(1), &[0x23, 0x05]),
        (Type::U64, Val::U64(1), &[0x23, 0x06]),
        (Type::S8, Val::S8(1), &[0x23, 0x07]),
        (Type::S16, Val::S16(1), &[0x23, 0x08]),
        (Type::S32, Val::S32(1), &[0x23, 0x09]),
        (Type::S64, Val::S64(1), &[0x23, 0x0a]),
        (Type::F32, Val::Float32(1.0), &[0x23, 0x0b]),
        (Type::F64, Val::Float64(1.0), &[0x23, 0x0c]),
        (Type::Char, Val::Char('x'), &[0x23, 0x0d]),
        (Type::String, Val::String("x".into()), &[0x20]),
    ];
    for (elem, val, form) in cases {
        let ty = Type::List(Box::new(elem));
        let list = Val::List(vec![val]);
        let bytes =
            codec::encode_args(std::slice::from_ref(&list), std::slice::from_ref(&ty)).unwrap();
        // After the arguments' own list header (9 bytes).
        assert_eq!(&bytes[9..9 + form.len()], form, "{ty}");
        assert_eq!(codec::decode_args(&bytes, &[ty]).unwrap(), vec![list]);
    }
}

/// A component exporting `f`, whose parameters are a record, a variant, a result and an
/// option, lifted from a core function that ignores them (each parameter flattens to two i32s).
const TYPED_COMPONENT: &str = r#"
(component
  (core module $m
    (func (export "f") (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
      i32.const 0))
  (core instance $i (instantiate $m))
  (type $point' (record (field "x" u8) (field "y" u32)))
  (export $point "point" (type $point'))
  (type $shape' (variant (case "dot" u8) (case "none")))
  (export $shape "shape" (type $shape'))
  (func $f
    (param "p" $point) (param "s" $shape) (param "r" (result u8 (error u32)))
    (param "o" (option u16)) (result u8)
    (canon lift (core func $i "f")))
  (export "f" (func $f))
)
"#;

#[test]
fn schemas_are_read_from_a_components_function_types() -> wasmtime::Result<()> {
    use wasmtime::component::Component;
    use wasmtime::component::types::ComponentItem;

    let engine = wasmtime::Engine::default();
    let component = Component::new(&engine, wat::parse_str(TYPED_COMPONENT)?)?;
    let ty = component.component_type();
    let Some(ComponentItem::ComponentFunc(f)) = ty.get_export(&engine, "f").map(|e| e.ty) else {
        panic!("the component exports no function f");
    };
    let point = Type::Record(vec![
        Field {
            name: "x".into(),
            ty: Type::U8,
        },
        Field {
            name: "y".into(),
            ty: Type::U32,
        },
    ]);
    let shape = Type::Variant(vec![
        Case {
            name: "dot".into(),
            ty: Some(Type::U8),
        },
        Case {
            name: "none".into(),
            ty: None,
        },
    ]);
    let result = Type::Result {
        ok: Some(Box::new(Type::U8)),
        err: Some(Box::new(Type::U32)),
    };
    let expected = neorpc::schema::FuncSig {
        params: vec![
            ("p".into(), point),
            ("s".into(), shape),
            ("r".into(), result),
            ("o".into(), Type::Option(Box::new(Type::U16))),
        ],
        results: vec![Type::U8],
    };
    assert_eq!(codec::func_sig(&f).unwrap(), expected);
    Ok(())
}
