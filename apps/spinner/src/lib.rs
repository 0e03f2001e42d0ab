//! `spinner`: `spin()` never returns; the host must stop it (fuel, epoch).

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/spinner",
    generate_all,
});

use core::hint::black_box;
use exports::exorun::apps::spin::Guest;

struct Component;

impl Guest for Component {
    fn spin() -> u64 {
        // `black_box` keeps the optimizer from proving the loop side-effect free.
        let mut count: u64 = 0;
        loop {
            count = black_box(count.wrapping_add(1));
        }
    }
}

export!(Component);
