//! `calc-proxy`: exports `calc` by forwarding every call to the imported `calc`, so that local
//! links can be chained (client → proxy → server) and shared.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/calc-proxy",
    generate_all,
});

use exorun::apps::calc;
use exports::exorun::apps::calc::{Guest, Person};

struct Component;

impl Guest for Component {
    fn add(a: i32, b: i32) -> i32 {
        calc::add(a, b)
    }

    fn sum(xs: Vec<u32>) -> u64 {
        calc::sum(&xs)
    }

    fn greet(p: Person) -> String {
        calc::greet(&calc::Person {
            name: p.name,
            age: p.age,
        })
    }
}

export!(Component);
