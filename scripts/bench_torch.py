#!/usr/bin/env python3
"""Reference timing: PyTorch training normlab's MNIST net, on the CPU or a GPU.

Not part of normlab: it is the yardstick for mnist_norm's epoch time. Same model, built from the same
--arch string as mnist_norm's (layers/mnist_net.h; default the study's 7,928-parameter net, dropout
0.05 after each 3x3 block but the last; GN with --groups groups, LN as GroupNorm(1) = per-channel
affine, as in normlab),
batch 128, SGD with Nesterov momentum (+ L1 on the conv weights for BN with --l1), data in memory
on the device. What one epoch's figure times is what mnist_norm's `seconds` column times: the
epoch's shuffle, every batch's gather and (with --rotate DEG, mnist_norm's default is 7) its random
bilinear rotation, forward, backward, the SGD step and the loss/accuracy sums, then one wait for the
device at the end. Test evaluation is not in it (mnist_norm reports it separately).
  python3 scripts/bench_torch.py DATA_DIR [--norm bn|gn|ln] [--groups 2] [--threads 2] [--epochs 1]
                                 [--device cpu|cuda] [--mode eager|compile] [--rotate 0] [--l1 0]
                                 [--arch 8,12,t8,m,12,16,16,12p] [--dropout 0.05]
Prints one line per epoch, `epoch N: S s`, and a last line `median epoch (after the first): S s`
when there are 2 or more epochs (the first holds torch.compile's compilation and CUDA warm-up).
CPU numbers in docs/results-cpu.md were taken with Debian's python3-torch 1.13 on the first study's
9,752-parameter net (--arch 8,16,t8,m,16,16,16,16p --dropout 0, which scripts/bench-cpu.sh passes).
"""
import argparse, gzip, math, statistics, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def norm(kind, c, groups):
    if kind == "bn":
        return nn.BatchNorm2d(c)
    if kind == "gn":
        return nn.GroupNorm(groups, c)
    return nn.GroupNorm(1, c)  # LN with a per-channel affine, as in normlab


def net(kind, groups, arch, dropout):
    """mnist_norm's network from its --arch string: N a 3x3 conv + norm + ReLU (+ dropout but after
    the last), Np the same with padding 1, tN a 1x1 conv, m a 2x2 max pool; then the head."""
    items = arch.split(",")
    last = max(i for i, t in enumerate(items) if t[0].isdigit())
    layers, c = [], 1
    for i, t in enumerate(items):
        if t == "m":
            layers.append(nn.MaxPool2d(2))
        elif t.startswith("t"):
            layers.append(nn.Conv2d(c, int(t[1:]), 1, bias=False))
            c = int(t[1:])
        else:
            k = int(t.rstrip("p"))
            layers += [nn.Conv2d(c, k, 3, padding=1 if t.endswith("p") else 0, bias=False), norm(kind, k, groups),
                       nn.ReLU()]
            if dropout > 0 and i != last:
                layers.append(nn.Dropout(dropout))
            c = k
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, 10, 1, bias=False), nn.Flatten())


def rotate(x, max_deg, gen):
    """Random bilinear rotation by up to +-max_deg degrees about the image centre, zero fill."""
    n = x.shape[0]
    a = (torch.rand(n, device=x.device, generator=gen) * 2 - 1) * math.radians(max_deg)
    c, s = torch.cos(a), torch.sin(a)
    theta = torch.stack([torch.stack([c, s, torch.zeros_like(c)], 1), torch.stack([-s, c, torch.zeros_like(c)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--norm", default="bn", choices=["bn", "gn", "ln"])
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--mode", default="eager", choices=["eager", "compile"])
    ap.add_argument("--rotate", type=float, default=0.0)
    ap.add_argument("--l1", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--arch", default="8,12,t8,m,12,16,16,12p")
    ap.add_argument("--dropout", type=float, default=0.05)
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_torch: --device cuda but PyTorch sees no GPU; use --device cpu")
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dev = torch.device(a.device)
    gen = torch.Generator(device=dev)
    gen.manual_seed(1)
    raw = idx(f"{a.data}/train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    x = torch.from_numpy(raw).to(dev)
    y = torch.from_numpy(idx(f"{a.data}/train-labels-idx1-ubyte.gz", 8).astype(np.int64)).to(dev)
    model = net(a.norm, a.groups, a.arch, a.dropout).to(dev)
    params = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name() if a.device == "cuda" else f"{a.threads} threads"
    print(f"torch {torch.__version__}, {a.device} ({name}), {a.mode}, {a.norm}, {params} parameters, "
          f"rotate {a.rotate} deg, batch {a.batch}")
    if a.mode == "compile" and not hasattr(torch, "compile"):
        raise SystemExit(f"bench_torch: --mode compile needs PyTorch 2 (this is {torch.__version__})")
    fwd = torch.compile(model) if a.mode == "compile" else model
    conv_w = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    model.train()
    times = []
    for epoch in range(a.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(y), device=dev, generator=gen)
        sums = torch.zeros(2, device=dev, dtype=torch.float64)
        for i in range(0, len(y), a.batch):
            b = perm[i:i + a.batch]
            xb = x[b]
            if a.rotate > 0:
                xb = rotate(xb, a.rotate, gen)
            xb = (xb - 0.1307) / 0.3081
            out = fwd(xb)
            loss = F.cross_entropy(out, y[b])
            if a.l1 > 0:
                loss = loss + a.l1 * sum(w.abs().sum() for w in conv_w)
            opt.zero_grad(set_to_none=False)
            loss.backward()
            opt.step()
            with torch.no_grad():
                sums += torch.stack([loss.detach().double() * len(b), (out.argmax(1) == y[b]).sum().double()])
        s = sums.tolist()  # the one wait for the device, as mnist_norm's epoch has
        if a.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        print(f"epoch {epoch + 1}: {times[-1]:.3f} s (train loss {s[0] / len(y):.4f}, acc {100 * s[1] / len(y):.2f}%)")
    if len(times) > 1:
        print(f"median epoch (after the first): {statistics.median(times[1:]):.3f} s")


if __name__ == "__main__":
    main()
