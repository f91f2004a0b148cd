#!/usr/bin/env bash
# Everything issue 3 asks to run on a GPU, in one go (about 10-20 minutes on an H100):
#   1. build with the CUDA backend for sm_90 (or $ARCH),
#   2. ctest -L cuda  (kernel parity vs the CPU, cuDNN reference, the --device cuda training test),
#   3. the three 20-epoch trainings with --device cuda (BN + L1, GN, LN; seed 1; one study command),
#   4. bench_kernels (ours vs cuDNN/cuBLAS) -> CSV,
# writing every log and CSV under $OUT_DIR (default runs/gpu-check) for docs/results-gpu.md.
#   scripts/gpu-check.sh [--skip-build]
# Needs: nvcc and a GPU. cuDNN at run time for the cuDNN test and the benchmarks: found through
# ldconfig, or the pip package nvidia-cudnn-cu13 (as on a PyTorch machine), which this script adds
# to LD_LIBRARY_PATH. mnist_norm itself links the CUDA runtime statically and needs only the driver.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-runs/gpu-check}
BUILD=${BUILD:-build-gpu}
ARCH=${ARCH:-90}
export MNIST_DIR=${MNIST_DIR:-$(cd .. && pwd)/shared/data/mnist}
mkdir -p "$OUT_DIR"
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi

if [ "${1:-}" != "--skip-build" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DNORMLAB_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" || exit 1
  cmake --build "$BUILD" -j"$(nproc)" || exit 1
fi

if ! ldconfig -p 2>/dev/null | grep -q libcudnn.so.9; then
  d=$(python3 -c 'import nvidia.cudnn, os; print(os.path.join(list(nvidia.cudnn.__path__)[0], "lib"))' 2>/dev/null)
  c=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)
  [ -n "$d" ] && export LD_LIBRARY_PATH=$d:${c:+$c:}${LD_LIBRARY_PATH:-}
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT_DIR/gpu.txt"
for b in mnist_norm bench_kernels tests/cuda_parity tests/cudnn_reference; do
  echo "== ldd $b" >>"$OUT_DIR/ldd.txt"; ldd "$BUILD/$b" >>"$OUT_DIR/ldd.txt" 2>&1
done

status=0
(cd "$BUILD" && ctest -L cuda --output-on-failure -V) 2>&1 | tee "$OUT_DIR/ctest-cuda.log" || status=1
grep -q "No tests were found\|Not Run\|Skipped" "$OUT_DIR/ctest-cuda.log" && { echo "some cuda tests did not run"; status=1; }

# The study's command with --device cuda: BN + L1, GN, LN, 20 epochs each, seed 1.
"$BUILD/mnist_norm" --device cuda --norm bn,gn,ln --l1 1e-5 --data "$MNIST_DIR" --out "$OUT_DIR/study" \
  2>&1 | tee "$OUT_DIR/train.log" || status=1

"$BUILD/bench_kernels" --csv "$OUT_DIR/bench_kernels.csv" 2>&1 | tee "$OUT_DIR/bench_kernels.log" || status=1
echo "gpu-check: outputs in $OUT_DIR (exit $status)"
exit $status
