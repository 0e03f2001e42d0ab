//! neopack throughput: a representative call document and a 1 MiB byte string, encoded and
//! decoded through the typed API, against a plain memcpy of the same bytes as the floor.

use divan::counter::BytesCount;
use divan::{Bencher, black_box};
use neopack::{Decoder, Encoder, Error, Scalar};

fn main() {
    divan::main();
}

/// The number of u32s in the call document's array.
const ARRAY_LENGTH: u32 = 1_000;

/// The size of the large byte string.
const BLOB_SIZE: usize = 1 << 20;

/// Writes the representative call: a list of [record (name, email, age), array of 1,000 u32,
/// variant 2("pending"), variant 1(42u64)].
fn encode_call(enc: &mut Encoder) -> Result<(), Error> {
    enc.list_begin()?;
    enc.list_begin()?;
    enc.str("Ada Lovelace-Byr")?;
    enc.str("ada.lovelace@example.org")?;
    enc.u8(36)?;
    enc.list_end()?;
    enc.array_begin(Scalar::U32, ARRAY_LENGTH)?;
    for i in 0..ARRAY_LENGTH {
        enc.u32(i * 7919 % 100_000)?;
    }
    enc.array_end()?;
    enc.variant_begin(2)?;
    enc.str("pending")?;
    enc.variant_end()?;
    enc.variant_begin(1)?;
    enc.u64(42)?;
    enc.variant_end()?;
    enc.list_end()
}

/// Reads the representative call back through the typed readers; returns a checksum.
fn decode_call(bytes: &[u8]) -> Result<u64, Error> {
    let mut dec = Decoder::new(bytes);
    let call = dec.list()?;
    let record = dec.list()?;
    let name = dec.str()?;
    let email = dec.str()?;
    let age = dec.u8()?;
    dec.end(record)?;
    let (_, count) = dec.array()?;
    let mut sum = 0u64;
    for _ in 0..count {
        sum += u64::from(dec.elem_u32()?);
    }
    let status = dec.variant()?;
    let pending = dec.str()?;
    let tag = dec.variant()?;
    let answer = dec.u64()?;
    dec.end(call)?;
    dec.finish()?;
    let lengths = (name.len() + email.len() + pending.len()) as u64;
    Ok(sum + lengths + u64::from(age) + u64::from(status + tag) + answer)
}

fn call_bytes() -> Vec<u8> {
    let mut enc = Encoder::new();
    encode_call(&mut enc).unwrap();
    enc.into_bytes().unwrap()
}

fn blob_bytes() -> Vec<u8> {
    let blob: Vec<u8> = (0..BLOB_SIZE).map(|i| i as u8).collect();
    let mut enc = Encoder::with_capacity(BLOB_SIZE + 16);
    enc.bytes(&blob).unwrap();
    enc.into_bytes().unwrap()
}

#[divan::bench]
fn call_encode(bencher: Bencher) {
    let size = call_bytes().len();
    bencher.counter(BytesCount::new(size)).bench(|| {
        let mut enc = Encoder::with_capacity(size);
        encode_call(black_box(&mut enc)).unwrap();
        black_box(enc.into_bytes().unwrap())
    });
}

#[divan::bench]
fn call_decode(bencher: Bencher) {
    let bytes = call_bytes();
    bencher
        .counter(BytesCount::new(bytes.len()))
        .bench(|| decode_call(black_box(&bytes)).unwrap());
}

#[divan::bench]
fn call_memcpy(bencher: Bencher) {
    let bytes = call_bytes();
    bencher.counter(BytesCount::new(bytes.len())).bench(|| {
        let mut copy = Vec::with_capacity(bytes.len());
        copy.extend_from_slice(black_box(&bytes));
        black_box(copy)
    });
}

#[divan::bench]
fn blob_encode(bencher: Bencher) {
    let blob: Vec<u8> = (0..BLOB_SIZE).map(|i| i as u8).collect();
    bencher.counter(BytesCount::new(BLOB_SIZE)).bench(|| {
        let mut enc = Encoder::with_capacity(BLOB_SIZE + 16);
        enc.bytes(black_box(&blob)).unwrap();
        black_box(enc.into_bytes().unwrap())
    });
}

#[divan::bench]
fn blob_decode(bencher: Bencher) {
    let bytes = blob_bytes();
    bencher.counter(BytesCount::new(BLOB_SIZE)).bench(|| {
        let mut dec = Decoder::new(black_box(&bytes));
        let blob = dec.bytes().unwrap();
        dec.finish().unwrap();
        black_box(blob)
    });
}

#[divan::bench]
fn blob_memcpy(bencher: Bencher) {
    let bytes = blob_bytes();
    bencher.counter(BytesCount::new(BLOB_SIZE)).bench(|| {
        let mut copy = Vec::with_capacity(bytes.len());
        copy.extend_from_slice(black_box(&bytes));
        black_box(copy)
    });
}
