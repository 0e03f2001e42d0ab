//! `calc-lite`: a calc server whose `exorun:apps/calc` lacks `sum` (see `wit/calc.wit`),
//! for link-time contract tests.

wit_bindgen::generate!({ path: "wit", world: "calc-lite" });

use exports::exorun::apps::calc::{Guest, Person};

struct Component;

impl Guest for Component {
    fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }

    fn greet(p: Person) -> String {
        format!("hello {}, {}", p.name, p.age)
    }
}

export!(Component);
