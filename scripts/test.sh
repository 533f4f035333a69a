#!/usr/bin/env bash
# Builds engram (installing what is missing) and runs the whole test suite.
#   scripts/test.sh              Release build in build/, CUDA code compiled when nvcc exists;
#                                CUDA tests run on a GPU and are reported skipped without one.
#   scripts/test.sh --sanitize   ASan/UBSan build in build-asan/ with the CUDA backend on the host
#                                runtime (ENGRAM_CUDA=HOST): every CUDA test runs on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

# The include rules (docs/architecture.md) before anything is built.
bash scripts/check-layering.sh

if [ "${1:-}" = "--sanitize" ]; then
  bash scripts/setup.sh --no-build
  # -g1: line tables for the sanitizers' reports, a quarter less compile time than -g.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
        -DENGRAM_CUDA=HOST -DENGRAM_SANITIZE=address,undefined >/dev/null
  cmake --build build-asan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --test-dir build-asan --output-on-failure -j2
else
  bash scripts/setup.sh
  ctest --test-dir build --output-on-failure -j2
fi
