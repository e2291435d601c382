#!/bin/sh
# Fuzzes the textual-IR parser with libFuzzer for a bounded time.
#
#   scripts/fuzz.sh [SECONDS] [libFuzzer options...]     (SECONDS defaults to 60)
#
# Builds tests/fuzz/fuzz_ir_parse.c with every ir/*.c file directly (no CMake) under
# clang-19's fuzzer, address and undefined-behaviour sanitizers, with a dictionary made
# from ops.def, and runs it on the seed corpus tests/fuzz/corpus/ir. New inputs and any
# crash go to tests/fuzz/out/ (ignored by git); a crash found is fixed, and its input
# kept in tests/fuzz/regressions/ir/, which test_ir_fuzz_regressions replays.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
[ $# -gt 0 ] && shift
out="$root/tests/fuzz/out"
mkdir -p "$out/corpus" "$out/artifacts"
CC=${CC:-clang-19}

"$CC" -std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root/ir" "$root"/ir/*.c "$root/tests/fuzz/fuzz_ir_parse.c" -lm \
  -o "$out/fuzz_ir_parse"

# Every keyword and op name, so mutations build plausible statements quickly.
dict="$out/ir.dict"
{
  for w in meta func output update kernel loc keepdims input param state axis axes perm \
           start end lo hi f32 f64 i32 i64 bool inf nan; do
    printf '"%s"\n' "$w"
  done
  sed -n 's/^OP([A-Z_0-9]*, *"\([a-z_0-9]*\)".*/"\1"/p' "$root/ir/ops.def"
  printf '"%%0"\n"%%x"\n"@f"\n" : "\n" = "\n"\\x0a"\n"[1,2]"\n"loc(1:2)"\n"kernel(1)"\n'
} > "$dict"

# The first corpus folder receives new inputs; the seeds stay untouched.
exec "$out/fuzz_ir_parse" -max_total_time="$seconds" -max_len=4096 -dict="$dict" \
  -artifact_prefix="$out/artifacts/" "$@" "$out/corpus" "$root/tests/fuzz/corpus/ir"
