#!/usr/bin/env python3
"""Prints the README's results tables (markdown) from a study folder written by mnist_norm.
   scripts/results-table.py runs/study
"""
import csv, json, sys
from pathlib import Path

study = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/study")
s = json.loads((study / "summary.json").read_text())
names = {"bn": "BN + L1", "gn": "GN", "ln": "LN"}
print(f"| model | parameters | final test accuracy (%), mean ± std | final test loss, mean ± std | "
      f"runs ≥ 99.4% |")
print("| --- | --- | --- | --- | --- |")
for n in s["norms"]:
    accs = []
    for r in n["runs"]:
        accs.append(json.loads((study / r / "results.json").read_text())["final_test_acc"])
    label = names[n["norm"]] if n["l1"] > 0 or n["norm"] != "bn" else "BN"
    print(f"| {label} | {n['parameters']:,} | {n['test_acc_mean']:.2f} ± {n['test_acc_std']:.2f} | "
          f"{n['test_loss_mean']:.4f} ± {n['test_loss_std']:.4f} | "
          f"{sum(a >= 99.4 for a in accs)} of {len(accs)} |")
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
