//! `calc-skew`: a calc server whose `exorun:apps/calc` `add` is `s64` (see `wit/calc.wit`),
//! for link-time contract tests.

wit_bindgen::generate!({ path: "wit", world: "calc-skew" });

use exports::exorun::apps::calc::{Guest, Person};

struct Component;

impl Guest for Component {
    fn add(a: i64, b: i64) -> i64 {
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
