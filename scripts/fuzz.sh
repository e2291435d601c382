#!/bin/sh
# Fuzzes one of dlc's parsers with libFuzzer for a bounded time.
#
#   scripts/fuzz.sh [ir|frontend] [SECONDS] [libFuzzer options...]
#
# TARGET ir (the default) is the textual-IR parser (tests/fuzz/fuzz_ir_parse.c, built with
# every ir/*.c file), frontend the model language (tests/fuzz/fuzz_frontend.c, built with
# ir/*.c and frontend/*.c). SECONDS defaults to 60. Each is built directly (no CMake) under
# clang-19's fuzzer, address and undefined-behaviour sanitizers, with a dictionary of its
# keywords, and run on its seed corpus tests/fuzz/corpus/TARGET. New inputs and any crash
# go to tests/fuzz/out/ (ignored by git); a crash found is fixed, and its input kept in
# tests/fuzz/regressions/TARGET/, which test_ir_fuzz_regressions / test_frontend_fuzz
# replay.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
target=ir
case "${1:-}" in
  ir|frontend) target=$1; shift ;;
esac
seconds=${1:-60}
[ $# -gt 0 ] && shift
out="$root/tests/fuzz/out"
mkdir -p "$out/corpus-$target" "$out/artifacts"
CC=${CC:-clang-19}
dict="$out/$target.dict"

if [ "$target" = ir ]; then
  "$CC" -std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/ir" "$root"/ir/*.c "$root/tests/fuzz/fuzz_ir_parse.c" -lm \
    -o "$out/fuzz_ir_parse"
  # Every keyword and op name, so mutations build plausible statements quickly.
  {
    for w in meta func output update kernel loc keepdims input param state axis axes perm \
             start end lo hi f32 f64 i32 i64 bool inf nan; do
      printf '"%s"\n' "$w"
    done
    sed -n 's/^OP([A-Z_0-9]*, *"\([a-z_0-9]*\)".*/"\1"/p' "$root/ir/ops.def"
    printf '"%%0"\n"%%x"\n"@f"\n" : "\n" = "\n"\\x0a"\n"[1,2]"\n"loc(1:2)"\n"kernel(1)"\n'
  } > "$dict"
  binary="$out/fuzz_ir_parse"
else
  "$CC" -std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/ir" -I"$root/frontend" "$root"/ir/*.c "$root"/frontend/*.c \
    "$root/tests/fuzz/fuzz_frontend.c" -lm -o "$out/fuzz_frontend"
  # The language's keywords, built-in functions (every op's name and the conveniences),
  # initialisers, optimisers, data sources and settings.
  {
    for w in model input label param output loss optimizer train data def return batch \
             f32 f64 i32 i64 bool true false zeros ones constant uniform normal \
             xavier_uniform xavier_normal kaiming_uniform kaiming_normal fan_in fan_out \
             sgd adam lr momentum nesterov weight_decay beta1 beta2 eps epochs seed csv npy \
             synthetic_linreg features labels label path standardize noise axis axes \
             keepdims perm shape start end lo hi depth dtype sum mean cross_entropy mse \
             missing categorical dummy_na unseen fill median mode; do
      printf '"%s"\n' "$w"
    done
    sed -n 's/^OP([A-Z_0-9]*, *"\([a-z_0-9]*\)".*/"\1"/p' "$root/ir/ops.def"
    printf '" = "\n"\\x0a"\n"[batch, 2]"\n"f32[4, 3]"\n"(x)"\n" @ "\n" ^ 2"\n"..x9"\n"{\\x0a"\n"\\x0a}"\n"1e-3"\n'
  } > "$dict"
  binary="$out/fuzz_frontend"
fi

# The first corpus folder receives new inputs; the seeds stay untouched.
exec "$binary" -max_total_time="$seconds" -max_len=4096 -dict="$dict" \
  -artifact_prefix="$out/artifacts/" "$@" "$out/corpus-$target" "$root/tests/fuzz/corpus/$target"
