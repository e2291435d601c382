"""Runs W1-W4 under dlc (bench/dlc_bench) and PyTorch (bench/torch_bench.py) in the same run,
alternating, and prints the table. Called by bench/run.sh, which builds what it needs.

One-thread columns: both sides pinned to core 0 (taskset -c 0), one thread each.
Two-thread columns: both sides unpinned, two threads each.
Each cell is the median of the rounds' median step times (rounds alternate dlc, torch); "best"
puts dlc's fastest one-thread step beside the peak.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, description, rows (0: the csv), steps per round, whether matmuls bound the step
WORKLOADS = [
    ("w1", "linreg 2-1, b10", 1000, 3000, False),
    ("w2", "softmax 64-10, b256, digits", 0, 2000, False),
    ("w3", "MLP 784-256-10, b256", 60000, 300, True),
    ("w4", "MLP 784-1024-1024-10, b512", 60000, 30, True),
]


def parse(line):
    out = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def run(cmd, pinned):
    if pinned:
        cmd = ["taskset", "-c", "0"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("bench: %s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return parse(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, help="folder with dlc_bench and peak_fma")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--only", help="comma-separated workloads (w1,w2,...)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the step counts")
    a = ap.parse_args()
    dlc_bench = os.path.join(a.build, "dlc_bench")
    peak_fma = os.path.join(a.build, "peak_fma")
    digits = os.path.join(ROOT, "examples", "data", "digits.csv")
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    peaks = [run([peak_fma], True)["peak_gflops"] for _ in range(3)]
    peak = max(peaks)
    isa = run([peak_fma], True)
    print("dlc benchmark, %s, CPU: %s, %d cores" % (time.strftime("%Y-%m-%d"), cpu, os.cpu_count()))
    print("single-core FMA peak (core 0, %d lanes): %.1f GFLOP/s (runs: %s)"
          % (isa["lanes"], peak, ", ".join("%.1f" % p for p in peaks)))
    only = a.only.split(",") if a.only else None
    rows_out = []
    for name, desc, rows, steps, mm_bound in WORKLOADS:
        if only and name not in only:
            continue
        steps = max(5, int(steps * a.scale))
        data = ["--csv", digits] if rows == 0 else ["--rows", str(rows)]
        common = ["--steps", str(steps), "--warmup", str(max(3, steps // 10))] + data
        cell = {}
        # The peak again beside each matmul-bound workload: on a shared machine it moves.
        near_peak = max(run([peak_fma], True)["peak_gflops"] for _ in range(3)) if mm_bound else None
        for threads in (1, 2):
            pinned = threads == 1
            dlc_t, dlc_min, dlc_cpu, compile_ms, torch_t, info = [], [], [], [], [], None
            for _ in range(a.rounds):
                r = run([dlc_bench, os.path.join(ROOT, "bench", "workloads", name + ".def"),
                         "--threads", str(threads)] + common, pinned)
                dlc_t.append(r["median_ms"])
                dlc_min.append(r["min_ms"])
                compile_ms.append(r["compile_ms"])
                dlc_cpu.append(r["cpu_median_ms"])
                info = info or r
                t = run([a.python, os.path.join(ROOT, "bench", "torch_bench.py"), name,
                         "--threads", str(threads)] + common, pinned)
                torch_t.append(t["median_ms"])
            info = dict(info, cpu_ms=statistics.median(dlc_cpu), best_ms=min(dlc_min),
                        compile_ms=statistics.median(compile_ms))
            cell[threads] = (statistics.median(dlc_t), statistics.median(torch_t), info)
        rows_out.append((name, desc, near_peak, cell))

    hdr = ("%-3s %-28s | %10s %10s %7s %8s %6s %6s | %10s %10s %7s %8s | %9s %12s | %10s"
           % ("", "workload", "dlc 1T ms", "torch 1T", "ratio", "GFLOP/s", "%peak", "best",
              "dlc 2T ms", "torch 2T", "ratio", "GFLOP/s", "compile", "scratch B", "dlc 1T cpu"))
    print(hdr)
    print("-" * len(hdr))
    for name, desc, near_peak, cell in rows_out:
        d1, t1, info = cell[1]
        d2, t2, _ = cell[2]
        flops = info["matmul_flops"]
        g1, g2 = flops / (d1 * 1e-3) * 1e-9, flops / (d2 * 1e-3) * 1e-9
        frac = "%5.1f%%" % (100 * g1 / near_peak) if near_peak else "     -"
        gbest = flops / (info["best_ms"] * 1e-3) * 1e-9
        best = "%5.1f%%" % (100 * gbest / near_peak) if near_peak else "     -"
        print("%-3s %-28s | %10.4f %10.4f %7.3f %8.1f %6s %6s | %10.4f %10.4f %7.3f %8.1f | %7.1fms %12d | %10.4f"
              % (name.upper(), desc, d1, t1, d1 / t1, g1, frac, best, d2, t2, d2 / t2, g2,
                 info["compile_ms"], int(info["scratch_bytes"]), info["cpu_ms"]))
    peaks_used = ", ".join("%s %.1f" % (n.upper(), p) for n, _, p, _ in rows_out if p)
    print("ratio = dlc time / PyTorch time (lower is better); GFLOP/s counts the step's matmul FLOPs;"
          " %%peak = dlc's one-thread GFLOP/s / the FMA peak measured again just before that workload"
          " (%s GFLOP/s); best = the same for dlc's fastest one-thread step (on a shared machine the"
          " median carries the other tenants' load, the fastest step less of it); compile = model file to callable step (median of the one-thread rounds);"
          " scratch = the step's planned scratch bytes; dlc 1T cpu = its median CPU ms per step"
          " (differs from wall time when other work shares the core)." % (peaks_used or "none"))


if __name__ == "__main__":
    main()
