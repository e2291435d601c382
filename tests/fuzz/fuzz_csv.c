/* libFuzzer target for CSV data as a model's `data csv(...)` reads them. The input's first
 * line is the data source, as the model's `data` entry holds it:
 *   csv("house.csv", features = [rooms, alley], label = price, missing = mean, categorical = [alley])
 * and the rest is the file (the source's path stands for it). The source goes through
 * rt_prep_take_source and rt_data_spec_parse as the driver does (tools/data.c); the file
 * through the strict reader over memory (rt_csv_parse) with the source's columns, its
 * label read as values and as class indices, and every column without a label; then, when
 * the source has preparation settings, through the preparation (rt_prep_read_csv: read,
 * fit, apply), else, when it asks for one, through the standardisation.
 *
 * Any bytes either fail with a message, or give whole tables. A fitted preparation saves
 * to JSON that loads into one giving the same matrix, bit for bit, from the same rows
 * without their label as prediction reads them; and these are read from behind 64 KiB of
 * blank lines, so that the streaming reader (csv_record.c, 64 KiB chunks) refills inside
 * a record, which inputs of a few KiB never make it do. A standardisation loads back from
 * its metadata to the same floats. Never a crash, a leak or a hang.
 *
 * Built and run by `scripts/fuzz.sh csv`; test_runtime_fuzz replays the seed corpus
 * (tests/fuzz/corpus/csv) and every input that once broke a reader (tests/fuzz/
 * regressions/csv) through the same check, by including this file. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "rt.h"
#include "rt_prep.h"
#include "rt_train.h"

enum { CSV_FUZZ_CHUNK = 64 * 1024 }; /* csv_record.c's CHUNK */

/* One input: the source line and the file's bytes (and where they were written). */
typedef struct {
  char *source;
  const char *csv;
  size_t len;
  const char *path;
  char *last;         /* the header's last column: the label when the source names none */
} csv_fuzz_input;

/* A table the reader returned is whole: rows, names, labels within their classes. */
static const char *csv_fuzz_whole(const char *call, const rt_csv_table *t, const rt_csv_options *opt) {
  if (t->rows < 1 || t->nfeatures < 0 || !t->x || !t->feature_names) return fuzz_bad(call, "a table without rows");
  for (int j = 0; j < t->nfeatures; j++)
    if (!t->feature_names[j]) return fuzz_bad(call, "a feature without a name");
  if ((opt->label != NULL) != (t->y != NULL)) return fuzz_bad(call, "labels without a label column, or none with one");
  if (!t->y || t->label_dtype != DLC_I32) return NULL;
  for (int64_t r = 0; r < t->rows; r++)
    if (((int32_t *)t->y)[r] < 0 || ((int32_t *)t->y)[r] >= t->nclasses) return fuzz_bad(call, "a class out of range");
  return NULL;
}

/* The strict reader over memory with one choice of columns; *ok tells whether it read. */
static const char *csv_fuzz_plain(const csv_fuzz_input *in, const rt_csv_options *opt, bool *ok) {
  rt_csv_table t;
  rt_clear_error();
  *ok = rt_csv_parse("data.csv", in->csv, in->len, opt, &t) == 0;
  if (!*ok) return t.x || t.feature_names ? "a failed read left a table" : fuzz_failed("rt_csv_parse");
  const char *bad = csv_fuzz_whole("rt_csv_parse", &t, opt);
  rt_csv_free(&t);
  return bad;
}

/* The header's last column, for the label the driver picks when the source names none. */
static char *csv_fuzz_last_column(const csv_fuzz_input *in) {
  rt_csv_reader r;
  rt_csv_reader_init(&r, "data.csv", in->csv, in->len);
  char *name = rt_csv_next(&r) > 0 && r.nfields > 0 ? rt_csv_unquote(&r.fields[r.nfields - 1]) : NULL;
  rt_csv_reader_close(&r);
  return name;
}

static rt_csv_options csv_fuzz_options(const csv_fuzz_input *in, const rt_data_spec *spec, int label_dtype) {
  return (rt_csv_options){.features = (const char *const *)spec->features,
                          .nfeatures = spec->nfeatures,
                          .label = spec->label ? spec->label : in->last,
                          .label_dtype = label_dtype};
}

/* The strict reader with the source's columns (labels as values, then as classes) and with
 * every column and no label. *ok tells whether the first read. */
static const char *csv_fuzz_plain_reads(const csv_fuzz_input *in, const rt_data_spec *spec, bool *ok) {
  rt_csv_options values = csv_fuzz_options(in, spec, DLC_F32), classes = csv_fuzz_options(in, spec, DLC_I32);
  rt_csv_options every = {.label_dtype = DLC_F32};
  bool read;
  const char *bad = csv_fuzz_plain(in, &values, ok);
  if (!bad) bad = csv_fuzz_plain(in, &classes, &read);
  if (!bad) bad = csv_fuzz_plain(in, &every, &read);
  return bad;
}

