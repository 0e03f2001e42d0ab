//! `counter-server`: exports the `counter` resource of `exorun:apps/counters`.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/counter-server",
    generate_all,
});

use std::cell::Cell;

use exports::exorun::apps::counters::{Counter, Guest, GuestCounter};

struct Component;

impl Guest for Component {
    type Counter = CounterImpl;

    fn make(start: u32) -> Counter {
        Counter::new(CounterImpl::new(start))
    }
}

struct CounterImpl {
    value: Cell<u32>,
}

impl GuestCounter for CounterImpl {
    fn new(start: u32) -> Self {
        CounterImpl {
            value: Cell::new(start),
        }
    }

    fn incr(&self) -> u32 {
        let value = self.value.get().wrapping_add(1);
        self.value.set(value);
        value
    }
}

export!(Component);
