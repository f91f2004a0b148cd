#!/usr/bin/env python3
"""Convolution-weight statistics of normlab checkpoints (the effect of L1).
   scripts/weight-stats.py RUN_DIR [RUN_DIR ...]
Reads RUN_DIR/model.ckpt (format: core/checkpoint.h) and RUN_DIR/config.json; prints, over all
4-d parameters (the convolution weights): count, mean |w|, and the share with |w| < 1e-3 and < 1e-2.
"""
import json, struct, sys
from pathlib import Path

import numpy as np


def read_ckpt(path):
    b = Path(path).read_bytes()
    assert b[:8] == b"NLCKPT\0\0", f"{path}: not a normlab checkpoint"
    version, count = struct.unpack_from("<II", b, 8)
    off, out = 16, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", b, off); off += 4
        name = b[off:off + n].decode(); off += n
        dtype, nd = struct.unpack_from("<II", b, off); off += 8
        dims = struct.unpack_from(f"<{nd}q", b, off); off += 8 * nd
        np_dtype = {0: np.float32, 1: np.float64, 2: np.int32}[dtype]
        size = int(np.prod(dims)) * np.dtype(np_dtype).itemsize
        out[name] = np.frombuffer(b, np_dtype, count=int(np.prod(dims)), offset=off).reshape(dims); off += size
    return out


print("| run | norm | L1 λ | conv weights | mean \\|w\\| | \\|w\\| < 1e-3 | \\|w\\| < 1e-2 |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for d in sys.argv[1:]:
    cfg = json.loads((Path(d) / "config.json").read_text())
    w = np.concatenate([t.ravel() for k, t in read_ckpt(Path(d) / "model.ckpt").items()
                        if k.startswith("param.") and t.ndim == 4])
    a = np.abs(w)
    print(f"| {Path(d).name} | {cfg['norm']} | {cfg['l1']:g} | {w.size:,} | {a.mean():.4f} | "
          f"{100 * (a < 1e-3).mean():.2f}% | {100 * (a < 1e-2).mean():.2f}% |")
