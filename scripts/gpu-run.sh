#!/usr/bin/env bash
# The GPU runbook, half 2 — on the GPU machine, in the copied tree, with gpu-bundle/ carried from
# the build machine (scripts/gpu-build.sh). No cmake, ctest, compiler or network needed. One command,
# at most ~10 minutes: every step has its own time limit, cut to what is left of $BUDGET seconds.
#   scripts/gpu-run.sh                 every step; logs under $OUT (the device tool's folder), else runs/gpu-run
#   scripts/gpu-run.sh --preflight     only the checks (also useful here: fails clearly without a GPU)
#   scripts/gpu-run.sh --steps LIST    only the named steps, in this order, LIST a comma list of
#        tests, sanitizer, profile, study, parallel, repeat, graphs, branches, fusion, combo, bench, ncu,
#        eager, compile
#        (default: all of them)
# Environment: BUDGET (seconds for the whole run, default 570), SEEDS (study seeds, default 1), JOBS
# (runs side by side in the parallel step, default 15), BENCH_ONLY (the bench step times only the rows
# whose op name matches this regular expression: bench_kernels --only; default every row), COMBO (the
# versions the combo step runs together, NORMLAB_CUDA_VERSIONS syntax; default every opt-in candidate:
# conv2d=5,batchnorm=9,groupnorm=8,layernorm=8).
# Steps: preflight (GPU visible, driver new enough for the CUDA runtime in the binaries, every
# library resolvable, MNIST present; each failure is one line, exit 2) -> tests: the CUDA tests (a
# skipped test is a failure here) and sanitizer: compute-sanitizer memcheck/racecheck/initcheck/
# synccheck over the parity tests (but [refusal], whose CUDA error is on purpose, and the two [large]
# cases, 4.1M and 4.3M values, to stay within the limit; the tests step runs them) — these check and
# time nothing, so they run side by side -> then
# one at a time, since they are timed: profile (one BN epoch, each launch synchronised, per-op
# times) -> study (bn+l1, gn, ln x 20 epochs, --device cuda) -> parallel (the same study with its
# runs side by side, --jobs $JOBS: its wall time, and every checkpoint the study's) -> repeat (GN again, same seed: the
# checkpoint must be byte-identical) -> graphs (BN for 3 epochs with each training step launched op
# by op, --cuda-graph false, then replayed as a CUDA Graph: epoch seconds of both, and the same
# checkpoint) -> branches (BN + L1, GN and LN for 3 epochs, graphs on, each with and without
# --cuda-branches, the weight gradients on a second stream: epoch seconds of both, and the same
# checkpoint, which is required) -> fusion (BN, GN and LN for 3 epochs on the norms' version 3, the ReLU + dropout
# composed, NORMLAB_CUDA_VERSIONS, then on version 4, fused, and version 5, fused with float4
# element-wise passes, and BN on version 6, one kernel each way, 7, two kernels each way
# (finishing stages folded in), 8 (7 in channel chunks: one chunk on the model's shapes) and 9 (5 with
# a block per channel of the small layers, one launch each way), GN and
# LN on version 6 (the same folding), 7 (6 in chunks of segments) and 8 (5 on a block per segment),
# and each norm's
# version 5 on conv2d's version 4 (a thread per output position): epoch seconds of each, and whether the checkpoints are the same) ->
# combo (each norm for 3 epochs with the opt-in candidates together, $COMBO and --cuda-branches: the
# epoch seconds against fusion's default run) -> bench
# (bench_kernels) -> ncu (every kernel's GPU time over a few training steps of a BN run, caches
# flushed, then warm; scripts/ncu-summary.py groups it per step; then whole replayed steps as one
# workload each, with and without --cuda-branches) ->
# eager, compile (the PyTorch reference on the same model, batch and data on the same GPU).
# Output (8 files at most, what the device tool brings back): summary.txt, tests.log,
# sanitizer.log, train.log, runs.tgz (every run folder, the profile, ncu.csv), bench_kernels.log,
# bench_kernels.csv, torch.log.
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BUNDLE:-gpu-bundle}
O=${OUT:-runs/gpu-run}
BUDGET=${BUDGET:-570}
SEEDS=${SEEDS:-1}
JOBS=${JOBS:-15}
START=$(date +%s)
DATA=$B/data/mnist
ALL=tests,sanitizer,profile,study,parallel,repeat,graphs,branches,fusion,combo,bench,ncu,eager,compile
COMBO=${COMBO:-conv2d=5,batchnorm=9,groupnorm=8,layernorm=8}
STEPS=$ALL
preflight_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --preflight) preflight_only=1 ;;
    --steps) STEPS=${2:?--steps needs a list, e.g. tests,study}; shift ;;
    *) echo "gpu-run: unknown argument '$1': use --preflight or --steps $ALL" >&2; exit 2 ;;
  esac
  shift
