#!/usr/bin/env bash
# Fuzzes engram's file readers with libFuzzer (clang, ASan + UBSan), each
# target for SECONDS (default 60), starting from tests/fuzz/corpus/<target>.
# New inputs that reach new code go to fuzz-corpus/<target>/ (git-ignored);
# a crash leaves its input in fuzz-findings/<target>/ and ends the script
# with exit 1. One line per target; libFuzzer's output is in logs/fuzz-<target>.log.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 600 fuzz_idx
# ENGRAM_FUZZ_SEED=N fixes libFuzzer's random seed (CI: a failure then
# reproduces with the same seed); unset, every run explores differently.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true

bash scripts/setup.sh --no-build --fuzz
mkdir -p logs
if [ ! -f build-fuzz/build.ninja ]; then
  # -O1 -g1: fast enough to fuzz, with line numbers in the sanitizers' reports.
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DENGRAM_CUDA=OFF -DENGRAM_FUZZ=ON \
        -DENGRAM_SANITIZE=address,undefined >logs/fuzz-build.log
fi
echo "engram fuzz: building the targets in build-fuzz/ (details in logs/fuzz-build.log)"
cmake --build build-fuzz --target engram_fuzzers >>logs/fuzz-build.log 2>&1 || {
  tail -n 30 logs/fuzz-build.log >&2
  exit 1
}

targets=("$@")
((${#targets[@]})) || targets=($(cd tests/fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//'))
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for target in "${targets[@]}"; do
  mkdir -p "fuzz-corpus/$target" "fuzz-findings/$target"
  log="logs/fuzz-$target.log"
  # -rss_limit_mb / -malloc_limit_mb: an input that makes a reader allocate
  # what its file size cannot justify is a finding, not a slow run.
  if OMP_NUM_THREADS=1 "build-fuzz/tests/fuzz/$target" "fuzz-corpus/$target" "tests/fuzz/corpus/$target" \
       -max_total_time="$seconds" -seed="${ENGRAM_FUZZ_SEED:-0}" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=30 -print_final_stats=1 \
       -artifact_prefix="fuzz-findings/$target/" >"$log" 2>&1; then
    status=ok
  else
    status="CRASH (input in fuzz-findings/$target/, report in $log)"
    failed=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1 || true)
  edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  echo "engram fuzz: $target ${seconds}s: ${runs:-?} executions, ${edges:-?} coverage edges: $status"
done
exit $failed
