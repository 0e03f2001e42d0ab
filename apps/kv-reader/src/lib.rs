//! `kv-reader`: the same as `kv-user`; the diamond test reads through this app.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/kv-reader",
    generate_all,
});

use exorun::system::kv;
use exports::exorun::apps::kv_ops::Guest;

struct Component;

impl Guest for Component {
    fn put(key: String, value: String) {
        kv::set(&key, &value);
    }

    fn fetch(key: String) -> Option<String> {
        kv::get(&key)
    }

    fn bump(key: String) -> u64 {
        kv::incr(&key)
    }
}

export!(Component);
