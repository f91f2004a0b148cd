#!/usr/bin/env bash
# Fuzzes the IDX reader (core/idx.cpp) with libFuzzer under AddressSanitizer + UBSan for a bounded
# time, starting from the committed seed corpus (tests/fuzz/idx: valid and broken headers, raw and
# gzip). Fails on any crash, sanitizer report or broken invariant, and prints the number of runs.
#   scripts/fuzz.sh            (FUZZ_SECONDS=60 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
secs=${FUZZ_SECONDS:-60}
mkdir -p build-fuzz
rm -rf build-fuzz/corpus && mkdir -p build-fuzz/corpus  # new inputs go here, never into the seeds
clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
  tests/fuzz_idx.cpp core/idx.cpp -lz -o build-fuzz/fuzz_idx
set +e
build-fuzz/fuzz_idx -max_total_time="$secs" -max_len=4096 -print_final_stats=1 build-fuzz/corpus tests/fuzz/idx \
  >build-fuzz/fuzz.log 2>&1
rc=$?
set -e
runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' build-fuzz/fuzz.log)
if [ "$rc" -ne 0 ]; then
  tail -40 build-fuzz/fuzz.log
  echo "fuzz: the IDX reader FAILED (exit $rc); the crashing input is named above (crash-*)" >&2
  exit 1
fi
echo "fuzz: IDX reader, ${runs:-? runs}, 0 crashes ($(ls build-fuzz/corpus | wc -l) new corpus inputs)"
