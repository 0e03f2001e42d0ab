//! Decoders never allocate more than a bound proportional to their input, whatever the input
//! claims: a counting allocator measures the peak of live bytes on the decoding thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use neorpc::schema::Type;
use neorpc::{codec, frame, schema};
use proptest::prelude::*;
use wasmtime::component::Val;

use crate::strategies::any_type;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

#[expect(
    unsafe_code,
    reason = "a GlobalAlloc is unsafe to implement; this one only counts"
)]
// SAFETY: every call is forwarded to `System` with the same arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + layout.size();
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(layout.size())));
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes live at once on this thread while `f` runs, above what was live before.
fn peak_during<R>(f: impl FnOnce() -> R) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    drop(f());
    PEAK.with(Cell::get) - base
}

/// A decoded value may be bigger than its encoding (a one-byte `bool` becomes a 40-byte `Val`),
/// but never by more than this factor, plus a constant.
const AMPLIFICATION_MAX: usize = 128;
const SLACK_BYTES: usize = 4096;

fn bound(input: &[u8]) -> usize {
    AMPLIFICATION_MAX * input.len() + SLACK_BYTES
}

#[test]
fn huge_claimed_lengths_allocate_nothing_big() {
    let claims: [&[u8]; 4] = [
        &[0x20, 0xff, 0xff, 0xff, 0x03, 0xff, 0xff, 0xff, 0x03, 0x00], // list: 64 MiB body
        &[0x23, 0x05, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00],             // array of 2^32-1 u32
        &[0x10, 0xff, 0xff, 0xff, 0xff, 0x0f, b'a'],                   // str of 2^32-1 bytes
        &[0x21, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0x00, 0x00], // map: 16M entries
    ];
    let list = neorpc::schema::Type::List(Box::new(neorpc::schema::Type::U32));
    for claim in claims {
        let peak = peak_during(|| neopack::decode_value(claim));
        assert!(
            peak <= bound(claim),
            "neopack: {peak} bytes for {claim:02x?}"
        );
        let peak = peak_during(|| codec::decode_args(claim, std::slice::from_ref(&list)));
        assert!(peak <= bound(claim), "codec: {peak} bytes for {claim:02x?}");
    }
}

/// One MiB: big enough that a reservation per nesting level shows as a multiple of the input.
const MIB: usize = 1 << 20;

/// A list header (tag, body length, count).
fn list_header(bytes: &mut Vec<u8>, body: usize, count: usize) {
    bytes.push(0x20);
    bytes.extend_from_slice(&(body as u32).to_le_bytes());
    bytes.extend_from_slice(&(count as u32).to_le_bytes());
}

/// `depth` list headers, each claiming every byte after it as its body and one item per byte,
/// then padding to `size` bytes of units.
fn greedy_lists(depth: usize, size: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(size);
    for _ in 0..depth {
        let body = size - bytes.len() - 9;
        list_header(&mut bytes, body, body);
    }
    bytes.resize(size, 0x00);
    bytes
}

/// `list<list<...<string>>>`, `depth` lists deep (each one a neopack list on the wire).
fn nested_list_type(depth: usize) -> Type {
    let mut ty = Type::String;
    for _ in 0..depth {
        ty = Type::List(Box::new(ty));
    }
    ty
}

#[test]
fn nested_headers_claiming_all_remaining_bytes_allocate_within_the_bound() {
    // 64 levels (neopack's nesting limit), each one reserving for a million items of the
    // same million bytes, allocated about 2,000 times the input.
    let input = greedy_lists(neopack::NESTING_DEPTH_MAX, MIB);
    let peak = peak_during(|| neopack::decode_value(&input));
    assert!(peak <= bound(&input), "neopack: {peak} bytes for {MIB}");

    // The codec: the arguments list around one `list<list<...>>` whose headers do the same
    // (160 times the input at depth 4, 320 at depth 8).
    for depth in [4, 8] {
        let mut input = Vec::with_capacity(MIB);
        list_header(&mut input, MIB - 9, 1);
        input.extend_from_slice(&greedy_lists(depth, MIB - 9));
        let types = [nested_list_type(depth)];
        let peak = peak_during(|| codec::decode_args(&input, &types));
        assert!(peak <= bound(&input), "codec, depth {depth}: {peak} bytes");
    }
}

#[test]
fn an_array_with_a_bad_element_reserves_nothing_for_its_elements() {
    // `list<bool>` as an array of a million bools, the last of which is neither 0 nor 1.
    let count = MIB;
    let mut input = Vec::with_capacity(count + 16);
    list_header(&mut input, 0, 1);
    input.extend_from_slice(&[0x23, 0x01, 0x80, 0x80, 0x40]); // array of bool, count 2^20
    input.resize(input.len() + count - 1, 0x01);
    input.push(0x02);
    let body = input.len() - 9;
    input[1..5].copy_from_slice(&(body as u32).to_le_bytes());
    let types = [Type::List(Box::new(Type::Bool))];
    let mut decoded = None;
    let peak = peak_during(|| decoded = Some(codec::decode_args(&input, &types)));
    let err = decoded.expect("decoded").unwrap_err();
    assert!(
        matches!(&err.kind, codec::ErrorKind::Pack(e) if e.kind == neopack::ErrorKind::InvalidBool(2)),
        "{err}"
    );
    assert!(
        peak <= SLACK_BYTES,
        "{peak} bytes before refusing the array"
    );
}

/// What a `Val` takes in wasmtime's representation, whatever it holds.
const VAL_BYTES: usize = 40;
const _: () = assert!(std::mem::size_of::<Val>() == VAL_BYTES);

#[test]
fn a_byte_list_decodes_to_one_val_per_byte_and_no_more() {
    // `list<u8>` travels as `bytes`, one byte per element, and decodes to a `Val::U8` each:
    // the bound that holds for it is one `Val` per input byte.
    let mut input = Vec::with_capacity(MIB + 16);
    list_header(&mut input, 0, 1);
    input.extend_from_slice(&[0x11, 0x80, 0x80, 0x40]); // bytes, length 2^20
    input.resize(input.len() + MIB, 0xab);
    let body = input.len() - 9;
    input[1..5].copy_from_slice(&(body as u32).to_le_bytes());
    let types = [Type::List(Box::new(Type::U8))];
    let mut decoded = None;
    let peak = peak_during(|| decoded = Some(codec::decode_args(&input, &types)));
    let vals = decoded.expect("decoded").expect("a valid list<u8>");
    assert!(matches!(&vals[..], [Val::List(items)] if items.len() == MIB));
    assert!(
        peak <= VAL_BYTES * input.len() + SLACK_BYTES,
        "{peak} bytes"
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_allocate_at_most_a_bound(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        types in proptest::collection::vec(any_type(), 0..3),
    ) {
        let checks: [(&str, usize); 4] = [
            ("neopack", peak_during(|| neopack::decode_value(&bytes))),
            ("frame", peak_during(|| frame::decode(&bytes))),
            ("schema", peak_during(|| schema::decode_interfaces(&bytes))),
            ("codec", peak_during(|| codec::decode_args(&bytes, &types))),
        ];
        for (decoder, peak) in checks {
            prop_assert!(peak <= bound(&bytes), "{decoder}: {peak} bytes for {} input bytes", bytes.len());
        }
    }
}
