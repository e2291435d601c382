#!/bin/sh
# Fuzzes one of dlc's parsers with libFuzzer for a bounded time.
#
#   scripts/fuzz.sh [ir|frontend|csv|npy|safetensors] [SECONDS] [libFuzzer options...]
#
# TARGET ir (the default) is the textual-IR parser (tests/fuzz/fuzz_ir_parse.c, built with
# every ir/*.c file), frontend the model language (tests/fuzz/fuzz_frontend.c, built with
# ir/*.c and frontend/*.c). csv, npy and safetensors are the runtime's readers of user
# files (tests/fuzz/fuzz_TARGET.c, built with every runtime/*.c file, which needs nothing
# of the compiler): CSV data under their data source with the data preparation, .npy
# files, safetensors checkpoints. SECONDS defaults to 60. Each is built directly (no
# CMake) under clang-19's fuzzer, address and undefined-behaviour sanitizers, with a
# dictionary of its keywords, and run on its seed corpus tests/fuzz/corpus/TARGET. New
# inputs and any crash go to tests/fuzz/out/ (ignored by git); a crash found is fixed, and
# its input kept in tests/fuzz/regressions/TARGET/, which test_ir_fuzz_regressions,
# test_frontend_fuzz and test_runtime_fuzz replay.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
target=ir
case "${1:-}" in
  ir|frontend|csv|npy|safetensors) target=$1; shift ;;
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
elif [ "$target" = frontend ]; then
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
else
  "$CC" -std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root/runtime" "$root"/runtime/*.c "$root/tests/fuzz/fuzz_$target.c" -lm \
    -o "$out/fuzz_$target"
  # What each format's text is made of: the data source's settings and CSV's quoting and
  # line ends; the .npy header's dict; the safetensors header's JSON and the metadata a
  # checkpoint's preparation and standardisation are saved as.
  case $target in
    csv) words="csv path features label missing categorical dummy_na unseen standardize fill mean
                median mode constant error zeros true false NA NaN nan none npy" ;;
    npy) words="descr fortran_order shape False True <f4 <f8 <i4 <i8 |b1 =f4 <b1 >f4 <f2" ;;
    *) words="__metadata__ dtype shape data_offsets F32 F64 I32 I64 BOOL F16 dlc.prep
              dlc.standardize.mean dlc.standardize.std version missing dummy_na unseen
              standardize columns layout name kind numeric categorical categories fill std
              missing_indicator true false null zeros error constant" ;;
  esac
  {
    for w in $words; do printf '"%s"\n' "$w"; done
    case $target in
      csv) printf '"\\x0a"\n"\\x0d\\x0a"\n"\\x0d"\n","\n"\\""\n"\\"\\""\n"\\xef\\xbb\\xbf"\n" = "\n"[a, b]"\n"c0..c9"\n"(0)"\n"1e-3"\n"-1.5"\n' ;;
      npy) printf '"\\x93NUMPY\\x01\\x00"\n"\\x93NUMPY\\x02\\x00"\n"\\x27"\n": "\n", "\n"(2, 3)"\n"(1,)"\n"()"\n"{"\n"}"\n' ;;
      *) printf '"\\\\u0000"\n"\\\\ud83d\\\\ude00"\n"\\\\"\n"\\""\n"[0,8]"\n"[2,2]"\n"[]"\n":{"\n"},"\n"\\x00\\x00\\x00\\x00\\x00\\x00\\x00"\n' ;;
    esac
  } > "$dict"
  binary="$out/fuzz_$target"
fi

# The first corpus folder receives new inputs; the seeds stay untouched.
exec "$binary" -max_total_time="$seconds" -max_len=4096 -dict="$dict" \
  -artifact_prefix="$out/artifacts/" "$@" "$out/corpus-$target" "$root/tests/fuzz/corpus/$target"
