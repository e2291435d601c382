/* libFuzzer target for safetensors files, as dlc reads checkpoints: any bytes either fail
 * to open (rt_st_open) with a message, or open into tensors and metadata that every call
 * of the API reads consistently: rt_st_info of each tensor has a dlc dtype and a valid
 * shape, rt_st_find finds it by its name, rt_st_read reads exactly its bytes (and refuses
 * another size), rt_st_load_into takes the file's own tensors (and refuses a list that
 * lacks one), every metadata key is found by rt_st_meta_get. A checkpoint's preparation
 * (dlc.prep), standardisation (dlc.standardize.*) and feature columns (dlc.features)
 * either fail with a message or load, and what loaded saves to text that loads back the
 * same. What the file holds saves
 * (rt_st_save) to a file that opens to the same tensors and metadata, unless saving
 * refuses it with a message. Never a crash, a leak or a hang.
 *
 * Built and run by `scripts/fuzz.sh safetensors`; test_runtime_fuzz replays the seed
 * corpus (tests/fuzz/corpus/safetensors) and every input that once broke the reader
 * (tests/fuzz/regressions/safetensors) through the same check, by including this file. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "rt.h"
#include "rt_prep.h"
#include "rt_train.h"

/* The file's tensors: rt_st_info's descriptions, each with its bytes read by rt_st_read. */
typedef struct {
  int n;
  dlc_tensor *t;
  size_t *bytes;
} st_fuzz_tensors;

static void st_fuzz_free(st_fuzz_tensors *ts) {
  for (int i = 0; i < ts->n; i++) free(ts->t[i].data);
  free(ts->t);
  free(ts->bytes);
  memset(ts, 0, sizeof *ts);
}

/* Bytes of t's data; -1 when its dtype or shape is not one dlc has. */
static int64_t st_fuzz_size(const dlc_tensor *t) {
  int64_t n = rt_numel(t->rank, t->shape);
  size_t es = rt_dtype_size(t->dtype);
  return n < 0 || es == 0 ? -1 : n * (int64_t)es;
}

/* Tensor i: its description, found by its name, its bytes read, another size refused. */
static const char *st_fuzz_tensor(rt_st_file *f, int i, st_fuzz_tensors *ts) {
  dlc_tensor *t = &ts->t[i];
  if (rt_st_info(f, i, t)) return fuzz_bad("rt_st_info of a tensor the file has", dlc_last_error());
  int64_t bytes = st_fuzz_size(t);
  if (!t->name || bytes < 0) return "a tensor without a name, or of an invalid dtype or shape";
  if (rt_st_find(f, t->name) != i) return "rt_st_find does not find a tensor by its name";
  ts->bytes[i] = (size_t)bytes;
  if (!(t->data = malloc(bytes ? (size_t)bytes : 1))) return "out of memory";
  if (rt_st_read(f, i, t->data, (size_t)bytes)) return fuzz_bad("rt_st_read of a whole tensor", dlc_last_error());
  rt_clear_error();
  if (!rt_st_read(f, i, t->data, (size_t)bytes + 1)) return "rt_st_read reads more bytes than the tensor has";
  return fuzz_failed("rt_st_read of the wrong size");
}

static const char *st_fuzz_tensors_read(rt_st_file *f, st_fuzz_tensors *ts) {
  int n = rt_st_count(f);
  if (n < 0) return "a negative tensor count";
  ts->t = calloc((size_t)n + 1, sizeof *ts->t);
  ts->bytes = calloc((size_t)n + 1, sizeof *ts->bytes);
  if (!ts->t || !ts->bytes) return "out of memory";
  ts->n = n;
  for (int i = 0; i < n; i++) {
    const char *bad = st_fuzz_tensor(f, i, ts);
    if (bad) return bad;
  }
  dlc_tensor none;
  rt_clear_error();
  if (!rt_st_info(f, n, &none) || !rt_st_read(f, -1, NULL, 0)) return "a tensor beyond the file's";
  return fuzz_failed("rt_st_info beyond the file's tensors");
}

/* rt_st_load_into with the file's own tensors gives what rt_st_read gave; without the
 * first one it is refused with a message. */