done
for s in ${STEPS//,/ }; do
  [[ ",$ALL," == *",$s,"* ]] || { echo "gpu-run: unknown step '$s': the steps are $ALL" >&2; exit 2; }
done
want() { [[ ",$STEPS," == *",$1,"* ]]; }

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
[ "$preflight_only" = 1 ] && exit 0

mkdir -p "$O"
S=$O/summary.txt
{ echo "gpu-run $(date -u +%Y-%m-%dT%H:%MZ), steps $STEPS, budget ${BUDGET}s"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv,noheader
  head -4 "$B/BUILD_INFO"; } >"$S"
status=0
left() { echo $((BUDGET - ($(date +%s) - START))); }
limit() {  # CAP seconds, at most what is left of the budget
  local lim=$1
  [ "$lim" -gt "$(left)" ] && lim=$(left)
  echo "$lim"
}
verdict() {  # RC -> PASS / TIMEOUT / FAIL (...)
  case $1 in
    0) echo PASS ;; 124) echo TIMEOUT ;; 77) echo "FAIL (skipped: exit 77)" ;; *) echo "FAIL (exit $1)" ;;
  esac
}
record() {  # NAME RC SECONDS
  [ "$2" -ne 0 ] && status=1
  printf '%-48s %-24s %4ss\n' "$1" "$(verdict "$2")" "$3" | tee -a "$S"
}
# step NAME LOG CAP COMMAND...: runs COMMAND for at most CAP seconds (and what is left), appending to LOG.
step() {
  local name=$1 log=$2 lim t0 rc=0
  lim=$(limit "$3")
  shift 3
  if [ "$lim" -le 5 ]; then echo "$name: NOT RUN (no time left)" | tee -a "$S"; status=1; return 1; fi
  t0=$(date +%s)
  echo "== $name (limit ${lim}s): $*" >>"$log"
  timeout "$lim" "$@" >>"$log" 2>&1 || rc=$?
  record "$name" "$rc" "$(($(date +%s) - t0))"
  return "$rc"
}
# "mean epoch 0.254 s, eval 0.008 s, 82 graph nodes" from a run's results.json.
epoch_fields() {
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('mean epoch %.3f s, eval %.3f s, %s graph nodes' % (j['mean_epoch_seconds'], j['eval_seconds_per_epoch'], j.get('cuda_graph_nodes')))" "$1"
}
# train3 STEP FOLDER VERSIONS LINE [FLAGS...]: norm $n ($l1: BN's L1) for 3 epochs, seed 1, graphs on,
# under NORMLAB_CUDA_VERSIONS=VERSIONS with FLAGS, into FOLDER; then "LINE: <epoch_fields>" in the summary.
train3() {
  local name=$1 out=$2 versions=$3 line=$4
  shift 4
  step "$name" "$O/train.log" 40 env NORMLAB_CUDA_VERSIONS="$versions" "$B/bin/mnist_norm" --device cuda --norm "$n" \
    "${l1[@]}" --epochs 3 "$@" --data "$DATA" --out "$out"
  [ -f "$out/results.json" ] && printf '%s: %s\n' "$line" "$(epoch_fields "$out/results.json")" >>"$S"
}
# Side by side: pstep NAME LOG COMMAND... starts COMMAND in the background with the limit given to
# pstart CAP; pwait waits for all, then appends each log to its LOG in order and records each.
P_DIR=$(mktemp -d)
P_N=0
P_LIM=0
pstart() { P_LIM=$(limit "$1"); P_N=0; }
pstep() {
  local name=$1 log=$2 i=$P_N
  shift 2
  P_N=$((P_N + 1))
  printf '%s\n%s\n' "$name" "$log" >"$P_DIR/$i.meta"
  if [ "$P_LIM" -le 5 ]; then echo "124 0" >"$P_DIR/$i.rc"; return; fi
  (
    t0=$(date +%s) rc=0
    echo "== $name (limit ${P_LIM}s): $*" >"$P_DIR/$i.log"
    timeout "$P_LIM" "$@" >>"$P_DIR/$i.log" 2>&1 || rc=$?
    echo "$rc $(($(date +%s) - t0))" >"$P_DIR/$i.rc"
  ) &
}
pwait() {
  wait
  local i name log rc secs
  for ((i = 0; i < P_N; i++)); do
    { read -r name; read -r log; } <"$P_DIR/$i.meta"
    read -r rc secs <"$P_DIR/$i.rc"
    [ -f "$P_DIR/$i.log" ] && cat "$P_DIR/$i.log" >>"$log"
    record "$name" "$rc" "$secs"
  done
}

