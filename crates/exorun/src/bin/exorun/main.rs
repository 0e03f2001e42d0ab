//! `exorun`: run components as a service, and call them, without writing Rust.
//!
//! ```text
//! exorun serve --listen 127.0.0.1:7000 --app calc=calc-server.wasm --expose calc=exorun:apps/calc@0.1.0
//! exorun call 127.0.0.1:7000 calc add 2 3
//! ```

#[cfg(not(madsim))]
mod node;

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    node::main()
}

#[cfg(madsim)]
fn main() {
    eprintln!("the exorun node binary does not run in a --cfg madsim build");
    std::process::exit(2);
}
