#!/usr/bin/env bash
# Fails (exit 1) when an #include "..." points up the layer stack or across it,
# printing file:line, the include and the rule it breaks. The rules are in
# docs/architecture.md ("Include rules"); scripts/test.sh runs this first.
#   scripts/check-layering.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Each line: a folder, then the zones its files may include. A zone is a
# top-level folder, except that kernels/ is two zones:
#   kernels  the op API, kernels/<family>.h
#   backend  kernels/cpu/, kernels/cuda/, kernels/vendor/ and kernels/dispatch.h
RULES="
core        core
kernels     core kernels backend
nn          core kernels nn
optim       core kernels optim
data        core kernels data
train       core kernels nn optim data train
distill     core kernels nn optim data train distill
examples    core kernels nn optim data train distill examples
benchmarks  core kernels backend nn optim data train distill benchmarks
tests       core kernels backend nn optim data train distill tests
"

folders=()
for folder in $(awk 'NF { print $1 }' <<<"$RULES"); do
  [ -d "$folder" ] && folders+=("$folder")
done

mapfile -t files < <(find "${folders[@]}" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) | LC_ALL=C sort)

awk -v rules="$RULES" '
BEGIN {
  n = split(rules, line, "\n")
  for (i = 1; i <= n; i++) {
    k = split(line[i], word, " ")
    if (k == 0) continue
    layer[word[1]] = 1
    for (j = 2; j <= k; j++) { may[word[1], word[j]] = 1; list[word[1]] = list[word[1]] " " word[j] }
  }
}
/^[ \t]*#[ \t]*include[ \t]*"/ {
  path = $0
  sub(/^[^"]*"/, "", path)
  sub(/".*/, "", path)
  split(FILENAME, from, "/")
  if (path ~ /(^|\/)\.\.\//) {
    printf "%s:%d: #include \"%s\": include paths start at the repo root, not ../\n", FILENAME, FNR, path
    bad++
    next
  }
  split(path, to, "/")
  zone = to[1]
  if (!(zone in layer)) next  # not a project path: a third-party header
  if (path ~ /^kernels\/(cpu|cuda|vendor)\// || path == "kernels/dispatch.h") zone = "backend"
  if (!((from[1], zone) in may)) {
    printf "%s:%d: #include \"%s\": %s/ may not include %s (allowed:%s)\n", FILENAME, FNR, path, from[1], zone, list[from[1]]
    bad++
  }
}
END {
  if (bad) { printf "check-layering: %d include(s) break the layering (docs/architecture.md, Include rules)\n", bad; exit 1 }
  print "check-layering: every include respects the layering"
}' "${files[@]}"
