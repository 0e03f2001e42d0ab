//! proptest generators: arbitrary WIT types, arbitrary values of a given type, failure reasons.

use std::collections::BTreeSet;

use neorpc::FailureReason;
use neorpc::schema::{Case, Field, Type};
use proptest::collection::vec;
use proptest::prelude::*;
use wasmtime::component::Val;

/// Distinct WIT-style names, 1..=max of them.
fn names(max: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-z][a-z0-9]{0,6}", 1..=max)
        .prop_map(|set: BTreeSet<String>| set.into_iter().collect())
        .prop_shuffle()
}

fn leaf_type() -> impl Strategy<Value = Type> {
    prop_oneof![
        Just(Type::Bool),
        Just(Type::S8),
        Just(Type::U8),
        Just(Type::S16),
        Just(Type::U16),
        Just(Type::S32),
        Just(Type::U32),
        Just(Type::S64),
        Just(Type::U64),
        Just(Type::F32),
        Just(Type::F64),
        Just(Type::Char),
        Just(Type::String),
        names(5).prop_map(Type::Enum),
        names(40).prop_map(Type::Flags),
    ]
}

/// Arbitrary WIT value types (no resources), nested a few levels.
pub fn any_type() -> impl Strategy<Value = Type> {
    leaf_type().prop_recursive(4, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Type::List(Box::new(t))),
            inner.clone().prop_map(|t| Type::Option(Box::new(t))),
            (names(4), vec(inner.clone(), 4)).prop_map(|(names, types)| {
                let fields = names
                    .into_iter()
                    .zip(types)
                    .map(|(name, ty)| Field { name, ty });
                Type::Record(fields.collect())
            }),
            vec(inner.clone(), 1..4).prop_map(Type::Tuple),
            (names(4), vec(proptest::option::of(inner.clone()), 4)).prop_map(|(names, types)| {
                let cases = names
                    .into_iter()
                    .zip(types)
                    .map(|(name, ty)| Case { name, ty });
                Type::Variant(cases.collect())
            }),
            (
                proptest::option::of(inner.clone()),
                proptest::option::of(inner)
            )
                .prop_map(|(ok, err)| Type::Result {
                    ok: ok.map(Box::new),
                    err: err.map(Box::new)
                }),
        ]
    })
}

fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![any::<f32>(), any::<u32>().prop_map(f32::from_bits)]
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), any::<u64>().prop_map(f64::from_bits)]
}

/// Arbitrary values of `ty`.
pub fn value_of(ty: &Type) -> BoxedStrategy<Val> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Type::S8 => any::<i8>().prop_map(Val::S8).boxed(),
        Type::U8 => any::<u8>().prop_map(Val::U8).boxed(),
        Type::S16 => any::<i16>().prop_map(Val::S16).boxed(),
        Type::U16 => any::<u16>().prop_map(Val::U16).boxed(),
        Type::S32 => any::<i32>().prop_map(Val::S32).boxed(),
        Type::U32 => any::<u32>().prop_map(Val::U32).boxed(),
        Type::S64 => any::<i64>().prop_map(Val::S64).boxed(),
        Type::U64 => any::<u64>().prop_map(Val::U64).boxed(),
        Type::F32 => any_f32().prop_map(Val::Float32).boxed(),
        Type::F64 => any_f64().prop_map(Val::Float64).boxed(),
        Type::Char => any::<char>().prop_map(Val::Char).boxed(),
        Type::String => any::<String>().prop_map(Val::String).boxed(),
        _ => compound_value_of(ty),
    }
}

fn compound_value_of(ty: &Type) -> BoxedStrategy<Val> {
    match ty {
        Type::List(elem) => vec(value_of(elem), 0..6).prop_map(Val::List).boxed(),
        Type::Option(inner) => proptest::option::of(value_of(inner))
            .prop_map(|v| Val::Option(v.map(Box::new)))
            .boxed(),
        Type::Record(fields) => record_of(fields),
        Type::Tuple(types) => {
            let members: Vec<_> = types.iter().map(value_of).collect();
            members.prop_map(Val::Tuple).boxed()
        }
        Type::Variant(cases) => variant_of(cases),
        Type::Enum(names) => proptest::sample::select(names.clone())
            .prop_map(Val::Enum)
            .boxed(),
        Type::Flags(names) => proptest::sample::subsequence(names.clone(), 0..=names.len())
            .prop_map(Val::Flags)
            .boxed(),
        Type::Result { ok, err } => result_of(ok.as_deref(), err.as_deref()),
        other => panic!("no values for {other}"),
    }
}

fn record_of(fields: &[Field]) -> BoxedStrategy<Val> {
    let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
    let values: Vec<_> = fields.iter().map(|f| value_of(&f.ty)).collect();
    values
        .prop_map(move |vals| Val::Record(names.clone().into_iter().zip(vals).collect()))
        .boxed()
}

fn payload_of(ty: Option<&Type>) -> BoxedStrategy<Option<Box<Val>>> {
    match ty {
        Some(ty) => value_of(ty).prop_map(|v| Some(Box::new(v))).boxed(),
        None => Just(None).boxed(),
    }
}

fn variant_of(cases: &[Case]) -> BoxedStrategy<Val> {
    let arms: Vec<_> = cases
        .iter()
        .map(|case| {
            let name = case.name.clone();
            payload_of(case.ty.as_ref())
                .prop_map(move |p| Val::Variant(name.clone(), p))
                .boxed()
        })
        .collect();
    proptest::strategy::Union::new(arms).boxed()
}

fn result_of(ok: Option<&Type>, err: Option<&Type>) -> BoxedStrategy<Val> {
    prop_oneof![
        payload_of(ok).prop_map(|p| Val::Result(Ok(p))),
        payload_of(err).prop_map(|p| Val::Result(Err(p))),
    ]
    .boxed()
}

/// A list of arbitrary types with a value of each.
pub fn typed_values() -> impl Strategy<Value = (Vec<Type>, Vec<Val>)> {
    vec(any_type(), 0..4).prop_flat_map(|types| {
        let values: Vec<_> = types.iter().map(value_of).collect();
        (Just(types), values)
    })
}

/// Every failure reason, with arbitrary codes and UTF-8 messages.
pub fn failure_reason() -> impl Strategy<Value = FailureReason> {
    prop_oneof![
        any::<String>().prop_map(FailureReason::AppTrapped),
        Just(FailureReason::OutOfFuel),
        Just(FailureReason::OutOfMemory),
        any::<String>().prop_map(FailureReason::InstanceNotFound),
        any::<String>().prop_map(FailureReason::MethodNotFound),
        (any::<u32>(), any::<u32>())
            .prop_map(|(expected, found)| FailureReason::BadArgumentCount { expected, found }),
        any::<String>().prop_map(FailureReason::BadArgumentType),
        (any::<u32>(), any::<String>()).prop_map(|(c, m)| FailureReason::DomainSpecific(c, m)),
        Just(FailureReason::DeadlineExceeded),
        Just(FailureReason::Overloaded),
        any::<String>().prop_map(FailureReason::Protocol),
        any::<String>().prop_map(FailureReason::Unavailable),
    ]
}