/* The source as the driver reads it: the preparation's settings into p, the rest into
 * spec. *ok tells whether it is a csv(...) source; if not, spec is empty. */
static const char *csv_fuzz_source(const csv_fuzz_input *in, rt_prep *p, rt_data_spec *spec, bool *ok) {
  char *rest = NULL;
  rt_clear_error();
  *ok = !rt_prep_take_source(p, in->source, &rest) && !rt_data_spec_parse(rest, spec) &&
        (!spec->standardize || !rt_prep_set(p, "standardize", "true"));
  free(rest);
  if (!*ok) {
    rt_data_spec_free(spec);
    return fuzz_failed("reading the data source");
  }
  if (spec->kind != RT_SOURCE_CSV) {
    *ok = false;
    rt_data_spec_free(spec);
  }
  char text[64];
  rt_prep_settings_text(p, text, sizeof text); /* may not fit: an error, never an overflow */
  return NULL;
}

/* The file again, its rows behind blank lines; its path, or NULL. */
static const char *csv_fuzz_padded(const csv_fuzz_input *in) {
  /* Where the chunk ends in the rows moves with the source's length; a byte-order mark
   * stays first, where it is skipped. */
  size_t bom = in->len >= 3 && !memcmp(in->csv, "\xEF\xBB\xBF", 3) ? 3 : 0;
  size_t pad = CSV_FUZZ_CHUNK - strlen(in->source) % (in->len - bom + 1);
  char *buf = malloc(pad + in->len);
  if (!buf) return NULL;
  memcpy(buf, in->csv, bom);
  memset(buf + bom, '\n', pad);
  memcpy(buf + bom + pad, in->csv + bom, in->len - bom);
  const char *path = fuzz_write("padded.csv", buf, pad + in->len);
  free(buf);
  return path;
}

/* t again, through q, from the same rows without their label as prediction reads them. */
static const char *csv_fuzz_predict(const csv_fuzz_input *in, rt_prep *q, const rt_csv_table *t) {
  const char *path = csv_fuzz_padded(in);
  if (!path) return "cannot write the temporary file";
  rt_csv_options opt = {.label_dtype = DLC_F32};
  rt_csv_table u;
  if (rt_prep_read_csv(path, &opt, q, &u)) return fuzz_bad("reading the rows again with the loaded preparation", dlc_last_error());
  const char *bad = NULL;
  if (u.rows != t->rows || u.nfeatures != t->nfeatures)
    bad = "the loaded preparation reads another number of rows or columns";
  else if (memcmp(u.x, t->x, (size_t)(t->rows * t->nfeatures) * sizeof *t->x))
    bad = "the loaded preparation gives another matrix";
  for (int j = 0; j < u.nfeatures && !bad; j++)
    if (strcmp(u.feature_names[j], t->feature_names[j])) bad = "the loaded preparation names its columns otherwise";
  rt_csv_free(&u);
  return bad;
}

/* p's JSON loads into a preparation that gives t again. */
static const char *csv_fuzz_reload(const csv_fuzz_input *in, const rt_prep *p, const rt_csv_table *t) {
  char *json = NULL, *layout = NULL;
  rt_prep *q = rt_prep_new();
  const char *bad = NULL;
  if (!q || rt_prep_to_json(p, &json) || rt_prep_layout_json(p, &layout))
    bad = fuzz_bad("saving a fitted preparation", dlc_last_error());
  else if (rt_prep_from_json(q, json))
    bad = fuzz_bad("loading a saved preparation", dlc_last_error());
  else if (rt_prep_width(q) != rt_prep_width(p) || rt_prep_width(p) != t->nfeatures)
    bad = "the loaded preparation has another width";
  else
    bad = csv_fuzz_predict(in, q, t);
  free(json);
  free(layout);
  rt_prep_free(q);
  return bad;
}

/* The fitted p reads t's labels as class indices: refused with a message (a label that
 * is not one), or the same matrix and the same labels. */
static const char *csv_fuzz_classes(const csv_fuzz_input *in, const rt_data_spec *spec, rt_prep *p,
                                    const rt_csv_table *t) {
  rt_csv_options opt = csv_fuzz_options(in, spec, DLC_I32);
  rt_csv_table u;
  rt_clear_error();
  if (rt_prep_read_csv(in->path, &opt, p, &u)) return fuzz_failed("reading labels as classes");
  const char *bad = csv_fuzz_whole("rt_prep_read_csv", &u, &opt);
  if (!bad && (u.rows != t->rows || memcmp(u.x, t->x, (size_t)(t->rows * t->nfeatures) * sizeof *t->x)))
    bad = "reading labels as classes changes the matrix";
  for (int64_t r = 0; r < u.rows && !bad; r++)
    if ((float)((int32_t *)u.y)[r] != ((float *)t->y)[r]) bad = "a class is not the label's value";
  rt_csv_free(&u);
  return bad;
}

