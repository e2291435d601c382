"""The PyTorch side of the benchmark: the same workloads as bench/workloads/*.def, eager mode.

    /usr/bin/python3 bench/torch_bench.py W [--steps N] [--warmup N] [--threads N]
                                            [--rows N] [--csv FILE]

Data as dlc_bench makes it (fixed seed, features uniform in [0, 1), integer labels uniform
over the classes; --csv reads the digits file). Step i trains on batch i mod (rows / batch);
data generation is not timed. A step is what an ordinary PyTorch training loop does:
zero_grad, forward, loss, backward, optimizer.step. Prints one line of key=value pairs.
"""
import argparse
import os
import sys
import time

# OpenBLAS (PyTorch's BLAS on Debian) starts a thread per core unless told otherwise, and
# reads this before torch loads it.
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[_i + 1]

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# name: (layer widths, batch, lr, loss)
WORKLOADS = {
    "w1": ([2, 1], 10, 0.03, "mse"),
    "w2": ([64, 10], 256, 0.1, "xent"),
    "w3": ([784, 256, 10], 256, 0.1, "xent"),
    "w4": ([784, 1024, 1024, 10], 512, 0.05, "xent"),
}


def build(widths):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--csv")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    widths, batch, lr, loss_kind = WORKLOADS[a.workload]
    rng = np.random.default_rng(42)
    if a.csv:
        raw = np.loadtxt(a.csv, delimiter=",", skiprows=1, dtype=np.float32)
        x = torch.from_numpy(np.ascontiguousarray(raw[:, :-1]))
        y = torch.from_numpy(raw[:, -1].astype(np.int64))
    else:
        rows = a.rows or 10 * batch
        x = torch.from_numpy(rng.random((rows, widths[0]), dtype=np.float32))
        if loss_kind == "mse":
            w = np.array([2.0 if i % 2 == 0 else -3.4 for i in range(widths[0])], dtype=np.float32)
            yv = x.numpy() @ w + 4.2 + 0.01 * (rng.random(rows, dtype=np.float32) - 0.5)
            y = torch.from_numpy(yv.astype(np.float32).reshape(rows, 1))
        else:
            y = torch.from_numpy(rng.integers(0, widths[-1], rows).astype(np.int64))
    nb = x.shape[0] // batch
    xs = [x[i * batch:(i + 1) * batch].contiguous() for i in range(nb)]
    ys = [y[i * batch:(i + 1) * batch].contiguous() for i in range(nb)]

    model = build(widths)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    times, losses = [], []
    for s in range(a.warmup + a.steps):
        xb, yb = xs[s % nb], ys[s % nb]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = model(xb)
        loss = 0.5 * F.mse_loss(out, yb) if loss_kind == "mse" else F.cross_entropy(out, yb)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        if s >= a.warmup:
            times.append(t1 - t0)
            losses.append(loss.item())  # outside the timed region: forces nothing extra
    times.sort()
    print("median_ms=%.5f min_ms=%.5f max_ms=%.5f loss_first=%.7g loss_last=%.7g threads=%d"
          % (times[len(times) // 2] * 1e3, times[0] * 1e3, times[-1] * 1e3, losses[0], losses[-1],
             torch.get_num_threads()))


if __name__ == "__main__":
    main()