static const char *st_fuzz_load_into(rt_st_file *f, const st_fuzz_tensors *ts) {
  dlc_tensor *want = calloc((size_t)ts->n + 1, sizeof *want);
  if (!want) return "out of memory";
  const char *bad = NULL;
  for (int i = 0; i < ts->n && !bad; i++) {
    want[i] = ts->t[i];
    if (!(want[i].data = malloc(ts->bytes[i] ? ts->bytes[i] : 1))) bad = "out of memory";
  }
  if (!bad && rt_st_load_into(f, want, ts->n)) bad = fuzz_bad("rt_st_load_into the file's own tensors", dlc_last_error());
  for (int i = 0; i < ts->n && !bad; i++)
    if (memcmp(want[i].data, ts->t[i].data, ts->bytes[i])) bad = "rt_st_load_into and rt_st_read read other bytes";
  rt_clear_error();
  if (!bad && ts->n > 0 && !rt_st_load_into(f, want + 1, ts->n - 1)) bad = "rt_st_load_into without a tensor succeeded";
  if (!bad && ts->n > 0) bad = fuzz_failed("rt_st_load_into without a tensor");
  for (int i = 0; i < ts->n; i++) free(want[i].data);
  free(want);
  return bad;
}

static const char *st_fuzz_metadata(const rt_st_file *f) {
  int n = rt_st_meta_count(f);
  if (n < 0) return "a negative metadata count";
  for (int i = 0; i < n; i++) {
    rt_meta m = rt_st_meta_at(f, i);
    if (!m.key || !m.value) return "a metadata entry without a key or a value";
    if (!rt_st_meta_get(f, m.key)) return "rt_st_meta_get does not find a key the file has";
  }
  rt_meta none = rt_st_meta_at(f, n);
  return none.key || none.value ? "a metadata entry beyond the file's" : NULL;
}

/* A checkpoint's preparation: refused with a message, or loaded, and then its JSON loads
 * back to the same JSON. */
static const char *st_fuzz_prep(rt_st_file *f) {
  rt_prep *p = rt_prep_new(), *q = rt_prep_new();
  char *json = NULL, *again = NULL, *layout = NULL;
  const char *bad = !p || !q ? "out of memory" : NULL;
  rt_clear_error();
  int has = bad ? 0 : rt_prep_from_file(p, f);
  if (has < 0) bad = fuzz_failed("rt_prep_from_file");
  if (has > 0 && (rt_prep_to_json(p, &json) || rt_prep_layout_json(p, &layout)))
    bad = fuzz_bad("saving a loaded preparation", dlc_last_error());
  else if (has > 0 && rt_prep_from_json(q, json))
    bad = fuzz_bad("loading a saved preparation", dlc_last_error());
  else if (has > 0 && (rt_prep_to_json(q, &again) || strcmp(json, again)))
    bad = "a saved preparation loads back to another";
  free(json);
  free(again);
  free(layout);
  rt_prep_free(p);
  rt_prep_free(q);
  return bad;
}

/* A checkpoint's standardisation: refused with a message, or loaded, and then its text
 * loads back to the same floats. */
static const char *st_fuzz_standardizer(const rt_st_file *f) {
  const char *mean = rt_st_meta_get(f, RT_META_MEAN), *sd = rt_st_meta_get(f, RT_META_STD);
  if (!mean || !sd) return NULL;
  rt_standardizer s, u = {0};
  rt_clear_error();
  if (rt_standardizer_from_meta(mean, sd, &s)) return fuzz_failed("rt_standardizer_from_meta");
  const char *bad = fuzz_standardizer_round_trip(&s, &u, "a saved standardisation");
  rt_standardizer_free(&s);
  rt_standardizer_free(&u);
  return bad;
}

/* A checkpoint's feature columns: refused with a message, or read, and then their text
 * reads back to the same names. */
