//! `file-reader`: reads a file through WASI preopens; errors name the kind and errno only.

wit_bindgen::generate!({
    path: ["../wit/system.wit", "../wit/apps.wit"],
    world: "exorun:apps/file-reader",
    generate_all,
});

use exports::exorun::apps::files::Guest;

struct Component;

impl Guest for Component {
    fn read_file(path: String) -> Result<String, String> {
        std::fs::read_to_string(&path).map_err(|e| describe(&e))
    }
}

/// `"<kind> (errno <n>)"`: never the path, which may be a host path.
fn describe(e: &std::io::Error) -> String {
    format!("{:?} (errno {})", e.kind(), e.raw_os_error().unwrap_or(-1))
}

export!(Component);
