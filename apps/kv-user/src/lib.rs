//! `kv-user`: the `kv-ops` calls forwarded one to one to the host's `exorun:system/kv`.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/kv-user",
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
