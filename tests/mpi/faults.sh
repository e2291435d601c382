#!/usr/bin/env bash
# Bad input on one rank ends every rank with that rank's message, never a hang: a data
# file missing on rank 1 only, a malformed one on rank 0 only, a global batch that does
# not divide among the ranks. Each run has 60 s; a hang fails the test.
#
#   faults.sh DLC MPIRUN WORKDIR
set -uo pipefail
dlc=$1 mpirun=$2 work=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
np2=(timeout 60 "$mpirun" --allow-run-as-root --oversubscribe -np 2)
fail=0

printf 'x1,x2,y\n' > good.csv
for i in $(seq 1 40); do printf '%d,%d,%d\n' "$i" $((i % 7)) $((2 * i)) >> good.csv; done
printf 'x1,x2,y\n1,2,3\n4,oops,6\n' > bad.csv
# Each rank picks its data file from its rank number (OpenMPI tells it).
cat > per_rank.sh <<'SH'
#!/bin/sh
# per_rank.sh FILE_FOR_RANK0 FILE_FOR_RANK1 DLC ARGS...: runs DLC ARGS... --data FILE
f0=$1 f1=$2; shift 2
if [ "${OMPI_COMM_WORLD_RANK:-0}" = 0 ]; then f=$f0; else f=$f1; fi
exec "$@" --data "$f"
SH
chmod +x per_rank.sh
model="$src/examples/linreg.def"

expect() { # name rc-must-be-nonzero grep-pattern... < output file
  local name=$1 rc=$2 out=$3; shift 3
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
    echo "FAIL $name: exit status $rc (0: no error; 124: it hung)"; cat "$out"; fail=1; return
  fi
  for pat in "$@"; do
    if ! grep -q -- "$pat" "$out"; then echo "FAIL $name: no '$pat' in:"; cat "$out"; fail=1; return; fi
  done
  echo "ok   $name (exit $rc)"
}

"${np2[@]}" ./per_rank.sh good.csv missing.csv "$dlc" train "$model" --batch 10 --quiet > missing.out 2>&1
expect "missing file on rank 1" $? missing.out "missing.csv" "on rank 1 of 2"
test "$(grep -c 'missing.csv' missing.out)" -eq 1 || { echo "FAIL: the message is not printed once"; fail=1; }

"${np2[@]}" ./per_rank.sh bad.csv good.csv "$dlc" train "$model" --batch 10 --quiet > bad.out 2>&1
expect "malformed file on rank 0" $? bad.out "bad.csv" "oops" "on rank 0 of 2"

"${np2[@]}" "$dlc" train "$model" --batch 9 --quiet > batch.out 2>&1
expect "batch not divisible" $? batch.out "global batch of 9 rows does not divide among 2 processes"

exit $fail
