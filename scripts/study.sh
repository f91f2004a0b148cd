#!/usr/bin/env bash
# Sets up and runs the main job: installs the Debian packages, builds, and runs the study
# (BN + L1, GN, LN; 20 epochs; 5 seeds each) into runs/study, with every figure.
#   scripts/study.sh [extra mnist_norm flags, e.g. --seeds 1]
# Interrupted (a crash, kill -9, a pre-empted machine)? Run it again: a runs/study that an earlier
# study started is resumed (mnist_norm --resume runs/study): finished runs are kept, the interrupted
# one continues after its last complete epoch with the same bits. STUDY_OUT picks another folder;
# remove the folder (or pass --overwrite with flags) to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
export MNIST_DIR=${MNIST_DIR:-data/mnist}
[ -f "$MNIST_DIR/t10k-labels-idx1-ubyte.gz" ] || scripts/get-mnist.sh "$MNIST_DIR"
OUT=${STUDY_OUT:-runs/study}
if [ -f "$OUT/command.json" ] && [ $# -eq 0 ]; then
  exec build/mnist_norm --resume "$OUT" --data "$MNIST_DIR"
fi
# The study's settings, each unless the extra flags give it (mnist_norm refuses an option twice).
defaults=(--norm bn,gn,ln --l1 1e-5 --seeds 5 --data "$MNIST_DIR" --out "$OUT")
args=()
for ((i = 0; i < ${#defaults[@]}; i += 2)); do
  flag=${defaults[i]}
  [[ " $* " == *" $flag "* || " $* " == *" $flag="* ]] || args+=("$flag" "${defaults[i + 1]}")
done
exec build/mnist_norm "${args[@]}" "$@"
