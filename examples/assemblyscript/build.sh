#! /bin/bash
# Builds game.wasm from game.ts with the AssemblyScript compiler from npm
# (npm exec fetches it; the built .wasm is committed, so the tests need no
# compiler).
set -euo pipefail
cd "$(dirname "$0")"
OUT=${OUT:-.}
npm exec --yes --package=assemblyscript@0.28.20 -- \
    asc game.ts -O3 --runtime incremental -o "$OUT/game.wasm"
