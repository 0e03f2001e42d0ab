//! `memory-hog`: `hog(mib)` allocates and touches `mib` MiB of linear memory.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/memory-hog",
    generate_all,
});

use core::hint::black_box;
use exports::exorun::apps::hog::Guest;

struct Component;

const MIB: usize = 1024 * 1024;
/// One write per 4 KiB (a host page; a wasm page is 64 KiB) touches every page the Vec spans.
const STRIDE: usize = 4096;

impl Guest for Component {
    fn hog(mib: u32) -> u64 {
        // More than the 32-bit address space traps here, as an allocation failure does.
        let Some(len) = (mib as usize).checked_mul(MIB) else {
            panic!("hog: {mib} MiB exceeds the address space");
        };
        // Uninitialized capacity, so that no memset burns fuel in proportion to the size: the
        // cost is one write per page, and the limit that stops a large hog is memory, not fuel.
        let mut bytes: Vec<u8> = Vec::with_capacity(len);
        let spare = bytes.spare_capacity_mut();
        for i in (0..len).step_by(STRIDE) {
            spare[i] = core::mem::MaybeUninit::new(1);
        }
        black_box(&bytes);
        len as u64
    }
}

export!(Component);
