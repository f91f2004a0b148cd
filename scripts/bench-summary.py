#!/usr/bin/env python3
"""The acceptance read-out of a bench_kernels CSV (issue 9), for the GPU runbook's summary.txt:
   - every convolution pass: our median time over cuDNN's fastest FP32 algorithm's (target <= 1);
   - every norm's forward + backward: the share of the device-to-device copy bandwidth measured in
     the same run that it reaches, 100 / ratio % (target >= 70% on N=256, C=64, 56x56).
   - with PLANNED (the rows bench_kernels --list counted for the run), how many of them reached the CSV.
   scripts/bench-summary.py bench_kernels.csv [PLANNED]
Standard library only. A row that failed validation is listed as such, never as a figure."""
import csv
import sys


def main(path, planned=None):
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["impl"] == "ours"]
    conv = [r for r in rows if r["op"].startswith("conv")]
    norm = [r for r in rows if "fwd+bwd" in r["op"]]
    print("bench_kernels: convolution passes, our time / cuDNN's (target <= 1):")
    for r in conv:
        verdict = r["note"] or "%.2fx" % float(r["ratio_ours_over_ref"])
        print("  %-28s %-30s %s" % (r["op"], r["shape"], verdict))
    print("bench_kernels: norm forward + backward, % of the copy bandwidth of this run (target >= 70%):")
    for r in norm:
        ratio = float(r["ratio_ours_over_ref"])
        verdict = r["note"] or ("%.0f%%  (%.1f us)" % (100.0 / ratio, float(r["median_us"])) if ratio > 0 else "-")
        print("  %-28s %-30s %s" % (r["op"], r["shape"], verdict))
    if planned is not None:
        print("bench_kernels: %d of %s planned rows in the CSV (timed or failed validation; the CSV is rewritten"
              " after each shape, so a run cut short lacks the shape it was in)" % (len(rows), planned or "?"))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: scripts/bench-summary.py bench_kernels.csv [PLANNED]")
    main(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)