# 1. Correctness, side by side (nothing here is timed).
if want tests || want sanitizer; then
  pstart 150
  T=$O/tests.log Z=$O/sanitizer.log
  if want tests; then
    pstep "cuda_parity (kernels vs cpu, both runs same bits)" "$T" "$B/bin/cuda_parity"
    [ -x "$B/bin/cudnn_reference" ] && pstep "cudnn_reference (conv, bn vs cuDNN)" "$T" "$B/bin/cudnn_reference"
    pstep "train_cuda_smoke (10k images, >90%, same bits)" "$T" \
      env NORMLAB_APP="$B/bin/mnist_norm" MNIST_DIR="$DATA" "$B/bin/train_cuda_smoke"
  fi
  if want sanitizer; then
    for tool in memcheck racecheck initcheck synccheck; do
      pstep "compute-sanitizer $tool cuda_parity" "$Z" \
        compute-sanitizer --tool "$tool" --error-exitcode 1 "$B/bin/cuda_parity" "[conv],[norm]~[large],[pointwise],[train],[graph]~[refusal]"
    done
  fi
  pwait
fi

# 2. Timed, one at a time.
R=$O/runs
if want profile; then
  # Each launch synchronised (NORMLAB_CUDA_SYNC=1) so that the per-op times are the kernels'.
  step "profile: one bn epoch, per-op times (synced)" "$O/train.log" 40 env NORMLAB_CUDA_SYNC=1 \
    "$B/bin/mnist_norm" --device cuda --norm bn --l1 1e-5 --epochs 1 --profile --data "$DATA" --out "$R/profile-bn" &&
    { echo "profile (one bn epoch, NORMLAB_CUDA_SYNC=1), top ops:"; head -12 "$R/profile-bn/profile.csv" | sed 's/^/  /'; } >>"$S"
fi
if want study; then
  step "study: bn+l1, gn, ln x 20 epochs x $SEEDS seed(s), cuda" "$O/train.log" 240 \
    "$B/bin/mnist_norm" --device cuda --norm bn,gn,ln --l1 1e-5 --epochs 20 --seeds "$SEEDS" --data "$DATA" --out "$R/study"
  echo "mnist_norm --device cuda, per run: final test accuracy, mean epoch seconds, eval seconds per epoch:" >>"$S"
  for r in $(find "$R/study" -name results.json 2>/dev/null | sort); do
    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('  %-14s %.2f%%  %.3f s  %.3f s' % ('/'.join(sys.argv[1].split('/')[-3:-1]), j['final_test_acc'], j['mean_epoch_seconds'], j['eval_seconds_per_epoch']))" "$r" >>"$S"
  done
fi
if want parallel; then
  # The study again with its runs side by side (one host thread and CUDA stream each): the study's
  # wall time, and each run's checkpoint must be the one-at-a-time study's, byte for byte.
  step "parallel: the study with --jobs $JOBS" "$O/train.log" 120 "$B/bin/mnist_norm" --device cuda --norm bn,gn,ln \
    --l1 1e-5 --epochs 20 --seeds "$SEEDS" --jobs "$JOBS" --data "$DATA" --out "$R/parallel"
  n=0 bad=0
  for c in $(cd "$R/parallel" 2>/dev/null && find . -name model.ckpt | sort); do
    n=$((n + 1))
    cmp -s "$R/parallel/$c" "$R/study/$c" || bad=$((bad + 1))
  done
  echo "parallel: $n run(s) side by side; $bad checkpoint(s) differ from the one-at-a-time study's" | tee -a "$S"
  [ "$bad" -eq 0 ] || status=1
fi
if want repeat; then
  # GN once more with the same seed: the whole training must give the same bits on the same GPU.
  first=$(find "$R/study" -path '*gn*' -name model.ckpt 2>/dev/null | sort | head -1)
  if step "repeat: gn x 20 epochs, seed 1, cuda" "$O/train.log" 90 \
    "$B/bin/mnist_norm" --device cuda --norm gn --epochs 20 --data "$DATA" --out "$R/gn-again"; then
    if [ -z "$first" ]; then
      echo "repeat: no study gn checkpoint to compare with (run the study step first)" | tee -a "$S"
    elif cmp -s "$first" "$R/gn-again/model.ckpt"; then
      echo "repeat: gn model.ckpt byte-identical to $first (same seed, same bits)" | tee -a "$S"
    else
      echo "repeat: gn model.ckpt DIFFERS from $first" | tee -a "$S"
      status=1
    fi
  fi
