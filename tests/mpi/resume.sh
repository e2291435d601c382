#!/usr/bin/env bash
# Losing a rank costs at most N steps: a 2-rank run with --checkpoint-every 50 has rank 1
# killed (SIGKILL) once the first checkpoint exists; MPI ends the job; the same command
# with --load resumes from the checkpoint's step and finishes, and ends with the same
# parameters as a run that was never interrupted.
#
#   resume.sh DLC MPIRUN WORKDIR
set -euo pipefail
dlc=$1 mpirun=$2 work=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
np2=(timeout 120 "$mpirun" --allow-run-as-root --oversubscribe -np 2)
args=(train "$src/examples/linreg.def" --epochs 20 --batch 10 --seed 4)

"${np2[@]}" "$dlc" "${args[@]}" --quiet --save ref.safetensors

cat > kill_rank1.sh <<'SH'
#!/bin/sh
# Rank 1 is killed as soon as rank 0 has written a checkpoint.
if [ "${OMPI_COMM_WORLD_RANK:-0}" != 1 ]; then exec "$@"; fi
"$@" &
pid=$!
while [ ! -e ck.safetensors ] && kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
kill -9 "$pid" 2>/dev/null
wait "$pid"
SH
chmod +x kill_rank1.sh
if "${np2[@]}" ./kill_rank1.sh "$dlc" "${args[@]}" --quiet --checkpoint-every 50 --save ck.safetensors > killed.out 2>&1; then
  echo "FAIL: the run with a killed rank exited 0"; cat killed.out; exit 1
fi
step=$("$py" - <<'PY'
import json, struct
raw = open("ck.safetensors", "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
print(json.loads(raw[8 : 8 + n]).get("__metadata__", {}).get("dlc.step", "none"))
PY
)
echo "killed; the checkpoint holds step $step of 2000"
if [ "$step" = none ] || [ "$step" -ge 2000 ] || [ $((step % 50)) -ne 0 ]; then
  echo "FAIL: the checkpoint is not one of an unfinished run"; exit 1
fi

"${np2[@]}" "$dlc" "${args[@]}" --checkpoint-every 50 --save ck.safetensors --load ck.safetensors > resumed.out
grep -q "resuming from ck.safetensors after step $step of the run" resumed.out || { cat resumed.out; exit 1; }
"$py" "$src/tests/mpi/compare_params.py" ref.safetensors ck.safetensors --rtol 1e-5
echo "resume: ok"
