#!/usr/bin/env bash
# Proof that the emulated CUDA tests catch real kernel bugs: plants five bugs, one at a time, in a
# scratch copy of the tree, rebuilds the emulation build (AddressSanitizer + UBSan) and runs the
# CUDA parity tests that cover the changed kernel. Each planted bug must make them fail; the script
# prints what each run reported and exits 1 if any bug went unnoticed.
#   scripts/mutation-check.sh            (scratch copy in $MUTATION_DIR, default /tmp/normlab-mutation)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
work=${MUTATION_DIR:-/tmp/normlab-mutation}
rm -rf "$work"
mkdir -p "$work"
git ls-files -z | xargs -0 cp --parents -t "$work"
cmake -S "$work" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNORMLAB_CUDA_EMULATE=ON \
  -DNORMLAB_SANITIZE=address,undefined -DNORMLAB_NATIVE=OFF >/dev/null
cmake --build "$work/build" -j"$(nproc)" --target cuda_parity >/dev/null
export ASAN_OPTIONS=detect_leaks=0

# plant NAME FILE OLD NEW TESTS: replace the one occurrence of OLD in FILE by NEW, rebuild, run the
# parity tests TESTS (a Catch2 filter), restore the file.
missed=0
plant() {
  local name=$1 file=$work/$2 old=$3 new=$4 tests=$5
  cp "$file" "$file.orig"
  python3 - "$file" "$old" "$new" <<'EOF'
import sys
path, old, new = sys.argv[1:4]
s = open(path).read()
assert s.count(old) == 1, f"{path}: expected one occurrence of {old!r}, found {s.count(old)}"
open(path, "w").write(s.replace(old, new))
EOF
  cmake --build "$work/build" -j"$(nproc)" --target cuda_parity >/dev/null
  local log=$work/$name.log rc=0
  timeout 900 "$work/build/tests/cuda_parity" "$tests" >"$log" 2>&1 || rc=$?
  mv "$file.orig" "$file"
  touch "$file"  # newer than the mutant's objects, so the next build compiles the original again
  if [ "$rc" -ne 0 ]; then
    echo "CAUGHT  $name (exit $rc): $(grep -m1 -E 'ERROR: AddressSanitizer|cuda emulator:|elements outside tolerance|FAILED' "$log" | cut -c1-220)"
  else
    echo "MISSED  $name: the tests passed with the bug planted (log: $log)"
    missed=1
  fi
}

plant "a-removed-syncthreads" kernels/cuda/common.cuh \
  $'  if (lane == 0) slots[warp] = v;\n  __syncthreads();' $'  if (lane == 0) slots[warp] = v;' "[norm]"
plant "b-conv-off-by-one" kernels/cuda/conv2d.cu \
  'const int i = p - r + s.pad;' 'const int i = p - r + s.pad + 1;' "[conv]"
plant "c-shuffle-mask" kernels/cuda/common.cuh \
  'for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);' \
  'for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0x0000ffffu, v, o);' "[norm]"
plant "d-element-never-written" kernels/cuda/relu.cu \
  $'  NL_GRID_LOOP(i, n)\n    y[i] = x[i] > 0.f ? x[i] : 0.f;' $'  NL_GRID_LOOP(i, n - 1)\n    y[i] = x[i] > 0.f ? x[i] : 0.f;' \
  "[pointwise]"
plant "e-read-past-the-end" kernels/cuda/penalty.cu \
  'for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {' 'for (int64_t i = threadIdx.x; i <= n; i += blockDim.x) {' \
  "[train]"
if [ "$missed" -ne 0 ]; then
  echo "mutation-check: a planted bug was not caught" >&2
  exit 1
fi
echo "mutation-check: all 5 planted bugs were caught"
