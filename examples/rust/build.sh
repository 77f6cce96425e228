#! /bin/bash
# Builds imports.wasm from imports.rs with rustc's wasm32-unknown-unknown
# target (rustup target add wasm32-unknown-unknown). The built .wasm is
# committed; the tests need no Rust wasm target.
set -euo pipefail
cd "$(dirname "$0")"
RUSTC=${RUSTC:-rustc}
OUT=${OUT:-.}
"$RUSTC" --edition 2021 --target wasm32-unknown-unknown --crate-type cdylib \
    -C opt-level=2 -C strip=symbols -o "$OUT/imports.wasm" imports.rs
chmod -x "$OUT/imports.wasm"
