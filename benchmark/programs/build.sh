#!/usr/bin/env sh
# Builds the benchmark programs (the .wasm files are committed; run this
# after changing a .c file). Needs Debian's clang-16 and lld-16, and for
# libc.c wasi-libc and libclang-rt-16-dev-wasm32.
set -eu
cd "$(dirname "$0")"
for src in *.c; do
  case "$src" in
    libc.c)
      clang-16 --target=wasm32-wasi --sysroot=/usr -O2 -o libc.wasm libc.c ;;
    *)
      clang-16 --target=wasm32 -O2 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--allow-undefined \
        -Wl,-z,stack-size=32768 -fuse-ld=lld -o "${src%.c}.wasm" "$src" ;;
  esac
done
