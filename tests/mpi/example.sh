#!/usr/bin/env bash
# examples/mpi: train.so from `dlc linreg.def -o`, trained by the example's own
# MPI_Allreduce on 2 ranks; it exits 0 when every rank recovered w = [2, -3.4], b = 4.2.
#
#   example.sh DLC MPIRUN EXAMPLE_BINARY WORKDIR
set -euo pipefail
dlc=$1 mpirun=$2 example=$3 work=$4
src=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work" && mkdir -p "$work" && cd "$work"
"$dlc" "$src/examples/linreg.def" -o train.so
timeout 120 "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$example" ./train.so
