//! What decoding allocates: one vector per list, map or array, reserved once for all its items
//! (never grown), and never more than a bound proportional to the input. A counting allocator
//! measures the calls and the peak of live bytes on the decoding thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use neopack::{Scalar, Value, decode_value};

use crate::support::encode;

thread_local! {
    static CALLS: Cell<usize> = const { Cell::new(0) };
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
        let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
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

/// Allocation calls, and the most bytes live at once above what was live before, while `f`
/// runs on this thread (what it returns included).
fn measure<R>(f: impl FnOnce() -> R) -> (usize, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let calls = CALLS.with(Cell::get);
    drop(f());
    (CALLS.with(Cell::get) - calls, PEAK.with(Cell::get) - base)
}

#[test]
fn each_vector_is_reserved_once_for_all_its_items() {
    let units = || vec![Value::Unit; 100];
    let cases = [
        (Value::List(units()), 1),
        (
            Value::Map((0..100).map(|_| (Value::Unit, Value::Unit)).collect()),
            1,
        ),
        (
            Value::Array(Scalar::U32, (0..100).map(Value::U32).collect()),
            1,
        ),
        (
            Value::List((0..10).map(|_| Value::List(units())).collect()),
            11,
        ),
        (Value::Variant(3, Box::new(Value::List(units()))), 2),
    ];
    for (value, vectors) in cases {
        let bytes = encode(&value);
        let (calls, _) = measure(|| decode_value(&bytes));
        assert_eq!(calls, vectors, "{value:?}");
    }
}

#[test]
fn a_value_takes_at_most_a_bound_per_input_byte() {
    // A Value is 32 bytes; a list of units takes one byte per item on the wire.
    let value = Value::List(vec![Value::Unit; 1000]);
    let bytes = encode(&value);
    let (_, peak) = measure(|| decode_value(&bytes));
    let item = std::mem::size_of::<Value<'_>>();
    assert!(
        peak <= item * bytes.len(),
        "{peak} bytes for {}",
        bytes.len()
    );
}

#[test]
fn an_encoder_with_capacity_allocates_once_up_front() {
    let (calls, peak) = measure(|| {
        let mut enc = neopack::Encoder::with_capacity(64);
        // 61 bytes of 64: a str of 57 (tag, length, bytes) and a u8 (tag, byte).
        enc.str(&"x".repeat(57)).unwrap();
        enc.u8(1).unwrap();
        assert_eq!(enc.len(), 61);
        enc
    });
    // The buffer, and the 57-byte string to write: the encoder never grew its buffer.
    assert_eq!(calls, 2);
    assert_eq!(peak, 64 + 57);
}
