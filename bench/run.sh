#!/usr/bin/env bash
# The benchmark in one command: W1-W4 under dlc and under PyTorch (eager), alternating, one
# thread pinned to core 0 and two threads unpinned, the measured single-core FMA peak, dlc's
# compile time and planned scratch bytes; then W3 and W4 trained on 1 and 2 MPI ranks (step
# time, samples/s, allreduce share). About 4 minutes on a 2-core machine.
#
#   bench/run.sh [--rounds N] [--only w3,w4] [--scale 0.5]
#
# It installs what it lacks (python3-torch, python3-numpy, and OpenBLAS as the BLAS that
# PyTorch calls; root or sudo), builds dlc's
# libraries in release mode in build-bench/ (DLC_BENCH_BUILD overrides), and links
# bench/dlc_bench.c (the JIT-ed training step behind a C timer) and bench/peak_fma.c
# (built with -march=native) against them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DLC_BENCH_BUILD:-$ROOT/build-bench}
PY=/usr/bin/python3
CC=${CC:-cc}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
  echo "bench: installing python3-torch and python3-numpy" >&2
  as_root apt-get update -qq
  as_root apt-get install -y -qq python3-torch python3-numpy >&2
fi
# Debian's PyTorch calls whatever libblas.so.3 the alternatives system names; the reference
# BLAS it falls back to is 10-30x slower than OpenBLAS, which is no fair peer.
if ! readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null | grep -q openblas; then
  echo "bench: installing libopenblas0-pthread (PyTorch's BLAS)" >&2
  as_root apt-get install -y -qq libopenblas0-pthread >&2
fi
command -v taskset >/dev/null || { as_root apt-get install -y -qq util-linux >&2; }
if ! command -v mpirun >/dev/null || ! command -v mpicc >/dev/null; then
  echo "bench: installing OpenMPI (the data-parallel rows)" >&2
  as_root apt-get install -y -qq libopenmpi-dev openmpi-bin >&2
fi

echo "bench: building dlc (release) in $BUILD" >&2
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDLC_WERROR=OFF >/dev/null
cmake --build "$BUILD" -j2 --target dlc dlc_frontend dlc_passes dlc_backend dlc_runtime dlc_ir >/dev/null
LLVM_LIB=/usr/lib/llvm-19/lib
"$CC" -O2 -std=c17 -D_GNU_SOURCE -I"$ROOT/ir" -I"$ROOT/frontend" -I"$ROOT/passes" -I"$ROOT/backend" \
  -I"$ROOT/runtime" "$ROOT/bench/dlc_bench.c" -o "$BUILD/dlc_bench" \
  "$BUILD/libdlc_frontend.a" "$BUILD/libdlc_passes.a" "$BUILD/libdlc_backend.a" \
  -Wl,--whole-archive "$BUILD/libdlc_runtime.a" -Wl,--no-whole-archive "$BUILD/libdlc_ir.a" \
  -L"$LLVM_LIB" -lLLVM -Wl,-rpath,"$LLVM_LIB" -lm -rdynamic
"$CC" -O2 -march=native "$ROOT/bench/peak_fma.c" -o "$BUILD/peak_fma"

"$PY" "$ROOT/bench/report.py" --build "$BUILD" --python "$PY" "$@"
if grep -q '^DLC_MPI:BOOL=ON' "$BUILD/CMakeCache.txt"; then
  "$PY" "$ROOT/bench/ranks.py" --build "$BUILD" "$@"
else
  echo "bench: dlc was built without MPI here: no data-parallel rows" >&2
fi
