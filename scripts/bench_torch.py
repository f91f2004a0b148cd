#!/usr/bin/env python3
"""Reference timing: PyTorch (Debian's python3-torch) training normlab's MNIST net on the CPU.

Not part of normlab: it is the yardstick for mnist_norm's CPU epoch time. Same model (9,752
parameters), batch 128, SGD with Nesterov momentum, in-memory tensors, no augmentation.
  /usr/bin/python3 scripts/bench_torch.py DATA_DIR [--norm bn|gn|ln] [--threads 2] [--epochs 1]
Prints one line per epoch: seconds for the training pass over the 60,000 images.
"""
import argparse, gzip, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def norm(kind, c, hw):
    if kind == "bn":
        return nn.BatchNorm2d(c)
    if kind == "gn":
        return nn.GroupNorm(4, c)
    return nn.GroupNorm(1, c)  # LN with a per-channel affine, as in normlab


def net(kind):
    def block(cin, cout, pad, hw):
        return [nn.Conv2d(cin, cout, 3, padding=pad, bias=False), norm(kind, cout, hw), nn.ReLU()]
    return nn.Sequential(*block(1, 8, 0, 26), *block(8, 16, 0, 24), nn.Conv2d(16, 8, 1, bias=False), nn.MaxPool2d(2),
                         *block(8, 16, 0, 10), *block(16, 16, 0, 8), *block(16, 16, 0, 6), *block(16, 16, 1, 6),
                         nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 10, 1, bias=False), nn.Flatten())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--norm", default="bn")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = idx(f"{a.data}/train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    x = torch.from_numpy((x - 0.1307) / 0.3081)
    y = torch.from_numpy(idx(f"{a.data}/train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    model = net(a.norm)
    print(f"torch {torch.__version__}, {a.threads} threads, {sum(p.numel() for p in model.parameters())} parameters")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    model.train()
    for epoch in range(a.epochs):
        perm = torch.randperm(len(y))
        t0 = time.perf_counter()
        for i in range(0, len(y), 128):
            b = perm[i:i + 128]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: {time.perf_counter() - t0:.2f} s (last loss {loss.item():.4f})")


if __name__ == "__main__":
    main()
