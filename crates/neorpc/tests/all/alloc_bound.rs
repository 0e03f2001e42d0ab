//! Decoders never allocate more than a bound proportional to their input, whatever the input
//! claims: a counting allocator measures the peak of live bytes on the decoding thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use neorpc::{codec, frame, schema};
use proptest::prelude::*;

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