fi
if want graphs; then
  # The same BN training (3 epochs, seed 1) launched op by op and as a replayed CUDA Graph.
  for g in false true; do
    step "graphs: bn+l1 x 3 epochs, --cuda-graph $g" "$O/train.log" 40 "$B/bin/mnist_norm" --device cuda --norm bn \
      --l1 1e-5 --epochs 3 --cuda-graph "$g" --data "$DATA" --out "$R/graph-$g"
  done
  for g in false true; do
    [ -f "$R/graph-$g/results.json" ] &&
      printf 'graphs: --cuda-graph %-5s %s\n' "$g" "$(epoch_fields "$R/graph-$g/results.json")" >>"$S"
  done
  if cmp -s "$R/graph-false/model.ckpt" "$R/graph-true/model.ckpt"; then
    echo "graphs: model.ckpt byte-identical with and without the CUDA Graph" | tee -a "$S"
  else
    echo "graphs: model.ckpt DIFFERS between --cuda-graph false and true" | tee -a "$S"
    status=1
  fi
fi
if want branches; then
  # Each norm for 3 epochs (seed 1, graphs on) with the convolutions' weight gradients on the main
  # stream, then on a second stream beside the backward pass (--cuda-branches): the same kernels on
  # the same data, so the checkpoints must be byte-identical; the epoch seconds say what it is worth.
  for n in bn gn ln; do
    l1=(); [ "$n" = bn ] && l1=(--l1 1e-5)
    for b in false true; do
      step "branches: $n x 3 epochs, --cuda-branches $b" "$O/train.log" 40 "$B/bin/mnist_norm" --device cuda \
        --norm "$n" "${l1[@]}" --epochs 3 --cuda-branches "$b" --data "$DATA" --out "$R/branches-$n-$b"
      [ -f "$R/branches-$n-$b/results.json" ] &&
        printf 'branches: %s --cuda-branches %-5s %s\n' "$n" "$b" "$(epoch_fields "$R/branches-$n-$b/results.json")" >>"$S"
    done
    if cmp -s "$R/branches-$n-false/model.ckpt" "$R/branches-$n-true/model.ckpt"; then
      echo "branches: $n model.ckpt byte-identical with and without --cuda-branches" | tee -a "$S"
    else
      echo "branches: $n model.ckpt DIFFERS between --cuda-branches false and true (or a run failed)" | tee -a "$S"
      status=1
    fi
  done
