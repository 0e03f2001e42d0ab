use std::collections::BTreeMap;

use neopack::Encoder;
use neorpc::schema::{self, Field, FuncSig, InterfaceSchema, SigMismatch, Type};
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
