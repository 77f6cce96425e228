#! /bin/bash
# Builds compute.emscripten.wasm and stdio.emscripten.wasm from the same C
# sources with Emscripten's standalone WASI output (Debian's emscripten
# 3.1.6: apt-get install emscripten), with 1 MiB of memory that does not
# grow (growth would import env.emscripten_notify_memory_growth). The built
# .wasm files are committed;
# __test__/wasi.test.js checks that they print what the clang builds print.
set -euo pipefail
cd "$(dirname "$0")"
EMCC=${EMCC:-emcc}
OUT=${OUT:-.}
for name in compute stdio; do
    "$EMCC" -O2 -sSTANDALONE_WASM -sTOTAL_STACK=65536 -sINITIAL_MEMORY=1048576 -o "$OUT/$name.emscripten.wasm" "$name.c"
    chmod -x "$OUT/$name.emscripten.wasm"
done
