#!/usr/bin/env bash
# The GPU check: the one script run when a machine with an NVIDIA H100/H200
# is lent for a few minutes (nvcc, CMake, ninja; no network, no apt; the
# header-only libraries and Fashion-MNIST in .deps/ from scripts/stage-deps.sh;
# cuDNN from the system or the nvidia.cudnn Python package). In order:
#
#   1 build        build-gpu/: Release, ENGRAM_CUDA=ON, cuDNN, all cores
#   2 ctest        the whole CTest suite (ops.test_op_parity runs every op case on every backend)
#   3 sanitizer    compute-sanitizer memcheck and racecheck over every CUDA test program, in
#                  parallel with ctest, a timeout per program, one verdict line per program and tool
#   4 bench_kernels  handwritten GEMM/conv vs cuBLAS/cuDNN (GFLOP/s and ratios)
#   5 bench_train  ResNet-20 batch 128 on 1x28x28 and 3x32x32, --step plain and online-kd,
#                  engram and (if it imports with CUDA) the PyTorch twin
#   6 spaced_kd    examples/spaced_kd, GPU budget, one seed, 2 epochs, with its wall time
#
# Every stage runs under `timeout`, with budgets taken from one deadline
# (GPU_CHECK_SECONDS, default 560 s from the start), so the script ends in
# under ~9.5 minutes; a failing stage does not stop the next one. Everything
# goes to $OUT (default ./gpu-check-out), at most 8 files, each under 16 MiB:
#   summary.md, summary.json  per stage: exit status, wall and limit seconds, key figures
#   build.log, ctest.log, sanitizer.log, bench.json, bench.log, spaced_kd.log
# Exit status: 0 when every stage passed, 1 otherwise (the summaries say which).
#   OUT=/tmp/out scripts/gpu-check.sh
#   GPU_CHECK_STEPS="plain online-kd eval" scripts/gpu-check.sh   # bench_train steps
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-check-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
export PATH=/usr/local/cuda/bin:$PATH
JOBS=$(nproc)
BUILD=build-gpu
STEPS=${GPU_CHECK_STEPS:-plain online-kd}
SHAPES="1,28,28 3,32,32"

T0=$(date +%s)
DEADLINE=$((T0 + ${GPU_CHECK_SECONDS:-560}))
left() { echo $((DEADLINE - $(date +%s))); }
# budget MAX RESERVE: seconds for a stage, min(MAX, what is left - RESERVE for the stages after
# it), at least 1 (`timeout 0` would mean no limit at all).
budget() {
  local b=$(($(left) - $2))
  ((b > $1)) && b=$1
  ((b < 1)) && b=1
  echo "$b"
}
# record STAGE EXIT WALL LIMIT [NOTE]: one line of $WORK/stages.tsv for the summaries.
record() {
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$WORK/stages.tsv"
  echo "== $1: exit $2 in $3 s (limit $4 s)${5:+ - $5}"
}
: >"$WORK/stages.tsv"
: >"$OUT/bench.log"

# ---- the machine -------------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
  echo "nvcc: $(nvcc --version 2>/dev/null | tail -1)"
  echo "cmake: $(cmake --version 2>/dev/null | head -1)"
  echo "cores: $JOBS"
  echo "compute-sanitizer: $(command -v compute-sanitizer || echo missing)"
} >"$WORK/env.txt"

