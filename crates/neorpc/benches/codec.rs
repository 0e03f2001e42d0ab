//! neopack and `codec` throughput on a representative call and on a 1 MiB `list<u8>`, beside
//! postcard (serde) on the same data and a plain memcpy of the encoded bytes (the floor); and
//! the representative `codec_decode` split into its parts (`split`, which runs last so that its
//! allocations leave the heap of the other groups as it was).
//!
//! Run: `cargo bench -p neorpc --bench codec`. Results and ratios: BENCHMARKS.md.

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use neopack::{Decoder, Encoder, Scalar};
use neorpc::codec;
use neorpc::schema::{Case, Field, Type};
use serde::{Deserialize, Serialize};
use wasmtime::component::Val;

fn main() {
    divan::main();
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Person {
    name: String,
    email: String,
    age: u8,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
enum Status {
    Pending,
    Done(u64),
    Failed(String),
}

/// The representative call's arguments: a record with strings, a `list<u32>` of 1,000, a
/// variant and an option.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Args {
    person: Person,
    scores: Vec<u32>,
    status: Status,
    note: Option<String>,
}

fn args() -> Args {
    Args {
        person: Person {
            name: "Ada Lovelace".into(),
            email: "ada@analytical.engine".into(),
            age: 36,
        },
        scores: (0..1000u32)
            .map(|i| i.wrapping_mul(7919) % 100_000)
            .collect(),
        status: Status::Done(42),
        note: Some("first program".into()),
    }
}

fn types() -> Vec<Type> {
    vec![
        Type::Record(vec![
            Field {
                name: "name".into(),
                ty: Type::String,
            },
            Field {
                name: "email".into(),
                ty: Type::String,
            },
            Field {
                name: "age".into(),
                ty: Type::U8,
            },
        ]),
        Type::List(Box::new(Type::U32)),
        Type::Variant(vec![
            Case {
                name: "pending".into(),
                ty: None,
            },
            Case {
                name: "done".into(),
                ty: Some(Type::U64),
            },
            Case {
                name: "failed".into(),
                ty: Some(Type::String),
            },
        ]),
        Type::Option(Box::new(Type::String)),
    ]
}

fn vals(a: &Args) -> Vec<Val> {
    let Status::Done(n) = a.status else {
        unreachable!("the sample is Done")
    };
    vec![
        Val::Record(vec![
            ("name".into(), Val::String(a.person.name.clone())),
            ("email".into(), Val::String(a.person.email.clone())),
            ("age".into(), Val::U8(a.person.age)),
        ]),
        Val::List(a.scores.iter().map(|s| Val::U32(*s)).collect()),
        Val::Variant("done".into(), Some(Box::new(Val::U64(n)))),
        Val::Option(a.note.clone().map(|s| Box::new(Val::String(s)))),
    ]
}

mod representative {
    use super::*;

    #[divan::bench]
    fn codec_encode(b: Bencher) {
        let (vals, types) = (vals(&args()), types());
        let len = codec::encode_args(&vals, &types).unwrap().len();
        b.counter(BytesCount::new(len))
            .bench(|| codec::encode_args(black_box(&vals), black_box(&types)).unwrap());
    }

    #[divan::bench]
    fn codec_decode(b: Bencher) {
        let types = types();
        let bytes = codec::encode_args(&vals(&args()), &types).unwrap();
        b.counter(BytesCount::new(bytes.len()))
            .bench(|| codec::decode_args(black_box(&bytes), black_box(&types)).unwrap());
    }

    #[divan::bench]
    fn neopack_encode(b: Bencher) {
        let a = args();
        let len = neopack_encode_args(&a).len();
        b.counter(BytesCount::new(len))
            .bench(|| neopack_encode_args(black_box(&a)));
    }

    #[divan::bench]
    fn neopack_decode(b: Bencher) {
        let bytes = neopack_encode_args(&args());
        assert_eq!(neopack_decode_args(&bytes), args());
        b.counter(BytesCount::new(bytes.len()))
            .bench(|| neopack_decode_args(black_box(&bytes)));
    }

    #[divan::bench]
    fn postcard_encode(b: Bencher) {
        let a = args();
        let len = postcard::to_allocvec(&a).unwrap().len();
        b.counter(BytesCount::new(len))
            .bench(|| postcard::to_allocvec(black_box(&a)).unwrap());
    }

    #[divan::bench]
    fn postcard_decode(b: Bencher) {
        let bytes = postcard::to_allocvec(&args()).unwrap();
        b.counter(BytesCount::new(bytes.len()))
            .bench(|| postcard::from_bytes::<Args>(black_box(&bytes)).unwrap());
    }

    #[divan::bench]
    fn memcpy_floor(b: Bencher) {
        let bytes = codec::encode_args(&vals(&args()), &types()).unwrap();
        b.counter(BytesCount::new(bytes.len()))
            .bench(|| black_box(&bytes).to_vec());
    }
}

/// The same arguments written with neopack directly from the Rust struct: what the codec
/// costs over the encoding itself.
fn neopack_encode_args(a: &Args) -> Vec<u8> {
    let mut enc = Encoder::with_capacity(2048);
    let run = |enc: &mut Encoder| -> Result<(), neopack::Error> {
        enc.list_begin()?;
        enc.list_begin()?;
        enc.str(&a.person.name)?;
        enc.str(&a.person.email)?;
        enc.u8(a.person.age)?;
        enc.list_end()?;
        enc.array_begin(Scalar::U32, a.scores.len() as u32)?;
        for s in &a.scores {
            enc.u32(*s)?;
        }
        enc.array_end()?;
        let Status::Done(n) = a.status else {
            unreachable!("the sample is Done")
        };
        enc.variant_begin(1)?;
        enc.u64(n)?;
        enc.variant_end()?;
        enc.variant_begin(1)?;
        enc.str(a.note.as_deref().unwrap_or_default())?;
        enc.variant_end()?;
        enc.list_end()
    };
    run(&mut enc).unwrap();
    enc.into_bytes().unwrap()
}

fn neopack_decode_args(bytes: &[u8]) -> Args {
    let run = || -> Result<Args, neopack::Error> {
        let mut dec = Decoder::new(bytes);
        let outer = dec.list()?;
        let rec = dec.list()?;
        let person = Person {
            name: dec.str()?.to_owned(),
            email: dec.str()?.to_owned(),
            age: dec.u8()?,
        };
        dec.end(rec)?;
        let (_, count) = dec.array()?;
        let mut scores = Vec::with_capacity(count as usize);
        for _ in 0..count {
            scores.push(dec.elem_u32()?);
        }
        let status = match dec.variant()? {
            0 => Status::Pending,
            1 => Status::Done(dec.u64()?),
            _ => Status::Failed(dec.str()?.to_owned()),
        };
        let note = match dec.variant()? {
            0 => None,
            _ => Some(dec.str()?.to_owned()),
        };
        dec.end(outer)?;
        Ok(Args {
            person,
            scores,
            status,
            note,
        })
    };
    run().unwrap()
}

mod bytes_1mib {
    use super::*;

    const LEN: usize = 1 << 20;

    fn data() -> Vec<u8> {
        (0..LEN).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn list_u8() -> Vec<Type> {
        vec![Type::List(Box::new(Type::U8))]
    }

    #[divan::bench]
    fn codec_encode(b: Bencher) {
        let vals = vec![Val::List(data().into_iter().map(Val::U8).collect())];
        let types = list_u8();
        b.counter(BytesCount::new(LEN))
            .bench(|| codec::encode_args(black_box(&vals), black_box(&types)).unwrap());
    }

    #[divan::bench]
    fn codec_decode(b: Bencher) {
        let vals = vec![Val::List(data().into_iter().map(Val::U8).collect())];
        let types = list_u8();
        let bytes = codec::encode_args(&vals, &types).unwrap();
        b.counter(BytesCount::new(LEN))
            .bench(|| codec::decode_args(black_box(&bytes), black_box(&types)).unwrap());
    }

    #[divan::bench]
    fn neopack_encode(b: Bencher) {
        let data = data();
        b.counter(BytesCount::new(LEN)).bench(|| {
            let mut enc = Encoder::with_capacity(LEN + 16);
            enc.bytes(black_box(&data)).unwrap();
            enc.into_bytes().unwrap()
        });
    }

    #[divan::bench]
    fn neopack_decode(b: Bencher) {
        let mut enc = Encoder::new();
        enc.bytes(&data()).unwrap();
        let bytes = enc.into_bytes().unwrap();
        b.counter(BytesCount::new(LEN))
            .bench(|| Decoder::new(black_box(&bytes)).bytes().unwrap().to_vec());
    }

    #[divan::bench]
    fn postcard_encode(b: Bencher) {
        let data = data();
        b.counter(BytesCount::new(LEN))
            .bench(|| postcard::to_allocvec(black_box(&data)).unwrap());
    }

    #[divan::bench]
    fn postcard_decode(b: Bencher) {
        let bytes = postcard::to_allocvec(&data()).unwrap();
        b.counter(BytesCount::new(LEN))
            .bench(|| postcard::from_bytes::<Vec<u8>>(black_box(&bytes)).unwrap());
    }

    #[divan::bench]
    fn memcpy_floor(b: Bencher) {
        let data = data();
        b.counter(BytesCount::new(LEN))
            .bench(|| black_box(&data).to_vec());
    }
}

/// Where `representative::codec_decode` spends its time: building its `list<u32>` of 1,000 as
/// `Val`s with no decoding at all (a `Val` is 40 bytes with wasmtime 48, ten times a `u32`), and
/// the codec on the list alone and on the rest of the call.
mod split {
    use super::*;

    /// 1,000 `Val::U32` from the scores, already decoded.
    #[divan::bench]
    fn vals_from_u32s(b: Bencher) {
        let scores = args().scores;
        b.counter(divan::counter::ItemsCount::new(scores.len()))
            .bench(|| {
                black_box(&scores)
                    .iter()
                    .map(|s| Val::U32(*s))
                    .collect::<Vec<Val>>()
            });
    }

    /// The same 1,000 u32s copied into a `Vec<u32>`: the allocation and writes postcard pays.
    #[divan::bench]
    fn u32s_copy(b: Bencher) {
        let scores = args().scores;
        b.counter(divan::counter::ItemsCount::new(scores.len()))
            .bench(|| black_box(&scores).to_vec());
    }

    /// The codec on the representative call's `list<u32>` of 1,000 alone.
    #[divan::bench]
    fn codec_decode_list_only(b: Bencher) {
        let types = vec![types().swap_remove(1)];
        let vals = vec![vals(&args()).swap_remove(1)];
        let bytes = codec::encode_args(&vals, &types).unwrap();
        b.counter(BytesCount::new(bytes.len()))
            .bench(|| codec::decode_args(black_box(&bytes), black_box(&types)).unwrap());
    }

    /// The codec on the representative call without its list: the record, variant and option.
    #[divan::bench]
    fn codec_decode_without_list(b: Bencher) {
        let mut types = types();
        let mut vals = vals(&args());
        types.remove(1);
        vals.remove(1);
        let bytes = codec::encode_args(&vals, &types).unwrap();
        b.counter(BytesCount::new(bytes.len()))
            .bench(|| codec::decode_args(black_box(&bytes), black_box(&types)).unwrap());
    }

    /// neopack alone on the same list: [`Decoder::elem_reader`] into a `Vec<u32>`.
    #[divan::bench]
    fn neopack_list_reader(b: Bencher) {
        let types = vec![types().swap_remove(1)];
        let vals = vec![vals(&args()).swap_remove(1)];
        let bytes = codec::encode_args(&vals, &types).unwrap();
        let run = |bytes: &[u8]| -> Result<Vec<u32>, neopack::Error> {
            let mut dec = Decoder::new(bytes);
            let outer = dec.list()?;
            let (_, count) = dec.array()?;
            let mut reader = dec.elem_reader::<u32>();
            let mut scores = Vec::with_capacity(count as usize);
            for _ in 0..count {
                scores.push(reader.read()?);
            }
            drop(reader);
            dec.end(outer)?;
            Ok(scores)
        };
        assert_eq!(run(&bytes).unwrap(), args().scores);
        b.counter(BytesCount::new(bytes.len()))
            .bench(|| run(black_box(&bytes)).unwrap());
    }
}
