#!/usr/bin/env python3
"""Prints the README's results tables (markdown) from a study folder written by mnist_norm.
   scripts/results-table.py runs/study
"""
import csv, json, sys
from pathlib import Path

study = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/study")
s = json.loads((study / "summary.json").read_text())
names = {"bn": "BN + L1", "gn": "GN", "ln": "LN"}
print(f"| model | parameters | final test accuracy (%), mean ± std | worst seed | best seed | "
      f"final test loss, mean ± std | runs ≥ 99.4% | epoch time (s, mean) |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for n in s["norms"]:
    res = [json.loads((study / r / "results.json").read_text()) for r in n["runs"]]
    accs = [x["final_test_acc"] for x in res]
    worst = min(res, key=lambda x: x["final_test_acc"])
    best = max(res, key=lambda x: x["final_test_acc"])
    secs = sum(x["mean_epoch_seconds"] for x in res) / len(res)
    label = names[n["norm"]] if n["l1"] > 0 or n["norm"] != "bn" else "BN"
    print(f"| {label} | {n['parameters']:,} | {n['test_acc_mean']:.2f} ± {n['test_acc_std']:.2f} | "
          f"{worst['final_test_acc']:.2f} (seed {worst['seed']}) | {best['final_test_acc']:.2f} (seed {best['seed']}) | "
          f"{n['test_loss_mean']:.4f} ± {n['test_loss_std']:.4f} | "
          f"{sum(a >= 99.4 for a in accs)} of {len(accs)} | {secs:.2f} |")
print()
print("| run | seed | final test acc (%) | final test loss | best test acc (%) at epoch |")
print("| --- | --- | --- | --- | --- |")
for n in s["norms"]:
    for r in n["runs"]:
        rows = list(csv.DictReader(open(study / r / "metrics.csv")))
        best = max(rows, key=lambda x: float(x["test_acc"]))
        res = json.loads((study / r / "results.json").read_text())
        print(f"| {r} | {res['seed']} | {res['final_test_acc']:.2f} | {res['final_test_loss']:.4f} | "
              f"{float(best['test_acc']):.2f} at {best['epoch']} |")

# The figures the README's findings quote: mean test accuracy per norm at epochs 1, 2 and 5, the
# last epoch at which BN's mean leads both others, and each norm's final-loss range.
print()
means = {}
for n in s["norms"]:
    curves = [list(csv.DictReader(open(study / r / "metrics.csv"))) for r in n["runs"]]
    E = len(curves[0])
    means[n["norm"]] = [sum(float(c[e]["test_acc"]) for c in curves) / len(curves) for e in range(E)]
    losses = [float(c[-1]["test_loss"]) for c in curves]
    print(f"{n['norm']}: mean test acc at epoch 1 {means[n['norm']][0]:.2f}, 2 {means[n['norm']][1]:.2f}, "
          f"{min(5, E)} {means[n['norm']][min(5, E) - 1]:.2f}; final test loss {min(losses):.4f}-{max(losses):.4f}")
if "bn" in means:
    others = [k for k in means if k != "bn"]
    lead = [e + 1 for e in range(len(means["bn"])) if all(means["bn"][e] > means[k][e] for k in others)]
    print(f"BN's mean leads both others at epochs {lead}")
