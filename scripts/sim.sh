#!/usr/bin/env bash
# The README's main job: explores seeds of the built-in default scenario, or whatever
# exorun-sim ARGS says.
#
#   scripts/sim.sh                      # explore 2000 seeds of the default scenario
#   scripts/sim.sh run --seed 42 --trace
#   scripts/sim.sh explore --seeds 500 --plant double-execute
#
# On a fresh machine it installs what it needs (the wasm32-wasip2 target), builds the guest
# apps, then builds exorun-sim in release with `--cfg madsim` in its own target directory
# (target/sim, shared with the simulated test build; release and debug live side by side).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
scripts/build_apps.sh >/dev/null

RUSTFLAGS="${RUSTFLAGS:-} --cfg madsim" CARGO_TARGET_DIR="$root/target/sim" \
  cargo build --release --locked -p exorun-sim --quiet

if [[ $# -eq 0 ]]; then
  set -- explore --seeds 2000
fi
exec "$root/target/sim/release/exorun-sim" "$@"
