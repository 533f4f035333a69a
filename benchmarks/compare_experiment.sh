#!/usr/bin/env bash
# Trains the same Spaced-KD experiment (baseline, online KD, Spaced KD) in
# engram (examples/spaced_kd) and in its PyTorch twin
# (torch/spaced_kd_twin.py) over SEEDS seeds (default 4), then compares them
# (torch/compare_experiment.py): final test accuracy and per-epoch training
# loss, mean ± std in each framework, difference, SE and "within 2 SE".
#   benchmarks/compare_experiment.sh BUILD_DIR [SEEDS] [flags for both programs]
#   benchmarks/compare_experiment.sh build 4
#   benchmarks/compare_experiment.sh build 8 --epochs 5 --subset 8192 --s 1,1.5
# The flags go to both programs (the twin takes spaced_kd's flags; see its
# --help). Without --preset (--budget in older builds), both get the cpu
# preset (resnet8 -> resnet8, 3 epochs, 4096 / 2000 images), whatever device
# engram uses. Flags for one side only: ENGRAM_FLAGS="--device cuda", TWIN_FLAGS=...
# Environment: OUT (default runs/compare_experiment), THREADS (default 2:
# OMP_NUM_THREADS for engram, torch.set_num_threads for the twin), PYTHON
# (default /usr/bin/python3, Debian's python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: benchmarks/compare_experiment.sh BUILD_DIR [SEEDS] [flags for both programs]"
build=${1:?$usage}
shift
seeds=4
if (($#)) && [[ $1 =~ ^[0-9]+$ ]]; then
  seeds=$1
  shift
fi
flags=("$@")
((seeds >= 2)) || { echo "compare_experiment: need at least 2 seeds for a standard deviation, got $seeds" >&2; exit 1; }
((seeds >= 4)) || echo "compare_experiment: warning: $seeds seeds make a weak comparison; 4 or more are meant" >&2
out=${OUT:-runs/compare_experiment}
threads=${THREADS:-2}
python=${PYTHON:-/usr/bin/python3}
read -r -a engram_flags <<<"${ENGRAM_FLAGS:-}"
read -r -a twin_flags <<<"${TWIN_FLAGS:-}"

program="$build/examples/spaced_kd"
[ -x "$program" ] || { echo "compare_experiment: build $program first" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "compare_experiment: $python cannot import torch (apt install python3-torch)" >&2; exit 1; }
mkdir -p "$out"
# The preset's flag: --preset, or --budget before presets came.
help=$("$program" --help 2>/dev/null || true)
preset_flag=--preset
[[ $help == *--preset* ]] || preset_flag=--budget
[[ " ${flags[*]-} " =~ \ --(preset|budget)[\ =] ]] || flags=("$preset_flag" cpu "${flags[@]}")

echo "== engram: $program --seeds $seeds --out $out/engram ${flags[*]} ${engram_flags[*]-}"
OMP_NUM_THREADS=$threads "$program" --seeds "$seeds" --out "$out/engram" \
  "${flags[@]}" ${engram_flags[@]+"${engram_flags[@]}"}
echo "== PyTorch: spaced_kd_twin.py --seeds $seeds --out $out/torch ${flags[*]} ${twin_flags[*]-}"
"$python" benchmarks/torch/spaced_kd_twin.py --threads "$threads" --seeds "$seeds" --out "$out/torch" \
  "${flags[@]}" ${twin_flags[@]+"${twin_flags[@]}"}
echo "== comparison"
"$python" benchmarks/torch/compare_experiment.py "$out/engram" "$out/torch" --markdown "$out/comparison.md"
echo "compare_experiment: wrote $out/comparison.md"
