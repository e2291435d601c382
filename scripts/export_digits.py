#!/usr/bin/python3
"""Writes examples/data/digits.csv: the 8x8 handwritten digits set that Debian's
python3-sklearn ships (UCI's optical recognition of handwritten digits, test part:
1797 images), as a CSV dlc reads.

Columns: pixel0..pixel63 (row-major 8x8 image, grey levels 0..16 divided by 16, so in
[0, 1]; every value is exact in binary), then `label` (the digit, 0..9). Rows in the
order sklearn gives them. Run once with Debian's Python, which has sklearn:
    /usr/bin/python3 scripts/export_digits.py [OUT.csv]
"""
import csv
import os
import sys

from sklearn.datasets import load_digits


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "examples", "data", "digits.csv")
    digits = load_digits()
    x, y = digits.data, digits.target
    assert x.shape == (1797, 64) and x.min() >= 0 and x.max() <= 16
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([f"pixel{i}" for i in range(64)] + ["label"])
        for row, label in zip(x, y):
            # '%g' of k/16 is exact and short: 0, 0.0625, ..., 1
            w.writerow(["%g" % (v / 16.0) for v in row] + [int(label)])
    print(f"wrote {len(y)} rows to {out}")


if __name__ == "__main__":
    main()
