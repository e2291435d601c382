"""Data-parallel scaling on this machine: W3 and W4 trained by `dlc train` on 1 process and
under `mpirun -np 2`, one thread per rank, on the same random data. Called by bench/run.sh
after the single-process table.

Per row: the step time (training seconds over steps, both epochs), samples/s, and the share of
training time rank 0 spent inside the allreduce (as `dlc train` reports it). The allreduce
time includes waiting for the slower rank, so on a busy machine it measures skew as well.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name, description, global batch, epochs
WORKLOADS = [
    ("w3", "MLP 784-256-10", 256, 2),
    ("w4", "MLP 784-1024-1024-10", 512, 2),
]
SUMMARY = re.compile(r"allreduce ([0-9.]+) s of ([0-9.]+) s training")


def write_data(path, rows, features, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((rows, features), dtype=np.float32)
    y = rng.integers(0, 10, size=(rows, 1))
    with open(path, "w") as f:
        f.write(",".join(["f%d" % i for i in range(features)] + ["label"]) + "\n")
        np.savetxt(f, np.hstack([x, y]), fmt=["%.4f"] * features + ["%d"], delimiter=",")


def train(cmd, metrics):
    env = dict(os.environ, DLC_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit("bench: %s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    seconds = steps = samples = 0.0
    with open(metrics) as f:
        for line in f:
            fields = dict(re.findall(r'"(\w+)": ([0-9.eE+-]+)', line))
            seconds += float(fields["seconds"])
            steps += float(fields["steps"])
            samples += float(fields["samples_per_s"]) * float(fields["seconds"])
    m = SUMMARY.search(p.stdout)
    share = 100 * float(m.group(1)) / float(m.group(2)) if m else None
    return seconds / steps * 1e3, samples / seconds, share


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="folder with dlc (built with MPI)")
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--only", help="comma-separated workloads (w3,w4)")
    a, _ = ap.parse_known_args()  # run.sh passes its own options (--rounds, --scale) too
    dlc = os.path.join(a.build, "dlc")
    only = a.only.split(",") if a.only else None
    todo = [w for w in WORKLOADS if not only or w[0] in only]
    if not todo:
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "random.csv")
        write_data(data, a.rows, 784, 0)
        print("\ndata-parallel: %d random rows x 784, one thread per rank, ranks on this machine "
              "(shared memory)" % a.rows)
        hdr = "%-3s %-22s %6s %8s | %10s %10s %10s" % (
            "", "workload", "ranks", "batch", "step ms", "samples/s", "allreduce")
        print(hdr)
        print("-" * len(hdr))
        for name, desc, batch, epochs in todo:
            model = os.path.join(ROOT, "bench", "workloads", name + ".def")
            metrics = os.path.join(tmp, "metrics.jsonl")
            args = [model, "--data", data, "--epochs", str(epochs), "--batch", str(batch),
                    "--metrics", metrics]
            for ranks in (1, 2):
                if ranks == 1:
                    cmd = ["taskset", "-c", "0", dlc, "train"] + args
                else:
                    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "core",
                           "-np", str(ranks), "-x", "DLC_THREADS", dlc, "train"] + args
                step_ms, rate, share = train(cmd, metrics)
                print("%-3s %-22s %6d %8d | %10.3f %10.0f %10s"
                      % (name.upper(), desc, ranks, batch, step_ms, rate,
                         "-" if share is None else "%.1f%%" % share))
        print("step ms = training seconds / steps over %d epochs (rank 0); allreduce = the share of "
              "rank 0's training time inside the gradient allreduce, waiting for the other rank "
              "included." % todo[0][3])


if __name__ == "__main__":
    main()
