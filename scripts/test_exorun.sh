#!/usr/bin/env bash
# Builds the guest fixtures, then runs exorun's tests natively and under the madsim simulator.
#
#   scripts/test_exorun.sh    (from any directory)
#
# The simulated build uses its own target directory (target/sim): `--cfg madsim` changes every
# crate's build, and sharing target/ would rebuild the world on each switch. RUSTDOCFLAGS carries
# the cfg too, or the doctests would compile exorun without it against simulated dependencies.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/build_apps.sh"

echo "exorun: tests (tokio)"
cargo test -p exorun

echo "exorun: tests (madsim)"
RUSTFLAGS="${RUSTFLAGS:-} --cfg madsim" RUSTDOCFLAGS="${RUSTDOCFLAGS:-} --cfg madsim" \
  CARGO_TARGET_DIR="$root/target/sim" cargo test -p exorun
