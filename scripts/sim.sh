#!/usr/bin/env bash
# The README's main job: explores seeds of the built-in default scenario, or whatever
# exorun-sim ARGS says.
#
#   scripts/sim.sh                      # explore 2000 seeds of the default scenario, a
#                                       # worker thread per core
#   scripts/sim.sh run --seed 42 --trace
#   scripts/sim.sh explore --seeds 500 --plant double-execute
#
# On a fresh machine it installs what it needs (the wasm32-wasip2 target), builds the guest
# apps, then builds exorun-sim with `--cfg madsim` in its own target directory (target/sim,
# shared with the simulated test build; release and debug live side by side).
#
#   EXORUN_SIM_PROFILE=release   the cargo profile to build exorun-sim in (default release);
#                                `dev` reuses the simulated test build's debug binary instead
#                                of compiling wasmtime once more (the end-to-end test does so).
#
# `--cfg madsim` is added to RUSTFLAGS unless it is there already: cargo rebuilds everything
# when the flags change, and a caller already in the simulated build (a test) has it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

profile="${EXORUN_SIM_PROFILE:-release}"
# Cargo's output directory for a profile: dev (and test) build into debug, bench into release.
case "$profile" in
  dev | test) profile_dir=debug ;;
  bench) profile_dir=release ;;
  "" | *[!A-Za-z0-9_-]*)
    echo "sim.sh: EXORUN_SIM_PROFILE='$profile': expected a cargo profile (dev, release)" >&2
    exit 2
    ;;
  *) profile_dir="$profile" ;;
esac

rustflags="${RUSTFLAGS:-}"
case " $rustflags " in
  *" --cfg madsim "*) ;;
  *) rustflags="${rustflags:+$rustflags }--cfg madsim" ;;
esac

rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
scripts/build_apps.sh >/dev/null

RUSTFLAGS="$rustflags" CARGO_TARGET_DIR="$root/target/sim" \
  cargo build --profile "$profile" --locked -p exorun-sim --quiet

if [[ $# -eq 0 ]]; then
  # A worker thread per core (at most exorun-sim's 256): the summary does not depend on it.
  jobs="$(nproc 2>/dev/null || echo 1)"
  if ((jobs > 256)); then jobs=256; fi
  set -- explore --seeds 2000 --jobs "$jobs"
fi
exec "$root/target/sim/$profile_dir/exorun-sim" "$@"
