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
