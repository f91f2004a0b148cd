#!/usr/bin/env bash
# Sets up and runs the whole test suite: installs the Debian packages, configures, builds, runs CTest.
#   scripts/test.sh            (MNIST_DIR=../shared/data/mnist by default for the training test)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export MNIST_DIR=${MNIST_DIR:-$(cd .. && pwd)/shared/data/mnist}
# The CUDA kernels build (and their tests skip) wherever nvcc exists, GPU or not.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNORMLAB_WERROR=${NORMLAB_WERROR:-OFF}
cmake --build build -j"$(nproc)"
cd build && ctest --output-on-failure -j1