static const char *st_fuzz_features(const rt_st_file *f) {
  const char *json = rt_st_meta_get(f, RT_META_FEATURES);
  if (!json) return NULL;
  char **names = NULL, **again = NULL, *text = NULL;
  int n = 0, m = 0;
  rt_clear_error();
  if (rt_columns_from_json(json, &names, &n)) return fuzz_failed("rt_columns_from_json");
  const char *bad = NULL;
  if (rt_columns_to_json(names, n, &text) || rt_columns_from_json(text, &again, &m))
    bad = fuzz_bad("saving and reading back feature columns", dlc_last_error());
  for (int j = 0; !bad && j < n; j++)
    if (m != n || strcmp(names[j], again[j])) bad = "saved feature columns read back to others";
  for (int j = 0; j < n; j++) free(names[j]);
  for (int j = 0; j < m; j++) free(again[j]);
  free(names);
  free(again);
  free(text);
  return bad;
}

/* g holds what ts and f's metadata hold. */
static const char *st_fuzz_same(rt_st_file *g, const st_fuzz_tensors *ts, const rt_st_file *f) {
  if (rt_st_count(g) != ts->n || rt_st_meta_count(g) != rt_st_meta_count(f)) return "another number of entries";
  for (int i = 0; i < ts->n; i++) {
    const dlc_tensor *t = &ts->t[i];
    int j = rt_st_find(g, t->name);
    dlc_tensor u;
    if (j < 0 || rt_st_info(g, j, &u) || u.dtype != t->dtype || u.rank != t->rank ||
        memcmp(u.shape, t->shape, sizeof u.shape))
      return "a tensor is missing or has another dtype or shape";
    void *buf = malloc(ts->bytes[i] ? ts->bytes[i] : 1);
    int same = buf && !rt_st_read(g, j, buf, ts->bytes[i]) && !memcmp(buf, t->data, ts->bytes[i]);
    free(buf);
    if (!same) return "a tensor has other data";
  }
  for (int i = 0; i < rt_st_meta_count(f); i++) {
    rt_meta m = rt_st_meta_at(f, i), k = rt_st_meta_at(g, i);
    if (strcmp(m.key, k.key) || strcmp(m.value, k.value)) return "a metadata entry changed";
  }
  return NULL;
}

/* What f holds, saved, opens to the same; or saving refuses it with a message. */
static const char *st_fuzz_round_trip(const rt_st_file *f, const st_fuzz_tensors *ts) {
  const char *path = fuzz_path("again.safetensors");
  int nmeta = rt_st_meta_count(f);
  rt_meta *meta = calloc((size_t)nmeta + 1, sizeof *meta);
  if (!path || !meta) {
    free(meta);
    return "cannot make a temporary file";
  }
  for (int i = 0; i < nmeta; i++) meta[i] = rt_st_meta_at(f, i);
  rt_clear_error();
  const char *bad = NULL;
  rt_st_file *g = NULL;
  if (rt_st_save(path, ts->t, ts->n, meta, nmeta))
    bad = fuzz_failed("rt_st_save");
  else if (rt_st_open(path, &g))
    bad = fuzz_bad("opening what rt_st_save wrote", dlc_last_error());
  else
    bad = st_fuzz_same(g, ts, f);
  rt_st_close(g);
  free(meta);
  return bad;
}

/* NULL if the property holds for this input, else what is wrong (static text).
 * *opened tells whether the input opened. */
static const char *st_fuzz_check(const uint8_t *data, size_t size, bool *opened) {
  *opened = false;
  const char *path = fuzz_write("data.safetensors", data, size);
  if (!path) return "cannot write the temporary file";
  rt_st_file *f = NULL;
  rt_clear_error();
  if (rt_st_open(path, &f)) return f ? "a failed open returned a file" : fuzz_failed("rt_st_open");
  *opened = true;
  st_fuzz_tensors ts = {0};
  const char *bad = st_fuzz_tensors_read(f, &ts);
  if (!bad) bad = st_fuzz_metadata(f);
  if (!bad) bad = st_fuzz_load_into(f, &ts);
  if (!bad) bad = st_fuzz_prep(f);
  if (!bad) bad = st_fuzz_standardizer(f);
  if (!bad) bad = st_fuzz_features(f);
  if (!bad) bad = st_fuzz_round_trip(f, &ts);
  st_fuzz_free(&ts);
  rt_st_close(f);
  return bad;
}

#ifndef RT_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bool opened;
  const char *bad = st_fuzz_check(data, size, &opened);
  if (bad) {
    fprintf(stderr, "fuzz_safetensors: %s\n", bad);
    abort();
  }
  return 0;
}
#endif
