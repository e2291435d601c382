#!/usr/bin/python3
"""Compares the parameters of two dlc checkpoints (safetensors): every tensor of A must be
in B with the same dtype and shape, and max|a - b| <= rtol * max|a| (relative to the
tensor's scale, so that near-zero elements do not make a sum's reordering look large).

    compare_params.py A.safetensors B.safetensors [--rtol 1e-5] [--differ]

--differ inverts the check (the tensors must NOT all match): a test of the test.
Prints one line per tensor; exit status 0 when the check holds."""
import json
import struct
import sys

import numpy as np

DT = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(body[lo:hi], dtype=DT[t["dtype"]]).reshape(t["shape"])
    return out, header.get("__metadata__", {})


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    rtol = 1e-5
    if "--rtol" in argv:
        rtol = float(argv[argv.index("--rtol") + 1])
        args.remove(argv[argv.index("--rtol") + 1])
    differ = "--differ" in argv
    a, _ = read(args[0])
    b, _ = read(args[1])
    worst = 0.0
    for name, x in sorted(a.items()):
        if name not in b or b[name].shape != x.shape or b[name].dtype != x.dtype:
            print(f"{name}: missing or of another shape/dtype in {args[1]}")
            return 1
        scale = float(np.max(np.abs(x.astype(np.float64)))) or 1.0
        rel = float(np.max(np.abs(x.astype(np.float64) - b[name].astype(np.float64)))) / scale
        worst = max(worst, rel)
        print(f"{name} {list(x.shape)}: max relative difference {rel:.3g}")
    ok = worst <= rtol
    print(f"worst {worst:.3g} (rtol {rtol:g}): {'match' if ok else 'DIFFER'}")
    return int(ok == differ)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
