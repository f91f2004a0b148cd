#!/usr/bin/env bash
# The GPU runbook, half 2 — on the GPU machine, in the copied tree, with gpu-bundle/ carried from
# the build machine (scripts/gpu-build.sh). No cmake, ctest, compiler or network needed. One command,
# at most ~10 minutes: every step has a time limit taken from what is left of $BUDGET seconds.
#   scripts/gpu-run.sh                 logs under $OUT (the device tool's folder), else runs/gpu-run
#   scripts/gpu-run.sh --preflight     only the checks (also useful here: fails clearly without a GPU)
# Steps: preflight (GPU visible, driver new enough for the CUDA runtime in the binaries, every
# library resolvable, MNIST present; each failure is one line, exit 2) -> CUDA tests (a skipped test
# is a failure here) -> compute-sanitizer memcheck/racecheck/initcheck/synccheck over the parity
# tests -> the three 20-epoch trainings with --device cuda -> bench_kernels -> the PyTorch reference
# on the same model, batch and data on the same GPU, eager and torch.compile.
# Output (8 files, what the device tool brings back): summary.txt, tests.log, sanitizer.log,
# train.log, study.tgz (every run folder), bench_kernels.log, bench_kernels.csv, torch.log.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BUNDLE:-gpu-bundle}
O=${OUT:-runs/gpu-run}
BUDGET=${BUDGET:-570}
START=$(date +%s)
DATA=$B/data/mnist

fail() { echo "gpu-run: preflight: $*" >&2; exit 2; }
[ -x "$B/bin/mnist_norm" ] || fail "no $B/bin/mnist_norm: build the bundle with scripts/gpu-build.sh and carry $B"
command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: no NVIDIA driver here; run this on the GPU machine"
nvidia-smi -L 2>/dev/null | grep -q '^GPU' || fail "nvidia-smi lists no GPU: run this on the GPU machine"
drv=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
need=$(sed -n 's/^min_driver=//p' "$B/BUILD_INFO")
rt=$(sed -n 's/^cuda_runtime=//p' "$B/BUILD_INFO")
[ "${drv%%.*}" -ge "${need:-0}" ] ||
  fail "driver $drv is older than the CUDA $rt runtime linked into the binaries needs (>= $need): rebuild with an older toolkit"
# cuDNN and cuBLAS (for cudnn_reference and bench_kernels) from PyTorch's pip wheels, as there.
libs=$PWD/$B/lib
for m in nvidia.cudnn nvidia.cublas nvidia.cu13 nvidia.cuda_runtime; do
  d=$(python3 -c "import $m, os; print(os.path.join(list($m.__path__)[0], 'lib'))" 2>/dev/null) && [ -d "$d" ] && libs=$libs:$d
done
[ -d /usr/local/cuda/lib64 ] && libs=$libs:/usr/local/cuda/lib64
export LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
for b in "$B"/bin/*; do
  missing=$(ldd "$b" 2>&1 | awk '/not found/ {print $1}' | tr '\n' ' ')
  [ -z "$missing" ] || fail "$(basename "$b") needs ${missing}(not found; LD_LIBRARY_PATH=$LD_LIBRARY_PATH)"
done
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  [ -f "$DATA/$f" ] || fail "$DATA/$f missing: gpu-build.sh copies MNIST into the bundle"
done
echo "gpu-run: preflight passed: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader), CUDA runtime $rt"
[ "${1:-}" = "--preflight" ] && exit 0

mkdir -p "$O"
S=$O/summary.txt
{ echo "gpu-run $(date -u +%Y-%m-%dT%H:%MZ)"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  head -4 "$B/BUILD_INFO"; } >"$S"
status=0
left() { echo $((BUDGET - ($(date +%s) - START))); }
# step NAME LOG SHARE COMMAND...: runs COMMAND with a limit of SHARE% of the budget (at most what is
# left), appending to LOG; records PASS/FAIL/TIMEOUT and seconds in the summary.
step() {
  local name=$1 log=$2 share=$3
  shift 3
  local lim=$((BUDGET * share / 100)) t0 rc=0
  [ "$lim" -gt "$(left)" ] && lim=$(left)
  if [ "$lim" -le 5 ]; then echo "$name: NOT RUN (no time left)" | tee -a "$S"; status=1; return; fi
  t0=$(date +%s)
  echo "== $name (limit ${lim}s): $*" >>"$log"
  timeout "$lim" "$@" >>"$log" 2>&1 || rc=$?
  local verdict=PASS
  [ "$rc" -eq 124 ] && verdict=TIMEOUT
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && verdict="FAIL (exit $rc)"
  [ "$rc" -eq 77 ] && verdict="FAIL (skipped: exit 77)"
  [ "$rc" -ne 0 ] && status=1
  printf '%-44s %-24s %4ss\n' "$name" "$verdict" "$(($(date +%s) - t0))" | tee -a "$S"
}

T=$O/tests.log
step "cuda_parity (kernels vs cpu, both runs same bits)" "$T" 8 "$B/bin/cuda_parity"
[ -x "$B/bin/cudnn_reference" ] && step "cudnn_reference (conv, bn vs cuDNN)" "$T" 5 "$B/bin/cudnn_reference"
step "train_cuda_smoke (10k images, >95%, same bits)" "$T" 8 \
  env NORMLAB_APP="$B/bin/mnist_norm" MNIST_DIR="$DATA" "$B/bin/train_cuda_smoke"

Z=$O/sanitizer.log
for tool in memcheck racecheck initcheck synccheck; do
  step "compute-sanitizer $tool cuda_parity" "$Z" 5 \
    compute-sanitizer --tool "$tool" --error-exitcode 1 "$B/bin/cuda_parity" "[conv],[norm],[pointwise]"
done

step "study: bn+l1, gn, ln x 20 epochs, --device cuda" "$O/train.log" 35 \
  "$B/bin/mnist_norm" --device cuda --norm bn,gn,ln --l1 1e-5 --epochs 20 --data "$DATA" --out "$O/study"
echo "mnist_norm --device cuda, per run: final test accuracy, mean epoch seconds, eval seconds per epoch:" >>"$S"
for r in "$O"/study/*/results.json; do
  [ -f "$r" ] && python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('  %-8s %.2f%%  %.3f s  %.3f s' % (sys.argv[1].split('/')[-2], j['final_test_acc'], j['mean_epoch_seconds'], j['eval_seconds_per_epoch']))" "$r" >>"$S"
done
(cd "$O" && tar czf study.tgz study 2>/dev/null && rm -rf study)

[ -x "$B/bin/bench_kernels" ] && step "bench_kernels (ours vs cuDNN/cuBLAS)" "$O/bench_kernels.log" 10 \
  "$B/bin/bench_kernels" --csv "$O/bench_kernels.csv"
[ -f "$O/bench_kernels.csv" ] && python3 scripts/bench-summary.py "$O/bench_kernels.csv" >>"$S"

P=$O/torch.log
for n in bn gn ln; do
  l1=""
  [ "$n" = bn ] && l1="--l1 1e-5"
  for mode in eager compile; do
    step "pytorch $mode $n (same model, batch, data)" "$P" 4 \
      python3 scripts/bench_torch.py "$DATA" --device cuda --mode "$mode" --norm "$n" --rotate 7 --epochs 3 $l1
  done
done
echo "PyTorch median epoch (after the first), seconds:" >>"$S"
grep -E '^torch |^median' "$P" | paste - - | sed 's/^/  /' >>"$S"
echo "gpu-run: done in $(($(date +%s) - START)) s, exit $status; summary:"
cat "$S"
exit $status
