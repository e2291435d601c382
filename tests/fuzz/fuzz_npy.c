/* libFuzzer target for .npy files (rt_npy_load): any bytes either fail to load with a
 * message, or load into a tensor of one of dlc's dtypes with a valid shape, which saves
 * (rt_npy_save) and loads back to the same dtype, shape and bytes. Never a crash, a leak
 * or a hang.
 *
 * Built and run by `scripts/fuzz.sh npy`; test_runtime_fuzz replays the seed corpus
 * (tests/fuzz/corpus/npy) and every input that once broke the reader (tests/fuzz/
 * regressions/npy) through the same check, by including this file. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "rt.h"

/* Bytes of t's data; -1 when its dtype or shape is not one dlc has. */
static int64_t npy_fuzz_bytes(const dlc_tensor *t) {
  int64_t n = rt_numel(t->rank, t->shape);
  size_t es = rt_dtype_size(t->dtype);
  return n < 0 || es == 0 ? -1 : n * (int64_t)es;
}

/* What the loaded tensor t saves to loads back unchanged. */
static const char *npy_fuzz_round_trip(const dlc_tensor *t, int64_t bytes) {
  const char *path = fuzz_path("again.npy");
  if (!path) return "cannot make a temporary file";
  if (rt_npy_save(path, t)) return fuzz_bad("saving a loaded tensor", dlc_last_error());
  dlc_tensor u;
  if (rt_npy_load(path, &u)) return fuzz_bad("loading what rt_npy_save wrote", dlc_last_error());
  const char *bad = NULL;
  if (u.dtype != t->dtype || u.rank != t->rank || memcmp(u.shape, t->shape, sizeof u.shape))
    bad = "the saved tensor loads back with another dtype or shape";
  else if (bytes && memcmp(u.data, t->data, (size_t)bytes))
    bad = "the saved tensor loads back with other data";
  free(u.data);
  return bad;
}

/* NULL if the property holds for this input, else what is wrong (static text).
 * *loaded tells whether the input loaded. */
static const char *npy_fuzz_check(const uint8_t *data, size_t size, bool *loaded) {
  *loaded = false;
  const char *path = fuzz_write("data.npy", data, size);
  if (!path) return "cannot write the temporary file";
  dlc_tensor t;
  rt_clear_error();
  if (rt_npy_load(path, &t)) return t.data ? "a failed load left data" : fuzz_failed("rt_npy_load");
  *loaded = true;
  int64_t bytes = npy_fuzz_bytes(&t);
  const char *bad = NULL;
  if (bytes < 0)
    bad = "a loaded tensor has an invalid dtype or shape";
  else if (!t.data || t.name)
    bad = "a loaded tensor has no data, or a name";
  else
    bad = npy_fuzz_round_trip(&t, bytes);
  free(t.data);
  return bad;
}

#ifndef RT_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bool loaded;
  const char *bad = npy_fuzz_check(data, size, &loaded);
  if (bad) {
    fprintf(stderr, "fuzz_npy: %s\n", bad);
    abort();
  }
  return 0;
}
#endif
