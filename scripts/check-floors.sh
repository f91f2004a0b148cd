#!/usr/bin/env bash
# The floors of the design, checked: apps -> layers -> kernels -> core, never upward, and layers
# never reach into a backend. Each project include ("dir/...") of each source file must be allowed
# for the file's folder:
#   core/                 core/
#   kernels/ (contracts, dispatcher), kernels/cpu/, kernels/cuda/    core/, kernels/
#   layers/               core/, layers/, kernels/ but not kernels/cpu/ or kernels/cuda/
#   apps/mnist_norm/      core/, layers/, apps/ (not kernels/: it trains through the layers)
#   apps/bench_kernels/   core/, kernels/, apps/ (it benchmarks the kernels themselves)
#   tests/                anything
# Prints every include that crosses a floor the wrong way and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r -d '' f; do
  case $f in
    core/*) allow='^(core)/' ; deny='^$' ;;
    kernels/*) allow='^(core|kernels)/' ; deny='^$' ;;
    layers/*) allow='^(core|layers|kernels)/' ; deny='^kernels/(cpu|cuda)/' ;;
    apps/bench_kernels/*) allow='^(core|kernels|apps)/' ; deny='^$' ;;
    apps/*) allow='^(core|layers|apps)/' ; deny='^$' ;;
    *) continue ;;
  esac
  while IFS= read -r line; do
    inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"${line#*:}")
    [ -z "$inc" ] && continue
    if ! [[ $inc =~ $allow ]] || { [ "$deny" != '^$' ] && [[ $inc =~ $deny ]]; }; then
      echo "check-floors: $f:${line%%:*} includes \"$inc\": not allowed from ${f%%/*}/ (see scripts/check-floors.sh)"
      bad=1
    fi
  done < <(grep -n '#[[:space:]]*include[[:space:]]*"' "$f" || true)
done < <(git ls-files -z -- 'core/*' 'kernels/*' 'layers/*' 'apps/*' | grep -zE '\.(h|cpp|cu|cuh)$')
if [ "$bad" -ne 0 ]; then exit 1; fi
echo "check-floors: every include respects apps -> layers -> kernels -> core"
