#!/usr/bin/env bash
# Times the same step in engram (bench_train) and in PyTorch
# (torch/bench_train.py) and prints both JSON records and the ratio
# engram / PyTorch of the median step time (below 1: engram is faster).
# The flags go to both programs; --step plain|online-kd|eval picks the step
# (default plain: one training step; online-kd: a teacher step and a student
# KD step; eval: one evaluation forward pass).
#   benchmarks/compare_train.sh [BUILD_DIR] [flags for both, default: ResNet-20, batch 128, 1x28x28, CPU]
#   THREADS=2 benchmarks/compare_train.sh build --model resnet20 --batch 128 --shape 1,28,28 --steps 10
#   benchmarks/compare_train.sh build-gpu --device cuda --step online-kd
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
flags=("$@")
# shellcheck disable=SC2054 # 1,28,28 is one argument
((${#flags[@]})) || flags=(--model resnet20 --batch 128 --shape 1,28,28 --classes 10 --device cpu --steps 10 --warmup 2)
threads=${THREADS:-2}
python=${PYTHON:-/usr/bin/python3}

[ -x "$build/benchmarks/bench_train" ] || { echo "compare_train: build $build/benchmarks/bench_train first" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "compare_train: $python cannot import torch (apt install python3-torch)" >&2; exit 1; }

engram_json=$(OMP_NUM_THREADS=$threads "$build/benchmarks/bench_train" "${flags[@]}")
torch_json=$("$python" benchmarks/torch/bench_train.py --threads "$threads" "${flags[@]}")
echo "$engram_json"
echo "$torch_json"
"$python" - "$engram_json" "$torch_json" <<'PY'
import json, sys
engram, torch = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ratio = engram["ms_per_step_median"] / torch["ms_per_step_median"]
step = engram.get("step", "plain")
assert torch.get("step", "plain") == step, (engram.get("step"), torch.get("step"))
print(f"engram / PyTorch {step}: {ratio:.2f} ({engram['ms_per_step_median']:.1f} ms vs "
      f"{torch['ms_per_step_median']:.1f} ms per step, {engram['model']} batch {engram['batch']} "
      f"on {engram['device']}, {engram['threads']} threads)")
PY
