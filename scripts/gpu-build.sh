#!/usr/bin/env bash
# The GPU runbook, half 1 — on this (build) machine, no GPU needed. Builds everything the GPU
# machine will run, for any x86-64 CPU (-DNORMLAB_NATIVE=OFF) and the H100/H200 (sm_90), and packs
# it with MNIST into gpu-bundle/ (git-ignored; MNIST is never committed): bin/ (mnist_norm,
# bench_kernels, the CUDA tests), lib/ (libgomp and zlib, which a bare GPU image may lack; libstdc++
# and libgcc are linked statically, the CUDA runtime too), data/mnist/, BUILD_INFO. Half 2,
# scripts/gpu-run.sh, runs there from the copied tree without cmake or ctest.
#   MNIST_DIR=../shared/data/mnist scripts/gpu-build.sh      (ARCH=90 by default)
# Then, with the device tool: run `scripts/gpu-run.sh` carrying gpu-bundle (docs/results-gpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
MNIST_DIR=${MNIST_DIR:-$(cd .. && pwd)/shared/data/mnist}
BUILD=${BUILD:-build-gpu}
BUNDLE=gpu-bundle
ARCH=${ARCH:-90}
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
command -v nvcc >/dev/null || { echo "gpu-build: nvcc not found: install the CUDA toolkit (or put it on PATH)" >&2; exit 2; }
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  [ -f "$MNIST_DIR/$f" ] || { echo "gpu-build: $MNIST_DIR/$f missing: set MNIST_DIR to the MNIST folder" >&2; exit 2; }
done

# No build RPATH (nothing may point into this machine's /usr/local/cuda): gpu-run.sh sets
# LD_LIBRARY_PATH to the bundle's lib/ and to cuDNN/cuBLAS from PyTorch's pip wheels there.
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DNORMLAB_NATIVE=OFF -DNORMLAB_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DNORMLAB_WERROR=ON -DCMAKE_SKIP_BUILD_RPATH=ON \
  -DCMAKE_EXE_LINKER_FLAGS="-static-libstdc++ -static-libgcc" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/bin" "$BUNDLE/lib" "$BUNDLE/data/mnist"
bins=(mnist_norm tests/cuda_parity tests/train_cuda_smoke)
for b in bench_kernels tests/cudnn_reference; do [ -x "$BUILD/$b" ] && bins+=("$b"); done
for b in "${bins[@]}"; do cp "$BUILD/$b" "$BUNDLE/bin/"; done
for b in "$BUNDLE"/bin/*; do
  if readelf -d "$b" | grep -qE 'RPATH|RUNPATH'; then
    echo "gpu-build: $b has an RPATH/RUNPATH into this machine: $(readelf -d "$b" | grep -E 'RPATH|RUNPATH')" >&2
    exit 1
  fi
done
# The libraries a bare image may lack (glibc, the driver's libcuda and cuDNN/cuBLAS are not copied).
for lib in libgomp.so.1 libz.so.1; do
  path=$(ldd "$BUNDLE/bin/mnist_norm" | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$path" ] && cp -L "$path" "$BUNDLE/lib/"
done
cp "$MNIST_DIR"/*-ubyte.gz "$BUNDLE/data/mnist/"

cuda_version=$(nvcc --version | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p')
{
  echo "commit=$(git rev-parse HEAD)$(git diff --quiet || echo '+uncommitted')"
  echo "built=$(date -u +%Y-%m-%dT%H:%MZ) on $(uname -m), $(ldd --version | head -1)"
  echo "cuda_runtime=$cuda_version"
  # the oldest Linux driver each CUDA major needs (CUDA's release notes): 12.x 525, 13.x 580
  case ${cuda_version%%.*} in 12) echo "min_driver=525" ;; 13) echo "min_driver=580" ;; *) echo "min_driver=0" ;; esac
  echo "arch=sm_$ARCH"
  for b in "$BUNDLE"/bin/*; do
    echo "ldd $(basename "$b"):"
    ldd "$b" | sed 's/^/  /'
  done
} >"$BUNDLE/BUILD_INFO"
echo "gpu-build: $BUNDLE/ ready ($(du -sh "$BUNDLE" | cut -f1)): $(ls "$BUNDLE/bin" | tr '\n' ' ')"
echo "gpu-build: next, on the GPU machine: scripts/gpu-run.sh   (device tool: carry [\"$BUNDLE\"])"
# BENCH_ONLY, gpu-run.sh's filter of the bench rows, checked here when given (no GPU needed): the
# rows it keeps are counted, and one that keeps none or is no regular expression stops the build.
if [ -n "${BENCH_ONLY:-}" ] && [ -x "$BUNDLE/bin/bench_kernels" ]; then
  kept=$("$BUNDLE/bin/bench_kernels" --list --only "$BENCH_ONLY" | tail -1) ||
    { echo "gpu-build: BENCH_ONLY='$BENCH_ONLY' would time nothing (above): fix it before the GPU session" >&2; exit 2; }
  echo "gpu-build: BENCH_ONLY keeps $kept"
fi
