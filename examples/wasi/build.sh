#! /bin/bash
# Builds the WASI test programs with Debian's clang 16 and wasi-libc:
#   apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32
# The built .wasm files are committed; `__test__/wasi.test.js` rebuilds them
# (when clang-16 is installed) and checks that the build still works.
# OUT=dir writes the .wasm files there instead of next to the sources.
set -euo pipefail
cd "$(dirname "$0")"
CLANG=${CLANG:-clang-16}
OUT=${OUT:-.}
for src in *.c; do
    name=${src%.c}
    "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -o "$OUT/$name.wasm" "$src"
done
