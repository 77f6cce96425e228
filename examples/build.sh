#! /bin/bash
# Builds the example programs exactly as the seed does (clang → LLVM IR →
# llc → wasm-ld with an imported memory), with the LLVM 16 tools:
#   apt-get install clang-16 llvm-16 lld-16
# The built .wasm files are committed, so the demo needs none of this.
set -euo pipefail
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-16}
LLC=${LLC:-llc-16}
WASM_LD=${WASM_LD:-wasm-ld-16}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for name in example count; do
    "$CLANG" --target=wasm32 -emit-llvm -c -S "$name.c" -o "$tmp/$name.ll"
    "$LLC" -march=wasm32 -filetype=obj "$tmp/$name.ll" -o "$tmp/$name.o"
    "$WASM_LD" --no-entry --export-all --import-memory -o "$name.wasm" "$tmp/$name.o"
done
