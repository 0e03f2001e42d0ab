#!/usr/bin/env bash
# The README's test command: everything CI runs, from a fresh clone with no target/.
#   1. installs what it needs (the wasm32-wasip2 target, clippy, rustfmt; Chromium if missing),
#   2. checks formatting and an architecture invariant (neorpc builds without wasmtime),
#   3. builds the guest apps and runs every test, normal and simulated (--cfg madsim),
#      the simulator's included (exorun-sim: planted bugs caught, seeds passing, determinism,
#      its HTML picture of a run opened in headless Chromium) and the end-to-end tests of
#      tests/ (exorun-tests: the exorun-sim CLI and scripts/sim.sh, run as child processes),
#   4. replays the corpus (exorun-sim corpus check),
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

step "architecture invariant: neorpc's frame, error and schema build without wasmtime"
cargo check -p neorpc --no-default-features

step "guest apps (wasm32-wasip2) into the test fixtures"
scripts/build_apps.sh

# One cargo invocation per build mode, so that wasmtime and its dependents compile once per mode
# with one feature set (per-package invocations each resolved their own features and rebuilt them).
step "every crate's tests (tokio): neopack, neorpc, exorun, exorun-sim's plain parts, tests/"
cargo test --workspace

step "chromium, for the test that opens the simulator's HTML picture of a run in a browser"
# sim/tests/all/html.rs renders a failing seed's page and loads it in headless Chromium to prove
# that its script runs without an error; the test fails if no browser is found.
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || {
  apt-get update -qq && apt-get install -y -qq chromium
}

step "exorun, the simulator and the end-to-end tests under --cfg madsim (plants, seeds, determinism, the CLI)"
simulated() {
  RUSTFLAGS="${RUSTFLAGS:-} --cfg madsim" RUSTDOCFLAGS="${RUSTDOCFLAGS:-} --cfg madsim" \
    CARGO_TARGET_DIR="$root/target/sim" "$@"
}
# exorun-tests builds the exorun-sim binary itself (same flags, target directory and profile)
# and runs it, and scripts/sim.sh, as a user does.
simulated cargo test -p exorun -p exorun-sim -p exorun-tests

step "the corpus: every entry of corpus/ replays with its outcome and trace hash"
simulated cargo run -p exorun-sim -- corpus check

step "clippy (all targets, warnings are errors; normal and --cfg madsim)"
cargo clippy --workspace --all-targets -- -D warnings
simulated cargo clippy -p exorun -p exorun-sim -p exorun-tests --all-targets -- -D warnings

step "all checks passed"
