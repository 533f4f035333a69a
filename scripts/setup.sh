#!/usr/bin/env bash
# Installs what engram needs on a Debian machine (only the missing packages)
# and builds it into build/ (Release; CUDA when nvcc is found).
# Prints one line per step; the details go to logs/setup.log.
#   scripts/setup.sh [--no-build] [--fuzz]
#     --no-build  install only
#     --fuzz      also install clang with libFuzzer and OpenMP (scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p logs
log=logs/setup.log
: >"$log"

# Runs one step with its output in the log; on failure shows the log's tail.
step() {
  local what=$1
  shift
  echo "engram setup: $what"
  if ! "$@" >>"$log" 2>&1; then
    echo "engram setup: '$what' failed; the last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}

packages=(g++ cmake ninja-build libeigen3-dev catch2 libcli11-dev nlohmann-json3-dev zlib1g-dev libjpeg62-turbo-dev
          libboost-context-dev dataset-fashion-mnist python3-torch)
build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --fuzz) packages+=(clang libclang-rt-dev libomp-dev) ;;
    *) echo "usage: scripts/setup.sh [--no-build] [--fuzz]" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  step "updating the package index" $sudo apt-get update -q
  step "installing ${missing[*]}" \
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

((build)) || exit 0
step "configuring build/" cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
step "building build/ (a few minutes; CUDA sources too when nvcc is found)" cmake --build build
