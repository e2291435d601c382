#!/usr/bin/env bash
# Data-parallel training is the same training: for linreg.def and mlp.def, 2 ranks with a
# global batch B end with the same parameters after 20 steps as 1 process with batch B
# (within 1e-5 relative: only the order of the sums differs), and not the ones batch B/2
# gives (so --batch really is the global batch). Each run is 2 epochs of 10 steps, the last
# one a partial batch split between the ranks, with seeded shuffling.
#
#   equivalence.sh DLC MPIRUN WORKDIR
set -euo pipefail
dlc=$1 mpirun=$2 work=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
np2=("$mpirun" --allow-run-as-root --oversubscribe -np 2)

"$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
# linreg: 190 rows = 9 batches of 20 + 10
X = rng.standard_normal((190, 2))
y = X @ [2.0, -3.4] + 4.2 + 0.01 * rng.standard_normal(190)
np.savetxt("lin.csv", np.column_stack([X, y]), delimiter=",", header="x1,x2,y", comments="", fmt="%.7g")
# mlp: 152 rows = 9 batches of 16 + 8, 784 pixels, 10 classes
P = rng.random((152, 784))
lab = rng.integers(0, 10, 152)
cols = ",".join(f"pixel{i}" for i in range(784)) + ",label"
rows = [",".join(f"{v:.4g}" for v in p) + f",{l}" for p, l in zip(P, lab)]
open("mlp.csv", "w").write(cols + "\n" + "\n".join(rows) + "\n")
PY

check() { # name model data batch
  local name=$1 model=$2 data=$3 batch=$4
  local common=(train "$model" --data "$data" --epochs 2 --seed 5 --quiet)
  "$dlc" "${common[@]}" --batch "$batch" --save "$name.1.safetensors"
  "${np2[@]}" "$dlc" "${common[@]}" --batch "$batch" --save "$name.2.safetensors"
  "$dlc" "${common[@]}" --batch $((batch / 2)) --save "$name.half.safetensors"
  echo "== $name: 2 ranks, batch $batch vs 1 process, batch $batch"
  "$py" "$src/tests/mpi/compare_params.py" "$name.1.safetensors" "$name.2.safetensors" --rtol 1e-5
  echo "== $name: 2 ranks, batch $batch vs 1 process, batch $((batch / 2)) (must differ)"
  "$py" "$src/tests/mpi/compare_params.py" "$name.half.safetensors" "$name.2.safetensors" --rtol 1e-5 --differ
}
check linreg "$src/examples/linreg.def" lin.csv 20
check mlp "$src/examples/mlp.def" mlp.csv 16
echo "equivalence: ok"
