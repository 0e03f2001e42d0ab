#!/usr/bin/env bash
# The README's test command: everything CI runs, from a fresh clone with no target/.
#   1. installs what it needs (the wasm32-wasip2 target, clippy, rustfmt),
#   2. checks formatting,
#   3. builds the guest apps and runs every test, normal and simulated (--cfg madsim),
#      the simulator's included (exorun-sim: planted bugs caught, seeds passing, determinism,
#      its HTML picture of a run opened in headless Chromium, which it installs if missing),
#      then replays the corpus (exorun-sim corpus check),
#   4. checks an architecture invariant (neorpc builds without wasmtime),
#   5. runs clippy on every target with warnings as errors, in both builds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: wasm32-wasip2, clippy, rustfmt"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
rustup component add clippy rustfmt >/dev/null 2>&1 || true

step "format"
cargo fmt --all --check

step "neopack, neorpc and the simulator's plain parts (scenarios, trace, checkers)"
cargo test -p neopack -p neorpc -p exorun-sim

step "architecture invariant: neorpc's frame, error and schema build without wasmtime"
cargo check -p neorpc --no-default-features

step "exorun: guest apps, then the tests (normal and --cfg madsim)"
scripts/test_exorun.sh

step "chromium, for the test that opens the simulator's HTML picture of a run in a browser"
# sim/tests/all/html.rs renders a failing seed's page and loads it in headless Chromium to prove
# that its script runs without an error; the test fails if no browser is found.
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || {
  apt-get update -qq && apt-get install -y -qq chromium
}

step "the simulator: exorun-sim's tests (--cfg madsim)"
simulated() {
  RUSTFLAGS="${RUSTFLAGS:-} --cfg madsim" RUSTDOCFLAGS="${RUSTDOCFLAGS:-} --cfg madsim" \
    CARGO_TARGET_DIR="$root/target/sim" "$@"
}
simulated cargo test -p exorun-sim

step "the corpus: every entry of corpus/ replays with its outcome and trace hash"
simulated cargo run -p exorun-sim -- corpus check

step "clippy (all targets, warnings are errors; normal and --cfg madsim)"
cargo clippy --workspace --all-targets -- -D warnings
simulated cargo clippy -p exorun -p exorun-sim --all-targets -- -D warnings

step "all checks passed"
