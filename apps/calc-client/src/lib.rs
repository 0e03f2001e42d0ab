//! `calc-client`: `runner.run(a, b)` returns what the imported `calc.add(a, b)` returned.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/calc-client",
    generate_all,
});

use core::hint::black_box;
use exorun::apps::calc;
use exports::exorun::apps::runner::Guest;

struct Component;

impl Guest for Component {
    fn run(a: i32, b: i32) -> i32 {
        if black_box(false) {
            import_whole_contract();
        }
        calc::add(a, b)
    }
}

/// Never runs. The component's `calc` import keeps only the functions the code references,
/// so without this it would import `add` alone and link against `calc-lite`, which lacks `sum`.
fn import_whole_contract() {
    calc::sum(&[]);
    calc::greet(&calc::Person {
        name: String::new(),
        age: 0,
    });
}

export!(Component);
