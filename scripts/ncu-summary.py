#!/usr/bin/env python3
"""Per-step GPU time of each kernel, from the ncu CSV that scripts/gpu-run.sh's ncu step writes
(ncu --metrics gpu__time_duration.sum --csv over a window of training launches).
   scripts/ncu-summary.py ncu.csv
A training step is taken to end at each launch of the optimizer kernel (`sgd`); only the whole steps
inside the window are counted. Prints, per kernel name, launches per step, µs per step and share,
then the step's total GPU time and launch count. Each kernel is timed alone by ncu (serialised,
caches flushed before each, clocks as the card ran them): the total is a cold-cache sum, not the
step's wall time, and can exceed it (H100, 2026-11-27: 1,127 us per step against 910 us of wall
time per step in the training). Its use is the ranking: which kernels hold the step. Standard
library only."""
import csv
import re
import sys
from collections import defaultdict


def short(name):
    """'void (anonymous namespace)::conv_tiled<3, 0>(float *, ...)' -> 'conv_tiled<3, 0>'."""
    name = re.sub(r"^void ", "", name)
    name = name.split("(")[0] if not name.startswith("(") else name
    return name.split("::")[-1] or name


def main(path):
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if len(r) > 10 and r[0].isdigit()]
    if not rows:
        sys.exit(f"ncu-summary: no kernel rows in {path}: was ncu's --csv output written there?")
    names = [short(r[4]) for r in rows]
    ns = [float(r[-1].replace(",", "")) for r in rows]
    ends = [i for i, n in enumerate(names) if n == "sgd"]
    if len(ends) < 2:
        sys.exit("ncu-summary: fewer than two optimizer launches (sgd) in the window: no whole step to count")
    first, last = ends[0] + 1, ends[-1] + 1  # whole steps: after one sgd up to and including the next
    steps = len(ends) - 1
    per = defaultdict(lambda: [0, 0.0])
    for n, t in zip(names[first:last], ns[first:last]):
        per[n][0] += 1
        per[n][1] += t
    total = sum(v[1] for v in per.values())
    print(f"ncu: {steps} whole training step(s), {(last - first) // steps} launches per step, "
          f"GPU busy {total / steps / 1e3:.1f} us per step (each kernel timed alone)")
    print(f"  {'kernel':<28} {'launches':>8} {'us/step':>9} {'share':>6}")
    for n, (c, t) in sorted(per.items(), key=lambda kv: -kv[1][1]):
        print(f"  {n:<28} {c / steps:>8.0f} {t / steps / 1e3:>9.1f} {100 * t / total:>5.1f}%")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/ncu-summary.py ncu.csv")
    main(sys.argv[1])
