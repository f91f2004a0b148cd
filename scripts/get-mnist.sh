#!/usr/bin/env bash
# Downloads the four official MNIST files into DIR (default ./data/mnist) and verifies their md5.
# Tries each mirror in turn; a file already present with the right md5 is kept.
#   scripts/get-mnist.sh [DIR]
set -euo pipefail
dir=${1:-data/mnist}
mkdir -p "$dir"
mirrors=(
  "https://ossci-datasets.s3.amazonaws.com/mnist"
  "https://storage.googleapis.com/cvdf-datasets/mnist"
  "http://yann.lecun.com/exdb/mnist"
)
declare -A md5=(
  [train-images-idx3-ubyte.gz]=f68b3c2dcbeaaa9fbdd348bbdeb94873
  [train-labels-idx1-ubyte.gz]=d53e105ee54ea40749a09fcbcd1e9432
  [t10k-images-idx3-ubyte.gz]=9fb629c4189551a2d022fa330f9573f3
  [t10k-labels-idx1-ubyte.gz]=ec29112dd5afa0611ce80d1b7f02629c
)
fetch() {  # url out
  if command -v curl >/dev/null; then curl -fsSL --retry 2 -o "$2" "$1"; else wget -q -O "$2" "$1"; fi
}
status=0
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  want=${md5[$f]}
  if [ -f "$dir/$f" ] && [ "$(md5sum "$dir/$f" | cut -d' ' -f1)" = "$want" ]; then
    echo "ok      $dir/$f (already present, md5 verified)"
    continue
  fi
  got=""
  for m in "${mirrors[@]}"; do
    if fetch "$m/$f" "$dir/$f.part" 2>/dev/null; then
      if [ "$(md5sum "$dir/$f.part" | cut -d' ' -f1)" = "$want" ]; then
        mv "$dir/$f.part" "$dir/$f"
        got=$m
        break
      fi
      echo "warning: $m/$f has the wrong md5, trying the next mirror" >&2
    fi
    rm -f "$dir/$f.part"
  done
  if [ -n "$got" ]; then
    echo "ok      $dir/$f (from $got, md5 verified)"
  else
    echo "error: could not download $f with the right md5 from any mirror; check your connection" >&2
    status=1
  fi
done
exit $status
