#!/usr/bin/env bash
# Sets up and runs the whole test suite: installs the Debian packages, then
#   1. the normal build (the CUDA kernels are built wherever nvcc exists; their tests run on a GPU
#      and report SKIPPED without one), all its tests;
#   2. the CUDA emulation build (NORMLAB_CUDA_EMULATE: kernels/cuda run on the CPU) under
#      AddressSanitizer + UBSan, all its tests: the CPU tests again, and every CUDA kernel, forward
#      and backward, against the CPU path (label cuda-emu), none skipped for lack of a GPU.
#   scripts/test.sh            (MNIST_DIR=../shared/data/mnist by default for the training tests)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export MNIST_DIR=${MNIST_DIR:-$(cd .. && pwd)/shared/data/mnist}
# The CUDA kernels build (and their tests skip) wherever nvcc exists, GPU or not.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNORMLAB_WERROR=${NORMLAB_WERROR:-OFF}
cmake --build build -j"$(nproc)"
(cd build && ctest --output-on-failure -j1)

echo "== CUDA emulation build under AddressSanitizer + UBSan =="
cmake -S . -B build-emu-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNORMLAB_CUDA_EMULATE=ON \
  -DNORMLAB_SANITIZE=address,undefined -DNORMLAB_WERROR=${NORMLAB_WERROR:-OFF}
cmake --build build-emu-asan -j"$(nproc)"
cd build-emu-asan
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} ctest --output-on-failure -j1
grep -h "kernels run on the CUDA emulator" Testing/Temporary/LastTest.log || true
