"""Recomputes `dlc predict`'s output for a linear model from the checkpoint alone: the
saved preparation (dlc.prep: fill values, categories, means and deviations) applied to
the new rows by hand, then x @ w + b. Prints OK or each row that differs.

usage: check_predict.py CKPT.safetensors NEW.csv PRED.csv"""
import csv
import json
import math
import struct
import sys

ckpt, new, pred = sys.argv[1:4]
raw = open(ckpt, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
body = raw[8 + n:]


def tensor(name):
    lo, hi = header[name]["data_offsets"]
    return struct.unpack("<%df" % ((hi - lo) // 4), body[lo:hi])


w, b = tensor("w"), tensor("b")[0]
prep = json.loads(header["__metadata__"]["dlc.prep"])
missing = {"", "na", "nan"}
rows = list(csv.DictReader(open(new)))
got = [float(r["prediction"]) for r in csv.DictReader(open(pred))]
assert len(got) == len(rows), (len(got), len(rows))
bad = 0
for i, (row, g) in enumerate(zip(rows, got)):
    x = []
    for c in prep["columns"]:
        v = row[c["name"]]
        if c["kind"] == "numeric":
            f = c["fill"] if v.strip().lower() in missing else float(v)
            x.append((f - c["mean"]) / c["std"] if prep["standardize"] else f)
        else:
            is_missing = v.strip().lower() in missing
            x += [1.0 if not is_missing and v == k else 0.0 for k in c["categories"]]
            if c.get("missing_indicator"):
                x.append(1.0 if is_missing else 0.0)
    assert len(x) == len(w) == len(prep["layout"]), (len(x), len(w))
    want = sum(a * c for a, c in zip(x, w)) + b
    if not math.isclose(want, g, rel_tol=1e-5, abs_tol=1e-6):
        print("row %d: predicted %r, the saved preparation gives %r" % (i + 1, g, want))
        bad += 1
print("OK %d rows" % len(rows) if not bad else "%d rows differ" % bad)
sys.exit(1 if bad else 0)
