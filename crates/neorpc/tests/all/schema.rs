use std::collections::BTreeMap;

use neopack::Encoder;
use neorpc::schema::{self, Case, Field, FuncSig, InterfaceSchema, SigMismatch, Type};
use proptest::prelude::*;

use crate::strategies::any_type;

fn calc(add_param: Type) -> InterfaceSchema {
    let mut funcs = BTreeMap::new();
    let add = FuncSig {
        params: vec![
            ("a".into(), add_param.clone()),
            ("b".into(), add_param.clone()),
        ],
        results: vec![add_param],
    };
    funcs.insert("add".to_owned(), add);
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
    let greet = FuncSig {
        params: vec![("p".into(), person)],
        results: vec![Type::String],
    };
    funcs.insert("greet".to_owned(), greet);
    InterfaceSchema {
        name: "exorun:apps/calc@0.1.0".into(),
        funcs,
    }
}

#[test]
fn interfaces_round_trip_on_the_wire() {
    let ifaces = vec![calc(Type::S32), calc(Type::S64)];
    let mut enc = Encoder::new();
    schema::encode_interfaces(&mut enc, &ifaces).unwrap();
    let bytes = enc.into_bytes().unwrap();
    assert_eq!(schema::decode_interfaces(&bytes).unwrap(), ifaces);
    for cut in 0..bytes.len() {
        assert!(
            schema::decode_interfaces(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn a_signature_mismatch_names_the_parameter() {
    let want = &calc(Type::S32).funcs["add"];
    let have = &calc(Type::S64).funcs["add"];
    let mismatch = want.mismatch(have).unwrap();
    assert_eq!(
        mismatch.to_string(),
        "parameter 0 `a`: expected s32, found s64"
    );
    assert!(matches!(mismatch, SigMismatch::Param { index: 0, .. }));
    assert_eq!(want.mismatch(want), None);
}

#[test]
fn a_nested_mismatch_names_the_path_inside_the_type() {
    let want = Type::List(Box::new(Type::Record(vec![Field {
        name: "id".into(),
        ty: Type::U32,
    }])));
    let have = Type::List(Box::new(Type::Record(vec![Field {
        name: "id".into(),
        ty: Type::U64,
    }])));
    let at = want.mismatch(&have).unwrap();
    assert_eq!(
        (at.path.as_str(), at.expected.as_str(), at.found.as_str()),
        (".id", "u32", "u64")
    );
}

#[test]
fn resources_are_found_anywhere_in_a_signature() {
    let sig = FuncSig {
        params: vec![(
            "xs".into(),
            Type::List(Box::new(Type::Option(Box::new(Type::Own(
                "counter".into(),
            ))))),
        )],
        results: vec![],
    };
    assert_eq!(sig.resource_name(), Some("counter"));
    assert_eq!(calc(Type::S32).funcs["add"].resource_name(), None);
}

#[test]
fn hostile_schema_nesting_is_refused() {
    let mut enc = Encoder::new();
    enc.list_begin().unwrap();
    enc.str("deep").unwrap();
    enc.list_begin().unwrap();
    enc.str("f").unwrap();
    enc.list_begin().unwrap();
    enc.str("p").unwrap();
    let mut ty = Type::U8;
    for _ in 0..(schema::NESTING_DEPTH_MAX + 2) {
        ty = Type::List(Box::new(ty));
    }
    ty.encode(&mut enc).unwrap();
    enc.list_end().unwrap();
    enc.list_begin().unwrap();
    enc.list_end().unwrap();
    enc.list_end().unwrap();
    enc.list_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    let err = schema::decode_interfaces(&bytes).unwrap_err();
    assert_eq!(
        err,
        neorpc::Error::SchemaTooDeep {
            max: schema::NESTING_DEPTH_MAX
        }
    );
}

proptest! {
    #[test]
    fn arbitrary_types_round_trip_and_equal_themselves(ty in any_type()) {
        let mut enc = Encoder::new();
        ty.encode(&mut enc).unwrap();
        let bytes = enc.into_bytes().unwrap();
        let back = Type::decode(&mut neopack::Decoder::new(&bytes)).unwrap();
        prop_assert_eq!(&back, &ty);
        prop_assert_eq!(ty.mismatch(&back), None);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_schema_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = schema::decode_interfaces(&bytes);
        let _ = Type::decode(&mut neopack::Decoder::new(&bytes));
    }
}

/// A record of `(name, type)` fields.
fn record(fields: &[(&str, Type)]) -> Type {
    let fields = fields.iter().map(|(name, ty)| Field {
        name: (*name).into(),
        ty: ty.clone(),
    });
    Type::Record(fields.collect())
}

/// A variant of `(name, payload)` cases.
fn variant(cases: &[(&str, Option<Type>)]) -> Type {
    let cases = cases.iter().map(|(name, ty)| Case {
        name: (*name).into(),
        ty: ty.clone(),
    });
    Type::Variant(cases.collect())
}

fn boxed(ty: Type) -> Option<Box<Type>> {
    Some(Box::new(ty))
}

#[test]
fn types_display_as_wit() {
    let cases: [(Type, &str); 24] = [
        (Type::Bool, "bool"),
        (Type::S8, "s8"),
        (Type::U8, "u8"),
        (Type::S16, "s16"),
        (Type::U16, "u16"),
        (Type::S32, "s32"),
        (Type::U32, "u32"),
        (Type::S64, "s64"),
        (Type::U64, "u64"),
        (Type::F32, "f32"),
        (Type::F64, "f64"),
        (Type::Char, "char"),
        (Type::String, "string"),
        (Type::List(Box::new(Type::U8)), "list<u8>"),
        (Type::Option(Box::new(Type::String)), "option<string>"),
        (
            record(&[("name", Type::String), ("age", Type::U8)]),
            "record { name: string, age: u8 }",
        ),
        (Type::Tuple(vec![Type::U8, Type::S64]), "tuple<u8, s64>"),
        (
            variant(&[("none", None), ("some", Some(Type::U32))]),
            "variant { none, some(u32) }",
        ),
        (Type::Enum(vec!["a".into(), "b".into()]), "enum { a, b }"),
        (Type::Flags(vec!["r".into(), "w".into()]), "flags { r, w }"),
        (
            Type::Result {
                ok: boxed(Type::U8),
                err: boxed(Type::String),
            },
            "result<u8, string>",
        ),
        (
            Type::Result {
                ok: None,
                err: boxed(Type::String),
            },
            "result<_, string>",
        ),
        (Type::Own("counter".into()), "own<counter>"),
        (Type::Borrow("counter".into()), "borrow<counter>"),
    ];
    for (ty, text) in cases {
        assert_eq!(ty.to_string(), text);
    }
    let bare = Type::Result {
        ok: None,
        err: None,
    };
    assert_eq!(bare.to_string(), "result");
    let ok_only = Type::Result {
        ok: boxed(Type::U8),
        err: None,
    };
    assert_eq!(ok_only.to_string(), "result<u8>");
}

#[test]
fn signatures_display_as_wit() {
    let none = FuncSig {
        params: vec![],
        results: vec![],
    };
    assert_eq!(none.to_string(), "func()");
    let one = FuncSig {
        params: vec![("a".into(), Type::S32), ("b".into(), Type::S32)],
        results: vec![Type::S32],
    };
    assert_eq!(one.to_string(), "func(a: s32, b: s32) -> s32");
    let many = FuncSig {
        params: vec![("p".into(), Type::String)],
        results: vec![Type::U8, Type::Bool],
    };
    assert_eq!(many.to_string(), "func(p: string) -> tuple<u8, bool>");
    assert_eq!(many.param_types(), vec![Type::String]);
}

#[test]
fn signature_mismatches_name_counts_parameters_and_results() {
    let sig = |params: &[Type], results: &[Type]| FuncSig {
        params: params
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("p{i}"), t.clone()))
            .collect(),
        results: results.to_vec(),
    };
    let want = sig(&[Type::U8, Type::U8], &[Type::U8, Type::U8]);
    let cases = [
        (
            sig(&[Type::U8], &[Type::U8, Type::U8]),
            SigMismatch::ParamCount {
                expected: 2,
                found: 1,
            },
            "expected 2 parameters, found 1",
        ),
        (
            sig(&[Type::U8, Type::U8], &[Type::U8]),
            SigMismatch::ResultCount {
                expected: 2,
                found: 1,
            },
            "expected 2 results, found 1",
        ),
        (
            sig(&[Type::U8, Type::U16], &[Type::U8, Type::U8]),
            SigMismatch::Param {
                index: 1,
                name: "p1".into(),
                at: mismatch("", "u8", "u16"),
            },
            "parameter 1 `p1`: expected u8, found u16",
        ),
        (
            sig(&[Type::U8, Type::U8], &[Type::U8, Type::U32]),
            SigMismatch::Result {
                index: 1,
                at: mismatch("", "u8", "u32"),
            },
            "result 1: expected u8, found u32",
        ),
    ];
    for (offered, expected, text) in cases {
        let found = want.mismatch(&offered);
        assert_eq!(found, Some(expected));
        assert_eq!(found.unwrap().to_string(), text);
    }
    assert_eq!(want.mismatch(&want), None);
    let nested = SigMismatch::Result {
        index: 0,
        at: mismatch(".ok", "u8", "u16"),
    };
    assert_eq!(nested.to_string(), "result 0.ok: expected u8, found u16");
}

fn mismatch(path: &str, expected: &str, found: &str) -> neorpc::schema::Mismatch {
    neorpc::schema::Mismatch {
        path: path.into(),
        expected: expected.into(),
        found: found.into(),
    }
}

/// Two types, and where they differ: path, expected and found, or `None` if they do not.
type MismatchCase = (Type, Type, Option<(&'static str, String, String)>);

#[test]
fn type_mismatches_name_the_path_through_every_compound() {
    let u8_ = || Type::U8;
    let u16_ = || Type::U16;
    let cases: Vec<MismatchCase> = vec![
        // Same types: no mismatch, compounds included.
        (
            Type::Tuple(vec![u8_(), u8_()]),
            Type::Tuple(vec![u8_(), u8_()]),
            None,
        ),
        (
            variant(&[("a", Some(u8_())), ("b", None)]),
            variant(&[("a", Some(u8_())), ("b", None)]),
            None,
        ),
        // Inside a tuple, by position; a length that differs is the tuple itself.
        (
            Type::Tuple(vec![u8_(), u8_()]),
            Type::Tuple(vec![u8_(), u16_()]),
            Some((".1", "u8".into(), "u16".into())),
        ),
        (
            Type::Tuple(vec![u8_()]),
            Type::Tuple(vec![u8_(), u8_()]),
            Some(("", "tuple<u8>".into(), "tuple<u8, u8>".into())),
        ),
        // Inside a variant, by case; a payload on one side only names the whole variants.
        (
            variant(&[("a", None), ("b", Some(u8_()))]),
            variant(&[("a", None), ("b", Some(u16_()))]),
            Some((".b", "u8".into(), "u16".into())),
        ),
        (
            variant(&[("a", Some(u8_()))]),
            variant(&[("a", None)]),
            Some((".a", "variant { a(u8) }".into(), "variant { a }".into())),
        ),
        (
            variant(&[("a", None)]),
            variant(&[("z", None)]),
            Some(("", "variant { a }".into(), "variant { z }".into())),
        ),
        (
            variant(&[("a", None)]),
            variant(&[("a", None), ("b", None)]),
            Some(("", "variant { a }".into(), "variant { a, b }".into())),
        ),
        // Inside a result: ok first, then err.
        (
            Type::Result {
                ok: boxed(u8_()),
                err: boxed(u8_()),
            },
            Type::Result {
                ok: boxed(u16_()),
                err: boxed(u16_()),
            },
            Some((".ok", "u8".into(), "u16".into())),
        ),
        (
            Type::Result {
                ok: boxed(u8_()),
                err: boxed(u8_()),
            },
            Type::Result {
                ok: boxed(u8_()),
                err: boxed(u16_()),
            },
            Some((".err", "u8".into(), "u16".into())),
        ),
        (
            Type::Result {
                ok: None,
                err: boxed(u8_()),
            },
            Type::Result {
                ok: boxed(u8_()),
                err: boxed(u8_()),
            },
            Some((".ok", "result<_, u8>".into(), "result<u8, u8>".into())),
        ),
        // Records: by field name; other names or counts are the record itself.
        (
            record(&[("x", u8_()), ("y", u8_())]),
            record(&[("x", u8_()), ("y", u16_())]),
            Some((".y", "u8".into(), "u16".into())),
        ),
        (
            record(&[("x", u8_())]),
            record(&[("z", u8_())]),
            Some(("", "record { x: u8 }".into(), "record { z: u8 }".into())),
        ),
        (
            record(&[("x", u8_())]),
            record(&[("x", u8_()), ("y", u8_())]),
            Some((
                "",
                "record { x: u8 }".into(),
                "record { x: u8, y: u8 }".into(),
            )),
        ),
        // Lists and options look through; other kinds differ as a whole.
        (
            Type::Option(Box::new(Type::List(Box::new(u8_())))),
            Type::Option(Box::new(Type::List(Box::new(u16_())))),
            Some(("", "u8".into(), "u16".into())),
        ),
        (
            Type::List(Box::new(u8_())),
            Type::Option(Box::new(u8_())),
            Some(("", "list<u8>".into(), "option<u8>".into())),
        ),
    ];
    for (want, have, expected) in cases {
        let expected = expected.map(|(path, e, f)| mismatch(path, &e, &f));
        assert_eq!(want.mismatch(&have), expected, "{want} vs {have}");
    }
}

#[test]
fn resources_are_found_inside_every_compound() {
    let own = || Type::Own("r".into());
    let borrow = || Type::Borrow("b".into());
    let holding: Vec<(Type, &str)> = vec![
        (own(), "r"),
        (borrow(), "b"),
        (Type::List(Box::new(own())), "r"),
        (Type::Option(Box::new(borrow())), "b"),
        (record(&[("x", Type::U8), ("y", own())]), "r"),
        (Type::Tuple(vec![Type::U8, borrow()]), "b"),
        (variant(&[("a", None), ("b", Some(own()))]), "r"),
        (
            Type::Result {
                ok: boxed(own()),
                err: None,
            },
            "r",
        ),
        (
            Type::Result {
                ok: boxed(Type::U8),
                err: boxed(borrow()),
            },
            "b",
        ),
        (Type::Tuple(vec![own(), borrow()]), "r"),
    ];
    for (ty, name) in holding {
        assert!(ty.contains_resource(), "{ty}");
        assert_eq!(ty.resource_name(), Some(name), "{ty}");
    }
    let free = [
        Type::U8,
        Type::String,
        Type::List(Box::new(Type::U8)),
        record(&[("x", Type::U8)]),
        variant(&[("a", None), ("b", Some(Type::U8))]),
        Type::Result {
            ok: boxed(Type::U8),
            err: boxed(Type::String),
        },
        Type::Enum(vec!["a".into()]),
        Type::Flags(vec!["a".into()]),
    ];
    for ty in free {
        assert!(!ty.contains_resource(), "{ty}");
        assert_eq!(ty.resource_name(), None, "{ty}");
    }
    let in_results = FuncSig {
        params: vec![("x".into(), Type::U8)],
        results: vec![Type::U8, borrow()],
    };
    assert_eq!(in_results.resource_name(), Some("b"));
}

#[test]
fn every_schema_error_names_what_is_wrong() {
    use neorpc::Error;
    let cases = [
        (
            Error::SchemaTooDeep { max: 32 },
            "schema nests deeper than 32 levels",
        ),
        (
            Error::BadField {
                field: "schema type",
                reason: "unknown type tag",
            },
            "frame field `schema type`: unknown type tag",
        ),
        (
            Error::GroupCount {
                what: "a record schema",
                group: 2,
                found: 3,
            },
            "a record schema holds 3 values, not groups of 2",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(err.to_string(), text);
    }
    // An unknown type tag, and an option case other than 0 or 1.
    let mut enc = Encoder::new();
    enc.variant_begin(99).unwrap();
    enc.unit().unwrap();
    enc.variant_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    let unknown = Type::decode(&mut neopack::Decoder::new(&bytes)).unwrap_err();
    assert_eq!(
        unknown,
        Error::BadField {
            field: "schema type",
            reason: "unknown type tag",
        }
    );
    let mut enc = Encoder::new();
    enc.variant_begin(16).unwrap(); // variant
    enc.list_begin().unwrap();
    enc.str("a").unwrap();
    enc.variant_begin(2).unwrap(); // neither none nor some
    enc.unit().unwrap();
    enc.variant_end().unwrap();
    enc.list_end().unwrap();
    enc.variant_end().unwrap();
    let bytes = enc.into_bytes().unwrap();
    let bad_case = Type::decode(&mut neopack::Decoder::new(&bytes)).unwrap_err();
    assert_eq!(
        bad_case,
        Error::BadField {
            field: "schema option",
            reason: "case must be 0 or 1",
        }
    );
}

#[test]
fn resource_handles_round_trip_on_the_wire() {
    let types = [
        Type::Own("counter".into()),
        Type::Borrow("counter".into()),
        Type::List(Box::new(Type::Own("file".into()))),
    ];
    for ty in types {
        let mut enc = Encoder::new();
        ty.encode(&mut enc).unwrap();
        let bytes = enc.into_bytes().unwrap();
        assert_eq!(Type::decode(&mut neopack::Decoder::new(&bytes)), Ok(ty));
    }
}

#[test]
fn schema_nesting_limit_is_exact() {
    let nested = |depth: usize| {
        let mut ty = Type::U8;
        for _ in 0..depth {
            ty = Type::List(Box::new(ty));
        }
        let mut enc = Encoder::new();
        ty.encode(&mut enc).unwrap();
        (ty, enc.into_bytes().unwrap())
    };
    let (deepest, bytes) = nested(schema::NESTING_DEPTH_MAX);
    assert_eq!(
        Type::decode(&mut neopack::Decoder::new(&bytes)),
        Ok(deepest)
    );
    let (_, bytes) = nested(schema::NESTING_DEPTH_MAX + 1);
    assert_eq!(
        Type::decode(&mut neopack::Decoder::new(&bytes)),
        Err(neorpc::Error::SchemaTooDeep {
            max: schema::NESTING_DEPTH_MAX
        })
    );
}
