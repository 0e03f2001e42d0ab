//! `dice`: reads the wall clock and draws a random number, the two things a guest can ask the
//! host for that differ between runs unless the host makes them deterministic.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/dice",
    generate_all,
});

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use exports::exorun::apps::chance::Guest;

struct Component;

impl Guest for Component {
    fn roll() -> (u64, u64) {
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let random = random_u64();
        println!("roll wall_ns={wall_ns} random={random:016x}");
        (wall_ns, random)
    }
}

/// A u64 drawn from the host's randomness: std seeds each `RandomState` from `wasi:random`, so
/// hashing a constant with a fresh one yields a value only those random keys determine.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish()
}

export!(Component);
