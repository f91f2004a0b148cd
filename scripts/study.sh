#!/usr/bin/env bash
# Sets up and runs the main job: installs the Debian packages, builds, and runs the study
# (BN + L1, GN, LN; 20 epochs; 3 seeds each) into runs/study, with every figure.
#   scripts/study.sh [extra mnist_norm flags, e.g. --seeds 1]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
export MNIST_DIR=${MNIST_DIR:-data/mnist}
[ -f "$MNIST_DIR/t10k-labels-idx1-ubyte.gz" ] || scripts/get-mnist.sh "$MNIST_DIR"
build/mnist_norm --norm bn,gn,ln --l1 1e-5 --seeds 3 --out runs/study "$@"
