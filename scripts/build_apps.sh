#!/usr/bin/env bash
# Builds the guest components in apps/ and copies them to the exorun test fixtures.
#
#   scripts/build_apps.sh    (from any directory)
#
# One cargo invocation builds every app. Each app is a directory apps/<world-name>/ holding a
# cdylib crate of that name; its artifact apps/target/wasm32-wasip2/release/<world_name>.wasm
# becomes crates/exorun/tests/fixtures/<world-name>.wasm.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
apps_dir="$root/apps"
target=wasm32-wasip2
artifact_dir="$apps_dir/target/$target/release"
fixture_dir="$root/crates/exorun/tests/fixtures"
# The preamble of a component binary (layer 1, version 0xd); a core module has 01 00 00 00.
component_magic="0061736d0d000100"

rustup target add "$target" >/dev/null 2>&1 || {
  echo "build_apps: 'rustup target add $target' failed" >&2
  exit 1
}

# The apps are a workspace of their own with a target directory of their own: the caller's
# RUSTFLAGS and CARGO_TARGET_DIR are for the host workspace (`--cfg madsim` from scripts/sim.sh
# or a simulated test), and would rebuild every app or put it where this script does not look.
env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS \
  cargo build --release --locked --target "$target" --manifest-path "$apps_dir/Cargo.toml" \
  --target-dir "$apps_dir/target"

mkdir -p "$fixture_dir"
for manifest in "$apps_dir"/*/Cargo.toml; do
  app="$(basename "$(dirname "$manifest")")"
  artifact="$artifact_dir/${app//-/_}.wasm"
  if [[ ! -f "$artifact" ]]; then
    echo "build_apps: no artifact $artifact for app $app (is it a workspace member?)" >&2
    exit 1
  fi
  magic="$(head -c 8 "$artifact" | od -An -tx1 | tr -d ' \n')"
  if [[ "$magic" != "$component_magic" ]]; then
    echo "build_apps: $artifact is not a component (starts with $magic)" >&2
    exit 1
  fi
  fixture="$fixture_dir/$app.wasm"
  # A changed app replaces its fixture in one rename, so that a simulator or test reading the
  # fixtures meanwhile sees the old file or the new one, never half of one.
  if ! cmp -s "$artifact" "$fixture"; then
    cp "$artifact" "$fixture.tmp.$$"
    mv -f "$fixture.tmp.$$" "$fixture"
  fi
  printf '%-20s %8d bytes\n' "$app.wasm" "$(wc -c <"$fixture")"
done
