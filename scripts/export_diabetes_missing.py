#!/usr/bin/python3
"""Writes the diabetes regression set that Debian's python3-sklearn ships (442 patients,
10 raw features: age, sex, bmi, bp, s1..s6; target: disease progression after a year)
as two CSV files for the missing-value end-to-end test (issue 11):

  diabetes.csv          every value present
  diabetes_missing.csv  the same rows with 5% of the feature values blanked at random
                        (exactly 5%, positions drawn by numpy's default_rng(SEED)), the target never

The raw (unscaled) features are used, so the model file standardises them, after
filling the blanks with the training split's means:
    /usr/bin/python3 scripts/export_diabetes_missing.py OUT_DIR [SEED]
"""
import csv
import os
import sys

import numpy as np
from sklearn.datasets import load_diabetes

COLUMNS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 11
    x, y = load_diabetes(return_X_y=True, scaled=False)
    assert x.shape == (442, 10) and np.isfinite(x).all()
    blank = np.zeros(x.size, dtype=bool)
    blank[np.random.default_rng(seed).choice(x.size, size=round(0.05 * x.size), replace=False)] = True
    blank = blank.reshape(x.shape)
    for name, mask in (("diabetes.csv", None), ("diabetes_missing.csv", blank)):
        with open(os.path.join(out_dir, name), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(COLUMNS + ["progression"])
            for i, (row, target) in enumerate(zip(x, y)):
                cells = ["" if mask is not None and mask[i, j] else repr(float(v)) for j, v in enumerate(row)]
                w.writerow(cells + [repr(float(target))])
    print(f"blanked {int(blank.sum())} of {blank.size} feature values ({blank.mean():.1%})")


if __name__ == "__main__":
    main()
