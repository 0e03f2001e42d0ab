//! `logger-user`: logs two fixed lines through the host's `exorun:system/logging`.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/logger-user",
    generate_all,
});

use exorun::system::logging::log;
use exports::exorun::apps::logger_run::Guest;

struct Component;

impl Guest for Component {
    fn run() {
        log("logger-user: started");
        log("logger-user: done");
    }
}

export!(Component);
