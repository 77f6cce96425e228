#! /bin/bash
# Builds rust.wasm from rust.rs with rustc's wasm32-wasip1 target
#   rustup target add wasm32-wasip1
# and records in rust.expected what the same source prints built natively,
# run with the arguments, environment and stdin the tests give it. Both are
# committed; the tests compare the guest's output with rust.expected.
# OUT=dir writes the files there instead of next to the source.
set -euo pipefail
cd "$(dirname "$0")"
RUSTC=${RUSTC:-rustc}
OUT=${OUT:-.}
flags=(--edition 2021 -C opt-level=2)
"$RUSTC" "${flags[@]}" --target wasm32-wasip1 -C strip=symbols -o "$OUT/rust.wasm" rust.rs
native=$(mktemp -d)
trap 'rm -rf "$native"' EXIT
"$RUSTC" "${flags[@]}" -o "$native/rust" rust.rs
env -i LANG=C X=1 "$native/rust" run a b < rust.stdin > "$OUT/rust.expected"
