/* Replays the runtime readers' fuzz inputs through the fuzz targets' own checks: CSV data
 * under their data source (parse, prepare, standardise), .npy files and safetensors files.
 * For each, the seed corpus (tests/fuzz/corpus/TARGET: valid_* must be accepted, bad_* must
 * not) and every input that once broke a reader (tests/fuzz/regressions/TARGET, kept after
 * the fix): each must fail with a message or read whole, never crash. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_replay.h"

#define RT_FUZZ_NO_MAIN
#include "../fuzz/fuzz_csv.c"
#include "../fuzz/fuzz_npy.c"
#include "../fuzz/fuzz_safetensors.c"

static bool csv_reads(const char *name, const char *text, size_t len) {
  bool accepted;
  const char *bad = csv_fuzz_check((const uint8_t *)text, len, &accepted);
  cr_expect_null(bad, "%s: %s", name, bad);
  return accepted;
}

static bool npy_loads(const char *name, const char *text, size_t len) {
  bool loaded;
  const char *bad = npy_fuzz_check((const uint8_t *)text, len, &loaded);
  cr_expect_null(bad, "%s: %s", name, bad);
  return loaded;
}

static bool st_opens(const char *name, const char *text, size_t len) {
  bool opened;
  const char *bad = st_fuzz_check((const uint8_t *)text, len, &opened);
  cr_expect_null(bad, "%s: %s", name, bad);
  return opened;
}

Test(runtime_fuzz, csv_seed_corpus_reads_as_named) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/corpus/csv", true, csv_reads);
  cr_expect_geq(n, 10, "the seed corpus has only %d files", n);
}

Test(runtime_fuzz, csv_regressions_hold_the_fuzz_property) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/regressions/csv", false, csv_reads);
  cr_log_info("%d regression inputs", n);
}

Test(runtime_fuzz, npy_seed_corpus_loads_as_named) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/corpus/npy", true, npy_loads);
  cr_expect_geq(n, 10, "the seed corpus has only %d files", n);
}

Test(runtime_fuzz, npy_regressions_hold_the_fuzz_property) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/regressions/npy", false, npy_loads);
  cr_log_info("%d regression inputs", n);
}

Test(runtime_fuzz, safetensors_seed_corpus_opens_as_named) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/corpus/safetensors", true, st_opens);
  cr_expect_geq(n, 10, "the seed corpus has only %d files", n);
}

Test(runtime_fuzz, safetensors_regressions_hold_the_fuzz_property) {
  int n = fuzz_replay_folder(DLC_SOURCE_DIR "/tests/fuzz/regressions/safetensors", false, st_opens);
  cr_log_info("%d regression inputs", n);
}

static void expect_message(int rc, const char *want) {
  cr_expect_neq(rc, 0, "should fail with \"%s\"", want);
  cr_expect(strstr(dlc_last_error(), want), "message \"%s\" lacks \"%s\"", dlc_last_error(), want);
}

static const char *write_text(const char *name, const char *text, size_t len) {
  const char *path = fuzz_write(name, text, len);
  cr_assert_not_null(path);
  return path;
}

/* What the fuzzers found, as the messages that now say it. */
Test(runtime_fuzz, what_the_fuzzers_found_is_refused_with_a_message) {
  char *rest;
  rt_prep *p = rt_prep_new();
  cr_assert_eq(rt_prep_take_source(p, "csv(a,b,c,d,e,f)", &rest), 0);
  cr_expect_str_eq(rest, "csv(a, b, c, d, e, f)");
  free(rest);
  rt_csv_options opt = {.label_dtype = DLC_F32};
  rt_csv_table t;
  expect_message(rt_csv_parse("nul.csv", "a,b\nx\0y,1\n", 10, &opt, &t), "nul.csv:2:2: a NUL byte in a field");
  const char twice[] = "kind,y,kind\na,1,b\n";
  expect_message(rt_prep_set(p, "categorical", "[kind]") || rt_prep_read_csv(write_text("twice.csv", twice, sizeof twice - 1), &opt, p, &t),
                 "column \"kind\" appears twice in the header (columns 1 and 3)");
  rt_prep_free(p);

  const char npy[] = "\x93NUMPY\x01\x00\x48\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'shape': (1,)}";
  dlc_tensor x;
  expect_message(rt_npy_load(write_text("twice.npy", npy, sizeof npy - 1), &x), "'shape' appears twice");
  const char st[] = "\x42\0\0\0\0\0\0\0{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"shape\":[1],\"data_offsets\":[0,4]}}"
                    "\0\0\0\0";
  rt_st_file *f;
  expect_message(rt_st_open(write_text("twice.safetensors", st, sizeof st - 1), &f), "tensor 'w': \"shape\" appears twice");

  rt_standardizer s;
  expect_message(rt_standardizer_from_meta("[1e39]", "[1]", &s), "dlc.standardize.mean is not a list of numbers");
  rt_prep *q = rt_prep_new();
  expect_message(rt_prep_from_json(q, "{\"version\": 1, \"missing\": \"mean\", \"dummy_na\": false, \"unseen\": \"error\", "
                                      "\"standardize\": true, \"columns\": [{\"name\": \"a\", \"kind\": \"numeric\", "
                                      "\"missing\": \"mean\", \"fill\": 1, \"mean\": 0, \"std\": 1e39}], \"layout\": [\"a\"]}"),
                 "out of range for f32");
  rt_prep_free(q);
}
