#!/usr/bin/env bash
# The GPU check, for a Linux x86-64 machine with an NVIDIA H100/H200, nvcc,
# CMake and ninja but no network: build with CUDA and cuDNN, run the whole
# CTest suite, compute-sanitizer (memcheck) over the CUDA tests, and the
# benchmarks. Logs and JSON go to $OUT (default ./gpu-check-out). Needs .deps/
# from scripts/stage-deps.sh. Designed to finish in under 6 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
summary="$OUT/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
export PATH=/usr/local/cuda/bin:$PATH
jobs=$(nproc)

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /' | tee -a "$summary"
nvcc --version | tail -1 | sed 's/^/nvcc: /' | tee -a "$summary"

# cuDNN: the system's, else the one inside the nvidia.cudnn Python package.
cudnn_root=""
if ! ls /usr/include/cudnn.h /usr/local/cuda/include/cudnn.h >/dev/null 2>&1; then
  cudnn_root=$(python3 -c "import nvidia.cudnn as m; print(list(m.__path__)[0])" 2>/dev/null || true)
fi
note "cudnn root: ${cudnn_root:-system}"

t0=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DENGRAM_CUDA=ON -DENGRAM_CUDNN=ON \
      ${cudnn_root:+-DCUDNN_ROOT=$cudnn_root} >"$OUT/build.log" 2>&1 &&
  cmake --build build-gpu -j "$jobs" >>"$OUT/build.log" 2>&1
build_status=$?
note "build: exit $build_status in $(( $(date +%s) - t0 )) s"
if [ $build_status -ne 0 ]; then
  tail -40 "$OUT/build.log"
  exit 1
fi
[ -n "$cudnn_root" ] && export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"
export ENGRAM_DATA_DIR="$PWD/.deps/fashion-mnist"

t0=$(date +%s)
ctest --test-dir build-gpu --output-on-failure -j 8 --timeout 240 >"$OUT/ctest.log" 2>&1
note "ctest: exit $? in $(( $(date +%s) - t0 )) s: $(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tail -1)"
grep -E "Failed|\*\*\*" "$OUT/ctest.log" | sed 's/^/  /' | tee -a "$summary"

# memcheck, four test programs at a time; each program's verdict in one line.
t0=$(date +%s)
ls build-gpu/tests/cuda_test_* | xargs -P 4 -I{} sh -c \
  'timeout 200 compute-sanitizer --tool memcheck --error-exitcode 99 --print-limit 20 {} >{}.memcheck 2>&1; echo "$(basename {}): exit $?"' \
  | sort | tee "$OUT/sanitizer-summary.txt"
cat build-gpu/tests/cuda_test_*.memcheck >"$OUT/sanitizer.log" 2>/dev/null
note "memcheck: $(grep -c ': exit 0$' "$OUT/sanitizer-summary.txt") clean of $(wc -l <"$OUT/sanitizer-summary.txt") programs in $(( $(date +%s) - t0 )) s; $(grep -h 'ERROR SUMMARY' build-gpu/tests/cuda_test_*.memcheck | sort | uniq -c | tr '\n' ';')"

t0=$(date +%s)
if [ -x build-gpu/benchmarks/bench_kernels ]; then
  timeout 150 build-gpu/benchmarks/bench_kernels >"$OUT/bench_kernels.json" 2>"$OUT/bench_kernels.err"
  note "bench_kernels: exit $? in $(( $(date +%s) - t0 )) s"
fi
cat "$summary"
