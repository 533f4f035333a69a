#!/usr/bin/env bash
# Times the same training step in engram (bench_train) and in PyTorch
# (torch/bench_train.py) and prints both JSON records and the ratio
# engram / PyTorch of the median step time (below 1: engram is faster).
#   benchmarks/compare_train.sh [BUILD_DIR] [flags for both, default: ResNet-20, batch 128, 1x28x28, CPU]
#   THREADS=2 benchmarks/compare_train.sh build --model resnet20 --batch 128 --shape 1,28,28 --steps 10
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
flags=("$@")
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
print(f"engram / PyTorch step time: {ratio:.2f} ({engram['ms_per_step_median']:.1f} ms vs "
      f"{torch['ms_per_step_median']:.1f} ms per step, {engram['model']} batch {engram['batch']} "
      f"on {engram['device']}, {engram['threads']} threads)")
PY
