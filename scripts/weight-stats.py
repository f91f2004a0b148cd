#!/usr/bin/env python3
"""Convolution-weight statistics of normlab checkpoints (the effect of L1).
   scripts/weight-stats.py RUN_DIR [RUN_DIR ...]
Reads RUN_DIR/model.ckpt (format: core/checkpoint.h) and RUN_DIR/config.json; prints, over all
4-d parameters (the convolution weights): count, mean |w|, and the share with |w| < 1e-3 and < 1e-2.
"""
import array, json, math, struct, sys
from pathlib import Path


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
        code, width = {0: ("f", 4), 1: ("d", 8), 2: ("i", 4)}[dtype]
        count_ = math.prod(dims)
        values = array.array(code)
        values.frombytes(b[off:off + count_ * width]); off += count_ * width
        if sys.byteorder != "little":
            values.byteswap()
        out[name] = (dims, values)
    return out


print("| run | norm | L1 λ | conv weights | mean \\|w\\| | \\|w\\| < 1e-3 | \\|w\\| < 1e-2 |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for d in sys.argv[1:]:
    cfg = json.loads((Path(d) / "config.json").read_text())
    w = [v for k, (dims, t) in read_ckpt(Path(d) / "model.ckpt").items()
         if k.startswith("param.") and len(dims) == 4 for v in t]
    a = [abs(v) for v in w]
    share = lambda t: 100 * sum(x < t for x in a) / len(a)
    print(f"| {Path(d).name} | {cfg['norm']} | {cfg['l1']:g} | {len(w):,} | {sum(a) / len(a):.4f} | "
          f"{share(1e-3):.2f}% | {share(1e-2):.2f}% |")
