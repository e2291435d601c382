#!/usr/bin/python3
"""Linear regression trained from Python through dlc's C ABI, with ctypes and NumPy.

dlc compiles examples/linreg.def ahead of time into a shared library (train.so, which
needs nothing of dlc or LLVM at run time); this script loads it with ctypes, trains it
on NumPy arrays, and prints the learned weights beside NumPy's least-squares answer.

    /usr/bin/python3 examples/python/train_linreg.py [--dlc PATH/TO/dlc] [--workdir DIR]

(Debian's /usr/bin/python3 has NumPy: apt-get install python3-numpy.)
Exit status 0 when the weights match lstsq within 1e-2, else 1.
"""
import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "linreg.def")

# ---- the C ABI of runtime/dlc.h, in ctypes --------------------------------------------

DLC_ABI_VERSION = 2
DLC_MAX_RANK = 8
DTYPES = {0: np.float32, 1: np.float64, 2: np.int32, 3: np.int64, 4: np.bool_}


class Tensor(ctypes.Structure):  # dlc_tensor
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("shape", ctypes.c_int64 * DLC_MAX_RANK), ("data", ctypes.c_void_p)]


class TensorDesc(ctypes.Structure):  # dlc_tensor_desc
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int), ("rank", ctypes.c_int),
                ("shape", ctypes.c_int64 * DLC_MAX_RANK), ("offset", ctypes.c_size_t),
                ("init", ctypes.c_char_p), ("index_bound", ctypes.c_int64),
                ("read_by", ctypes.c_uint)]


class ModelDesc(ctypes.Structure):  # dlc_model_desc
    _fields_ = [("abi_version", ctypes.c_int), ("batch", ctypes.c_int), ("ninputs", ctypes.c_int),
                ("nparams", ctypes.c_int), ("nstate", ctypes.c_int),
                ("inputs", ctypes.POINTER(TensorDesc)), ("params", ctypes.POINTER(TensorDesc)),
                ("state", ctypes.POINTER(TensorDesc)), ("prediction", TensorDesc),
                ("param_bytes", ctypes.c_size_t), ("state_bytes", ctypes.c_size_t),
                ("scratch_bytes", ctypes.c_size_t), ("step_counter_offset", ctypes.c_int64)]
    # the entry points follow; Python calls the dlc_* functions instead


def load(path):
    lib = ctypes.CDLL(path)
    lib.dlc_describe.restype = ctypes.POINTER(ModelDesc)
    lib.dlc_create.restype = ctypes.c_void_p
    lib.dlc_create.argtypes = [ctypes.c_uint64]
    lib.dlc_destroy.argtypes = [ctypes.c_void_p]
    lib.dlc_train_step.restype = ctypes.c_float
    lib.dlc_train_step.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.dlc_eval_loss.restype = ctypes.c_float
    lib.dlc_eval_loss.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.dlc_num_params.argtypes = [ctypes.c_void_p]
    lib.dlc_param.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(Tensor)]
    lib.dlc_save.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.dlc_last_error.restype = ctypes.c_char_p
    return lib


def params(lib, model):
    """Every parameter, copied into a NumPy array, by name."""
    out = {}
    for i in range(lib.dlc_num_params(model)):
        t = Tensor()
        if lib.dlc_param(model, i, ctypes.byref(t)) != 0:
            raise RuntimeError(lib.dlc_last_error().decode())
        shape = tuple(t.shape[: t.rank])
        ctype = np.ctypeslib.as_ctypes_type(DTYPES[t.dtype])
        ptr = ctypes.cast(t.data, ctypes.POINTER(ctype))
        out[t.name.decode()] = np.ctypeslib.as_array(ptr, shape=shape).copy()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dlc", default=os.environ.get("DLC") or shutil.which("dlc"), help="the dlc binary")
    ap.add_argument("--workdir", help="where train.so goes (default: a temporary folder)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not args.dlc:
        sys.exit("train_linreg.py: no dlc binary: give --dlc PATH or set DLC")

    work = args.workdir or tempfile.mkdtemp(prefix="dlc-python-")
    os.makedirs(work, exist_ok=True)
    so = os.path.join(work, "train.so")
    # AOT: the model's training step, linked with the runtime, as a shared library + train.h
    subprocess.run([args.dlc, MODEL, "-o", so], check=True)
    lib = load(so)
    desc = lib.dlc_describe().contents
    if desc.abi_version != DLC_ABI_VERSION:
        sys.exit(f"{so}: dlc ABI version {desc.abi_version}; this script reads version {DLC_ABI_VERSION}")
    batch = desc.batch
    inputs = [desc.inputs[i] for i in range(desc.ninputs)]
    print(f"{so}: batch {batch}, inputs " +
          ", ".join(f"{t.name.decode()} {list(t.shape[:t.rank])}" for t in inputs))

    # The data, made with NumPy: y = X w + b + noise (as the book's synthetic_data does)
    rng = np.random.default_rng(args.seed)
    true_w, true_b = np.array([2.0, -3.4]), 4.2
    n = 1000  # a multiple of the compiled batch size: train.so runs batches of exactly `batch`
    X = rng.standard_normal((n, 2)).astype(np.float32)
    y = (X @ true_w + true_b + 0.01 * rng.standard_normal(n)).astype(np.float32).reshape(n, 1)

    model = lib.dlc_create(args.seed)
    if not model:
        sys.exit("dlc_create: " + lib.dlc_last_error().decode())
    for epoch in range(args.epochs):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n - batch + 1, batch):
            idx = order[start : start + batch]
            xb = np.ascontiguousarray(X[idx])  # float32 [batch, 2]
            yb = np.ascontiguousarray(y[idx])  # float32 [batch, 1]
            ptrs = (ctypes.c_void_p * 2)(xb.ctypes.data, yb.ctypes.data)
            total += lib.dlc_train_step(model, ptrs) * batch
        print(f"epoch {epoch + 1}: mean loss {total / n:.6g}")

    p = params(lib, model)
    w, b = p["w"].ravel(), p["b"].ravel()
    # The same fit in closed form: least squares on [X 1]
    A = np.hstack([X.astype(np.float64), np.ones((n, 1))])
    sol, *_ = np.linalg.lstsq(A, y.astype(np.float64).ravel(), rcond=None)
    print(f"{'':10}{'dlc (SGD)':>24}{'numpy lstsq':>24}{'true':>16}")
    print(f"{'w':10}{np.array2string(w, precision=5):>24}{np.array2string(sol[:2], precision=5):>24}"
          f"{np.array2string(true_w):>16}")
    print(f"{'b':10}{b[0]:>24.5f}{sol[2]:>24.5f}{true_b:>16}")

    ckpt = os.path.join(work, "linreg.safetensors")
    if lib.dlc_save(model, ckpt.encode()) != 0:
        sys.exit("dlc_save: " + lib.dlc_last_error().decode())
    print(f"weights saved to {ckpt}")
    lib.dlc_destroy(model)

    err = max(np.max(np.abs(w - sol[:2])), abs(b[0] - sol[2]))
    if err > 1e-2:
        print(f"error: the learned weights differ from lstsq by {err:.3g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