/* Read, fit and apply, as `dlc train` does (with a hold-out set for odd lengths, which a
 * fuzzer reaches either way); then what was learned, saved and loaded, and class labels. */
static const char *csv_fuzz_prepare(const csv_fuzz_input *in, const rt_data_spec *spec, rt_prep *p, bool *ok) {
  if (in->len % 2 && rt_prep_hold_out(p, 0.25, in->len)) return fuzz_bad("rt_prep_hold_out", dlc_last_error());
  rt_csv_options opt = csv_fuzz_options(in, spec, DLC_F32);
  rt_csv_table t;
  rt_clear_error();
  *ok = rt_prep_read_csv(in->path, &opt, p, &t) == 0;
  if (!*ok) return t.x || t.feature_names ? "a failed read left a table" : fuzz_failed("rt_prep_read_csv");
  const char *bad = csv_fuzz_whole("rt_prep_read_csv", &t, &opt);
  if (!bad) bad = csv_fuzz_reload(in, p, &t);
  if (!bad && t.y) bad = csv_fuzz_classes(in, spec, p, &t);
  rt_csv_free(&t);
  return bad;
}

/* Standardisation as `dlc train` does it without a preparation: fitted on the strict
 * reader's features, saved as metadata, loaded back to the same floats, applied. */
static const char *csv_fuzz_standardize(const csv_fuzz_input *in, const rt_data_spec *spec) {
  rt_csv_options opt = csv_fuzz_options(in, spec, DLC_F32);
  rt_csv_table t;
  if (rt_csv_parse("data.csv", in->csv, in->len, &opt, &t)) return NULL; /* csv_fuzz_plain_reads checked it */
  rt_dataset d = {.rows = t.rows, .narrays = 1, .label = -1};
  d.arrays[0] = (rt_data_array){.dtype = DLC_F32, .width = t.nfeatures, .data = t.x};
  rt_standardizer s = {0}, u = {0};
  const char *what = "standardising what the reader read", *bad = NULL;
  if (rt_standardizer_fit(&d, &s))
    bad = fuzz_bad(what, dlc_last_error());
  else if (!(bad = fuzz_standardizer_round_trip(&s, &u, what)) && rt_standardizer_apply(&u, &d))
    bad = fuzz_bad(what, dlc_last_error());
  rt_standardizer_free(&s);
  rt_standardizer_free(&u);
  rt_csv_free(&t);
  return bad;
}

/* Everything but the split of the input: the source, the strict reads, the preparation
 * or the standardisation. *accepted: the source is a csv(...) one and the file reads
 * under it, as `dlc train` would read it. */
static const char *csv_fuzz_run(csv_fuzz_input *in, bool *accepted) {
  rt_prep *p = rt_prep_new();
  if (!p) return "out of memory";
  rt_data_spec spec = {0};
  bool csv_source, read;
  const char *bad = csv_fuzz_source(in, p, &spec, &csv_source);
  in->last = bad ? NULL : csv_fuzz_last_column(in);
  if (!bad) bad = csv_fuzz_plain_reads(in, &spec, &read);
  if (!bad && csv_source && rt_prep_active(p)) {
    bad = csv_fuzz_prepare(in, &spec, p, accepted);
  } else if (!bad && csv_source) {
    *accepted = read;
    if (read && spec.standardize) bad = csv_fuzz_standardize(in, &spec);
  }
  free(in->last);
  rt_data_spec_free(&spec);
  rt_prep_free(p);
  return bad;
}

/* NULL if the property holds for this input, else what is wrong (static text).
 * *accepted tells whether the file read under its source. */
static const char *csv_fuzz_check(const uint8_t *data, size_t size, bool *accepted) {
  *accepted = false;
  const char *text = (const char *)data, *nl = memchr(text, '\n', size);
  size_t line = nl ? (size_t)(nl - text) : size;
  csv_fuzz_input in = {.csv = nl ? nl + 1 : text + size, .len = nl ? size - line - 1 : 0};
  if (!(in.source = strndup(text, line))) return "out of memory";
  in.path = fuzz_write("data.csv", in.csv, in.len);
  const char *bad = in.path ? csv_fuzz_run(&in, accepted) : "cannot write the temporary file";
  free(in.source);
  return bad;
}

#ifndef RT_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bool accepted;
  const char *bad = csv_fuzz_check(data, size, &accepted);
  if (bad) {
    fprintf(stderr, "fuzz_csv: %s\n--- input ---\n%.*s\n--- end ---\n", bad, (int)size, (const char *)data);
    abort();
  }
  return 0;
}
#endif