fi
if want fusion; then
  # Each norm for 3 epochs (seed 1, graphs on) with the activation composed (version 3), fused
  # (version 4), and fused with its element-wise passes on float4 quads (version 5), and BN on its
  # version 6 (one kernel each way, blocks waiting for one another; slower than v5 on run 4) and
  # version 7 (v5 with the finishing stages folded into the element-wise passes) and 8 (v7's blocks
  # in channel chunks; every layer of the model one chunk in an H100's L2, so v7's launches) and 9
  # (version 5 with one block per channel on the layers from 10x10 down, one launch each way), GN
  # and LN on their version 6 (the same folding), 7 (v6's blocks in chunks of segments; one
  # chunk on the model's layers) and 8 (version 5's code on one block per segment: one launch
  # forward, two backward): the
  # epoch seconds of each. They compute the same expressions in the same order (on the emulator, the
  # same bits), but nvcc fuses multiply-adds per kernel as it sees fit, so the checkpoints may
  # differ in the last bits here: reported, not a failure.
  for n in bn gn ln; do
    l1=(); [ "$n" = bn ] && l1=(--l1 1e-5)
    k=$([ "$n" = bn ] && echo batchnorm || ([ "$n" = gn ] && echo groupnorm || echo layernorm))
    vs="3 4 5 6 7 8"; [ "$n" = bn ] && vs="3 4 5 6 7 8 9"
    for v in $vs; do
      step "fusion: $n x 3 epochs, $k version $v" "$O/train.log" 40 env NORMLAB_CUDA_VERSIONS="$k=$v" \
        "$B/bin/mnist_norm" --device cuda --norm "$n" "${l1[@]}" --epochs 3 --data "$DATA" --out "$R/fusion-$n-v$v"
      [ -f "$R/fusion-$n-v$v/results.json" ] && python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('fusion: %s version %s: mean epoch %.3f s, %s graph nodes, test acc %.2f%%' % (sys.argv[2], sys.argv[3], j['mean_epoch_seconds'], j.get('cuda_graph_nodes'), j['final_test_acc']))" "$R/fusion-$n-v$v/results.json" "$n" "$v" >>"$S"
    done
    for b in $vs; do
      a=$((b - 1)) why="nvcc's own multiply-add fusing"
      [ "$b" = 3 ] && continue
      # BN's version 9 is version 5 but on the small layers, whose sums it takes in another order.
      [ "$b" = 9 ] && a=5 why="version 9 sums the layers from 10x10 down in another order: expected"
      if [ ! -f "$R/fusion-$n-v$a/model.ckpt" ] || [ ! -f "$R/fusion-$n-v$b/model.ckpt" ]; then
        echo "fusion: $n versions $a and $b not compared: a run did not finish (train.log)" | tee -a "$S"
      elif cmp -s "$R/fusion-$n-v$a/model.ckpt" "$R/fusion-$n-v$b/model.ckpt"; then
        echo "fusion: $n model.ckpt byte-identical, versions $a and $b" | tee -a "$S"
      else
        echo "fusion: $n model.ckpt differs between versions $a and $b ($why)" | tee -a "$S"
      fi
    done
    # The same norm (its version 5) on conv2d's version 4 (forward and data gradient one thread per
    # output position) against the default conv2d (version 3) of the run above: epoch seconds, and
    # whether the checkpoints are the same (version 2's sums in its order: the same bits on the
    # emulator; reported, not a failure).
    train3 "fusion: $n x 3 epochs, conv2d version 4" "$R/fusion-$n-conv4" "$k=5,conv2d=4" "fusion: $n conv2d version 4"
    if cmp -s "$R/fusion-$n-v5/model.ckpt" "$R/fusion-$n-conv4/model.ckpt"; then
      echo "fusion: $n model.ckpt byte-identical, conv2d versions 3 and 4" | tee -a "$S"
    else
      echo "fusion: $n model.ckpt differs between conv2d versions 3 and 4 (or a run failed)" | tee -a "$S"
    fi
    # And on conv2d's version 5 (version 4 with the weight gradient picked by shape: version 1's on
    # the head, version 2's on the first layer): epoch seconds; other sums there, so other bits.
    train3 "fusion: $n x 3 epochs, conv2d version 5" "$R/fusion-$n-conv5" "$k=5,conv2d=5" "fusion: $n conv2d version 5"
  done
fi
if want combo; then
  # The opt-in candidates together, as a training would run them if they all became the defaults:
  # each norm for 3 epochs (seed 1, graphs on) under NORMLAB_CUDA_VERSIONS=$COMBO with the weight
  # gradients on a second stream; the epoch seconds beside fusion's run on the defaults (its
  # version 5 run: the same seed and epochs). Other sums than the defaults' (batch norm's version 9),
  # so the checkpoints are not compared.
  for n in bn gn ln; do
    l1=(); [ "$n" = bn ] && l1=(--l1 1e-5)
    train3 "combo: $n x 3 epochs, $COMBO, --cuda-branches true" "$R/combo-$n" "$COMBO" \
      "combo: $n, $COMBO + branches" --cuda-branches true
    [ -f "$R/fusion-$n-v5/results.json" ] &&
      printf 'combo: %s on the defaults (fusion, version 5): %s\n' "$n" "$(epoch_fields "$R/fusion-$n-v5/results.json")" >>"$S"
  done
fi
if want bench && [ -x "$B/bin/bench_kernels" ]; then
  only=(); [ -n "${BENCH_ONLY:-}" ] && only=(--only "$BENCH_ONLY")
  # The rows the run will try (bench_kernels --list: no GPU time), to tell a run its limit cut short.
  planned=$("$B/bin/bench_kernels" --list "${only[@]}" 2>/dev/null | sed -n 's/^\([0-9][0-9]*\) rows.*/\1/p')
  step "bench_kernels (ours vs cuDNN/cuBLAS/copy)" "$O/bench_kernels.log" 180 \
    "$B/bin/bench_kernels" --csv "$O/bench_kernels.csv" "${only[@]}"
  [ -f "$O/bench_kernels.csv" ] && python3 scripts/bench-summary.py "$O/bench_kernels.csv" "$planned" >>"$S"
