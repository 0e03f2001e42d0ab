//! `counter-client`: makes an imported `counter` at 41, increments it once, returns 42.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/counter-client",
    generate_all,
});

use core::hint::black_box;
use exorun::apps::counters::{self, Counter};
use exports::exorun::apps::counter_run::Guest;

struct Component;

impl Guest for Component {
    fn run() -> u32 {
        if black_box(false) {
            import_whole_contract();
        }
        let counter = counters::make(41);
        counter.incr()
    }
}

/// Never runs. The component's `counters` import keeps only the functions the code
/// references, so without this it would lack the `counter` constructor.
fn import_whole_contract() {
    Counter::new(0);
}

export!(Component);
