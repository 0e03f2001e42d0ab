//! `calc-server`: the reference implementation of `exorun:apps/calc`.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/calc-server",
    generate_all,
});

use exports::exorun::apps::calc::{Guest, Person};

struct Component;

impl Guest for Component {
    fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }

    fn sum(xs: Vec<u32>) -> u64 {
        xs.into_iter().map(u64::from).sum()
    }

    fn greet(p: Person) -> String {
        format!("hello {}, {}", p.name, p.age)
    }
}

export!(Component);