fi

if want ncu; then
  # 25 steps of a BN run at batch 128; the kernels of steps ~14-18 (a step launches about 80),
  # profiled one by one for their GPU time only, clocks as the card runs them (--clock-control none),
  # caches flushed before each kernel (ncu's default --cache-control all); each step launched op by
  # op (--cuda-graph false), so that ncu counts plain launches (each kernel's time is the same).
  mkdir -p "$R"  # ncu will not create its log file's folder
  # ncu_kernels NAME LIMIT CACHE CSV: the kernels of steps ~14-18, caches as --cache-control CACHE.
  ncu_kernels() {
    step "$1" "$O/train.log" "$2" \
      "$(command -v ncu || echo /usr/local/cuda/bin/ncu)" --clock-control none --cache-control "$3" --metrics gpu__time_duration.sum --launch-skip 1300 --launch-count 500 --csv \
      --log-file "$4" "$B/bin/mnist_norm" --device cuda --norm bn --l1 1e-5 --epochs 1 --cuda-graph false --train-limit 3200 \
      --test-limit 500 --data "$DATA" --out "$R/ncu-run"
    rm -rf "$R/ncu-run"
  }
  ncu_kernels "ncu: each kernel's GPU time, ~4 bn training steps" 120 all "$R/ncu.csv"
  [ -f "$R/ncu.csv" ] && python3 scripts/ncu-summary.py "$R/ncu.csv" >>"$S" 2>&1
  # The same kernels with warm caches (--cache-control none), as a training step meets them: their
  # sum against the step's wall time in training is the share of the step spent between kernels.
  ncu_kernels "ncu: the same kernels, caches warm" 60 none "$R/ncu-warm.csv"
  [ -f "$R/ncu-warm.csv" ] && { echo "ncu, caches warm:"; python3 scripts/ncu-summary.py "$R/ncu-warm.csv"; } >>"$S" 2>&1
  # Whole replayed training steps as one workload each (--graph-profiling graph): a step's GPU time
  # without the host, with the weight gradients on the main stream and on a second one.
  for b in false true; do
    step "ncu: whole replayed steps, --cuda-branches $b" "$O/train.log" 60 \
      "$(command -v ncu || echo /usr/local/cuda/bin/ncu)" --graph-profiling graph --clock-control none --cache-control none \
      --metrics gpu__time_duration.sum --launch-skip 20 --launch-count 40 --csv --log-file "$R/ncu-graph-$b.csv" \
      "$B/bin/mnist_norm" --device cuda --norm bn --l1 1e-5 --epochs 1 --cuda-branches "$b" --train-limit 3200 \
      --test-limit 500 --data "$DATA" --out "$R/ncu-run"
    rm -rf "$R/ncu-run"
    [ -f "$R/ncu-graph-$b.csv" ] && python3 -c "
import csv, sys, statistics
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if not l.startswith('==')) if len(r) > 5]
head, rows = rows[0], rows[1:]
name, unit, val = head.index('Kernel Name'), head.index('Metric Unit'), head.index('Metric Value')
by = {}
for r in rows: by.setdefault(r[name], []).append((float(r[val].replace(',', '')), r[unit]))
for k, v in by.items(): print('ncu graph (--cuda-branches %s): %s x%d, median %.1f %s' % (sys.argv[2], k[:60], len(v), statistics.median(x for x, _ in v), v[0][1]))
" "$R/ncu-graph-$b.csv" "$b" >>"$S" 2>&1
  done
fi

P=$O/torch.log
for mode in eager compile; do
  want "$mode" || continue
  cap=45
  [ "$mode" = compile ] && cap=100  # torch.compile's first epoch holds the compilation
  for n in bn gn ln; do
    l1=""
    [ "$n" = bn ] && l1="--l1 1e-5"
    step "pytorch $mode $n (same model, batch, data)" "$P" "$cap" \
      python3 scripts/bench_torch.py "$DATA" --device cuda --mode "$mode" --norm "$n" --rotate 7 --epochs 3 $l1
  done
done
if [ -f "$P" ]; then
  echo "PyTorch median epoch (after the first), seconds:" >>"$S"
  grep -E '^torch |^median' "$P" | paste - - | sed 's/^/  /' >>"$S"
fi
[ -d "$R" ] && (cd "$O" && tar czf runs.tgz runs && rm -rf runs)
rm -rf "$P_DIR"
echo "gpu-run: done in $(($(date +%s) - START)) s, exit $status; summary:"
cat "$S"
exit $status