# cuDNN: the system's, else the one inside the nvidia.cudnn Python package.
cudnn_root=""
cudnn=system
if ! ls /usr/include/cudnn*.h /usr/include/*-linux-gnu/cudnn*.h /usr/local/cuda/include/cudnn*.h >/dev/null 2>&1; then
  cudnn_root=$(python3 -c "import nvidia.cudnn as m; print(list(m.__path__)[0])" 2>/dev/null || true)
  cudnn=${cudnn_root:-none}
fi
echo "cudnn: $cudnn" >>"$WORK/env.txt"
cat "$WORK/env.txt"
if [ -n "$cudnn_root" ]; then
  export LD_LIBRARY_PATH="$cudnn_root/lib:${LD_LIBRARY_PATH:-}"
  export CUDNN_ROOT=$cudnn_root
fi
# AUTO, not ON: a cuDNN that CMake cannot find costs the cuDNN twins, not the whole check
# (the build line of the summary says whether they were built).
cudnn_mode=AUTO

# ---- 1 build -------------------------------------------------------------------------------------
# Reserve for the later stages: tests 80 s, kernels 30, train 30, spaced_kd 60, summary 20.
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
configure() {
  timeout -k 5 "$(budget 90 220)" cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DENGRAM_CUDA=ON -DENGRAM_CUDNN="$cudnn_mode" ${cudnn_root:+-DCUDNN_ROOT="$cudnn_root"} >>"$OUT/build.log" 2>&1
}
start=$(date +%s)
: >"$OUT/build.log"
configure
rc=$?
if [ $rc -ne 0 ] && [ -f "$BUILD/CMakeCache.txt" ]; then
  echo "== configure failed with an existing $BUILD/; configuring from scratch" >>"$OUT/build.log"
  rm -rf "$BUILD"
  configure
  rc=$?
fi
limit=$(budget 420 220)
if [ $rc -eq 0 ]; then
  keep_going=()
  [ ${#generator[@]} -gt 0 ] && keep_going=(-- -k 0)  # build every target that compiles
  timeout -k 10 "$limit" cmake --build "$BUILD" -j "$JOBS" "${keep_going[@]}" >>"$OUT/build.log" 2>&1
  rc=$?
fi
errors=$(grep -cE 'error:|error [A-Z]?[0-9]+:' "$OUT/build.log")
twins=$(grep -q 'cuDNN variants ON' "$OUT/build.log" && echo "cuDNN twins built" || echo "no cuDNN twins (this configure)")
record build $rc $(($(date +%s) - start)) "$limit" "$errors error lines; cudnn $cudnn; $twins"
[ $rc -ne 0 ] && tail -30 "$OUT/build.log"

export ENGRAM_DATA_DIR=$ROOT/.deps/fashion-mnist
[ -d "$ENGRAM_DATA_DIR" ] || export ENGRAM_DATA_DIR=/usr/share/datasets/fashion-mnist

# ---- 2 ctest and 3 compute-sanitizer, side by side ---------------------------------------------
window=$(budget 240 140)
programs=()
for p in "$BUILD"/tests/cuda_test_* "$BUILD"/tests/test_op_parity; do
  [ -f "$p" ] && [ -x "$p" ] && [[ $(basename "$p") != *.* ]] && programs+=("$p")
done
mkdir -p "$WORK/sanitizer"
cat >"$WORK/sanitize-one.sh" <<'EOF'
#!/usr/bin/env bash
# sanitize-one.sh LIMIT END DIR TOOL PROGRAM: TOOL over PROGRAM for at most LIMIT seconds and not
# past the epoch second END; one verdict file DIR/NAME.TOOL.verdict, the log beside it.
limit=$1 end=$2 dir=$3 tool=$4 prog=$5
name=$(basename "$prog")
log="$dir/$name.$tool.log"
t=$((end - $(date +%s)))
((t < limit)) && limit=$t
if ((limit < 5)); then
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tool" "NOT RUN (window over)" - 0 "" >"$dir/$name.$tool.verdict"
  exit 0
fi
start=$(date +%s)
timeout -k 5 "$limit" compute-sanitizer --tool "$tool" --error-exitcode 99 --print-limit 20 "$prog" >"$log" 2>&1
rc=$?
wall=$(($(date +%s) - start))
case $rc in
  0) verdict=clean ;;
  99) verdict=ERRORS ;;
  124 | 137) verdict="TIMEOUT (${limit} s)" ;;
  77) verdict="skipped (no GPU)" ;;
  *) verdict="FAILED (exit $rc)" ;;
esac
line=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1 | sed 's/^=* *//')
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tool" "$verdict" "$rc" "$wall" "$line" >"$dir/$name.$tool.verdict"
printf '%-28s %-9s %s (%s s) %s\n' "$name" "$tool" "$verdict" "$wall" "$line"
EOF
chmod +x "$WORK/sanitize-one.sh"
sanitizer_pid=""
if [ ${#programs[@]} -gt 0 ] && command -v compute-sanitizer >/dev/null && ((window > 20)); then
  # memcheck first (every program), then racecheck; one run gets at most half the window, and
  # none runs past its end (each run's own timeout, so nothing outlives the stage).
  per_program=$((window / 2))
  window_end=$(($(date +%s) + window))
  (
    # The CPU reference inside the CUDA tests: two OpenMP threads that sleep when idle.
    export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
    start=$(date +%s)
    for tool in memcheck racecheck; do
      for p in "${programs[@]}"; do printf '%s\0%s\0' "$tool" "$p"; done
    done | xargs -0 -n 2 -P "$(((JOBS + 1) / 2))" \
      "$WORK/sanitize-one.sh" "$per_program" "$window_end" "$WORK/sanitizer" >"$WORK/sanitizer-progress.txt" 2>&1
    echo "$? $(($(date +%s) - start))" >"$WORK/sanitizer.status"
  ) &
  sanitizer_pid=$!
fi

start=$(date +%s)
if [ -f "$BUILD/CTestTestfile.cmake" ] && ((window > 10)); then
  OMP_WAIT_POLICY=passive timeout -k 10 "$window" ctest --test-dir "$BUILD" --output-on-failure -j "$(((JOBS + 1) / 2))" \
    --timeout "$((window > 40 ? window - 20 : window))" >"$OUT/ctest.log" 2>&1
  rc=$?
  record ctest $rc $(($(date +%s) - start)) "$window" "$(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tail -1)"
else
  echo "no $BUILD/CTestTestfile.cmake (build failed?) or no time left" >"$OUT/ctest.log"
  record ctest skipped 0 "$window" "no test tree or no time"
fi

if [ -n "$sanitizer_pid" ]; then
  wait "$sanitizer_pid"
  read -r rc wall <"$WORK/sanitizer.status" || { rc=1; wall=0; }
  # The stage passes when every program is clean under both tools.
  bad=$(cat "$WORK"/sanitizer/*.verdict 2>/dev/null | awk -F'\t' '$3 != "clean"' | wc -l)
  done_jobs=$(cat "$WORK"/sanitizer/*.verdict 2>/dev/null | wc -l)
  [ "$rc" -eq 0 ] && [ "$bad" -gt 0 ] && rc=1
  record sanitizer "$rc" "$wall" "$window" "$done_jobs of $((2 * ${#programs[@]})) runs finished, $bad not clean"
else
  record sanitizer skipped 0 "$window" "${#programs[@]} CUDA test programs; compute-sanitizer: $(command -v compute-sanitizer || echo missing)"
fi
{
  echo "# compute-sanitizer over ${#programs[@]} CUDA test programs (memcheck, racecheck), window $window s"
  echo "# verdicts: program tool verdict exit seconds summary"
  cat "$WORK"/sanitizer/*.verdict 2>/dev/null | sort
  for p in "${programs[@]}"; do
    for tool in memcheck racecheck; do
      [ -f "$WORK/sanitizer/$(basename "$p").$tool.verdict" ] || printf '%s\t%s\tNOT RUN (window over)\t-\t-\t\n' "$(basename "$p")" "$tool"
    done
  done
  for log in "$WORK"/sanitizer/*.log; do
    [ -f "$log" ] || continue
    echo
    echo "######## $(basename "$log" .log)"
    if [ "$(wc -l <"$log")" -gt 400 ]; then
      head -300 "$log"
      echo "[... $(($(wc -l <"$log") - 380)) lines cut ...]"
      tail -80 "$log"
    else
      cat "$log"
    fi
  done
} >"$OUT/sanitizer.log"
grep -E $'\t' "$OUT/sanitizer.log" | head -80

# ---- 4 bench_kernels -------------------------------------------------------------------------------
limit=$(budget 120 110)
start=$(date +%s)
if [ -x "$BUILD/benchmarks/bench_kernels" ] && ((limit >= 15)); then
  quick=()
  ((limit < 90)) && quick=(--quick)
  echo "## bench_kernels ${quick[*]}" >>"$OUT/bench.log"
  timeout -k 5 "$limit" "$BUILD/benchmarks/bench_kernels" "${quick[@]}" >"$WORK/bench_kernels.json" 2>>"$OUT/bench.log"
  rc=$?
  record bench_kernels $rc $(($(date +%s) - start)) "$limit" "${quick[*]:-full}"
else
  record bench_kernels skipped 0 "$limit" "no $BUILD/benchmarks/bench_kernels or no time"
fi

# ---- 5 bench_train: engram and the PyTorch twin ----------------------------------------------------
limit=$(budget 150 70)
start=$(date +%s)
stage_end=$((start + limit))
torch_note="unavailable"
if version=$(timeout $((limit < 90 ? limit / 3 + 1 : 30)) python3 -c \
  'import torch; assert torch.cuda.is_available(), "torch.cuda.is_available() is False"; print(torch.__version__)' \
  2>>"$OUT/bench.log"); then
  torch_note="pytorch $version"
fi
echo "torch: $torch_note" >>"$WORK/env.txt"
rc=0
runs=0
if [ -x "$BUILD/benchmarks/bench_train" ]; then
  for step in $STEPS; do
    for shape in $SHAPES; do
      flags=(--model resnet20 --batch 128 --shape "$shape" --classes 10 --device cuda --steps 20 --warmup 5 --step "$step")
      tag="$step-${shape//,/x}"
      for framework in engram pytorch; do
        [ $framework = pytorch ] && [ "$torch_note" = unavailable ] && continue
        t=$((stage_end - $(date +%s)))
        ((t > 40)) && t=40
        if ((t < 5)); then
          echo "## $framework $tag: no time left" >>"$OUT/bench.log"
          rc=124
          continue
        fi
        echo "## $framework $tag" >>"$OUT/bench.log"
        if [ $framework = engram ]; then
          timeout -k 5 "$t" "$BUILD/benchmarks/bench_train" "${flags[@]}" >"$WORK/train-$framework-$tag.json" 2>>"$OUT/bench.log"
        else
          timeout -k 5 "$t" python3 benchmarks/torch/bench_train.py "${flags[@]}" >"$WORK/train-$framework-$tag.json" 2>>"$OUT/bench.log"
        fi
        r=$?
        runs=$((runs + 1))
        [ $r -ne 0 ] && rc=$r && echo "## $framework $tag: exit $r" >>"$OUT/bench.log"
      done
    done
  done
  record bench_train $rc $(($(date +%s) - start)) "$limit" "$runs runs; $torch_note"
else
  record bench_train skipped 0 "$limit" "no $BUILD/benchmarks/bench_train; $torch_note"
fi

# ---- 6 spaced_kd: the GPU budget, one seed, 2 epochs ---------------------------------------------
limit=$(budget 300 10)
start=$(date +%s)
if [ -x "$BUILD/examples/spaced_kd" ] && ((limit >= 15)); then
  rm -rf "$WORK/spaced_kd"
  timeout -k 5 "$limit" "$BUILD/examples/spaced_kd" --preset gpu --device cuda --seeds 1 --epochs 2 \
    --out "$WORK/spaced_kd" >"$WORK/spaced_kd.out" 2>&1
  rc=$?
  record spaced_kd $rc $(($(date +%s) - start)) "$limit" "data $ENGRAM_DATA_DIR"
else
  echo "no $BUILD/examples/spaced_kd or no time left" >"$WORK/spaced_kd.out"
  record spaced_kd skipped 0 "$limit" "no $BUILD/examples/spaced_kd or no time"
fi
{
  echo "# $BUILD/examples/spaced_kd --preset gpu --device cuda --seeds 1 --epochs 2 (ENGRAM_DATA_DIR=$ENGRAM_DATA_DIR)"
  cat "$WORK/spaced_kd.out"
  for f in table.md table.json; do
    [ -f "$WORK/spaced_kd/$f" ] && { echo; echo "######## $f"; cat "$WORK/spaced_kd/$f"; }
  done
} >"$OUT/spaced_kd.log"

# ---- summaries ------------------------------------------------------------------------------------
echo "total: $(($(date +%s) - T0)) s" >>"$WORK/env.txt"
python3 - "$WORK" "$OUT" <<'PY' || echo "summary: python3 failed; the stage table is in the fallback summary.md" >&2
import glob, json, math, os, re, sys

work, out = sys.argv[1], sys.argv[2]


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def load_json(path):
    try:
        return json.loads(read(path))
    except ValueError:
        return None


def num(v, fmt="{:.2f}"):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


env = dict(line.split(": ", 1) for line in read(os.path.join(work, "env.txt")).splitlines() if ": " in line)
stages = {}
for line in read(os.path.join(work, "stages.tsv")).splitlines():
    name, status, wall, limit, note = (line.split("\t") + [""] * 5)[:5]
    stages[name] = {"exit": int(status) if status.lstrip("-").isdigit() else status,
                    "wall_s": int(wall), "limit_s": int(limit), "note": note}

# ctest: one line per finished test ("  3/48 Test  #7: cpu.test_x ....   Passed    0.2 sec").
tests = []
for m in re.finditer(r"Test\s+#\d+: (\S+) \.*(.*?)\s+[\d.]+ sec$", read(os.path.join(out, "ctest.log")), re.M):
    tests.append({"name": m.group(1), "result": m.group(2).strip(" *")})
ctest = {"passed": sum(t["result"] == "Passed" for t in tests),
         "skipped": sum(t["result"] in ("Skipped", "Not Run") for t in tests),
         "failed": [t for t in tests if t["result"] not in ("Passed", "Skipped", "Not Run")],
         "finished": len(tests)}
m = re.search(r"tests passed, (\d+) tests failed out of (\d+)", read(os.path.join(out, "ctest.log")))
ctest["total"] = int(m.group(2)) if m else None
if "ctest" in stages:
    stages["ctest"].update(ctest)

# sanitizer verdicts.
verdicts = []
for line in read(os.path.join(out, "sanitizer.log")).splitlines():
    f = line.split("\t")
    if len(f) == 6 and not line.startswith("#"):
        verdicts.append({"program": f[0], "tool": f[1], "verdict": f[2], "exit": f[3], "seconds": f[4], "summary": f[5]})
if "sanitizer" in stages:
    stages["sanitizer"]["verdicts"] = verdicts
    stages["sanitizer"]["clean"] = sum(v["verdict"] == "clean" for v in verdicts)

# bench_kernels: native vs vendor GFLOP/s per problem, and the geometric means.
kernels = load_json(os.path.join(work, "bench_kernels.json"))
kernel_rows = []
if isinstance(kernels, dict):
    for kind in ("gemm", "conv"):
        for r in kernels.get(kind) or []:
            label = r.get("name") or " ".join(str(r.get(k, "")) for k in ("layer", "pass")).strip()
            kernel_rows.append({"kind": kind, "label": label, "native_gflops": r.get("native_gflops"),
                                "vendor_gflops": r.get("vendor_gflops"), "ratio": r.get("ratio"),
                                "max_rel_diff": r.get("max_rel_diff")})
if "bench_kernels" in stages:
    stages["bench_kernels"]["device"] = (kernels or {}).get("device") if isinstance(kernels, dict) else None
    stages["bench_kernels"]["ratios"] = [r for r in kernel_rows if r["ratio"] is not None]

# bench_train: ms/step per framework, step and shape, and engram / PyTorch.
train = []
for path in sorted(glob.glob(os.path.join(work, "train-*.json"))):
    j = load_json(path)
    if isinstance(j, dict):
        train.append(j)
pairs = {}
for j in train:
    key = (j.get("step", "plain"), "x".join(str(v) for v in j.get("shape", [])))
    pairs.setdefault(key, {})["engram" if j.get("framework") == "engram" else "pytorch"] = j
train_rows = []
for (step, shape), p in sorted(pairs.items()):
    e, t = p.get("engram"), p.get("pytorch")
    row = {"step": step, "shape": shape,
           "engram_ms": e["ms_per_step_median"] if e else None,
           "pytorch_ms": t["ms_per_step_median"] if t else None,
           "pytorch": t["framework"] if t else None}
    row["ratio"] = row["engram_ms"] / row["pytorch_ms"] if e and t and t["ms_per_step_median"] else None
    train_rows.append(row)
if "bench_train" in stages:
    stages["bench_train"]["results"] = train_rows

# spaced_kd: the table's rows (student/teacher best and last test accuracy, seconds per run).
table = load_json(os.path.join(work, "spaced_kd", "table.json"))
kd_rows = []
if isinstance(table, dict):
    for r in table.get("rows", []):
        mean = lambda k: (r.get(k) or {}).get("mean") if isinstance(r.get(k), dict) else None
        kd_rows.append({"mode": r.get("mode"), "s": r.get("s"), "student_best": mean("student_best"),
                        "student_last": mean("student_last"), "teacher_best": mean("teacher_best"),
                        "teacher_last": mean("teacher_last"), "seconds_per_run": r.get("seconds_per_run")})
epoch_lines = [l for l in read(os.path.join(work, "spaced_kd.out")).splitlines() if " epoch " in l]
if "spaced_kd" in stages:
    stages["spaced_kd"].update({"rows": kd_rows, "epoch_lines": epoch_lines[-12:],
                                "teacher": (table or {}).get("teacher"), "student": (table or {}).get("student")})

passed = all(s["exit"] == 0 for s in stages.values())
summary = {"passed": passed, "env": env, "stages": stages}
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
with open(os.path.join(out, "bench.json"), "w") as f:
    json.dump({"bench_kernels": kernels, "bench_train": train}, f, indent=2)

md = [f"# GPU check: {'all stages passed' if passed else 'NOT all stages passed'}", ""]
md += [f"- {k}: {v}" for k, v in env.items()] + ["", "| stage | exit | wall s | limit s | note |", "|---|---|---|---|---|"]
md += [f"| {n} | {s['exit']} | {s['wall_s']} | {s['limit_s']} | {s['note']} |" for n, s in stages.items()]
md += ["", "## ctest", "",
       f"{ctest['passed']} passed, {len(ctest['failed'])} failed, {ctest['skipped']} skipped of "
       f"{ctest['total'] if ctest['total'] is not None else str(ctest['finished']) + ' finished'}."]
md += [f"- FAILED {t['name']}: {t['result']}" for t in ctest["failed"]]
md += ["", "## compute-sanitizer", "", "| program | tool | verdict | s | summary |", "|---|---|---|---|---|"]
md += [f"| {v['program']} | {v['tool']} | {v['verdict']} | {v['seconds']} | {v['summary']} |" for v in verdicts]
md += ["", "## bench_kernels (ratio = native / vendor GFLOP/s; 1.0 = as fast as cuBLAS/cuDNN)", ""]
if kernel_rows:
    md += ["| kind | problem | native GFLOP/s | vendor GFLOP/s | ratio |", "|---|---|---|---|---|"]
    md += [f"| {r['kind']} | {r['label']} | {num(r['native_gflops'], '{:.0f}')} | {num(r['vendor_gflops'], '{:.0f}')} "
           f"| {num(r['ratio'])} |" for r in kernel_rows]
else:
    md.append("no result")
md += ["", "## bench_train (ResNet-20, batch 128, CUDA; ms per step, median)", ""]
if train_rows:
    md += ["| step | shape | engram ms | PyTorch ms | engram / PyTorch |", "|---|---|---|---|---|"]
    md += [f"| {r['step']} | {r['shape']} | {num(r['engram_ms'])} | {num(r['pytorch_ms'])} | {num(r['ratio'])} |"
           for r in train_rows]
    md.append(f"\nPyTorch: {env.get('torch', 'unavailable')}")
else:
    md.append("no result")
md += ["", "## spaced_kd (GPU budget, seed 0, 2 epochs)", ""]
if kd_rows:
    md += [f"Teacher {table.get('teacher')}, student {table.get('student')}, {table.get('dataset')}; "
           f"wall {stages.get('spaced_kd', {}).get('wall_s')} s.", "",
           "| mode | s | student best % | student last % | teacher best % | teacher last % | s / run |",
           "|---|---|---|---|---|---|---|"]
    md += [f"| {r['mode']} | {num(r['s'], '{:g}')} | {num(r['student_best'])} | {num(r['student_last'])} | "
           f"{num(r['teacher_best'])} | {num(r['teacher_last'])} | {num(r['seconds_per_run'], '{:.0f}')} |"
           for r in kd_rows]
else:
    md += ["no table; the last epoch lines:", "", "```"] + epoch_lines[-12:] + ["```"]
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write("\n".join(md) + "\n")
PY
if [ ! -s "$OUT/summary.md" ]; then
  {
    echo "# GPU check (fallback summary: python3 failed)"
    cat "$WORK/env.txt"
    echo
    echo "| stage | exit | wall s | limit s | note |"
    echo "|---|---|---|---|---|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$WORK/stages.tsv"
  } >"$OUT/summary.md"
fi

# Nothing over 15 MiB comes back whole: keep the head and the tail.
for f in "$OUT"/*; do
  if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt $((15 * 1024 * 1024)) ]; then
    { head -c $((7 * 1024 * 1024)) "$f"; printf '\n[... cut ...]\n'; tail -c $((7 * 1024 * 1024)) "$f"; } >"$WORK/cut"
    mv "$WORK/cut" "$f"
  fi
done
cat "$OUT/summary.md"
status=0
awk -F'\t' '$2 != "0" { bad = 1 } END { exit bad }' "$WORK/stages.tsv" || status=1
echo "gpu-check: $(($(date +%s) - T0)) s, exit $status; files in $OUT"
rm -rf "$WORK"
exit $status
