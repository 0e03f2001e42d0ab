//! `chatter`: writes to stdout and reads from stdin, through Rust's standard library (so through
//! `wasi:io` streams and their blocking functions).

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/chatter",
    generate_all,
});

use std::io::{BufRead, Write};

use exports::exorun::apps::chat::Guest;

struct Component;

impl Guest for Component {
    fn say(line: String) {
        let mut out = std::io::stdout().lock();
        // A failed write has nowhere to be reported; the test reads what arrived.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn listen() -> Option<String> {
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches('\n').to_owned()),
        }
    }
}

export!(Component);
