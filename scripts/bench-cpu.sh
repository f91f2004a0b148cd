#!/usr/bin/env bash
# CPU speed, side by side, in one command: mnist_norm and PyTorch (Debian's python3-torch) training
# the same 9,752-parameter model (the first study's, --arch 8,16,t8,m,16,16,16,16p without dropout,
# as scripts/bench_torch.py builds it) on the same data with the same batch (128), augmentation (±7°
# rotation) and thread count, ALTERNATING (mnist_norm, PyTorch, mnist_norm, PyTorch, ...), PAIRS pairs
# per norm. Both figures time the same thing: one epoch's training pass — shuffle, batch gathering,
# rotation, forward, backward, SGD step, loss/accuracy sums — and not the test evaluation
# (mnist_norm's metrics.csv `seconds`; scripts/bench_torch.py's `epoch 1`). Prints per norm the
# median epoch time of each, the median of the pairwise ratios mnist_norm / PyTorch, and each
# process's peak memory (max RSS); writes the table as CSV (runs/bench-cpu.csv). Run it on a quiet
# machine: timings shift with whatever else runs.
#   MNIST_DIR=../shared/data/mnist scripts/bench-cpu.sh     (PAIRS=3 THREADS=2 NORMS="bn gn ln")
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench-cpu: installing Debian's python3-torch (the reference)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
fi
MNIST_DIR=${MNIST_DIR:-$(cd .. && pwd)/shared/data/mnist}
PAIRS=${PAIRS:-3}
THREADS=${THREADS:-2}
NORMS=${NORMS:-bn gn ln}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target mnist_norm >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p runs
csv=runs/bench-cpu.csv
echo "norm,pair,mnist_norm_s,pytorch_s,ratio,mnist_norm_maxrss_mb,pytorch_maxrss_mb" >"$tmp/csv"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); threads $THREADS;" \
  "torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
for n in $NORMS; do
  l1=""
  [ "$n" = bn ] && l1="--l1 1e-5"
  for i in $(seq "$PAIRS"); do
    /usr/bin/time -f %M -o "$tmp/rss_a" build/mnist_norm --norm "$n" $l1 --epochs 1 --test-limit 1000 \
      --arch 8,16,t8,m,16,16,16,16p --dropout 0 --threads "$THREADS" --data "$MNIST_DIR" --out "$tmp/run" --overwrite >/dev/null
    a=$(tail -1 "$tmp/run/metrics.csv" | cut -d, -f6)
    /usr/bin/time -f %M -o "$tmp/rss_b" /usr/bin/python3 scripts/bench_torch.py "$MNIST_DIR" --norm "$n" $l1 \
      --arch 8,16,t8,m,16,16,16,16p --dropout 0 \
      --threads "$THREADS" --epochs 1 --rotate 7 >"$tmp/torch.log"
    b=$(sed -n 's/^epoch 1: \([0-9.]*\) s.*/\1/p' "$tmp/torch.log")
    r=$(python3 -c "print(f'{$a / $b:.3f}')")
    echo "$n,$i,$a,$b,$r,$(($(tail -1 "$tmp/rss_a") / 1024)),$(($(tail -1 "$tmp/rss_b") / 1024))" >>"$tmp/csv"
    echo "  $n pair $i: mnist_norm $a s, PyTorch $b s, ratio $r"
  done
done
mv "$tmp/csv" "$csv.tmp" && mv "$csv.tmp" "$csv"
python3 - "$csv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"\n{'norm':5} {'mnist_norm (s)':>15} {'PyTorch (s)':>12} {'ratio':>7} {'mnist_norm RSS':>15} {'PyTorch RSS':>12}")
for n in dict.fromkeys(r["norm"] for r in rows):
    rs = [r for r in rows if r["norm"] == n]
    med = lambda k: statistics.median(float(r[k]) for r in rs)
    print(f"{n:5} {med('mnist_norm_s'):15.2f} {med('pytorch_s'):12.2f} {med('ratio'):7.2f} "
          f"{max(int(r['mnist_norm_maxrss_mb']) for r in rs):12d} MB {max(int(r['pytorch_maxrss_mb']) for r in rs):9d} MB")
print(f"(medians over {len(rs)} alternating pairs; ratio = median of the pairwise mnist_norm / PyTorch; CSV: {sys.argv[1]})")
EOF
